//! What the API offers: `/version`, the core group (`/api`, `/api/v1`), the named groups
//! (`/apis`, `/apis/<group>/<version>`), their OpenAPI v3 documents and a bare OpenAPI
//! v2 one. Only what is
//! served is listed ([`crate::kinds`]); everything else is absent, as a client expects
//! from a cluster without it.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::kinds::{self, Kind};
use crate::state::Shared;
use crate::status::{ApiError, ApiResult};

pub async fn version(State(shared): State<Shared>) -> Json<Value> {
    let v = shared.config.kubernetes_version.trim_start_matches('v');
    let mut parts = v.split('.');
    let major = parts.next().unwrap_or("1");
    let minor = parts.next().unwrap_or("0");
    Json(json!({
        "major": major,
        "minor": minor,
        "gitVersion": format!("v{v}"),
        "gitCommit": "shipyard-simulated",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "none (Shipyard's simulated API server)",
        "compiler": "rustc",
        "platform": "linux/amd64",
    }))
}

/// The content type of aggregated discovery (one answer for every group's resources).
pub const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether the client takes aggregated discovery (kubectl ≥ 1.26 asks for it first).
fn aggregated(headers: &HeaderMap) -> bool {
    headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| {
            a.split(',')
                .any(|t| t.contains("g=apidiscovery.k8s.io") && t.contains("v=v2;"))
        })
}

/// `/api` or `/apis` in the aggregated form: every group version's resources at once.
fn aggregated_list(groups: &[(&str, &str)]) -> Response {
    let items: Vec<Value> = groups
        .iter()
        .map(|(g, v)| {
            let resources: Vec<Value> = kinds::of(g, v)
                .map(|k| {
                    json!({
                        "resource": k.resource,
                        "responseKind": {"group": k.group, "version": k.version, "kind": k.kind},
                        "scope": if k.namespaced { "Namespaced" } else { "Cluster" },
                        "singularResource": k.singular,
                        "verbs": kinds::verbs(k),
                        "shortNames": k.short_names,
                        "subresources": subresources(k),
                    })
                })
                .collect();
            json!({
                "metadata": {"name": g},
                "versions": [{"version": v, "resources": resources, "freshness": "Current"}],
            })
        })
        .collect();
    let body = json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    });
    ([(axum::http::header::CONTENT_TYPE, AGGREGATED)], Json(body)).into_response()
}

pub async fn api_versions(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    if aggregated(&headers) {
        return aggregated_list(&[("", "v1")]);
    }
    Json(json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": shared.config.advertise}],
    }))
    .into_response()
}

/// Kinds with a `scale` subresource (`kubectl scale` looks for it in discovery).
fn scalable(k: &Kind) -> bool {
    k.group == "apps" && matches!(k.resource, "deployments" | "replicasets")
}

const SCALE_VERBS: &[&str] = &["get", "patch", "update"];

/// A kind's subresources, as aggregated discovery lists them: `scale`, `status`.
fn subresources(k: &Kind) -> Value {
    let mut out = Vec::new();
    if scalable(k) {
        out.push(json!({"subresource": "scale",
            "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
            "verbs": SCALE_VERBS}));
    }
    if crate::admission::has_status(k) {
        out.push(json!({"subresource": "status",
            "responseKind": {"group": k.group, "version": k.version, "kind": k.kind},
            "verbs": SCALE_VERBS}));
    }
    Value::Array(out)
}

fn resource_list(group: &str, version: &str) -> Value {
    let mut resources = Vec::new();
    for k in kinds::of(group, version) {
        resources.push(json!({
            "name": k.resource,
            "singularName": k.singular,
            "namespaced": k.namespaced,
            "kind": k.kind,
            "verbs": kinds::verbs(k),
            "shortNames": k.short_names,
        }));
        if scalable(k) {
            resources.push(json!({
                "name": format!("{}/scale", k.resource),
                "singularName": "",
                "namespaced": k.namespaced,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": SCALE_VERBS,
            }));
        }
        if crate::admission::has_status(k) {
            resources.push(json!({
                "name": format!("{}/status", k.resource),
                "singularName": "",
                "namespaced": k.namespaced,
                "kind": k.kind,
                "verbs": SCALE_VERBS,
            }));
        }
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
}

pub async fn core_resources() -> Json<Value> {
    Json(resource_list("", "v1"))
}

pub async fn group_resources(
    Path((group, version)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    if kinds::of(&group, &version).next().is_none() {
        return Err(ApiError::unsupported(format!(
            "the server could not find the requested resource ({group}/{version})"
        )));
    }
    Ok(Json(resource_list(&group, &version)))
}

pub async fn api_groups(headers: HeaderMap) -> Response {
    if aggregated(&headers) {
        return aggregated_list(&kinds::groups());
    }
    let groups: Vec<Value> = kinds::groups()
        .into_iter()
        .map(|(g, v)| {
            let gv = json!({"groupVersion": format!("{g}/{v}"), "version": v});
            json!({"name": g, "versions": [gv], "preferredVersion": gv})
        })
        .collect();
    Json(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})).into_response()
}

