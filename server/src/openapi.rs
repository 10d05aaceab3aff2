//! The OpenAPI 3.1 document of `/api/v1`, served at `/api/v1/openapi.json`. Its paths,
//! parameters and bodies are generated from the handlers' `#[utoipa::path]`s and the
//! typed views (`crate::views`) and requests they name; this file adds what is about
//! the API as a whole: its description, how to authenticate, and the links that carry
//! a created object's id to what uses it (schemathesis follows them).

use serde_json::{json, Value};

/// The document: `generated` from the routes, completed.
pub fn document(generated: utoipa::openapi::OpenApi) -> Value {
    let mut doc = serde_json::to_value(&generated).unwrap_or_else(|_| json!({}));
    doc["info"] = json!({
        "title": "Shipyard API",
        "version": "1",
        "description": "Managed Kubernetes clusters on OpenStack-compatible clouds. \
            Authenticate with `Authorization: Bearer <token>` (create tokens in the console \
            or with POST /api/v1/tokens from a console session).",
    });
    doc["servers"] = json!([{"url": "/"}]);
    doc["security"] = json!([{"bearer": []}, {"session": []}]);
    // Every route may answer an error in the one `ErrorBody` shape (`views::ApiErrors`);
    // a response enum names the schema but does not bring it, so it is added here.
    let mut schemas = vec![(
        "ErrorBody".to_string(),
        <crate::views::ErrorBody as utoipa::PartialSchema>::schema(),
    )];
    <crate::views::ErrorBody as utoipa::ToSchema>::schemas(&mut schemas);
    for (name, schema) in schemas {
        doc["components"]["schemas"][name] = serde_json::to_value(schema).unwrap_or_default();
    }
    doc["components"]["securitySchemes"] = json!({
        "bearer": {"type": "http", "scheme": "bearer"},
        "session": {"type": "apiKey", "in": "cookie", "name": "shipyard_session"},
    });
    let cluster_id = json!({"id": "$response.body#/cluster/id"});
    let mut links = serde_json::Map::new();
    for (name, path, method) in [
        ("GetCluster", "/api/v1/clusters/{id}", "get"),
        ("PlanDelete", "/api/v1/clusters/{id}/plan-delete", "get"),
        ("NodeGroups", "/api/v1/clusters/{id}/nodegroups", "get"),
        ("Services", "/api/v1/clusters/{id}/services", "get"),
        ("Volumes", "/api/v1/clusters/{id}/volumes", "get"),
        ("Kubeconfig", "/api/v1/clusters/{id}/kubeconfig", "post"),
        ("DeleteCluster", "/api/v1/clusters/{id}", "delete"),
    ] {
        links.insert(
            name.into(),
            json!({"operationRef": operation_ref(path, method), "parameters": cluster_id}),
        );
    }
    links.insert(
        "Operation".into(),
        json!({"operationRef": operation_ref("/api/v1/operations/{id}", "get"),
               "parameters": {"id": "$response.body#/operation/id"}}),
    );
    link(
        &mut doc,
        "/api/v1/clusters",
        "post",
        "202",
        Value::Object(links),
    );
    link(
        &mut doc,
        "/api/v1/tokens",
        "post",
        "201",
        json!({"RevokeToken": {
            "operationRef": operation_ref("/api/v1/tokens/{id}", "delete"),
            "parameters": {"id": "$response.body#/token/id"}}}),
    );
    doc
}

/// A JSON pointer to an operation of this document.
fn operation_ref(path: &str, method: &str) -> String {
    format!(
        "#/paths/{}/{method}",
        path.replace('~', "~0").replace('/', "~1")
    )
}

/// Puts `links` on the `status` answer of `method path`, if the document has it.
fn link(doc: &mut Value, path: &str, method: &str, status: &str, links: Value) {
    if let Some(answer) = doc.pointer_mut(&format!(
        "/paths/{}/{method}/responses/{status}",
        path.replace('~', "~0").replace('/', "~1")
    )) {
        answer["links"] = links;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_answer_has_a_real_schema() {
        let (_, generated) = crate::api_v1::documented_for_tests().split_for_parts();
        let doc = document(generated);
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.len() >= 25, "{}", paths.len());
        // Each success answer with a body refers to a typed view, not a bare object.
        for (path, ops) in paths {
            for (method, op) in ops.as_object().unwrap() {
                for (status, answer) in op["responses"].as_object().unwrap() {
                    for (_, media) in answer["content"].as_object().into_iter().flatten() {
                        let schema = &media["schema"];
                        assert!(
                            schema.get("$ref").is_some() || schema.get("properties").is_some(),
                            "{method} {path} {status}: {schema}"
                        );
                    }
                }
            }
        }
        // Every reference resolves.
        let text = doc.to_string();
        for reference in text.split("\"$ref\":\"").skip(1) {
            let target = &reference[..reference.find('"').unwrap()];
            let name = target.trim_start_matches("#/components/schemas/");
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "{target} is not in the document"
            );
        }
        let created = &doc["paths"]["/api/v1/clusters"]["post"]["responses"]["202"];
        assert!(created["links"]["GetCluster"].is_object(), "{created}");
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
    }
}
