//! A worker's simulated kubelet, as a client of the cluster's API: it registers the
//! server's Node through the API's address (the VIP) with its own client certificate
//! (`system:node:<name>`, group `system:nodes`), renews its Lease in `kube-node-lease`
//! every heartbeat (10 s, as the real kubelet) and reports the Node Ready again when
//! the node controller has marked it otherwise. The Node says it is simulated: its
//! container runtime is `kubesim://simulated` and it carries
//! [`crate::kubelet::SIMULATED`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::bootstrap::Bootstrap;
use crate::kubelet::SIMULATED;

/// The kubelet's heartbeat (lease renewal), as Kubernetes' default.
pub const HEARTBEAT: Duration = Duration::from_secs(10);
/// Pods a node takes (kubelet's default `maxPods`).
pub const MAX_PODS: u32 = 110;
/// What a simulated node reports as its container runtime.
pub const RUNTIME: &str = "kubesim://simulated";

/// One worker's kubelet.
#[derive(Clone, Debug)]
pub struct NodeAgent {
    pub bootstrap: Bootstrap,
    /// The server's address on the cluster network.
    pub internal_ip: String,
    /// The server's id in the cloud (`spec.providerID = openstack:///<id>`).
    pub server_id: String,
    pub vcpus: u64,
    pub memory_mib: u64,
    /// e.g. `node.kubernetes.io/instance-type`.
    pub labels: BTreeMap<String, String>,
    pub heartbeat: Duration,
}

impl NodeAgent {
    /// Runs until the task is aborted (the server stopped or went away). Failures
    /// (the API unreachable while masters are down) are retried at the next beat.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let client = match self.client() {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(node = %self.bootstrap.node_name, error = %e, "the kubelet cannot start");
                    return;
                }
            };
            loop {
                if let Err(e) = self.beat(&client).await {
                    tracing::debug!(node = %self.bootstrap.node_name, error = %e, "kubelet heartbeat failed");
                }
                tokio::time::sleep(self.heartbeat).await;
            }
        })
    }

    fn client(&self) -> Result<reqwest::Client, String> {
        let b = &self.bootstrap;
        let ca = reqwest::Certificate::from_pem(b.ca_pem.as_bytes()).map_err(|e| e.to_string())?;
        let id = reqwest::Identity::from_pem(format!("{}\n{}", b.cert_pem, b.key_pem).as_bytes())
            .map_err(|e| e.to_string())?;
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .identity(id)
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| e.to_string())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.bootstrap.api_server)
    }

    /// One heartbeat: the Node exists and says Ready, the Lease is renewed.
    pub async fn beat(&self, client: &reqwest::Client) -> Result<(), String> {
        let name = &self.bootstrap.node_name;
        let node_url = self.url(&format!("/api/v1/nodes/{name}"));
        let current = client
            .get(&node_url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        match current.status().as_u16() {
            404 => {
                let made = client
                    .post(self.url("/api/v1/nodes"))
                    .json(&self.node())
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if !made.status().is_success() {
                    return Err(format!("registering: {}", made.status()));
                }
            }
            200 => {
                let node: Value = current.json().await.map_err(|e| e.to_string())?;
                if !crate::kubelet::node_ready(&node) {
                    let patched = client
                        .patch(&node_url)
                        .header("content-type", "application/merge-patch+json")
                        .json(&json!({"status": {"conditions": conditions()}}))
                        .send()
                        .await
                        .map_err(|e| e.to_string())?;
                    if !patched.status().is_success() {
                        return Err(format!("reporting Ready: {}", patched.status()));
                    }
                }
            }
            s => return Err(format!("reading the node: {s}")),
        }
        self.renew_lease(client).await
    }

    async fn renew_lease(&self, client: &reqwest::Client) -> Result<(), String> {
        let name = &self.bootstrap.node_name;
        let leases = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";
        let lease = json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": name, "namespace": "kube-node-lease"},
            "spec": {
                "holderIdentity": name,
                "leaseDurationSeconds": 40,
                "renewTime": crate::store::now_micros_rfc3339(),
            },
        });
        let patched = client
            .patch(self.url(&format!("{leases}/{name}")))
            .header("content-type", "application/merge-patch+json")
            .json(&json!({"spec": lease["spec"]}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if patched.status().as_u16() == 404 {
            let made = client
                .post(self.url(leases))
                .json(&lease)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !made.status().is_success() {
                return Err(format!("making the lease: {}", made.status()));
            }
        } else if !patched.status().is_success() {
            return Err(format!("renewing the lease: {}", patched.status()));
        }
        Ok(())
    }

    /// The Node as the kubelet registers it.
    pub fn node(&self) -> Value {
        let b = &self.bootstrap;
        let mut labels = BTreeMap::from([
            ("kubernetes.io/hostname".to_string(), b.node_name.clone()),
            ("kubernetes.io/os".into(), "linux".into()),
            ("kubernetes.io/arch".into(), "amd64".into()),
        ]);
        labels.extend(b.node_labels.clone());
        labels.extend(self.labels.clone());
        let mut spec = json!({"providerID": format!("openstack:///{}", self.server_id)});
        let taints: Vec<Value> = b.node_taints.iter().filter_map(|t| taint(t)).collect();
        if !taints.is_empty() {
            spec["taints"] = json!(taints);
        }
        let resources = json!({
            "cpu": self.vcpus.to_string(),
            "memory": format!("{}Mi", self.memory_mib),
            "pods": MAX_PODS.to_string(),
        });
        json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": b.node_name,
                "labels": labels,
                "annotations": {SIMULATED: "true"},
            },
            "spec": spec,
            "status": {
                "capacity": resources,
                "allocatable": resources,
                "conditions": conditions(),
                "addresses": [
                    {"type": "InternalIP", "address": self.internal_ip},
                    {"type": "Hostname", "address": b.node_name},
                ],
                "nodeInfo": {
                    "kubeletVersion": b.kubernetes_version,
                    "kubeProxyVersion": b.kubernetes_version,
                    "containerRuntimeVersion": RUNTIME,
                    "osImage": "Shipyard simulated node (runs no containers)",
                    "kernelVersion": "none (simulated)",
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                    "machineID": self.server_id.replace('-', ""),
                    "systemUUID": self.server_id,
                    "bootID": self.server_id,
                },
            },
        })
    }
}

