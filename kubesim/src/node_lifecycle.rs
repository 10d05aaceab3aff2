//! The node lifecycle, as kube-controller-manager's node controller and the cloud
//! controller's node lifecycle run it: a node whose kubelet has not renewed its Lease
//! for the grace period (50 s by default) goes `Ready=Unknown` and gets the
//! `node.kubernetes.io/unreachable` taints; when its kubelet reports Ready again the
//! taints go. A node that is not Ready and whose server the cloud no longer has is
//! removed with its Lease, and pods bound to a node that no longer exists are collected
//! (the pod GC), so their ReplicaSets make new ones.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::kubelet::node_ready;
use crate::meta::{key, name};
use crate::store::{parse_time, Key, Store};

/// The node controller's `node-monitor-grace-period`.
pub const GRACE: Duration = Duration::from_secs(50);
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";

/// Asks the cloud whether a node's server still exists.
pub type InstanceExists = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// How nodes are watched.
#[derive(Clone)]
pub struct NodeLifecycle {
    pub grace: Duration,
    /// `None`: no cloud to ask, nodes are never removed for it.
    pub instance_exists: Option<InstanceExists>,
}

impl Default for NodeLifecycle {
    fn default() -> Self {
        NodeLifecycle {
            grace: GRACE,
            instance_exists: None,
        }
    }
}

impl std::fmt::Debug for NodeLifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeLifecycle")
            .field("grace", &self.grace)
            .field("cloud", &self.instance_exists.is_some())
            .finish()
    }
}

/// When the node's kubelet was last heard from: its Lease's renewTime, else its Ready
/// condition's heartbeat, else its creation.
fn last_heard(store: &Store, node: &Value) -> Option<f64> {
    let lease = store.get(&Key::new(
        "leases.coordination.k8s.io",
        Some("kube-node-lease"),
        name(node),
    ));
    let ready = node["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"));
    [
        lease
            .as_ref()
            .and_then(|l| l["spec"]["renewTime"].as_str().and_then(parse_time)),
        ready.and_then(|r| r["lastHeartbeatTime"].as_str().and_then(parse_time)),
        node["metadata"]["creationTimestamp"]
            .as_str()
            .and_then(parse_time),
    ]
    .into_iter()
    .flatten()
    .reduce(f64::max)
}

fn has_unreachable(node: &Value) -> bool {
    node["spec"]["taints"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t["key"] == UNREACHABLE))
}

/// One pass over every node.
pub fn reconcile(store: &Store, lifecycle: &NodeLifecycle, now: f64) {
    let (nodes, _) = store.list_shared("nodes", None);
    for node in &nodes {
        let ready = node_ready(node);
        let silent =
            last_heard(store, node).is_none_or(|t| now - t > lifecycle.grace.as_secs_f64());
        if ready && silent {
            let _ = store.modify(&key("nodes", node), |n| {
                mark_unknown(n);
                true
            });
        } else if ready && has_unreachable(node) {
            let _ = store.modify(&key("nodes", node), |n| {
                if let Some(t) = n["spec"]["taints"].as_array_mut() {
                    t.retain(|t| t["key"] != UNREACHABLE);
                }
                true
            });
        } else if !ready {
            if let Some(exists) = &lifecycle.instance_exists {
                if !exists(name(node)) {
                    let _ = store.delete(&key("nodes", node));
                    let _ = store.delete(&Key::new(
                        "leases.coordination.k8s.io",
                        Some("kube-node-lease"),
                        name(node),
                    ));
                }
            }
        }
    }
    collect_orphan_pods(store);
}

/// The node controller's words when a kubelet goes silent.
fn mark_unknown(node: &mut Value) {
    let now = crate::store::now_rfc3339();
    if let Some(conditions) = node["status"]["conditions"].as_array_mut() {
        for c in conditions.iter_mut() {
            c["status"] = json!("Unknown");
            c["reason"] = json!("NodeStatusUnknown");
            c["message"] = json!("Kubelet stopped posting node status.");
            c["lastTransitionTime"] = json!(now);
        }
    }
    let taints = node["spec"]["taints"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut taints: Vec<Value> = taints
        .into_iter()
        .filter(|t| t["key"] != UNREACHABLE)
        .collect();
    for effect in ["NoSchedule", "NoExecute"] {
        taints.push(json!({"key": UNREACHABLE, "effect": effect, "timeAdded": now}));
    }
    node["spec"]["taints"] = json!(taints);
}

/// Pods bound to a node that no longer exists are deleted (kube-controller-manager's
/// pod GC).
fn collect_orphan_pods(store: &Store) {
    let (nodes, _) = store.list_shared("nodes", None);
    let nodes: std::collections::HashSet<&str> = nodes.iter().map(|n| name(n)).collect();
    for pod in store.list_shared("pods", None).0 {
        if let Some(node) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
            if !nodes.contains(node) {
                let _ = store.delete(&key("pods", &pod));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(store: &Store, name: &str) {
        let n = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "status": {"conditions": [{"type": "Ready", "status": "True",
                "lastHeartbeatTime": crate::store::now_rfc3339()}]}});
        store.create(&Key::new("nodes", None, name), n).unwrap();
    }

    fn now() -> f64 {
        parse_time(&crate::store::now_micros_rfc3339()).unwrap()
    }

    #[test]
    fn silent_nodes_go_unknown_tainted_then_removed_when_their_server_is_gone() {
        let store = Store::open(None).unwrap();
        node(&store, "a");
        node(&store, "b");
        let gone = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let g = gone.clone();
        let lifecycle = NodeLifecycle {
            grace: Duration::from_secs(50),
            instance_exists: Some(Arc::new(move |n| !g.lock().unwrap().iter().any(|x| x == n))),
        };
        reconcile(&store, &lifecycle, now());
        assert!(
            store.list("nodes", None).iter().all(node_ready),
            "fresh nodes stay Ready"
        );
        // 51 s later nobody has renewed.
        reconcile(&store, &lifecycle, now() + 51.0);
        let a = store.get(&Key::new("nodes", None, "a")).unwrap();
        assert!(!node_ready(&a));
        assert_eq!(a["status"]["conditions"][0]["status"], "Unknown");
        assert!(has_unreachable(&a));
        // The server of "a" is gone: its node goes; "b" (server still there) stays.
        gone.lock().unwrap().push("a".into());
        reconcile(&store, &lifecycle, now() + 52.0);
        assert!(store.get(&Key::new("nodes", None, "a")).is_none());
        assert!(store.get(&Key::new("nodes", None, "b")).is_some());
        // "b" reports Ready again: the taints go.
        store
            .modify(&Key::new("nodes", None, "b"), |n| {
                n["status"]["conditions"] = json!([{"type": "Ready", "status": "True",
                    "lastHeartbeatTime": crate::store::now_rfc3339()}]);
                true
            })
            .unwrap();
        reconcile(&store, &lifecycle, now());
        let b = store.get(&Key::new("nodes", None, "b")).unwrap();
        assert!(node_ready(&b) && !has_unreachable(&b), "{b}");
    }
}
