//! kube-apiserver's bootstrap RBAC policy, for the kinds this API serves: the
//! ClusterRoles `cluster-admin`, `admin`, `edit`, `view`, `system:discovery`,
//! `system:basic-user`, `system:public-info-viewer` and `system:node`, and their
//! ClusterRoleBindings (`cluster-admin` to `system:masters`, the discovery and self-review
//! ones to `system:authenticated`, `system:node` to `system:nodes`). Made when a store
//! opens, each only if missing (one a cluster's owner removed comes back at the next
//! start, as kube-apiserver's bootstrap does), labelled as kube-apiserver labels them.

use serde_json::{json, Value};

use crate::key::Key;

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];
const ALL: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Value {
    json!({"apiGroups": groups, "resources": resources, "verbs": verbs})
}

fn urls(urls: &[&str], verbs: &[&str]) -> Value {
    json!({"nonResourceURLs": urls, "verbs": verbs})
}

/// `view`: reading what runs in a namespace, but not its secrets.
fn view() -> Vec<Value> {
    vec![
        rule(
            &[""],
            &[
                "configmaps",
                "endpoints",
                "persistentvolumeclaims",
                "persistentvolumeclaims/status",
                "pods",
                "services",
                "services/status",
                "serviceaccounts",
            ],
            READ,
        ),
        rule(
            &[""],
            &["events", "namespaces/status", "pods/log", "pods/status"],
            READ,
        ),
        rule(&[""], &["namespaces"], READ),
        rule(
            &["apps"],
            &[
                "deployments",
                "deployments/scale",
                "deployments/status",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
            ],
            READ,
        ),
    ]
}

/// `edit`: `view`, secrets, and changing what runs (not roles or bindings).
fn edit() -> Vec<Value> {
    let mut rules = vec![
        rule(
            &[""],
            &[
                "pods/attach",
                "pods/exec",
                "pods/portforward",
                "pods/proxy",
                "secrets",
                "services/proxy",
            ],
            READ,
        ),
        rule(&[""], &["serviceaccounts"], &["impersonate"]),
        rule(
            &[""],
            &[
                "pods",
                "pods/attach",
                "pods/exec",
                "pods/portforward",
                "pods/proxy",
            ],
            WRITE,
        ),
        rule(&[""], &["pods/eviction"], &["create"]),
        rule(
            &[""],
            &[
                "configmaps",
                "events",
                "persistentvolumeclaims",
                "secrets",
                "serviceaccounts",
                "services",
                "services/proxy",
            ],
            WRITE,
        ),
        rule(&[""], &["serviceaccounts/token"], &["create"]),
        rule(
            &["apps"],
            &[
                "deployments",
                "deployments/rollback",
                "deployments/scale",
                "replicasets",
                "replicasets/scale",
            ],
            WRITE,
        ),
    ];
    rules.extend(view());
    rules
}

/// `admin`: `edit`, and roles and bindings in the namespace.
fn admin() -> Vec<Value> {
    let mut rules = vec![
        rule(
            &["authorization.k8s.io"],
            &["localsubjectaccessreviews"],
            &["create"],
        ),
        rule(
            &["rbac.authorization.k8s.io"],
            &["rolebindings", "roles"],
            ALL,
        ),
    ];
    rules.extend(edit());
    rules
}

fn roles() -> Vec<(&'static str, Vec<Value>)> {
    vec![
        (
            "cluster-admin",
            vec![rule(&["*"], &["*"], &["*"]), urls(&["*"], &["*"])],
        ),
        ("admin", admin()),
        ("edit", edit()),
        ("view", view()),
        (
            "system:discovery",
            vec![urls(
                &[
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    "/version",
                    "/version/",
                ],
                &["get"],
            )],
        ),
        (
            "system:basic-user",
            vec![
                rule(
                    &["authorization.k8s.io"],
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                    &["create"],
                ),
                rule(
                    &["authentication.k8s.io"],
                    &["selfsubjectreviews"],
                    &["create"],
                ),
            ],
        ),
        (
            "system:public-info-viewer",
            vec![urls(
                &["/healthz", "/livez", "/readyz", "/version", "/version/"],
                &["get"],
            )],
        ),
        (
            "system:node",
            vec![
                rule(
                    &[""],
                    &["nodes"],
                    &[
                        "create", "delete", "get", "list", "patch", "update", "watch",
                    ],
                ),
                rule(&[""], &["nodes/status"], &["patch", "update"]),
                rule(
                    &["coordination.k8s.io"],
                    &["leases"],
                    &["create", "get", "patch", "update"],
                ),
                rule(&[""], &["pods"], READ),
                rule(&[""], &["pods/status"], &["patch", "update"]),
                rule(&[""], &["events"], &["create", "patch", "update"]),
                rule(&[""], &["configmaps", "secrets"], READ),
                rule(&[""], &["endpoints", "services"], READ),
            ],
        ),
    ]
}

