//! The Kubernetes protobuf messages this server reads, each a table of its fields
//! (numbers and types from k8s.io/api's and apimachinery's `generated.proto`), and the
//! reading of one message into the JSON the handlers take: the kinds kubectl ≥ 1.32
//! sends as protobuf (`kubectl create namespace|configmap|secret|serviceaccount|service|
//! deployment|role|clusterrole|rolebinding|clusterrolebinding`, and its self reviews).
//! Nothing is dropped unseen: a field that is not in a table fails the read unless it is
//! empty, and a status (the server's to write) is left out.

use serde_json::{json, Map, Value};

use crate::protobuf::wire::{fields, Field};

/// How a field's value is carried and written in JSON.
#[derive(Clone, Copy)]
pub enum Ty {
    Str,
    /// base64 in JSON.
    Bytes,
    Int,
    Bool,
    Msg(&'static str),
    /// `metav1.Time`: RFC 3339, or absent when zero.
    Time,
    IntOrString,
    /// `resource.Quantity`: its string.
    Quantity,
    /// A map from string to this.
    Map(&'static Ty),
    /// The server's to write (a status): not read.
    Skip,
}

pub struct F {
    n: u32,
    name: &'static str,
    ty: Ty,
    repeated: bool,
    /// A pointer in Go: a zero value is kept (`replicas: 0`), else it is dropped as
    /// Go's JSON leaves it out.
    keep_zero: bool,
}

const fn f(n: u32, name: &'static str, ty: Ty) -> F {
    F {
        n,
        name,
        ty,
        repeated: false,
        keep_zero: false,
    }
}
const fn r(n: u32, name: &'static str, ty: Ty) -> F {
    F {
        n,
        name,
        ty,
        repeated: true,
        keep_zero: false,
    }
}
const fn p(n: u32, name: &'static str, ty: Ty) -> F {
    F {
        n,
        name,
        ty,
        repeated: false,
        keep_zero: true,
    }
}

use Ty::{Bool, Bytes, Int, IntOrString, Msg, Quantity, Skip, Str, Time};
const STRINGS: Ty = Ty::Map(&Str);

/// The top-level objects read, by apiVersion and kind.
pub const OBJECTS: &[(&str, &str)] = &[
    ("v1", "Namespace"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "ServiceAccount"),
    ("v1", "Service"),
    ("v1", "Pod"),
    ("apps/v1", "Deployment"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"),
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"),
    ("authentication.k8s.io/v1", "SelfSubjectReview"),
];

/// Each message's fields.
#[rustfmt::skip]
const TABLES: &[(&str, &[F])] = &[
    ("ObjectMeta", &[f(1, "name", Str), f(2, "generateName", Str), f(3, "namespace", Str),
        f(4, "selfLink", Str), f(5, "uid", Str), f(6, "resourceVersion", Str),
        f(7, "generation", Int), f(8, "creationTimestamp", Time),
        f(9, "deletionTimestamp", Time), p(10, "deletionGracePeriodSeconds", Int),
        f(11, "labels", STRINGS), f(12, "annotations", STRINGS),
        r(13, "ownerReferences", Msg("OwnerReference")), r(14, "finalizers", Str)]),
    ("OwnerReference", &[f(5, "apiVersion", Str), f(1, "kind", Str), f(3, "name", Str),
        f(4, "uid", Str), p(6, "controller", Bool), p(7, "blockOwnerDeletion", Bool)]),
    ("LabelSelector", &[f(1, "matchLabels", STRINGS),
        r(2, "matchExpressions", Msg("Requirement"))]),
    ("Requirement", &[f(1, "key", Str), f(2, "operator", Str), r(3, "values", Str)]),
    ("Namespace", &[f(1, "metadata", Msg("ObjectMeta")), f(2, "spec", Msg("NamespaceSpec")),
        f(3, "status", Skip)]),
    ("NamespaceSpec", &[r(1, "finalizers", Str)]),
    ("ConfigMap", &[f(1, "metadata", Msg("ObjectMeta")), p(4, "immutable", Bool),
        f(2, "data", STRINGS), f(3, "binaryData", Ty::Map(&Bytes))]),
    ("Secret", &[f(1, "metadata", Msg("ObjectMeta")), p(5, "immutable", Bool),
        f(2, "data", Ty::Map(&Bytes)), f(4, "stringData", STRINGS), f(3, "type", Str)]),
    ("ServiceAccount", &[f(1, "metadata", Msg("ObjectMeta")),
        r(2, "secrets", Msg("ObjectReference")),
        r(3, "imagePullSecrets", Msg("LocalObjectReference")),
        p(4, "automountServiceAccountToken", Bool)]),
    ("ObjectReference", &[f(1, "kind", Str), f(2, "namespace", Str), f(3, "name", Str),
        f(4, "uid", Str), f(5, "apiVersion", Str), f(6, "resourceVersion", Str),
        f(7, "fieldPath", Str)]),
    ("LocalObjectReference", &[f(1, "name", Str)]),
    ("Service", &[f(1, "metadata", Msg("ObjectMeta")), f(2, "spec", Msg("ServiceSpec")),
        f(3, "status", Skip)]),
    ("ServiceSpec", &[r(1, "ports", Msg("ServicePort")), f(2, "selector", STRINGS),
        f(3, "clusterIP", Str), r(18, "clusterIPs", Str), f(4, "type", Str),
        r(5, "externalIPs", Str), f(7, "sessionAffinity", Str), f(8, "loadBalancerIP", Str),
        r(9, "loadBalancerSourceRanges", Str), f(10, "externalName", Str),
        f(11, "externalTrafficPolicy", Str), f(12, "healthCheckNodePort", Int),
        f(13, "publishNotReadyAddresses", Bool), r(19, "ipFamilies", Str),
        f(17, "ipFamilyPolicy", Str), p(20, "allocateLoadBalancerNodePorts", Bool),
        f(21, "loadBalancerClass", Str), f(22, "internalTrafficPolicy", Str),
        f(23, "trafficDistribution", Str)]),
    ("ServicePort", &[f(1, "name", Str), f(2, "protocol", Str), f(6, "appProtocol", Str),
        f(3, "port", Int), f(4, "targetPort", IntOrString), f(5, "nodePort", Int)]),
    ("Pod", &[f(1, "metadata", Msg("ObjectMeta")), f(2, "spec", Msg("PodSpec")),
        f(3, "status", Skip)]),
    ("PodTemplateSpec", &[f(1, "metadata", Msg("ObjectMeta")), f(2, "spec", Msg("PodSpec"))]),
    ("PodSpec", &[r(1, "volumes", Msg("Volume")), r(20, "initContainers", Msg("Container")),
        r(2, "containers", Msg("Container")), f(3, "restartPolicy", Str),
        p(4, "terminationGracePeriodSeconds", Int), p(5, "activeDeadlineSeconds", Int),
        f(6, "dnsPolicy", Str), f(7, "nodeSelector", STRINGS), f(8, "serviceAccountName", Str),
        f(9, "serviceAccount", Str), p(21, "automountServiceAccountToken", Bool),
        f(10, "nodeName", Str), f(11, "hostNetwork", Bool), f(12, "hostPID", Bool),
        f(13, "hostIPC", Bool), p(27, "shareProcessNamespace", Bool),
        r(15, "imagePullSecrets", Msg("LocalObjectReference")), f(16, "hostname", Str),
        f(17, "subdomain", Str), f(19, "schedulerName", Str),
        r(22, "tolerations", Msg("Toleration")), f(24, "priorityClassName", Str),
        p(25, "priority", Int), f(29, "runtimeClassName", Str),
        p(30, "enableServiceLinks", Bool), f(31, "preemptionPolicy", Str),
        f(32, "overhead", Ty::Map(&Quantity)), p(35, "setHostnameAsFQDN", Bool),
        p(37, "hostUsers", Bool), f(40, "resources", Msg("ResourceRequirements"))]),
    ("Volume", &[f(1, "name", Str)]),
    ("Toleration", &[f(1, "key", Str), f(2, "operator", Str), f(3, "value", Str),
        f(4, "effect", Str), p(5, "tolerationSeconds", Int)]),
    ("Container", &[f(1, "name", Str), f(2, "image", Str), r(3, "command", Str),
        r(4, "args", Str), f(5, "workingDir", Str), r(6, "ports", Msg("ContainerPort")),
        r(7, "env", Msg("EnvVar")), f(8, "resources", Msg("ResourceRequirements")),
        f(24, "restartPolicy", Str), f(13, "terminationMessagePath", Str),
        f(20, "terminationMessagePolicy", Str), f(14, "imagePullPolicy", Str),
        f(16, "stdin", Bool), f(17, "stdinOnce", Bool), f(18, "tty", Bool)]),
    ("ContainerPort", &[f(1, "name", Str), f(2, "hostPort", Int), f(3, "containerPort", Int),
        f(4, "protocol", Str), f(5, "hostIP", Str)]),
    ("EnvVar", &[f(1, "name", Str), f(2, "value", Str)]),
    ("ResourceRequirements", &[f(1, "limits", Ty::Map(&Quantity)),
        f(2, "requests", Ty::Map(&Quantity))]),
    ("Deployment", &[f(1, "metadata", Msg("ObjectMeta")), f(2, "spec", Msg("DeploymentSpec")),
        f(3, "status", Skip)]),
    ("DeploymentSpec", &[p(1, "replicas", Int), f(2, "selector", Msg("LabelSelector")),
        f(3, "template", Msg("PodTemplateSpec")), f(4, "strategy", Msg("DeploymentStrategy")),
        f(5, "minReadySeconds", Int), p(6, "revisionHistoryLimit", Int), f(7, "paused", Bool),
        p(9, "progressDeadlineSeconds", Int)]),
    ("DeploymentStrategy", &[f(1, "type", Str), f(2, "rollingUpdate", Msg("RollingUpdate"))]),
    ("RollingUpdate", &[f(1, "maxUnavailable", IntOrString), f(2, "maxSurge", IntOrString)]),
    ("Role", &[f(1, "metadata", Msg("ObjectMeta")), r(2, "rules", Msg("PolicyRule"))]),
    ("ClusterRole", &[f(1, "metadata", Msg("ObjectMeta")), r(2, "rules", Msg("PolicyRule")),
        f(3, "aggregationRule", Msg("AggregationRule"))]),
    ("AggregationRule", &[r(1, "clusterRoleSelectors", Msg("LabelSelector"))]),
    ("PolicyRule", &[r(1, "verbs", Str), r(2, "apiGroups", Str), r(3, "resources", Str),
        r(4, "resourceNames", Str), r(5, "nonResourceURLs", Str)]),
    ("RoleBinding", &[f(1, "metadata", Msg("ObjectMeta")), r(2, "subjects", Msg("Subject")),
        f(3, "roleRef", Msg("RoleRef"))]),
    ("ClusterRoleBinding", &[f(1, "metadata", Msg("ObjectMeta")),
        r(2, "subjects", Msg("Subject")), f(3, "roleRef", Msg("RoleRef"))]),
    ("Subject", &[f(1, "kind", Str), f(2, "apiGroup", Str), f(3, "name", Str),
        f(4, "namespace", Str)]),
    ("RoleRef", &[f(1, "apiGroup", Str), f(2, "kind", Str), f(3, "name", Str)]),
    ("SelfSubjectAccessReview", &[f(1, "metadata", Msg("ObjectMeta")),
        f(2, "spec", Msg("SelfSubjectAccessReviewSpec")), f(3, "status", Skip)]),
    ("SelfSubjectAccessReviewSpec", &[f(1, "resourceAttributes", Msg("ResourceAttributes")),
        f(2, "nonResourceAttributes", Msg("NonResourceAttributes"))]),
    ("ResourceAttributes", &[f(1, "namespace", Str), f(2, "verb", Str), f(3, "group", Str),
        f(4, "version", Str), f(5, "resource", Str), f(6, "subresource", Str),
        f(7, "name", Str), f(8, "fieldSelector", Msg("SelectorAttributes")),
        f(9, "labelSelector", Msg("SelectorAttributes"))]),
    ("SelectorAttributes", &[f(1, "rawSelector", Str),
        r(2, "requirements", Msg("Requirement"))]),
    ("NonResourceAttributes", &[f(1, "path", Str), f(2, "verb", Str)]),
    ("SelfSubjectRulesReview", &[f(1, "metadata", Msg("ObjectMeta")),
        f(2, "spec", Msg("SelfSubjectRulesReviewSpec")), f(3, "status", Skip)]),
    ("SelfSubjectRulesReviewSpec", &[f(1, "namespace", Str)]),
    ("SelfSubjectReview", &[f(1, "metadata", Msg("ObjectMeta")), f(2, "status", Skip)]),
];

fn table(message: &str) -> Option<&'static [F]> {
    TABLES.iter().find(|(m, _)| *m == message).map(|(_, t)| *t)
}

/// `buf`, a `message`, as JSON.
pub fn read(message: &str, buf: &[u8]) -> Result<Value, String> {
    let table = table(message).ok_or_else(|| format!("{message} is not read from protobuf"))?;
    let mut out = Map::new();
    for (n, v) in fields(buf)? {
        let Some(field) = table.iter().find(|f| f.n == n) else {
            if matches!(v, Field::Bytes(b) if b.is_empty()) {
                continue;
            }
            return Err(format!("field {n} of {message} is not read from protobuf"));
        };
        let Some(value) = value(message, field, field.ty, v)? else {
            continue;
        };
        match (field.repeated, field.ty, value) {
            (true, _, value) => {
                if let Value::Array(items) = out.entry(field.name).or_insert(json!([])) {
                    items.push(value);
                }
            }
            // A map comes as one field per entry.
            (false, Ty::Map(_), Value::Object(entry)) => {
                if let Value::Object(map) = out.entry(field.name).or_insert(json!({})) {
                    map.extend(entry);
                }
            }
            (false, _, value) => {
                out.insert(field.name.to_string(), value);
            }
        }
    }
    Ok(Value::Object(out))
}

/// One field's value (`None`: left out, as Go's JSON leaves out a zero one).
fn value(message: &str, field: &F, ty: Ty, v: Field<'_>) -> Result<Option<Value>, String> {
    let keep = field.keep_zero || field.repeated;
    let wrong = || format!("field {} of {message} has the wrong wire type", field.n);
    Ok(match (ty, v) {
        (Skip, _) => None,
        (Str, Field::Bytes(b)) => {
            let s = std::str::from_utf8(b).map_err(|_| wrong())?;
            (keep || !s.is_empty()).then(|| json!(s))
        }
        (Bytes, Field::Bytes(b)) => Some(json!(base64(b))),
        (Int, Field::Varint(x)) => (keep || x != 0).then(|| json!(x as i64)),
        (Bool, Field::Varint(x)) => (keep || x != 0).then(|| json!(x != 0)),
        (Msg(name), Field::Bytes(b)) => Some(read(name, b)?),
        (Time, Field::Bytes(b)) => time(b)?,
        (Quantity, Field::Bytes(b)) => read_quantity(b)?,
        (IntOrString, Field::Bytes(b)) => {
            let (mut kind, mut int, mut string) = (0, 0i64, String::new());
            for (n, v) in fields(b)? {
                match (n, v) {
                    (1, Field::Varint(x)) => kind = x,
                    (2, Field::Varint(x)) => int = x as i64 as i32 as i64,
                    (3, Field::Bytes(s)) => string = String::from_utf8_lossy(s).into_owned(),
                    _ => return Err(wrong()),
                }
            }
            Some(if kind == 1 { json!(string) } else { json!(int) })
        }
        (Ty::Map(of), Field::Bytes(b)) => {
            let (mut key, mut val) = (String::new(), None);
            for (n, v) in fields(b)? {
                match (n, v) {
                    (1, Field::Bytes(k)) => key = String::from_utf8_lossy(k).into_owned(),
                    (2, v) => {
                        let entry = F {
                            keep_zero: true,
                            ..f(2, "value", *of)
                        };
                        val = value(message, &entry, *of, v)?;
                    }
                    _ => return Err(wrong()),
                }
            }
            let val = val.unwrap_or_else(|| match of {
                Bytes | Str | Quantity => json!(""),
                _ => Value::Null,
            });
            Some(json!({ key: val }))
        }
        _ => return Err(wrong()),
    })
}

fn read_quantity(b: &[u8]) -> Result<Option<Value>, String> {
    let mut s = String::new();
    for (n, v) in fields(b)? {
        if let (1, Field::Bytes(q)) = (n, v) {
            s = String::from_utf8_lossy(q).into_owned();
        }
    }
    Ok(Some(json!(s)))
}

/// A `metav1.Time` {seconds, nanos} as RFC 3339 (`None` for the zero time).
fn time(b: &[u8]) -> Result<Option<Value>, String> {
    let mut seconds = 0i64;
    for (n, v) in fields(b)? {
        if let (1, Field::Varint(s)) = (n, v) {
            seconds = s as i64;
        }
    }
    if b.is_empty() {
        return Ok(None);
    }
    let t = time::OffsetDateTime::from_unix_timestamp(seconds).map_err(|e| e.to_string())?;
    let s = t
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| e.to_string())?;
    Ok(Some(json!(s)))
}

fn base64(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = u32::from(c[0]) << 16
            | u32::from(*c.get(1).unwrap_or(&0)) << 8
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