/// `/openapi/v2`: each kind's PATCH and no definitions, as protobuf when asked for
/// (kubectl before 1.27 reads it only so: to validate what it sends, and to learn which
/// kinds take a server-side dry run) or as JSON. With no schema to check a kind
/// against, kubectl leaves the checking to the server.
pub async fn openapi_v2(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let version = &shared.config.kubernetes_version;
    let protobuf = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("protobuf"));
    let patches: Vec<crate::protobuf::Patch> = kinds::KINDS
        .iter()
        .map(|k| crate::protobuf::Patch {
            path: object_path(k),
            group: k.group,
            version: k.version,
            kind: k.kind,
        })
        .collect();
    if protobuf {
        let body = crate::protobuf::openapi_v2("Kubernetes", version, &patches);
        return (
            [(
                axum::http::header::CONTENT_TYPE,
                crate::protobuf::OPENAPI_V2,
            )],
            body,
        )
            .into_response();
    }
    let mut paths = serde_json::Map::new();
    for p in &patches {
        let parameters: Vec<Value> = crate::protobuf::PATCH_PARAMETERS
            .iter()
            .map(|name| json!({"name": name, "in": "query", "type": "string", "uniqueItems": true}))
            .collect();
        paths.insert(
            p.path.clone(),
            json!({"patch": {
                "operationId": format!("patch{}", p.kind),
                "parameters": parameters,
                "x-kubernetes-group-version-kind": {"group": p.group, "version": p.version, "kind": p.kind},
            }}),
        );
    }
    Json(json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": version},
        "paths": paths,
        "definitions": {},
    }))
    .into_response()
}

/// Where one object of `k` is: `/apis/apps/v1/namespaces/{namespace}/deployments/{name}`.
fn object_path(k: &Kind) -> String {
    let base = if k.group.is_empty() {
        format!("/api/{}", k.version)
    } else {
        format!("/apis/{}/{}", k.group, k.version)
    };
    let scope = if k.namespaced {
        "/namespaces/{namespace}"
    } else {
        ""
    };
    format!("{base}{scope}/{}/{{name}}", k.resource)
}

/// `/openapi/v3`: where each group version's document is.
pub async fn openapi_v3_root() -> Json<Value> {
    let mut paths = serde_json::Map::new();
    paths.insert(
        "api/v1".into(),
        json!({"serverRelativeURL": "/openapi/v3/api/v1"}),
    );
    for (g, v) in kinds::groups() {
        paths.insert(
            format!("apis/{g}/{v}"),
            json!({"serverRelativeURL": format!("/openapi/v3/apis/{g}/{v}")}),
        );
    }
    Json(json!({ "paths": paths }))
}

pub async fn openapi_v3_core(State(shared): State<Shared>) -> Json<Value> {
    Json(openapi_v3(&shared, "", "v1"))
}

pub async fn openapi_v3_group(
    State(shared): State<Shared>,
    Path((group, version)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    if kinds::of(&group, &version).next().is_none() {
        return Err(ApiError::unsupported(format!(
            "no OpenAPI document for {group}/{version}"
        )));
    }
    Ok(Json(openapi_v3(&shared, &group, &version)))
}

/// A group version's OpenAPI v3 document: a schema for each kind, tagged with its group,
/// version and kind, and each kind's PATCH taking `fieldValidation`, which is what makes
/// kubectl leave validation to the server (see [`crate::resources`]). Fields are not
/// described: the server reads a body into its real type.
fn openapi_v3(shared: &Shared, group: &str, version: &str) -> Value {
    let field_validation = json!({
        "name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true},
        "description": "Strict: refuse unknown fields; Warn and Ignore: accept them.",
    });
    let mut schemas = serde_json::Map::new();
    let mut paths = serde_json::Map::new();
    for k in kinds::of(group, version) {
        let gvk = json!({"group": k.group, "kind": k.kind, "version": k.version});
        schemas.insert(
            schema_name(k),
            json!({
                "type": "object",
                "description": format!("A {} (fields as in Kubernetes {}).", k.kind, shared.config.kubernetes_version),
                "x-kubernetes-group-version-kind": [gvk],
            }),
        );
        if !kinds::verbs(k).contains(&"patch") {
            continue;
        }
        paths.insert(
            object_path(k),
            json!({"patch": {
                "operationId": format!("patch{}", k.kind),
                "parameters": [field_validation],
                "x-kubernetes-group-version-kind": gvk,
                "x-kubernetes-action": "patch",
            }}),
        );
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": shared.config.kubernetes_version},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

/// `io.k8s.api.apps.v1.Deployment`, as kube-apiserver names its schemas.
fn schema_name(k: &Kind) -> String {
    let group = match k.group {
        "" => "core",
        g => g.split('.').next().unwrap_or(g),
    };
    format!("io.k8s.api.{group}.{}.{}", k.version, k.kind)
}
