//! What a cluster's server reads at boot (its Nova `user_data`): a first line
//! `#shipyard-bootstrap v1`, then YAML with the server's role, its cluster, the
//! Kubernetes version, where the API is, the cluster CA and the server's own
//! certificate and key (serving for a master, client `system:node:<name>` for a
//! worker). Shipyard writes it (`provision::clusters::bootstrap`); localcloud reads it to
//! run the server's guest. It is the contract between the two, as cloud-init's format is
//! between a cloud and its images.

use serde::{Deserialize, Serialize};

/// The first line that marks a Shipyard bootstrap.
pub const HEADER: &str = "#shipyard-bootstrap v1";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Serves the API on its own address, port 6443.
    Master,
    /// Runs the simulated kubelet, which registers a Node through the API.
    Worker,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bootstrap {
    pub role: Role,
    /// The cluster's id: masters of one cluster share its object store.
    pub cluster: String,
    /// e.g. `v1.31.12`.
    pub kubernetes_version: String,
    /// Where the API is: `https://<VIP>:6443`.
    pub api_server: String,
    /// The Node's name (the server's name).
    pub node_name: String,
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    /// Labels a worker's Node registers with (its node group, say).
    #[serde(default)]
    pub node_labels: std::collections::BTreeMap<String, String>,
    /// Taints a worker's Node registers with (`key=value:Effect` or `key:Effect`, as
    /// the kubelet's `--register-with-taints`).
    #[serde(default)]
    pub node_taints: Vec<String>,
}

impl std::fmt::Debug for Bootstrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bootstrap")
            .field("role", &self.role)
            .field("cluster", &self.cluster)
            .field("kubernetes_version", &self.kubernetes_version)
            .field("api_server", &self.api_server)
            .field("node_name", &self.node_name)
            .field("key_pem", &"<hidden>")
            .finish()
    }
}

impl Bootstrap {
    /// The `user_data` text.
    pub fn render(&self) -> String {
        let yaml = serde_yaml::to_string(self).unwrap_or_default();
        format!("{HEADER}\n{yaml}")
    }

    /// `None` when `user_data` is not a Shipyard bootstrap (the server boots as a plain
    /// VM); an error when it says it is one but does not read.
    pub fn parse(user_data: &str) -> Option<Result<Bootstrap, String>> {
        let rest = user_data.strip_prefix(HEADER)?;
        Some(serde_yaml::from_str(rest).map_err(|e| format!("the bootstrap does not read: {e}")))
    }

    /// The API's `host:port`.
    pub fn api_address(&self) -> &str {
        self.api_server
            .strip_prefix("https://")
            .unwrap_or(&self.api_server)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_reads_back_and_ignores_other_user_data() {
        let b = Bootstrap {
            role: Role::Worker,
            cluster: "c1".into(),
            kubernetes_version: "v1.31.12".into(),
            api_server: "https://127.0.100.5:6443".into(),
            node_name: "sy-c1-default-0".into(),
            ca_pem: "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n".into(),
            cert_pem: "c".into(),
            key_pem: "k".into(),
            node_labels: [("shipyard.io/node-group".to_string(), "default".to_string())].into(),
            node_taints: vec!["dedicated=batch:NoSchedule".into()],
        };
        let text = b.render();
        assert_eq!(Bootstrap::parse(&text), Some(Ok(b.clone())));
        assert_eq!(b.api_address(), "127.0.100.5:6443");
        assert!(!format!("{b:?}").contains("\"k\""));
        assert_eq!(Bootstrap::parse("#!/bin/sh\necho hi\n"), None);
        assert!(matches!(
            Bootstrap::parse(&format!("{HEADER}\nrole: captain\n")),
            Some(Err(_))
        ));
    }
}
