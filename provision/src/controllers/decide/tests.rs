use super::*;
use serde_json::json;

fn node(name: &str, ip: &str, ready: bool) -> Node {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "status": {
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
            "addresses": [{"type": "InternalIP", "address": ip}],
        },
    }))
    .unwrap()
}

fn lb_service(extra: serde_json::Value) -> Service {
    let mut s = json!({
        "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]},
    });
    json_merge(&mut s, extra);
    serde_json::from_value(s).unwrap()
}

fn json_merge(a: &mut serde_json::Value, b: serde_json::Value) {
    match (a, b) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                json_merge(a.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

#[test]
fn a_new_load_balancer_service_gets_its_finalizer_and_a_load_balancer_on_ready_nodes() {
    let snap = Snapshot {
        services: vec![lb_service(json!({}))],
        nodes: vec![
            node("w1", "127.10.0.5", true),
            node("w2", "127.10.0.6", false),
        ],
        ..Default::default()
    };
    let actions = services("c1", &snap);
    assert!(matches!(&actions[0], Action::AddFinalizer(r) if r.uid == "u1"));
    let Action::EnsureLb(p) = &actions[1] else {
        panic!("{actions:?}")
    };
    assert_eq!(
        p.ports,
        vec![LbPort {
            port: 80,
            node_port: 30080
        }]
    );
    assert_eq!(p.members.len(), 1, "only the Ready node");
    assert_eq!(p.members[0].address, "127.10.0.5");
}

#[test]
fn a_published_service_settles_and_changes_when_nodes_do() {
    let nodes = vec![node("w1", "127.10.0.5", true)];
    let applied = fingerprint(
        &[LbPort {
            port: 80,
            node_port: 30080,
        }],
        &members(&nodes),
    );
    let done = lb_service(json!({
        "metadata": {"finalizers": [CLEANUP_FINALIZER], "annotations": {APPLIED_ANNOTATION: applied}},
        "status": {"loadBalancer": {"ingress": [{"ip": "127.20.0.1"}]}},
    }));
    let mut snap = Snapshot {
        services: vec![done],
        nodes,
        ..Default::default()
    };
    assert!(services("c1", &snap).is_empty());
    snap.nodes.push(node("w2", "127.10.0.6", true));
    assert!(matches!(&services("c1", &snap)[..], [Action::EnsureLb(p)] if p.members.len() == 2));
}

#[test]
fn deleting_or_retyping_a_service_removes_its_load_balancer() {
    let deleting = lb_service(json!({
        "metadata": {"finalizers": [CLEANUP_FINALIZER], "deletionTimestamp": "2026-12-06T00:00:00Z"},
    }));
    let snap = Snapshot {
        services: vec![deleting],
        ..Default::default()
    };
    assert!(matches!(&services("c1", &snap)[..], [Action::RemoveLb(p)] if p.deleting));
    let retyped = lb_service(json!({
        "metadata": {"finalizers": [CLEANUP_FINALIZER]},
        "spec": {"type": "ClusterIP"},
    }));
    let snap = Snapshot {
        services: vec![retyped],
        ..Default::default()
    };
    assert!(matches!(&services("c1", &snap)[..], [Action::RemoveLb(p)] if !p.deleting));
    // A ClusterIP service that never had one asks nothing.
    let plain = lb_service(json!({"spec": {"type": "ClusterIP"}}));
    let snap = Snapshot {
        services: vec![plain],
        ..Default::default()
    };
    assert!(services("c1", &snap).is_empty());
}

fn class(expand: bool) -> StorageClass {
    serde_json::from_value(json!({
        "metadata": {"name": "standard"},
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "allowVolumeExpansion": expand,
    }))
    .unwrap()
}

fn claim(size: &str, volume: Option<&str>) -> PersistentVolumeClaim {
    serde_json::from_value(json!({
        "metadata": {"name": "data", "namespace": "default", "uid": "c-1"},
        "spec": {"storageClassName": "standard", "accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": size}}, "volumeName": volume},
    }))
    .unwrap()
}

fn pv(size: &str, claim_uid: &str) -> PersistentVolume {
    serde_json::from_value(json!({
        "metadata": {"name": "pvc-c-1", "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER}},
        "spec": {"capacity": {"storage": size}, "persistentVolumeReclaimPolicy": "Delete",
                 "claimRef": {"namespace": "default", "name": "data", "uid": claim_uid}},
    }))
    .unwrap()
}

#[test]
fn a_claim_is_provisioned_once_grown_when_its_class_allows_and_reclaimed_when_gone() {
    let mut snap = Snapshot {
        claims: vec![claim("1500Mi", None)],
        classes: vec![class(true)],
        ..Default::default()
    };
    let actions = volumes("c1", &snap);
    assert!(
        matches!(&actions[..], [Action::Provision(p)] if p.size_gib == 2 && p.claim.volume_name() == "pvc-c-1")
    );
    // The PV is there (being bound): nothing more.
    snap.volumes = vec![pv("2Gi", "c-1")];
    assert!(volumes("c1", &snap).is_empty());
    // Bound, then asked bigger.
    snap.claims = vec![claim("5Gi", Some("pvc-c-1"))];
    assert!(matches!(&volumes("c1", &snap)[..], [Action::Expand(p)] if p.size_gib == 5));
    snap.classes = vec![class(false)];
    assert!(
        volumes("c1", &snap).is_empty(),
        "the class does not allow growing"
    );
    // The claim is gone: the volume goes.
    snap.claims.clear();
    assert!(
        matches!(&volumes("c1", &snap)[..], [Action::Reclaim(p)] if p.pv == "pvc-c-1" && p.claim_uid == "c-1")
    );
}

#[test]
fn quantities_read_as_kubernetes_writes_them() {
    assert_eq!(gib("1Gi"), Some(1));
    assert_eq!(gib("1G"), Some(1));
    assert_eq!(gib("1025Mi"), Some(2));
    assert_eq!(gib("1Ti"), Some(1024));
    assert_eq!(gib("100"), Some(1));
    assert_eq!(gib("ten"), None);
}
