//! Lists and watches of the served kinds, in a namespace or cluster-wide, with field
//! and label selectors ([`crate::watch::Selector`]). A list answers JSON joined from the
//! objects as the store wrote them out ([`crate::store::Stored`]), or the Table `kubectl
//! get` asks for; a watch streams from a resourceVersion or from the objects as they
//! are now ([`crate::watch`]).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::resources::{wants_table, Target};
use crate::state::Shared;
use crate::status::{ApiError, ApiResult};
use crate::store::Stored;

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    watch: Option<String>,
    resource_version: Option<String>,
    field_selector: Option<String>,
    label_selector: Option<String>,
    timeout_seconds: Option<u64>,
}

pub async fn list(
    State(shared): State<Shared>,
    Path(p): Path<HashMap<String, String>>,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let t = Target::from(&p)?;
    let selector =
        crate::watch::Selector::parse(q.field_selector.as_deref(), q.label_selector.as_deref())
            .map_err(ApiError::bad_request)?;
    if matches!(q.watch.as_deref(), Some("true" | "1")) {
        return watch(&shared, &t, selector, &q);
    }
    // The objects stay shared with the store, and their JSON is as it was written.
    let (items, revision) = shared
        .store
        .list_stored(&t.kind.store_name(), t.namespace.as_deref());
    let items: Vec<Stored> = items
        .into_iter()
        .filter(|s| selector.matches(&s.object))
        .collect();
    if wants_table(&headers) {
        let objects: Vec<&Value> = items.iter().map(|s| s.object.as_ref()).collect();
        return Ok(Json(crate::table::of(t.kind.resource, &objects, revision)).into_response());
    }
    let head = json!({
        "kind": format!("{}List", t.kind.kind),
        "apiVersion": t.kind.api_version(),
        "metadata": {"resourceVersion": revision.to_string()},
    });
    let mut body = serde_json::to_vec(&head).unwrap_or_default();
    body.pop(); // the closing brace: the items follow
    body.reserve(items.iter().map(|s| s.json.len() + 1).sum::<usize>() + 16);
    body.extend_from_slice(b",\"items\":[");
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&s.json);
    }
    body.extend_from_slice(b"]}");
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

/// A watch of `t` from `q.resourceVersion` (or from the objects as they are now).
fn watch(
    shared: &Shared,
    t: &Target,
    selector: crate::watch::Selector,
    q: &ListQuery,
) -> ApiResult<Response> {
    let scope = crate::watch::Scope {
        resource: t.kind.store_name(),
        namespace: t.namespace.clone(),
        selector,
    };
    let timeout = std::time::Duration::from_secs(q.timeout_seconds.unwrap_or(1800).min(3600));
    let since = q
        .resource_version
        .as_deref()
        .filter(|v| !v.is_empty() && *v != "0")
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion: {v}")))
        })
        .transpose()?;
    let (initial, since) = match since {
        Some(rv) => (Vec::new(), rv),
        None => {
            // The objects as they are now, then what changes after them.
            let (items, now) = shared
                .store
                .list_shared(&scope.resource, scope.namespace.as_deref());
            let items = items
                .into_iter()
                .filter(|o| scope.selector.matches(o))
                .collect();
            (items, now)
        }
    };
    match shared.store.changes_since(since) {
        Ok((past, coming)) => Ok(crate::watch::stream(
            shared.store.clone(),
            scope,
            initial,
            (since, past, coming),
            timeout,
        )),
        Err(old) => Ok(crate::watch::expired(old.asked, old.oldest)),
    }
}