/// (binding and role name, group bound).
const BINDINGS: &[(&str, &str)] = &[
    ("cluster-admin", "system:masters"),
    ("system:discovery", "system:authenticated"),
    ("system:basic-user", "system:authenticated"),
    ("system:public-info-viewer", "system:authenticated"),
    ("system:node", "system:nodes"),
];

fn metadata() -> Value {
    json!({
        "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
        "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
    })
}

/// Every default role and binding, with the key each is kept at (the store makes those
/// it lacks when it opens).
pub fn defaults() -> Vec<(Key, Value)> {
    let key = |resource: &str, name: &str| {
        Key::new(&format!("{resource}.rbac.authorization.k8s.io"), None, name)
    };
    let mut out = Vec::new();
    for (name, rules) in roles() {
        let mut role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": metadata(), "rules": rules});
        role["metadata"]["name"] = json!(name);
        out.push((key("clusterroles", name), role));
    }
    for (name, group) in BINDINGS {
        let mut binding = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": metadata(),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}],
        });
        binding["metadata"]["name"] = json!(name);
        out.push((key("clusterrolebindings", name), binding));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbac::{authorize, Attributes};
    use crate::store::Store;
    use crate::tls::Identity;

    fn can(store: &Store, groups: &[&str], verb: &str, group: &str, resource: &str) -> bool {
        let user = Identity {
            user: "someone".into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        };
        let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
        let a = Attributes {
            verb: verb.into(),
            resource_request: true,
            api_group: group.into(),
            resource: resource.into(),
            subresource: subresource.into(),
            namespace: "default".into(),
            ..Default::default()
        };
        authorize(store, &user, &a).allowed
    }

    #[test]
    fn the_defaults_are_valid_objects_and_grant_what_kubernetes_grants() {
        let store = Store::open(None).unwrap();
        store.create_missing(defaults()).unwrap();
        let revision = store.revision();
        store.create_missing(defaults()).unwrap();
        assert_eq!(store.revision(), revision, "made twice");
        for kind in crate::kinds::KINDS
            .iter()
            .filter(|k| k.group.starts_with("rbac."))
        {
            for o in store.list(&kind.store_name(), None) {
                (kind.typed)(o.clone()).unwrap_or_else(|e| panic!("{o}: {e}"));
                assert_eq!(
                    o["metadata"]["labels"]["kubernetes.io/bootstrapping"],
                    "rbac-defaults"
                );
            }
        }
        // Bound to nobody by name: a user needs a binding of their own.
        let none: &[&str] = &["system:authenticated"];
        assert!(!can(&store, none, "get", "", "pods"));
        assert!(can(
            &store,
            none,
            "create",
            "authorization.k8s.io",
            "selfsubjectaccessreviews"
        ));
        assert!(can(
            &store,
            none,
            "create",
            "authentication.k8s.io",
            "selfsubjectreviews"
        ));
        let node: &[&str] = &["system:nodes", "system:authenticated"];
        assert!(can(&store, node, "patch", "", "nodes/status"));
        assert!(can(&store, node, "update", "coordination.k8s.io", "leases"));
        assert!(!can(&store, node, "create", "", "pods"));
        assert!(!can(&store, node, "list", "", "namespaces"));
        assert!(can(&store, &["system:masters"], "delete", "", "nodes"));

        // view, edit and admin, each bound in `default` to a group.
        for role in ["view", "edit", "admin"] {
            let key = Key::new(
                "rolebindings.rbac.authorization.k8s.io",
                Some("default"),
                role,
            );
            let binding = json!({"metadata": {},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [{"kind": "Group", "name": format!("{role}ers")}]});
            store.create(&key, binding).unwrap();
        }
        let (view, edit, admin): (&[&str], &[&str], &[&str]) =
            (&["viewers"], &["editers"], &["adminers"]);
        assert!(can(&store, view, "list", "apps", "deployments"));
        assert!(can(&store, view, "get", "", "pods/log"));
        assert!(!can(&store, view, "get", "", "secrets"));
        assert!(!can(&store, view, "create", "apps", "deployments"));
        assert!(can(&store, edit, "get", "", "secrets"));
        assert!(can(&store, edit, "patch", "apps", "deployments/scale"));
        assert!(can(&store, edit, "create", "", "serviceaccounts"));
        assert!(!can(
            &store,
            edit,
            "create",
            "rbac.authorization.k8s.io",
            "rolebindings"
        ));
        assert!(can(
            &store,
            admin,
            "create",
            "rbac.authorization.k8s.io",
            "rolebindings"
        ));
        assert!(can(&store, admin, "delete", "", "pods"));
        assert!(!can(&store, admin, "delete", "", "nodes"));
    }
}
