//! Kubernetes' protobuf, as far as real clients need it here. kubectl ≥ 1.32 sends what
//! it creates through its typed clients (`kubectl create …`, `auth can-i`, `whoami`) as
//! `application/vnd.kubernetes.protobuf`: the magic `k8s\0`, then a `runtime.Unknown`
//! {typeMeta {apiVersion, kind}, raw} wrapping the object. Such a body is read here into
//! JSON before its handler sees it ([`as_json`], for the messages of
//! [`crate::protobuf_messages`]); any other is refused with 415. And kubectl before 1.27
//! reads `/openapi/v2` only as a protobuf `openapi_v2.Document`, written here
//! ([`openapi_v2`]). A minimal reader and writer of the wire format (varints and
//! length-delimited fields, [`wire`]).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use serde_json::json;

use crate::protobuf_messages::{self, OBJECTS};
use crate::status::ApiError;

pub mod wire;
pub use wire::{fields, put, Field};

/// The media type of Kubernetes' protobuf.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";
const MAGIC: &[u8] = b"k8s\0";
/// The largest body read (kube-apiserver's limit).
const LIMIT: usize = 3 * 1024 * 1024;

/// Whether the request's body is protobuf.
pub fn is_protobuf(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(MEDIA_TYPE))
}

/// `req` with a protobuf body read into JSON (400 for a body that is not Kubernetes
/// protobuf, 415 for a kind or field not read here); any other request as it is.
pub async fn as_json(req: Request) -> Result<Request, ApiError> {
    if !is_protobuf(req.headers()) {
        return Ok(req);
    }
    let (mut parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, LIMIT)
        .await
        .map_err(|e| bad_request(format!("reading the body: {e}")))?;
    let object = object(&body)?;
    let json = serde_json::to_vec(&object).map_err(|e| bad_request(e.to_string()))?;
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(json.len()));
    Ok(Request::from_parts(parts, Body::from(json)))
}

fn unsupported(message: String) -> ApiError {
    ApiError {
        code: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        reason: "UnsupportedMediaType",
        details: None,
        message,
    }
}

fn bad_request(message: String) -> ApiError {
    ApiError::bad_request(message)
}

/// A `k8s\0` + `runtime.Unknown` body as the JSON of the object it wraps.
pub fn object(body: &[u8]) -> Result<serde_json::Value, ApiError> {
    let bad = |e: String| bad_request(format!("the protobuf body could not be read: {e}"));
    let unknown = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| bad("it does not start with k8s\\0".into()))?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for (n, v) in fields(unknown).map_err(bad)? {
        match (n, v) {
            (1, Field::Bytes(type_meta)) => {
                for (n, v) in fields(type_meta).map_err(bad)? {
                    match (n, v) {
                        (1, Field::Bytes(s)) => api_version = String::from_utf8_lossy(s).into(),
                        (2, Field::Bytes(s)) => kind = String::from_utf8_lossy(s).into(),
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(r)) => raw = r,
            (3, Field::Bytes(e)) if !e.is_empty() => {
                return Err(unsupported(format!(
                    "content encoding {:?} is not supported",
                    String::from_utf8_lossy(e)
                )))
            }
            _ => {}
        }
    }
    let refused = |why: String| {
        let read: Vec<String> = OBJECTS.iter().map(|(v, k)| format!("{v} {k}")).collect();
        unsupported(format!(
            "the body of the request was in an unknown format - {why}; this server reads \
             {MEDIA_TYPE} only for {} (send application/json)",
            read.join(", ")
        ))
    };
    if !OBJECTS.contains(&(api_version.as_str(), kind.as_str())) {
        return Err(refused(format!(
            "{api_version} {kind} is not read from protobuf"
        )));
    }
    let mut object = protobuf_messages::read(&kind, raw).map_err(refused)?;
    object["apiVersion"] = json!(api_version);
    object["kind"] = json!(kind);
    Ok(object)
}

/// The media type of the protobuf `/openapi/v2` (kubectl asks for it as
/// `…spec.v2@v1.0+protobuf`, which is no valid media type to answer with).
pub const OPENAPI_V2: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// A kind's PATCH in the OpenAPI v2 document: its path, and its group, version and kind.
pub struct Patch {
    pub path: String,
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
}

/// The query parameters each PATCH takes in the OpenAPI v2 document.
pub const PATCH_PARAMETERS: &[&str] = &["dryRun", "fieldManager", "fieldValidation"];

/// A gnostic `openapi_v2.Document`: swagger 2.0, `info`, each kind's PATCH (tagged with
/// its group, version and kind, taking [`PATCH_PARAMETERS`], which is how kubectl before
/// 1.27 learns that a kind takes a server-side dry run) and no definitions, so a client
/// finds no schema to check an object against and leaves the checking to the server.
pub fn openapi_v2(title: &str, version: &str, patches: &[Patch]) -> Vec<u8> {
    let mut info = Vec::new();
    put(&mut info, 1, title.as_bytes());
    put(&mut info, 2, version.as_bytes());
    let mut paths = Vec::new();
    for p in patches {
        let mut operation = Vec::new();
        put(&mut operation, 5, format!("patch{}", p.kind).as_bytes());
        for name in PATCH_PARAMETERS {
            // ParametersItem{parameter: Parameter{non_body_parameter: NonBodyParameter{
            // query_parameter_sub_schema: {in, name, type}}}}
            let mut query = Vec::new();
            put(&mut query, 2, b"query");
            put(&mut query, 4, name.as_bytes());
            put(&mut query, 6, b"string");
            let mut non_body = Vec::new();
            put(&mut non_body, 3, &query);
            let mut parameter = Vec::new();
            put(&mut parameter, 2, &non_body);
            let mut item = Vec::new();
            put(&mut item, 1, &parameter);
            put(&mut operation, 8, &item);
        }
        let gvk = format!(
            "group: \"{}\"\nkind: {}\nversion: {}\n",
            p.group, p.kind, p.version
        );
        let mut any = Vec::new();
        put(&mut any, 2, gvk.as_bytes());
        let mut extension = Vec::new();
        put(&mut extension, 1, b"x-kubernetes-group-version-kind");
        put(&mut extension, 2, &any);
        put(&mut operation, 13, &extension);
        let mut item = Vec::new();
        put(&mut item, 8, &operation);
        let mut named = Vec::new();
        put(&mut named, 1, p.path.as_bytes());
        put(&mut named, 2, &item);
        put(&mut paths, 2, &named);
    }
    let mut doc = Vec::new();
    put(&mut doc, 1, b"2.0");
    put(&mut doc, 2, &info);
    put(&mut doc, 8, &paths);
    doc
}