/// The conditions a healthy kubelet posts.
fn conditions() -> Value {
    let now = crate::store::now_rfc3339();
    let ok = |t: &str, reason: &str, message: &str| {
        json!({"type": t, "status": "False", "reason": reason, "message": message,
               "lastHeartbeatTime": now, "lastTransitionTime": now})
    };
    json!([
        ok("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ok("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ok("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        {"type": "Ready", "status": "True", "reason": "KubeletReady",
         "message": "kubelet is posting ready status (simulated: no container runs here)",
         "lastHeartbeatTime": now, "lastTransitionTime": now},
    ])
}

/// A taint as `--register-with-taints` spells it (`key=value:Effect`, `key:Effect`).
fn taint(text: &str) -> Option<Value> {
    let (kv, effect) = text.rsplit_once(':')?;
    let (key, value) = kv.split_once('=').unwrap_or((kv, ""));
    if key.is_empty() || !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
        return None;
    }
    let mut t = json!({"key": key, "effect": effect});
    if !value.is_empty() {
        t["value"] = json!(value);
    }
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taints_as_the_kubelet_flag_spells_them() {
        assert_eq!(
            taint("dedicated=batch:NoSchedule"),
            Some(json!({"key": "dedicated", "value": "batch", "effect": "NoSchedule"}))
        );
        assert_eq!(
            taint("gpu:NoExecute"),
            Some(json!({"key": "gpu", "effect": "NoExecute"}))
        );
        assert_eq!(taint("gpu"), None);
        assert_eq!(taint("gpu=x:Sometimes"), None);
        assert_eq!(taint("=x:NoSchedule"), None);
    }
}
