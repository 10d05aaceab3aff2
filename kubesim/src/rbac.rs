//! The authorizer: whether a user may do what a request asks, decided as kube-apiserver
//! decides it with `--authorization-mode=RBAC` — the group `system:masters` may do
//! anything, everyone else what the ClusterRoleBindings (everywhere) and the
//! RoleBindings of the request's namespace grant them, read from the store at each
//! request (a removed binding counts at once). Also the rules a user has in a namespace,
//! for `SelfSubjectRulesReview`.

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use k8s_openapi::api::rbac::v1::{RoleRef, Subject};
use serde::de::DeserializeOwned;

use crate::store::{Key, Store};
use crate::tls::Identity;

/// The group whose members may do anything (kube-apiserver's privileged group).
pub const MASTERS: &str = "system:masters";

/// What a request asks to do (kube-apiserver's `authorizer.Attributes`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attributes {
    /// `get`, `list`, `watch`, `create`, … for a resource; the lowercase HTTP method for
    /// a path that is not one.
    pub verb: String,
    /// Whether it is about a resource (else about `path`).
    pub resource_request: bool,
    pub api_group: String,
    pub api_version: String,
    pub resource: String,
    pub subresource: String,
    /// Empty: cluster-scoped, or every namespace.
    pub namespace: String,
    pub name: String,
    pub path: String,
}

/// The answer, with kube-apiserver's reason (`RBAC: allowed by …`, or why rules could
/// not be read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: String,
}

/// Whether `user` may do `a`.
pub fn authorize(store: &Store, user: &Identity, a: &Attributes) -> Decision {
    if user.groups.iter().any(|g| g == MASTERS) {
        return Decision {
            allowed: true,
            reason: String::new(),
        };
    }
    let mut allowed_by = None;
    let errors = visit(store, user, &a.namespace, |source, rule| {
        if allows(a, rule) {
            allowed_by = Some(source());
            return false;
        }
        true
    });
    match allowed_by {
        Some(by) => Decision {
            allowed: true,
            reason: format!("RBAC: allowed by {by}"),
        },
        None if errors.is_empty() => Decision {
            allowed: false,
            reason: String::new(),
        },
        None => Decision {
            allowed: false,
            reason: format!("RBAC: {}", aggregate(&errors)),
        },
    }
}

/// Every rule that applies to `user` in `namespace` (or cluster-wide with ""), and what
/// could not be read.
pub fn rules_for(
    store: &Store,
    user: &Identity,
    namespace: &str,
) -> (Vec<PolicyRule>, Vec<String>) {
    if user.groups.iter().any(|g| g == MASTERS) {
        let all = vec!["*".to_string()];
        return (
            vec![
                PolicyRule {
                    verbs: all.clone(),
                    api_groups: Some(all.clone()),
                    resources: Some(all.clone()),
                    ..Default::default()
                },
                PolicyRule {
                    verbs: all.clone(),
                    non_resource_urls: Some(all),
                    ..Default::default()
                },
            ],
            Vec::new(),
        );
    }
    let mut rules = Vec::new();
    let errors = visit(store, user, namespace, |_, rule| {
        rules.push(rule.clone());
        true
    });
    (rules, errors)
}

