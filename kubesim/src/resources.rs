//! The served kinds ([`crate::kinds`]): get, create, update, patch and delete, in a
//! namespace or cluster-wide, as JSON or as a Table, with `dryRun=All` (lists and
//! watches: [`crate::lists`]). A body is read
//! into its `k8s-openapi` type before it is stored, so only a real object of the kind
//! is kept; with `fieldValidation=Strict` (kubectl's default) a field the kind lacks is
//! refused as kube-apiserver words it.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::kinds::{self, Kind};
use crate::state::Shared;
use crate::status::{ApiError, ApiResult};
use crate::store::Key;

/// What a request is about, from its path.
pub(crate) struct Target {
    pub(crate) kind: &'static Kind,
    pub(crate) namespace: Option<String>,
    pub(crate) name: Option<String>,
}

impl Target {
    pub(crate) fn from(p: &HashMap<String, String>) -> ApiResult<Self> {
        let group = p.get("group").map(String::as_str).unwrap_or("");
        let version = p.get("version").map(String::as_str).unwrap_or("v1");
        let resource = p.get("resource").map(String::as_str).unwrap_or("");
        let kind = kinds::find(group, version, resource).ok_or_else(|| {
            ApiError::unsupported(format!(
                "the server could not find the requested resource ({resource})"
            ))
        })?;
        let namespace = p.get("namespace").cloned();
        if namespace.is_some() && !kind.namespaced {
            return Err(ApiError::unsupported(format!(
                "{} are not namespaced",
                kind.resource
            )));
        }
        Ok(Target {
            kind,
            namespace,
            name: p.get("name").cloned(),
        })
    }

    pub(crate) fn key(&self, name: &str) -> Key {
        Key::new(&self.kind.store_name(), self.namespace.as_deref(), name)
    }

