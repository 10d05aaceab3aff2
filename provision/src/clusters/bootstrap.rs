//! Each cluster server's boot data (Nova `user_data`): its role, the cluster, the
//! Kubernetes version, where the API is, the cluster CA and the server's own
//! certificate. A master gets a serving certificate for the API's VIP and its own name;
//! a worker gets a kubelet client certificate (`system:node:<name>`, group
//! `system:nodes`). The format (a `#shipyard-bootstrap v1` line, then YAML) is what
//! the cloud's images read: localcloud's is `kubesim::bootstrap`. Shipyard never talks
//! to a node; it hands each one what it needs to join.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cloud::UserData;
use crate::pki::SecretKey;
use crate::{Result, Store};

const HEADER: &str = "#shipyard-bootstrap v1";
/// A node's certificate lives as long as the server might (replaced with it).
const NODE_CERT_MS: i64 = 365 * 86_400_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Master,
    Worker,
}

#[derive(Serialize)]
struct Document<'a> {
    role: Role,
    cluster: &'a str,
    kubernetes_version: String,
    api_server: String,
    node_name: &'a str,
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
    node_labels: BTreeMap<String, String>,
    node_taints: &'a [String],
}

/// One server to boot.
#[derive(Clone, Debug)]
pub struct Node<'a> {
    pub role: Role,
    pub cluster_id: &'a str,
    /// As the cluster records it (`1.31.12` or `v1.31.12`).
    pub kubernetes_version: &'a str,
    /// The API load balancer's VIP.
    pub vip: &'a str,
    /// The server's (and its Node's) name.
    pub name: &'a str,
    /// A worker's node group.
    pub node_group: Option<&'a str>,
    /// A worker's labels and taints (its node group's), registered with its Node.
    pub labels: &'a BTreeMap<String, String>,
    pub taints: &'a [String],
}

/// The label that says which node group a Node belongs to.
pub const NODE_GROUP_LABEL: &str = "shipyard.io/node-group";

/// The `user_data` for `node`, with a certificate fresh from the cluster's CA.
pub async fn user_data(store: &Store, key: &SecretKey, node: &Node<'_>) -> Result<UserData> {
    let (ca_pem, cert) = match node.role {
        Role::Master => {
            let addresses = [
                node.vip.to_string(),
                node.name.to_string(),
                "kubernetes".to_string(),
                "kubernetes.default".to_string(),
                "kubernetes.default.svc".to_string(),
            ];
            let cert = crate::pki::serving_cert(store, key, node.cluster_id, &addresses).await?;
            let ca = crate::pki::ca_get(store, node.cluster_id)
                .await?
                .ok_or_else(|| crate::Error::Conflict("The cluster has no CA yet.".into()))?;
            (ca.cert_pem, cert)
        }
        Role::Worker => {
            let (ca, cert) = crate::pki::client_cert(
                store,
                key,
                node.cluster_id,
                &format!("system:node:{}", node.name),
                "system:nodes",
                NODE_CERT_MS,
            )
            .await?;
            (ca.cert_pem, cert)
        }
    };
    let version = node.kubernetes_version.trim_start_matches('v');
    let doc = Document {
        role: node.role,
        cluster: node.cluster_id,
        kubernetes_version: format!("v{version}"),
        api_server: format!("https://{}:6443", node.vip),
        node_name: node.name,
        ca_pem,
        cert_pem: cert.cert_pem,
        key_pem: cert.key_pem,
        node_labels: node
            .labels
            .clone()
            .into_iter()
            .chain(
                node.node_group
                    .map(|g| (NODE_GROUP_LABEL.to_string(), g.to_string())),
            )
            .collect(),
        node_taints: node.taints,
    };
    let yaml = serde_yaml::to_string(&doc).map_err(crate::Error::internal)?;
    Ok(UserData(format!("{HEADER}\n{yaml}")))
}
