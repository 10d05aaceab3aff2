//! The OpenAPI 3 document of `/api/v1`, served at `/api/v1/openapi.json`.

use serde_json::{json, Value};

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn ok(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

pub fn document() -> Value {
    let errors = json!({
        "400": error_response("Invalid input: nothing was changed"),
        "401": error_response("No valid token or session"),
        "404": error_response("Not found, or not visible to you"),
        "409": error_response("Conflicts with the current state (for example another operation is running)"),
    });
    let with_errors = |mut responses: Value| {
        if let (Some(r), Some(e)) = (responses.as_object_mut(), errors.as_object()) {
            for (k, v) in e {
                r.insert(k.clone(), v.clone());
            }
        }
        responses
    };
    let project = json!({"name": "project", "in": "query", "required": false, "schema": {"type": "string"},
        "description": "Project id; default: the console's current project, else your first"});
    let id = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}});
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Shipyard API", "version": "1", "description": "Managed Kubernetes clusters on OpenStack-compatible clouds. Authenticate with `Authorization: Bearer <token>` (create tokens in the console or with POST /api/v1/tokens)."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": {
            "/api/v1/clusters": {
                "get": {"summary": "List the project's clusters", "parameters": [project],
                    "responses": with_errors(json!({"200": ok("Clusters", json!({"type": "object", "properties": {"clusters": {"type": "array", "items": {"$ref": "#/components/schemas/Cluster"}}}}))}))},
                "post": {"summary": "Create a cluster (or, with dry_run=true, return its plan)",
                    "parameters": [project, {"name": "dry_run", "in": "query", "required": false, "schema": {"type": "boolean"}}],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ClusterSpec"}}}},
                    "responses": with_errors(json!({
                        "200": ok("The plan (dry_run=true)", json!({"type": "object", "properties": {"plan": {"$ref": "#/components/schemas/Plan"}}})),
                        "202": ok("Accepted: the cluster (CREATING) and its operation", json!({"type": "object", "properties": {"cluster": {"$ref": "#/components/schemas/Cluster"}, "operation": {"$ref": "#/components/schemas/Operation"}}})),
                    }))},
            },
            "/api/v1/clusters/{id}": {
                "get": {"summary": "A cluster with its node groups and operations", "parameters": [id],
                    "responses": with_errors(json!({"200": ok("The cluster", json!({"type": "object", "properties": {"cluster": {"$ref": "#/components/schemas/Cluster"}}}))}))},
                "delete": {"summary": "Delete a cluster and everything it has in the cloud", "parameters": [id],
                    "responses": with_errors(json!({"202": ok("Accepted: the cluster (DELETING) and its operation", json!({"type": "object"}))}))},
            },
            "/api/v1/clusters/{id}/nodegroups": {
                "get": {"summary": "The cluster's node groups", "parameters": [id],
                    "responses": with_errors(json!({"200": ok("Node groups", json!({"type": "object"}))}))},
            },
            "/api/v1/clusters/{id}/nodegroups/{ng}": {
                "get": {"summary": "A node group", "parameters": [id, {"name": "ng", "in": "path", "required": true, "schema": {"type": "string"}}],
                    "responses": with_errors(json!({"200": ok("The node group", json!({"type": "object"}))}))},
                "patch": {"summary": "Scale a node group or change its bounds (remove_nodes names the nodes to remove when shrinking; else the newest go)",
                    "parameters": [id, {"name": "ng", "in": "path", "required": true, "schema": {"type": "string"}}],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {
                        "node_count": {"type": "integer"}, "min_node_count": {"type": "integer"}, "max_node_count": {"type": "integer"},
                        "remove_nodes": {"type": "array", "items": {"type": "string"}}}}}}},
                    "responses": with_errors(json!({"200": ok("Bounds changed", json!({"type": "object"})), "202": ok("Scaling: the node group and its operation", json!({"type": "object"}))}))},
            },
            "/api/v1/operations/{id}": {
                "get": {"summary": "An operation: state, progress, steps, events, error", "parameters": [id],
                    "responses": with_errors(json!({"200": ok("The operation", json!({"type": "object", "properties": {"operation": {"$ref": "#/components/schemas/Operation"}}}))}))},
            },
            "/api/v1/tokens": {
                "get": {"summary": "Your API tokens (never their secrets)", "responses": with_errors(json!({"200": ok("Tokens", json!({"type": "object"}))}))},
                "post": {"summary": "Create a token; its secret is shown only in this answer",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "maxLength": 64}}}}}},
                    "responses": with_errors(json!({"201": ok("The token with its secret", json!({"type": "object"}))}))},
            },
            "/api/v1/tokens/{id}": {
                "delete": {"summary": "Revoke a token", "parameters": [id], "responses": with_errors(json!({"204": {"description": "Revoked"}}))},
            },
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "shipyard_session"},
            },
            "schemas": {
                "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
                    "code": {"type": "string"}, "message": {"type": "string"}, "retryable": {"type": "boolean"}, "field": {"type": "string"}}}}},
                "ClusterSpec": {"type": "object", "required": ["name", "node_groups"], "properties": {
                    "name": {"type": "string", "pattern": "^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$"},
                    "kubernetes_version": {"type": "string", "description": "Default: the newest on offer"},
                    "master_count": {"type": "integer", "enum": [1, 3, 5], "default": 1},
                    "master_flavor": {"type": "string", "default": "m1.medium"},
                    "pod_cidr": {"type": "string", "default": "10.244.0.0/16"},
                    "service_cidr": {"type": "string", "default": "10.96.0.0/12"},
                    "api_endpoint": {"type": "string", "enum": ["public", "private"], "default": "public"},
                    "node_groups": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/NodeGroupSpec"}}}},
                "NodeGroupSpec": {"type": "object", "required": ["name", "node_count"], "properties": {
                    "name": {"type": "string"}, "flavor": {"type": "string"}, "node_count": {"type": "integer", "minimum": 0, "maximum": 100},
                    "min_node_count": {"type": "integer"}, "max_node_count": {"type": "integer"}, "boot_volume_gib": {"type": "integer", "default": 20},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}}, "taints": {"type": "array", "items": {"type": "string"}}}},
                "Cluster": {"type": "object", "properties": {
                    "id": {"type": "string"}, "name": {"type": "string"},
                    "status": {"type": "string", "enum": ["CREATING", "ACTIVE", "UPDATING", "DELETING", "FAILED"]},
                    "status_reason": {"type": "string", "nullable": true}, "kubernetes_version": {"type": "string"},
                    "master_count": {"type": "integer"}, "api_address": {"type": "string", "nullable": true}}},
                "Operation": {"type": "object", "properties": {
                    "id": {"type": "string"}, "kind": {"type": "string"},
                    "state": {"type": "string", "enum": ["pending", "running", "succeeded", "failed", "unwinding", "unwound", "stuck"]},
                    "progress": {"type": "object", "properties": {"done": {"type": "integer"}, "total": {"type": "integer"}}},
                    "error": {"type": "object", "nullable": true, "properties": {"message": {"type": "string"}, "retryable": {"type": "boolean"}}}}},
                "Plan": {"type": "object", "properties": {
                    "resources": {"type": "array", "items": {"type": "object"}}, "totals": {"type": "object"},
                    "capacity": {"type": "object"}, "expected_seconds": {"type": "number"}}},
            },
        },
    })
}