/// k8s.io/apimachinery's aggregate of errors: one as it is, several in brackets.
pub fn aggregate(errors: &[String]) -> String {
    match errors {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}

/// Calls `f` with each rule bound to `user` (cluster-wide, then in `namespace`) and a
/// description of where it comes from, until `f` answers false; answers the roles that
/// could not be found.
fn visit(
    store: &Store,
    user: &Identity,
    namespace: &str,
    mut f: impl FnMut(&dyn Fn() -> String, &PolicyRule) -> bool,
) -> Vec<String> {
    let mut errors = Vec::new();
    for binding in objects::<ClusterRoleBinding>(store, "clusterrolebindings", None) {
        let Some(subject) = applies(binding.subjects.as_deref(), user, "") else {
            continue;
        };
        let name = binding.metadata.name.clone().unwrap_or_default();
        let Some(rules) = role_rules(store, &binding.role_ref, "", &mut errors) else {
            continue;
        };
        let source = || {
            format!(
                "ClusterRoleBinding {:?} of {} {:?} to {}",
                name,
                binding.role_ref.kind,
                binding.role_ref.name,
                describe(subject, "")
            )
        };
        for rule in &rules {
            if !f(&source, rule) {
                return errors;
            }
        }
    }
    if namespace.is_empty() {
        return errors;
    }
    for binding in objects::<RoleBinding>(store, "rolebindings", Some(namespace)) {
        let Some(subject) = applies(binding.subjects.as_deref(), user, namespace) else {
            continue;
        };
        let name = binding.metadata.name.clone().unwrap_or_default();
        let Some(rules) = role_rules(store, &binding.role_ref, namespace, &mut errors) else {
            continue;
        };
        let source = || {
            format!(
                "RoleBinding {:?} of {} {:?} to {}",
                format!("{name}/{namespace}"),
                binding.role_ref.kind,
                binding.role_ref.name,
                describe(subject, namespace)
            )
        };
        for rule in &rules {
            if !f(&source, rule) {
                return errors;
            }
        }
    }
    errors
}

fn store_name(resource: &str) -> String {
    format!("{resource}.rbac.authorization.k8s.io")
}

/// The objects of an RBAC resource that read as their type (others are skipped).
fn objects<T: DeserializeOwned>(store: &Store, resource: &str, namespace: Option<&str>) -> Vec<T> {
    store
        .list(&store_name(resource), namespace)
        .into_iter()
        .filter_map(|o| serde_json::from_value(o).ok())
        .collect()
}

/// The rules of the role a binding refers to (a Role in `namespace`, or a ClusterRole);
/// a missing one is told in `errors` as kube-apiserver words it.
fn role_rules(
    store: &Store,
    role: &RoleRef,
    namespace: &str,
    errors: &mut Vec<String>,
) -> Option<Vec<PolicyRule>> {
    let found = match role.kind.as_str() {
        "ClusterRole" => store
            .get(&Key::new(&store_name("clusterroles"), None, &role.name))
            .and_then(|o| serde_json::from_value::<ClusterRole>(o).ok())
            .map(|r| r.rules.unwrap_or_default()),
        "Role" if !namespace.is_empty() => store
            .get(&Key::new(&store_name("roles"), Some(namespace), &role.name))
            .and_then(|o| serde_json::from_value::<Role>(o).ok())
            .map(|r| r.rules.unwrap_or_default()),
        _ => None,
    };
    if found.is_none() {
        errors.push(format!(
            "{}.rbac.authorization.k8s.io {:?} not found",
            role.kind.to_lowercase(),
            role.name
        ));
    }
    found
}

/// The first of `subjects` that is `user` (in a binding of `namespace`).
fn applies<'a>(
    subjects: Option<&'a [Subject]>,
    user: &Identity,
    namespace: &str,
) -> Option<&'a Subject> {
    subjects?.iter().find(|s| match s.kind.as_str() {
        "User" => s.name == user.user,
        "Group" => user.groups.contains(&s.name),
        "ServiceAccount" => {
            let ns = s
                .namespace
                .as_deref()
                .filter(|n| !n.is_empty())
                .unwrap_or(namespace);
            !ns.is_empty() && user.user == format!("system:serviceaccount:{ns}:{}", s.name)
        }
        _ => false,
    })
}

fn describe(s: &Subject, namespace: &str) -> String {
    match s.kind.as_str() {
        "ServiceAccount" => {
            let ns = s
                .namespace
                .as_deref()
                .filter(|n| !n.is_empty())
                .unwrap_or(namespace);
            format!("{} {:?}", s.kind, format!("{}/{ns}", s.name))
        }
        _ => format!("{} {:?}", s.kind, s.name),
    }
}

fn has(list: Option<&[String]>, wanted: &str) -> bool {
    list.unwrap_or_default()
        .iter()
        .any(|x| x == "*" || x == wanted)
}