    pub(crate) fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct WriteQuery {
    field_validation: Option<String>,
    dry_run: Option<String>,
}

impl WriteQuery {
    pub(crate) fn strict(&self) -> bool {
        self.field_validation.as_deref() == Some("Strict")
    }
    pub(crate) fn dry_run(&self) -> bool {
        self.dry_run.as_deref() == Some("All")
    }
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

/// `input` read into the kind's type: only what the kind has is kept; `strict` refuses
/// what it lacks.
pub(crate) fn checked(kind: &Kind, mut input: Value, strict: bool) -> ApiResult<Value> {
    if input["kind"].is_null() {
        input["kind"] = json!(kind.kind);
    }
    if input["apiVersion"].is_null() {
        input["apiVersion"] = json!(kind.api_version());
    }
    if input["kind"] != kind.kind || input["apiVersion"] != kind.api_version().as_str() {
        return Err(ApiError::bad_request(format!(
            "the body is a {} {}, not a {} {}",
            input["apiVersion"],
            input["kind"],
            kind.api_version(),
            kind.kind
        )));
    }
    let typed = (kind.typed)(input.clone()).map_err(|e| {
        ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: {e}",
            kind.kind, kind.version, kind.kind
        ))
    })?;
    if strict {
        let mut unknown = Vec::new();
        unknown_fields(&input, &typed, "", &mut unknown);
        if !unknown.is_empty() {
            return Err(ApiError::bad_request(format!(
                "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
                kind.kind,
                kind.version,
                kind.kind,
                unknown
                    .iter()
                    .map(|f| format!("unknown field \"{f}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    Ok(typed)
}

pub(crate) fn parse(body: &[u8]) -> ApiResult<Value> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))
}

/// The request's content type without its parameters.
pub(crate) fn media_type(headers: &HeaderMap) -> String {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}

pub(crate) fn wants_table(headers: &HeaderMap) -> bool {
    crate::table::wanted(headers.get("accept").and_then(|v| v.to_str().ok()))
}

/// A namespaced object may only be made in a namespace that exists and is not being
/// deleted (403, as kube-apiserver's NamespaceLifecycle refuses it).
fn namespace_exists(shared: &Shared, t: &Target) -> ApiResult<()> {
    let Some(ns) = &t.namespace else {
        return Ok(());
    };
    match shared.store.get(&Key::new("namespaces", None, ns)) {
        None => Err(ApiError::not_found("namespaces", ns)),
        Some(n) if crate::finalizers::terminating(&n) => Err(ApiError {
            code: StatusCode::FORBIDDEN,
            reason: "Forbidden",
            message: format!(
                "{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                t.kind.resource,
                t.name.as_deref().unwrap_or("")
            ),
            details: None,
        }),
        Some(_) => Ok(()),
    }
}

/// The store's check for a write of `t`'s kind ([`crate::admission`]).
pub(crate) fn admission(
    shared: &Shared,
    t: &Target,
) -> impl FnMut(&crate::store::View, Option<&Value>, &mut Value) -> ApiResult<()> {
    let (kind, cidr) = (t.kind, shared.store.service_cidr());
    move |view, current, object| crate::admission::admit(kind, cidr, view, current, object)
}

pub async fn get(
    State(shared): State<Shared>,
    Path(p): Path<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let t = Target::from(&p)?;
    let object = shared
        .store
        .get(&t.key(t.name()))
        .ok_or_else(|| ApiError::not_found(t.kind.resource, t.name()))?;
    if wants_table(&headers) {
        let objects = [object];
        let table = crate::table::of(t.kind.resource, &objects, shared.store.revision());
        return Ok(Json(table).into_response());
    }
    Ok(Json(object).into_response())
}

pub async fn create(
    State(shared): State<Shared>,
    Path(p): Path<HashMap<String, String>>,
    Query(q): Query<WriteQuery>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let t = Target::from(&p)?;
    namespace_exists(&shared, &t)?;
    let object = checked(t.kind, parse(&body)?, q.strict())?;
    let name = object["metadata"]["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("metadata.name: Required value: name is required"))?
        .to_string();
    let made = shared.store.create_checked(
        &t.key(&name),
        object,
        q.dry_run(),
        &mut admission(&shared, &t),
    )?;
    Ok((StatusCode::CREATED, Json(made)).into_response())
}

pub async fn update(
    State(shared): State<Shared>,
    Path(p): Path<HashMap<String, String>>,
    Query(q): Query<WriteQuery>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let t = Target::from(&p)?;
    let object = checked(t.kind, parse(&body)?, q.strict())?;
    if object["metadata"]["name"].as_str() != Some(t.name()) {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({})",
            object["metadata"]["name"],
            t.name()
        )));
    }
    let done = shared.store.replace_checked(
        &t.key(t.name()),
        object,
        q.dry_run(),
        &mut admission(&shared, &t),
    )?;
    Ok(Json(done).into_response())
}

pub async fn patch(
    State(shared): State<Shared>,
    Path(p): Path<HashMap<String, String>>,
    Query(q): Query<WriteQuery>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let t = Target::from(&p)?;
    let key = t.key(t.name());
    let content_type = media_type(&headers);
    let current = shared.store.get(&key);
    let patched = match (content_type.as_str(), current) {
        ("application/apply-patch+yaml", None) => {
            // Server-side apply of something new: it is made.
            namespace_exists(&shared, &t)?;
            let object = checked(t.kind, crate::patch::yaml(&body)?, q.strict())?;
            let made = shared.store.create_checked(
                &key,
                object,
                q.dry_run(),
                &mut admission(&shared, &t),
            )?;
            return Ok((StatusCode::CREATED, Json(made)).into_response());
        }
        (_, None) => return Err(ApiError::not_found(t.kind.resource, t.name())),
        (kind, Some(current)) => crate::patch::apply(kind, current, &body)?,
    };
    let mut object = checked(t.kind, patched, q.strict())?;
    // A patch applies to the object as it is now, whatever version it names.
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
    }
    let done =
        shared
            .store
            .replace_checked(&key, object, q.dry_run(), &mut admission(&shared, &t))?;
    Ok(Json(done).into_response())
}

pub async fn delete(
    State(shared): State<Shared>,
    Path(p): Path<HashMap<String, String>>,
    Query(q): Query<WriteQuery>,
) -> ApiResult<Response> {
    let t = Target::from(&p)?;
    let key = t.key(t.name());
    if q.dry_run() {
        let object = shared
            .store
            .get(&key)
            .ok_or_else(|| ApiError::not_found(t.kind.resource, t.name()))?;
        return Ok(Json(object).into_response());
    }
    if t.kind.resource == "namespaces" && t.kind.group.is_empty() {
        return delete_namespace(&shared, &key).map(|n| Json(n).into_response());
    }
    let gone = shared.store.delete(&key)?;
    Ok(Json(gone).into_response())
}

/// Deleting a namespace deletes what is in it, each object as its own DELETE would
/// ([`crate::finalizers`]). When nothing is left the namespace goes at once. Otherwise
/// (objects held by their finalizers) it stays, marked with a deletionTimestamp and
/// `status.phase: Terminating`, refusing new content, and the control loop
/// ([`crate::volumes::namespaces`]) deletes what is left again and removes it once it
/// is empty, as kube-controller-manager's namespace controller does. Bounded: the
/// namespace's own `spec.finalizers` (`kubernetes`) is not modelled.
pub fn delete_namespace(shared: &Shared, key: &Key) -> ApiResult<Value> {
    let current = shared
        .store
        .get(key)
        .ok_or_else(|| ApiError::not_found("namespaces", &key.name))?;
    if crate::finalizers::terminating(&current) {
        return Ok(current);
    }
    if shared.store.delete_namespaced(&key.name)? == 0 {
        return shared.store.delete(key);
    }
    let marked = shared
        .store
        .mark_deleted(key, |n| n["status"]["phase"] = json!("Terminating"))?;
    Ok(marked.unwrap_or(current))
}

/// The `scale` subresource of deployments and replicasets (`kubectl scale`): an
/// `autoscaling/v1` Scale of the object's replicas.
fn scale_of(object: &Value) -> Value {
    let labels = crate::table::match_labels(object);
    let meta = &object["metadata"];
    json!({
        "apiVersion": "autoscaling/v1", "kind": "Scale",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"], "creationTimestamp": meta["creationTimestamp"]},
        "spec": {"replicas": object["spec"]["replicas"]},
        "status": {"replicas": object["status"]["replicas"].as_i64().unwrap_or(0), "selector": labels},
    })
}

fn scalable(t: &Target) -> ApiResult<()> {
    if matches!(t.kind.resource, "deployments" | "replicasets") {
        Ok(())
    } else {
        Err(ApiError::unsupported(format!(
            "{} have no scale subresource",
            t.kind.resource
        )))
    }
}

pub async fn scale_get(
    State(shared): State<Shared>,
    Path(p): Path<HashMap<String, String>>,
) -> ApiResult<Response> {
    let t = Target::from(&p)?;
    scalable(&t)?;
    let object = shared
        .store
        .get(&t.key(t.name()))
        .ok_or_else(|| ApiError::not_found(t.kind.resource, t.name()))?;
    Ok(Json(scale_of(&object)).into_response())
}

/// `PUT` or `PATCH` of a Scale: the object's `spec.replicas` follows.
pub async fn scale_change(
    State(shared): State<Shared>,
    Path(p): Path<HashMap<String, String>>,
    headers: HeaderMap,
    method: axum::http::Method,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let t = Target::from(&p)?;
    scalable(&t)?;
    let key = t.key(t.name());
    let object = shared
        .store
        .get(&key)
        .ok_or_else(|| ApiError::not_found(t.kind.resource, t.name()))?;
    let scale = if method == axum::http::Method::PUT {
        parse(&body)?
    } else {
        crate::patch::apply(&media_type(&headers), scale_of(&object), &body)?
    };
    let replicas = scale["spec"]["replicas"]
        .as_i64()
        .filter(|r| *r >= 0)
        .ok_or_else(|| {
            ApiError::bad_request("spec.replicas: Invalid value: must be a whole number, 0 or more")
        })?;
    let done = shared
        .store
        .modify(&key, |o| {
            if o["spec"]["replicas"] == replicas {
                return false;
            }
            o["spec"]["replicas"] = json!(replicas);
            true
        })?
        .unwrap_or(object);
    Ok(Json(scale_of(&done)).into_response())
}

/// `logs`, `exec`, `attach` and `port-forward` of a pod: there is no container to read or
/// enter, and the answer says so (400, as kube-apiserver answers a request it cannot
/// serve for that pod).
pub async fn not_running(
    State(shared): State<Shared>,
    Path(p): Path<HashMap<String, String>>,
) -> ApiResult<Response> {
    let t = Target::from(&p)?;
    let what = p.get("subresource").map(String::as_str).unwrap_or("");
    if t.kind.resource != "pods" || !matches!(what, "log" | "exec" | "attach" | "portforward") {
        return Err(ApiError::unsupported(format!(
            "the server could not find the requested resource ({}/{what})",
            t.kind.resource
        )));
    }
    if shared.store.get(&t.key(t.name())).is_none() {
        return Err(ApiError::not_found(t.kind.resource, t.name()));
    }
    Err(ApiError::bad_request(format!(
        "pod \"{}\" runs on a simulated node (Shipyard's localcloud): it is scheduled and \
         reported Running, but no container runs, so there is nothing to {}",
        t.name(),
        match what {
            "exec" => "exec into",
            "attach" => "attach to",
            "portforward" => "forward a port to",
            _ => "read the logs of",
        }
    )))
}
