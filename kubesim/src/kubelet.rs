//! The simulated kubelet's side of pods: a pod bound to a Ready node is reported
//! Running and Ready, with a container status per container, and marked simulated
//! (`kubesim.shipyard.io/simulated`) — it never runs. Node registration and leases come
//! with the per-server kubelet.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::meta::{key, name};
use crate::store::Store;

/// The annotation on everything the simulation reports, so nobody takes it for real.
pub const SIMULATED: &str = "kubesim.shipyard.io/simulated";

pub fn node_ready(node: &Value) -> bool {
    node["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

pub fn ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// A pod IP from the cluster's pod range, derived from its uid (an address in data
/// only: nothing connects to it).
fn pod_ip(pod: &Value) -> String {
    let uid = pod["metadata"]["uid"].as_str().unwrap_or("");
    let h = uid
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    format!("10.244.{}.{}", (h >> 8) % 256, h % 254 + 1)
}

/// Reports every pod bound to a Ready node Running (once: a Running pod is skipped).
pub fn run_bound_pods(store: &Store) {
    let (nodes, _) = store.list_shared("nodes", None);
    let nodes: HashMap<&str, &Value> = nodes.iter().map(|n| (name(n), n.as_ref())).collect();
    for pod in store.list_shared("pods", None).0 {
        if pod["status"]["phase"] == "Running" {
            continue;
        }
        let Some(node) = pod["spec"]["nodeName"].as_str().and_then(|n| nodes.get(n)) else {
            continue;
        };
        if !node_ready(node) {
            continue;
        }
        let host_ip = node["status"]["addresses"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["type"] == "InternalIP"))
            .map(|a| a["address"].clone())
            .unwrap_or(Value::Null);
        let now = crate::store::now_rfc3339();
        let containers: Vec<Value> = pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                json!({
                    "name": c["name"], "image": c["image"], "imageID": "",
                    "containerID": format!("simulated://{}-{}", pod["metadata"]["uid"].as_str().unwrap_or(""), c["name"].as_str().unwrap_or("")),
                    "ready": true, "started": true, "restartCount": 0,
                    "state": {"running": {"startedAt": now}},
                })
            })
            .collect();
        let ip = pod_ip(&pod);
        let conditions: Vec<Value> = ["PodScheduled", "Initialized", "ContainersReady", "Ready"]
            .iter()
            .map(|t| json!({"type": t, "status": "True"}))
            .collect();
        let _ = store.modify(&key("pods", &pod), |o| {
            o["metadata"]["annotations"][SIMULATED] = json!("true");
            o["status"] = json!({
                "phase": "Running",
                "conditions": conditions,
                "hostIP": host_ip,
                "podIP": ip,
                "podIPs": [{"ip": ip}],
                "startTime": now,
                "containerStatuses": containers,
                "qosClass": "Burstable",
            });
            true
        });
    }
}