/// Whether `rule` allows `a` (rbac.go's RuleAllows).
pub fn allows(a: &Attributes, rule: &PolicyRule) -> bool {
    if !has(Some(&rule.verbs), &a.verb) {
        return false;
    }
    if !a.resource_request {
        return rule
            .non_resource_urls
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|u| {
                u == "*"
                    || *u == a.path
                    || u.strip_suffix('*').is_some_and(|p| a.path.starts_with(p))
            });
    }
    let combined = if a.subresource.is_empty() {
        a.resource.clone()
    } else {
        format!("{}/{}", a.resource, a.subresource)
    };
    let resource = rule
        .resources
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|r| {
            r == "*"
                || *r == combined
                || (!a.subresource.is_empty()
                    && r.strip_prefix("*/") == Some(a.subresource.as_str()))
        });
    let names = rule.resource_names.as_deref().unwrap_or_default();
    has(rule.api_groups.as_deref(), &a.api_group)
        && resource
        && (names.is_empty() || names.contains(&a.name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(v: serde_json::Value) -> PolicyRule {
        serde_json::from_value(v).unwrap()
    }

    fn resource(verb: &str, group: &str, resource: &str, sub: &str, name: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            resource_request: true,
            api_group: group.into(),
            resource: resource.into(),
            subresource: sub.into(),
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn rules_match_as_kube_apiserver_matches_them() {
        let pods = rule(json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}));
        assert!(allows(&resource("get", "", "pods", "", "p"), &pods));
        assert!(!allows(&resource("list", "", "pods", "", ""), &pods));
        assert!(!allows(&resource("get", "apps", "pods", "", ""), &pods));
        assert!(!allows(&resource("get", "", "pods", "log", "p"), &pods));
        let log = rule(json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*/log"]}));
        assert!(allows(&resource("get", "", "pods", "log", "p"), &log));
        assert!(!allows(&resource("get", "", "pods", "", "p"), &log));
        let named = rule(
            json!({"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"],
            "resourceNames": ["one"]}),
        );
        assert!(allows(
            &resource("get", "", "configmaps", "", "one"),
            &named
        ));
        assert!(!allows(
            &resource("get", "", "configmaps", "", "two"),
            &named
        ));
        assert!(!allows(&resource("list", "", "configmaps", "", ""), &named));
        let urls = rule(json!({"verbs": ["get"], "nonResourceURLs": ["/apis/*", "/version"]}));
        let path = |p: &str| Attributes {
            verb: "get".into(),
            path: p.into(),
            ..Default::default()
        };
        assert!(allows(&path("/apis/apps/v1"), &urls));
        assert!(allows(&path("/version"), &urls));
        assert!(!allows(&path("/version/"), &urls));
        assert!(!allows(&path("/api"), &urls));
        assert!(!allows(&resource("get", "", "pods", "", ""), &urls));
    }

    #[test]
    fn bindings_grant_roles_and_missing_roles_are_told() {
        let store = Store::open(None).unwrap();
        let ann = Identity {
            user: "ann".into(),
            groups: vec!["system:authenticated".into()],
        };
        let put = |resource: &str, ns: Option<&str>, name: &str, v: serde_json::Value| {
            store
                .create(&Key::new(&store_name(resource), ns, name), v)
                .unwrap();
        };
        put(
            "roles",
            Some("team"),
            "reader",
            json!({"metadata": {},
            "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}]}),
        );
        put(
            "rolebindings",
            Some("team"),
            "ann-reads",
            json!({"metadata": {},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
            "subjects": [{"kind": "User", "name": "ann"}]}),
        );
        let mut get = resource("get", "", "secrets", "", "s");
        get.namespace = "team".into();
        let d = authorize(&store, &ann, &get);
        assert!(d.allowed);
        assert_eq!(
            d.reason,
            "RBAC: allowed by RoleBinding \"ann-reads/team\" of Role \"reader\" to User \"ann\""
        );
        get.namespace = "other".into();
        assert!(!authorize(&store, &ann, &get).allowed);
        put(
            "clusterrolebindings",
            None,
            "ghost",
            json!({"metadata": {},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "ghost"},
            "subjects": [{"kind": "Group", "name": "system:authenticated"}]}),
        );
        let d = authorize(&store, &ann, &get);
        assert!(!d.allowed);
        assert_eq!(
            d.reason,
            "RBAC: clusterrole.rbac.authorization.k8s.io \"ghost\" not found"
        );
        let root = Identity {
            user: "root".into(),
            groups: vec![MASTERS.into()],
        };
        assert!(authorize(&store, &root, &get).allowed);
    }
}
