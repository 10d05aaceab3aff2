//! The served resources: list, get, create and delete of the core group's
//! cluster-scoped kinds (namespaces, nodes), as JSON or as a Table. A body is read into
//! its `k8s-openapi` type first, so only a real object of the kind is stored.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::discovery::{Served, CORE};
use crate::server::Shared;
use crate::status::{ApiError, ApiResult};
use crate::store::Key;

fn served(resource: &str) -> ApiResult<&'static Served> {
    CORE.iter().find(|r| r.name == resource).ok_or_else(|| {
        ApiError::unsupported(format!(
            "the server could not find the requested resource ({resource})"
        ))
    })
}

/// The dotted paths of `input`'s fields that `typed` (the same object read into its
/// type and written again) lost: fields the kind does not have.
fn unknown_fields(input: &Value, typed: &Value, at: &str, out: &mut Vec<String>) {
    match (input, typed) {
        (Value::Object(i), Value::Object(t)) => {
            for (k, v) in i {
                let path = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                match t.get(k) {
                    Some(tv) => unknown_fields(v, tv, &path, out),
                    None if !v.is_null() => out.push(path),
                    None => {}
                }
            }
        }
        (Value::Array(i), Value::Array(t)) => {
            for (n, (iv, tv)) in i.iter().zip(t).enumerate() {
                unknown_fields(iv, tv, &format!("{at}[{n}]"), out);
            }
        }
        _ => {}
    }
}

/// Reads `body` as an object of `served`'s kind (its k8s-openapi type), as JSON. With
/// `strict` (`fieldValidation=Strict`, kubectl's default), a field the kind does not
/// have is refused, as kube-apiserver does.
fn checked(served: &Served, body: &[u8], strict: bool) -> ApiResult<Value> {
    let input: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    use k8s_openapi::api::core::v1::{Namespace, Node};
    let bad = |e: serde_json::Error| {
        ApiError::bad_request(format!("the body is not a {}: {e}", served.kind))
    };
    let value = match served.kind {
        "Namespace" => {
            serde_json::to_value(serde_json::from_slice::<Namespace>(body).map_err(bad)?)
        }
        "Node" => serde_json::to_value(serde_json::from_slice::<Node>(body).map_err(bad)?),
        other => {
            return Err(ApiError::bad_request(format!(
                "{other} cannot be created here"
            )))
        }
    };
    let mut value = value.map_err(|e| ApiError::bad_request(e.to_string()))?;
    if strict {
        let mut unknown = Vec::new();
        unknown_fields(&input, &value, "", &mut unknown);
        if !unknown.is_empty() {
            return Err(ApiError::bad_request(format!(
                "{} in version \"v1\" cannot be handled as a {}: strict decoding error: {}",
                served.kind,
                served.kind,
                unknown
                    .iter()
                    .map(|f| format!("unknown field \"{f}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    if value["kind"].is_null() {
        value["kind"] = json!(served.kind);
    }
    if value["apiVersion"].is_null() {
        value["apiVersion"] = json!("v1");
    }
    if value["kind"] != served.kind {
        return Err(ApiError::bad_request(format!(
            "the body is a {}, not a {}",
            value["kind"], served.kind
        )));
    }
    Ok(value)
}

pub async fn list(
    State(shared): State<Shared>,
    Path(resource): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let served = served(&resource)?;
    let items = shared.store.list(served.name, None);
    let revision = shared.store.revision();
    if crate::table::wanted(headers.get("accept").and_then(|v| v.to_str().ok())) {
        return Ok(Json(crate::table::of(served.name, &items, revision)).into_response());
    }
    Ok(Json(json!({
        "kind": format!("{}List", served.kind),
        "apiVersion": "v1",
        "metadata": {"resourceVersion": revision.to_string()},
        "items": items,
    }))
    .into_response())
}

pub async fn get(
    State(shared): State<Shared>,
    Path((resource, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let served = served(&resource)?;
    let object = shared
        .store
        .get(&Key::new(served.name, None, &name))
        .ok_or_else(|| ApiError::not_found(served.name, &name))?;
    if crate::table::wanted(headers.get("accept").and_then(|v| v.to_str().ok())) {
        return Ok(Json(crate::table::of(
            served.name,
            &[object],
            shared.store.revision(),
        ))
        .into_response());
    }
    Ok(Json(object).into_response())
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct WriteQuery {
    field_validation: Option<String>,
}

pub async fn create(
    State(shared): State<Shared>,
    Path(resource): Path<String>,
    axum::extract::Query(q): axum::extract::Query<WriteQuery>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let served = served(&resource)?;
    let strict = q.field_validation.as_deref() == Some("Strict");
    let object = checked(served, &body, strict)?;
    let name = object["metadata"]["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("metadata.name is required"))?
        .to_string();
    let made = shared
        .store
        .create(&Key::new(served.name, None, &name), object)?;
    Ok((StatusCode::CREATED, Json(made)).into_response())
}

pub async fn delete(
    State(shared): State<Shared>,
    Path((resource, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    let served = served(&resource)?;
    let gone = shared.store.delete(&Key::new(served.name, None, &name))?;
    Ok(Json(gone).into_response())
}
