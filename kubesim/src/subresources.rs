//! The `status` subresource of services, persistentvolumeclaims and persistentvolumes
//! (`…/{name}/status`): GET answers the object; PUT and every patch type the main
//! resource takes change only its `status` (metadata and spec as sent are ignored, but a
//! resourceVersion sent must be the current one), as kube-apiserver's status
//! strategies do. A pod's `eviction` (POST an `policy/v1` Eviction, as `kubectl drain`
//! and cluster autoscalers do) deletes it as a DELETE would; disruption budgets are not
//! modelled, so an eviction is never refused with 429. Other subresources of a pod
//! answer [`crate::resources::not_running`].

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use crate::resources::{checked, media_type, parse, Target, WriteQuery};
use crate::state::Shared;
use crate::status::{ApiError, ApiResult};

/// GET, PUT or PATCH of `…/{name}/{subresource}`.
pub async fn handle(
    State(shared): State<Shared>,
    Path(p): Path<HashMap<String, String>>,
    Query(q): Query<WriteQuery>,
    method: Method,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let t = Target::from(&p)?;
    let what = p.get("subresource").map(String::as_str).unwrap_or("");
    if what == "eviction"
        && t.kind.resource == "pods"
        && t.kind.group.is_empty()
        && method == Method::POST
    {
        return evict(&shared, &t);
    }
    if what != "status" || !crate::admission::has_status(t.kind) {
        if matches!(method, Method::GET | Method::POST) {
            return crate::resources::not_running(State(shared), Path(p)).await;
        }
        return Err(ApiError::unsupported(format!(
            "the server could not find the requested resource ({}/{what})",
            t.kind.resource
        )));
    }
    let key = t.key(t.name());
    let current = shared
        .store
        .get(&key)
        .ok_or_else(|| ApiError::not_found(t.kind.resource, t.name()))?;
    let sent = match method {
        Method::GET => return Ok(Json(current).into_response()),
        Method::PUT => {
            let sent = checked(t.kind, parse(&body)?, q.strict())?;
            if sent["metadata"]["name"].as_str() != Some(t.name()) {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({}) does not match the name on the URL ({})",
                    sent["metadata"]["name"],
                    t.name()
                )));
            }
            sent
        }
        Method::PATCH => {
            let mut patched = checked(
                t.kind,
                crate::patch::apply(&media_type(&headers), current.clone(), &body)?,
                q.strict(),
            )?;
            // A patch applies to the object as it is now.
            if let Some(meta) = patched.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("resourceVersion");
            }
            patched
        }
        _ => {
            return Err(ApiError {
                code: axum::http::StatusCode::METHOD_NOT_ALLOWED,
                reason: "MethodNotAllowed",
                message: format!("{method} is not supported on {}/status", t.kind.resource),
                details: None,
            })
        }
    };
    let done =
        shared
            .store
            .replace_checked(&key, sent, q.dry_run(), &mut |_view, stored, object| {
                // Only the status changes: the rest is the stored object (the version sent
                // was checked already).
                let status = object.get("status").cloned();
                *object = stored.cloned().unwrap_or_default();
                match status {
                    Some(s) => object["status"] = s,
                    None => {
                        if let Some(o) = object.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
                Ok(())
            })?;
    Ok(Json(done).into_response())
}

/// Evicts a pod: deleted as its DELETE would be (its ReplicaSet makes another, which
/// the scheduler places); answered with a `Success` Status, 201, as kube-apiserver does.
fn evict(shared: &Shared, t: &Target) -> ApiResult<Response> {
    let key = t.key(t.name());
    if shared.store.get(&key).is_none() {
        return Err(ApiError::not_found(t.kind.resource, t.name()));
    }
    shared.store.delete(&key)?;
    let status = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Success", "code": 201,
    });
    Ok((axum::http::StatusCode::CREATED, Json(status)).into_response())
}
