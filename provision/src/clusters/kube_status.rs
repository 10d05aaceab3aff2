//! What the cluster itself says, read through its API as any client would: whether the
//! API answers (and its version), and each Node's readiness, version, address and the
//! pods bound to it. The console's cluster page and the REST API show it beside the
//! servers the cloud reports. A cluster whose API does not answer says so; it is not an
//! error of the request.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::authz::Action;
use crate::domain::Actor;
use crate::kube::KubeClient;
use crate::pki::SecretKey;
use crate::{Result, Store};

/// The cluster's API, as seen through its VIP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiHealth {
    /// `https://<vip>:6443`, when the cluster has one.
    pub endpoint: Option<String>,
    pub reachable: bool,
    /// `gitVersion` from `/version`.
    pub version: Option<String>,
    /// Why it could not be read.
    pub error: Option<String>,
}

/// One Node as the cluster reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeStatus {
    pub name: String,
    /// The Ready condition: `True`, `False` or `Unknown`.
    pub ready: String,
    pub kubelet_version: String,
    pub internal_ip: Option<String>,
    /// Pods bound to it.
    pub pods: u32,
    pub node_group: Option<String>,
    /// Cordoned (`spec.unschedulable`).
    pub unschedulable: bool,
    /// Its kubelet says it is simulated (localcloud's nodes run no containers).
    pub simulated: bool,
}

/// The cluster's own view of itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KubeStatus {
    pub api: ApiHealth,
    pub nodes: Vec<NodeStatus>,
}

fn node_status(n: &Value, pods: &BTreeMap<String, u32>) -> NodeStatus {
    let name = n["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let ready = n["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .and_then(|c| c["status"].as_str())
        .unwrap_or("Unknown")
        .to_string();
    NodeStatus {
        ready,
        kubelet_version: n["status"]["nodeInfo"]["kubeletVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        internal_ip: n["status"]["addresses"].as_array().and_then(|a| {
            a.iter()
                .find(|a| a["type"] == "InternalIP")
                .and_then(|a| a["address"].as_str().map(String::from))
        }),
        pods: pods.get(&name).copied().unwrap_or(0),
        node_group: n["metadata"]["labels"][super::bootstrap::NODE_GROUP_LABEL]
            .as_str()
            .map(String::from),
        unschedulable: n["spec"]["unschedulable"] == true,
        simulated: n["metadata"]["annotations"]["kubesim.shipyard.io/simulated"] == "true",
        name,
    }
}

/// Reads the cluster's API (the caller must be allowed to view the cluster).
pub async fn read(
    store: &Store,
    key: &SecretKey,
    actor: &Actor,
    cluster_id: &str,
) -> Result<KubeStatus> {
    let (cluster, _) = super::cluster_for(store, actor, cluster_id, Action::View).await?;
    let Some(address) = cluster.api_address.clone() else {
        return Ok(KubeStatus {
            api: ApiHealth {
                endpoint: None,
                reachable: false,
                version: None,
                error: Some(format!(
                    "The cluster is {}; it has no API yet.",
                    cluster.status
                )),
            },
            nodes: Vec::new(),
        });
    };
    let endpoint = Some(format!("https://{address}"));
    let unreachable = |error: String| KubeStatus {
        api: ApiHealth {
            endpoint: endpoint.clone(),
            reachable: false,
            version: None,
            error: Some(error),
        },
        nodes: Vec::new(),
    };
    let client = match KubeClient::connect(store, key, &cluster.id, &address).await {
        Ok(c) => c,
        Err(e) => return Ok(unreachable(e.to_string())),
    };
    let version: Value = match client.get("/version").await {
        Ok(v) => v,
        Err(e) => return Ok(unreachable(e.to_string())),
    };
    let (nodes, pods) = match (
        client.get::<Value>("/api/v1/nodes").await,
        client.get::<Value>("/api/v1/pods").await,
    ) {
        (Ok(n), Ok(p)) => (n, p),
        (Err(e), _) | (_, Err(e)) => return Ok(unreachable(e.to_string())),
    };
    let mut per_node: BTreeMap<String, u32> = BTreeMap::new();
    for p in pods["items"].as_array().into_iter().flatten() {
        if let Some(n) = p["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
            *per_node.entry(n.to_string()).or_default() += 1;
        }
    }
    let mut nodes: Vec<NodeStatus> = nodes["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| node_status(n, &per_node))
        .collect();
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(KubeStatus {
        api: ApiHealth {
            endpoint,
            reachable: true,
            version: version["gitVersion"].as_str().map(String::from),
            error: None,
        },
        nodes,
    })
}
