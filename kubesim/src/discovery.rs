//! What the API offers: `/version`, the core group (`/api`, `/api/v1`) and the named
//! groups (`/apis`). Only what is served is listed; everything else is absent, as a
//! client expects from a cluster without it.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::server::Shared;

/// A resource of the core group as discovery describes it.
pub struct Served {
    pub name: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub verbs: &'static [&'static str],
}

/// The core group's resources this API serves.
pub const CORE: &[Served] = &[
    Served {
        name: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        namespaced: false,
        short_names: &["ns"],
        verbs: &["create", "delete", "get", "list"],
    },
    Served {
        name: "nodes",
        singular: "node",
        kind: "Node",
        namespaced: false,
        short_names: &["no"],
        verbs: &["create", "delete", "get", "list"],
    },
];

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

pub async fn api_versions(State(shared): State<Shared>) -> Json<Value> {
    Json(json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": shared.config.advertise}],
    }))
}

pub async fn core_resources() -> Json<Value> {
    let resources: Vec<Value> = CORE
        .iter()
        .map(|r| {
            json!({
                "name": r.name,
                "singularName": r.singular,
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": r.verbs,
                "shortNames": r.short_names,
            })
        })
        .collect();
    Json(json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": resources}))
}

pub async fn api_groups() -> Json<Value> {
    Json(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []}))
}

/// `/openapi/v3`: where each group version's document is.
pub async fn openapi_v3_root() -> Json<Value> {
    Json(json!({"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1"}}}))
}

/// `/openapi/v3/api/v1`: a schema for each served kind, tagged with its group, version
/// and kind (what kubectl's validation looks up). Fields are not described yet: kubectl
/// checks that a body is of a served kind, the server reads it into its real type.
pub async fn openapi_v3_core(State(shared): State<Shared>) -> Json<Value> {
    let schemas: serde_json::Map<String, Value> = CORE
        .iter()
        .map(|r| {
            (
                format!("io.k8s.api.core.v1.{}", r.kind),
                json!({
                    "type": "object",
                    "description": format!("A {} (fields as in Kubernetes {}).", r.kind, shared.config.kubernetes_version),
                    "x-kubernetes-group-version-kind": [{"group": "", "kind": r.kind, "version": "v1"}],
                }),
            )
        })
        .collect();
    // Writes take `fieldValidation` (kubectl then leaves validation to the server).
    let field_validation = json!({
        "name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true},
        "description": "Strict: refuse unknown fields; Warn and Ignore: accept them (Warn says so).",
    });
    // kubectl looks for the parameter on a kind's PATCH operation.
    let mut paths = serde_json::Map::new();
    for r in CORE {
        let gvk = json!({"group": "", "kind": r.kind, "version": "v1"});
        paths.insert(
            format!("/api/v1/{}", r.name),
            json!({"post": {
                "operationId": format!("createCoreV1{}", r.kind),
                "parameters": [field_validation],
                "x-kubernetes-group-version-kind": gvk,
                "x-kubernetes-action": "post",
            }}),
        );
        paths.insert(
            format!("/api/v1/{}/{{name}}", r.name),
            json!({"patch": {
                "operationId": format!("patchCoreV1{}", r.kind),
                "parameters": [field_validation],
                "x-kubernetes-group-version-kind": gvk,
                "x-kubernetes-action": "patch",
            }}),
        );
    }
    Json(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": shared.config.kubernetes_version},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}
