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
        "403": error_response("Your role or token does not allow this (a viewer changing, a read-only token writing, a token minting tokens, a tenant on an admin route)"),
        "404": error_response("Not found, or not visible to you"),
        "409": error_response("Conflicts with the current state (for example another operation is running)"),
        "429": error_response("Too many requests; retry after the Retry-After header's seconds"),
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
    let ng = json!({"name": "ng", "in": "path", "required": true, "schema": {"type": "string"}});
    let dry_run = json!({"name": "dry_run", "in": "query", "required": false, "schema": {"type": "boolean"}, "description": "Return the plan; change nothing"});
    let plan_id = json!({"name": "plan_id", "in": "query", "required": false, "schema": {"type": "string"},
        "description": "Apply only if the plan is still this one (409 when the world changed)"});
    // Flavors, quotas and the audit log: a document of their own, merged below (one
    // json! for everything exceeds the macro's recursion limit).
    let more_paths = json!({
            "/api/v1/flavors": {
                "get": {"summary": "The cloud's flavors on offer (admins see every one, with `enabled`)", "responses": with_errors(json!({"200": ok("Flavors", json!({"type": "object"}))}))},
            },
            "/api/v1/admin/flavors/{name}": {
                "put": {"summary": "Offer a flavor for new clusters and node groups, or stop offering it (admins only)",
                    "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["enabled"], "properties": {"enabled": {"type": "boolean"}}}}}},
                    "responses": with_errors(json!({"200": ok("The flavor", json!({"type": "object"}))}))},
            },
            "/api/v1/admin/quotas": {
                "get": {"summary": "Every project's quota beside what it uses (admins only)", "responses": with_errors(json!({"200": ok("Projects", json!({"type": "object"}))}))},
            },
            "/api/v1/admin/projects/{id}/quota": {
                "put": {"summary": "Set a project's quota (admins only; audited)", "parameters": [id],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object",
                        "required": ["clusters", "vcpus", "ram_mib", "volume_gib", "load_balancers"],
                        "properties": {"clusters": {"type": "integer", "minimum": 0}, "vcpus": {"type": "integer", "minimum": 0}, "ram_mib": {"type": "integer", "minimum": 0}, "volume_gib": {"type": "integer", "minimum": 0}, "load_balancers": {"type": "integer", "minimum": 0}}}}}},
                    "responses": with_errors(json!({"200": ok("The quota", json!({"type": "object"}))}))},
            },
            "/api/v1/admin/audit": {
                "get": {"summary": "The audit log, newest first (admins only)",
                    "parameters": [
                        {"name": "actor", "in": "query", "required": false, "schema": {"type": "string"}, "description": "The actor's email"},
                        {"name": "project", "in": "query", "required": false, "schema": {"type": "string"}, "description": "A project id"},
                        {"name": "action", "in": "query", "required": false, "schema": {"type": "string"}, "description": "e.g. cluster.create"},
                        {"name": "outcome", "in": "query", "required": false, "schema": {"type": "string", "enum": ["success", "failure", "denied"]}},
                        {"name": "since", "in": "query", "required": false, "schema": {"type": "string"}, "description": "UTC: 2026-11-29, 2026-11-29T10:30 or RFC 3339"},
                        {"name": "until", "in": "query", "required": false, "schema": {"type": "string"}, "description": "UTC; a date alone means the end of that day"},
                        {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}],
                    "responses": with_errors(json!({"200": ok("Entries", json!({"type": "object"}))}))},
            },
    });
    // Stateful testing (schemathesis follows these): what a create answers feeds the
    // operations on what it made.
    let by_cluster = json!({"id": "$response.body#/cluster/id"});
    let mut cluster_links = serde_json::Map::new();
    for (name, op) in [
        ("GetCluster", "GET /api/v1/clusters/{id}"),
        ("PlanDelete", "GET /api/v1/clusters/{id}/plan-delete"),
        ("NodeGroups", "GET /api/v1/clusters/{id}/nodegroups"),
        ("Services", "GET /api/v1/clusters/{id}/services"),
        ("Volumes", "GET /api/v1/clusters/{id}/volumes"),
        ("Kubeconfig", "POST /api/v1/clusters/{id}/kubeconfig"),
        ("DeleteCluster", "DELETE /api/v1/clusters/{id}"),
    ] {
        let (method, path) = op.split_once(' ').unwrap_or_default();
        cluster_links.insert(
            name.into(),
            json!({"operationRef": format!("#/paths/{}/{}", path.replace('~', "~0").replace('/', "~1"), method.to_lowercase()),
                   "parameters": by_cluster}),
        );
    }
    cluster_links.insert(
        "Operation".into(),
        json!({"operationRef": "#/paths/~1api~1v1~1operations~1{id}/get",
               "parameters": {"id": "$response.body#/operation/id"}}),
    );
    let mut created_cluster = ok(
        "Accepted: the cluster (CREATING) and its operation",
        json!({"type": "object", "properties": {"cluster": {"$ref": "#/components/schemas/Cluster"}, "operation": {"$ref": "#/components/schemas/Operation"}}}),
    );
    created_cluster["links"] = Value::Object(cluster_links);
    let mut created_token = ok("The token with its secret", json!({"type": "object"}));
    created_token["links"] = json!({"RevokeToken": {
        "operationRef": "#/paths/~1api~1v1~1tokens~1{id}/delete",
        "parameters": {"id": "$response.body#/token/id"}}});
    let mut doc = json!({
        "openapi": "3.0.3",
        "info": {"title": "Shipyard API", "version": "1", "description": "Managed Kubernetes clusters on OpenStack-compatible clouds. Authenticate with `Authorization: Bearer <token>` (create tokens in the console or with POST /api/v1/tokens)."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": {
            "/api/v1/clusters": {
                "get": {"summary": "List the project's clusters", "parameters": [project],
                    "responses": with_errors(json!({"200": ok("Clusters", json!({"type": "object", "properties": {"clusters": {"type": "array", "items": {"$ref": "#/components/schemas/Cluster"}}}}))}))},
                "post": {"summary": "Create a cluster (or, with dry_run=true, return its plan)",
                    "parameters": [project, dry_run, plan_id],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ClusterSpec"}}}},
                    "responses": with_errors(json!({
                        "200": ok("The plan (dry_run=true)", json!({"type": "object", "properties": {"plan": {"$ref": "#/components/schemas/Plan"}}})),
                        "202": created_cluster,
                    }))},
            },
            "/api/v1/clusters/{id}": {
                "get": {"summary": "A cluster with its node groups and operations", "parameters": [id],
                    "responses": with_errors(json!({"200": ok("The cluster", json!({"type": "object", "properties": {"cluster": {"$ref": "#/components/schemas/Cluster"}}}))}))},
                "delete": {"summary": "Delete a cluster and everything it has in the cloud (plan_id from plan-delete: only if that is still the plan)", "parameters": [id, plan_id],
                    "responses": with_errors(json!({"202": ok("Accepted: the cluster (DELETING) and its operation", json!({"type": "object"}))}))},
            },
            "/api/v1/clusters/{id}/nodegroups": {
                "get": {"summary": "The cluster's node groups", "parameters": [id],
                    "responses": with_errors(json!({"200": ok("Node groups", json!({"type": "object"}))}))},
                "post": {"summary": "Add a node group (dry_run=true: its plan; plan_id: apply only that plan)", "parameters": [id, dry_run, plan_id],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NodeGroupSpec"}}}},
                    "responses": with_errors(json!({"200": ok("The plan (dry_run=true)", json!({"type": "object"})), "202": ok("The node group and its operation", json!({"type": "object"}))}))},
            },
            "/api/v1/clusters/{id}/nodegroups/{ng}/plan-delete": {
                "get": {"summary": "What deleting the node group removes (its workers as the cloud has them)", "parameters": [id, ng],
                    "responses": with_errors(json!({"200": ok("The plan", json!({"type": "object"}))}))},
            },
            "/api/v1/clusters/{id}/nodegroups/{ng}": {
                "get": {"summary": "A node group", "parameters": [id, ng],
                    "responses": with_errors(json!({"200": ok("The node group", json!({"type": "object"}))}))},
                "delete": {"summary": "Delete a node group and its workers (a cluster keeps at least one)", "parameters": [id, ng, plan_id],
                    "responses": with_errors(json!({"202": ok("Its operation", json!({"type": "object"}))}))},
                "patch": {"summary": "Scale a node group or change its bounds (remove_nodes names the nodes to remove when shrinking; else the newest go). dry_run=true: the plan (which nodes are added or removed)",
                    "parameters": [id, ng, dry_run, plan_id],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {
                        "node_count": {"type": "integer"}, "min_node_count": {"type": "integer"}, "max_node_count": {"type": "integer"},
                        "remove_nodes": {"type": "array", "items": {"type": "string"}}}}}}},
                    "responses": with_errors(json!({"200": ok("Bounds changed", json!({"type": "object"})), "202": ok("Scaling: the node group and its operation", json!({"type": "object"}))}))},
            },
            "/api/v1/clusters/{id}/plan-delete": {
                "get": {"summary": "What deleting the cluster removes: everything of it the cloud holds (service load balancers and persistent volumes included); pass its plan_id to DELETE to apply exactly that", "parameters": [id],
                    "responses": with_errors(json!({"200": ok("The plan", json!({"type": "object", "properties": {"plan": {"$ref": "#/components/schemas/Plan"}}}))}))},
            },
            "/api/v1/clusters/{id}/kubeconfig": {
                "post": {"summary": "Issue a kubeconfig for you: a fresh client certificate (CN = you, O = your project role's group) signed by the cluster's CA, 24 h by default (1 h to 30 days). YAML download, or JSON with its serial and expiry when you Accept application/json", "parameters": [id],
                    "requestBody": {"required": false, "content": {"application/json": {"schema": {"type": "object", "properties": {"validity_hours": {"type": "integer", "minimum": 1, "maximum": 720}}}}}},
                    "responses": with_errors(json!({"201": {"description": "The kubeconfig (the same document in either type)", "content": {
                        "application/yaml": {"schema": {"$ref": "#/components/schemas/Kubeconfig"}},
                        "application/json": {"schema": {"$ref": "#/components/schemas/Kubeconfig"}}}}}))},
            },
            "/api/v1/clusters/{id}/rotate-ca": {
                "post": {"summary": "Replace the cluster's CA: kubeconfigs issued before stop working", "parameters": [id],
                    "responses": with_errors(json!({"200": ok("The new CA generation", json!({"type": "object"}))}))},
            },
            "/api/v1/clusters/{id}/services": {
                "get": {"summary": "Services exposed on load balancers", "parameters": [id], "responses": with_errors(json!({"200": ok("Services", json!({"type": "object"}))}))},
                "post": {"summary": "Expose a service: a load balancer, one listener per port, the workers as members on the node port (picked from 30000-32767 when omitted)", "parameters": [id],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["name", "ports"], "properties": {
                        "name": {"type": "string"}, "ports": {"type": "array", "items": {"type": "object", "required": ["port"], "properties": {"port": {"type": "integer"}, "node_port": {"type": "integer"}}}}}}}}},
                    "responses": with_errors(json!({"202": ok("The service (CREATING) and its operation", json!({"type": "object"}))}))},
            },
            "/api/v1/clusters/{id}/services/{name}": {
                "delete": {"summary": "Remove a service's load balancer", "parameters": [id, {"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
                    "responses": with_errors(json!({"202": ok("Its operation", json!({"type": "object"}))}))},
            },
            "/api/v1/clusters/{id}/volumes": {
                "get": {"summary": "Persistent volumes", "parameters": [id], "responses": with_errors(json!({"200": ok("Volumes", json!({"type": "object"}))}))},
                "post": {"summary": "Create a persistent volume on block storage", "parameters": [id],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["name", "size_gib"], "properties": {
                        "name": {"type": "string"}, "size_gib": {"type": "integer", "minimum": 1, "maximum": 16384}, "volume_type": {"type": "string"}}}}}},
                    "responses": with_errors(json!({"202": ok("The volume (CREATING) and its operation", json!({"type": "object"}))}))},
            },
            "/api/v1/clusters/{id}/volumes/{name}": {
                "delete": {"summary": "Delete a persistent volume (detached first)", "parameters": [id, {"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
                    "responses": with_errors(json!({"202": ok("Its operation", json!({"type": "object"}))}))},
            },
            "/api/v1/operations/{id}/retry": {
                "post": {"summary": "Run a failed operation again from its first unfinished step (stuck ones: admins only)", "parameters": [id],
                    "responses": with_errors(json!({"202": ok("The operation", json!({"type": "object"}))}))},
            },
            "/api/v1/operations/{id}/abort": {
                "post": {"summary": "Stop a pending or running operation; a create unwinds what it made", "parameters": [id],
                    "responses": with_errors(json!({"202": ok("The operation", json!({"type": "object"}))}))},
            },
            "/api/v1/admin/operations": {
                "get": {"summary": "Every project's operations in some states (admins only)",
                    "parameters": [{"name": "state", "in": "query", "required": false, "schema": {"type": "string"}, "description": "Comma-separated; default pending,running,unwinding,failed,stuck"}],
                    "responses": with_errors(json!({"200": ok("Operations", json!({"type": "object"}))}))},
            },
            "/api/v1/versions": {
                "get": {"summary": "Kubernetes versions on offer (admins also see disabled ones)", "responses": with_errors(json!({"200": ok("Versions", json!({"type": "object"}))}))},
            },
            "/api/v1/admin/versions/{version}": {
                "put": {"summary": "Add a version or enable/disable one (admins only; the cloud must have the image)",
                    "parameters": [{"name": "version", "in": "path", "required": true, "schema": {"type": "string"}}],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["enabled"], "properties": {"enabled": {"type": "boolean"}, "image": {"type": "string"}}}}}},
                    "responses": with_errors(json!({"200": ok("The version", json!({"type": "object"}))}))},
            },
            "/api/v1/operations/{id}": {
                "get": {"summary": "An operation: state, progress, steps, events, error", "parameters": [id],
                    "responses": with_errors(json!({"200": ok("The operation", json!({"type": "object", "properties": {"operation": {"$ref": "#/components/schemas/Operation"}}}))}))},
            },
            "/api/v1/tokens": {
                "get": {"summary": "Your API tokens (never their secrets)", "responses": with_errors(json!({"200": ok("Tokens", json!({"type": "object"}))}))},
                "post": {"summary": "Create a token; its secret is shown only in this answer",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "maxLength": 64}}}}}},
                    "responses": with_errors(json!({"201": created_token}))},
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
                "Kubeconfig": {"type": "object", "required": ["apiVersion", "kind", "clusters", "users", "contexts"], "properties": {
                    "apiVersion": {"type": "string"}, "kind": {"type": "string", "enum": ["Config"]}, "current-context": {"type": "string"},
                    "clusters": {"type": "array", "items": {"type": "object"}}, "users": {"type": "array", "items": {"type": "object"}},
                    "contexts": {"type": "array", "items": {"type": "object"}}}},
                "Plan": {"type": "object", "properties": {
                    "resources": {"type": "array", "items": {"type": "object"}}, "totals": {"type": "object"},
                    "capacity": {"type": "object"}, "expected_seconds": {"type": "number"}}},
            },
        },
    });
    if let (Some(paths), Some(more)) = (doc["paths"].as_object_mut(), more_paths.as_object()) {
        paths.extend(more.clone());
    }
    doc
}
