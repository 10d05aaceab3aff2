//! The kinds this API serves, each with its group, version, resource name and scope, and
//! its `k8s-openapi` type (a body is read into it before it is stored). What is not here
//! is absent from discovery, as on a cluster without it.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

pub struct Kind {
    /// "" for the core group.
    pub group: &'static str,
    pub version: &'static str,
    /// Plural, as in the URL.
    pub resource: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    /// The object read into its type and written again (what the type does not have
    /// is gone).
    pub typed: fn(Value) -> Result<Value, serde_json::Error>,
}

impl Kind {
    /// How the store names it: `nodes`, `deployments.apps`.
    pub fn store_name(&self) -> String {
        if self.group.is_empty() {
            self.resource.to_string()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }

    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

fn typed<T: DeserializeOwned + Serialize>(v: Value) -> Result<Value, serde_json::Error> {
    serde_json::to_value(serde_json::from_value::<T>(v)?)
}

/// What every served kind allows.
pub const VERBS: &[&str] = &["create", "delete", "get", "list", "patch", "update"];

macro_rules! kind {
    ($group:expr, $version:expr, $resource:expr, $singular:expr, $kind:ident, $namespaced:expr, [$($short:expr),*], $ty:ty) => {
        Kind {
            group: $group,
            version: $version,
            resource: $resource,
            singular: $singular,
            kind: stringify!($kind),
            namespaced: $namespaced,
            short_names: &[$($short),*],
            typed: typed::<$ty>,
        }
    };
}

use k8s_openapi::api::{apps::v1 as apps, coordination::v1 as coordination, core::v1 as core};
use k8s_openapi::api::{authentication::v1 as authentication, authorization::v1 as authorization};
use k8s_openapi::api::{rbac::v1 as rbac, storage::v1 as storage};

pub const KINDS: &[Kind] = &[
    kind!(
        "",
        "v1",
        "namespaces",
        "namespace",
        Namespace,
        false,
        ["ns"],
        core::Namespace
    ),
    kind!("", "v1", "nodes", "node", Node, false, ["no"], core::Node),
    kind!("", "v1", "pods", "pod", Pod, true, ["po"], core::Pod),
    kind!(
        "",
        "v1",
        "services",
        "service",
        Service,
        true,
        ["svc"],
        core::Service
    ),
    kind!(
        "",
        "v1",
        "endpoints",
        "endpoints",
        Endpoints,
        true,
        ["ep"],
        core::Endpoints
    ),
    kind!(
        "",
        "v1",
        "configmaps",
        "configmap",
        ConfigMap,
        true,
        ["cm"],
        core::ConfigMap
    ),
    kind!(
        "",
        "v1",
        "secrets",
        "secret",
        Secret,
        true,
        [],
        core::Secret
    ),
    kind!(
        "",
        "v1",
        "serviceaccounts",
        "serviceaccount",
        ServiceAccount,
        true,
        ["sa"],
        core::ServiceAccount
    ),
    kind!(
        "",
        "v1",
        "events",
        "event",
        Event,
        true,
        ["ev"],
        core::Event
    ),
    kind!(
        "",
        "v1",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        PersistentVolumeClaim,
        true,
        ["pvc"],
        core::PersistentVolumeClaim
    ),
    kind!(
        "",
        "v1",
        "persistentvolumes",
        "persistentvolume",
        PersistentVolume,
        false,
        ["pv"],
        core::PersistentVolume
    ),
    kind!(
        "apps",
        "v1",
        "deployments",
        "deployment",
        Deployment,
        true,
        ["deploy"],
        apps::Deployment
    ),
    kind!(
        "apps",
        "v1",
        "replicasets",
        "replicaset",
        ReplicaSet,
        true,
        ["rs"],
        apps::ReplicaSet
    ),
    kind!(
        "storage.k8s.io",
        "v1",
        "storageclasses",
        "storageclass",
        StorageClass,
        false,
        ["sc"],
        storage::StorageClass
    ),
    kind!(
        "coordination.k8s.io",
        "v1",
        "leases",
        "lease",
        Lease,
        true,
        [],
        coordination::Lease
    ),
    kind!(
        "rbac.authorization.k8s.io",
        "v1",
        "roles",
        "role",
        Role,
        true,
        [],
        rbac::Role
    ),
    kind!(
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
        "rolebinding",
        RoleBinding,
        true,
        [],
        rbac::RoleBinding
    ),
    kind!(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterroles",
        "clusterrole",
        ClusterRole,
        false,
        [],
        rbac::ClusterRole
    ),
    kind!(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "clusterrolebinding",
        ClusterRoleBinding,
        false,
        [],
        rbac::ClusterRoleBinding
    ),
];

/// Kinds that are created and answered, never stored: what a caller asks about itself
/// ([`crate::reviews`]). In discovery with the verb `create` alone; [`find`] does not
/// give them to the stored kinds' handlers.
pub const REVIEWS: &[Kind] = &[
    kind!(
        "authorization.k8s.io",
        "v1",
        "selfsubjectaccessreviews",
        "selfsubjectaccessreview",
        SelfSubjectAccessReview,
        false,
        [],
        authorization::SelfSubjectAccessReview
    ),
    kind!(
        "authorization.k8s.io",
        "v1",
        "selfsubjectrulesreviews",
        "selfsubjectrulesreview",
        SelfSubjectRulesReview,
        false,
        [],
        authorization::SelfSubjectRulesReview
    ),
    kind!(
        "authentication.k8s.io",
        "v1",
        "selfsubjectreviews",
        "selfsubjectreview",
        SelfSubjectReview,
        false,
        [],
        authentication::SelfSubjectReview
    ),
];

/// The verbs discovery lists for a kind.
pub fn verbs(k: &Kind) -> &'static [&'static str] {
    if REVIEWS.iter().any(|r| std::ptr::eq(r, k)) {
        &["create"]
    } else {
        VERBS
    }
}

/// The kind served at `group`/`version`/`resource`.
pub fn find(group: &str, version: &str, resource: &str) -> Option<&'static Kind> {
    KINDS
        .iter()
        .find(|k| k.group == group && k.version == version && k.resource == resource)
}

/// The named groups (not the core one), each with its version, in order.
pub fn groups() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for k in KINDS.iter().chain(REVIEWS).filter(|k| !k.group.is_empty()) {
        if !out.contains(&(k.group, k.version)) {
            out.push((k.group, k.version));
        }
    }
    out
}

/// The kinds of one group version (the stored ones and the reviews).
pub fn of<'a>(group: &'a str, version: &'a str) -> impl Iterator<Item = &'static Kind> + use<'a> {
    KINDS
        .iter()
        .chain(REVIEWS)
        .filter(move |k| k.group == group && k.version == version)
}
