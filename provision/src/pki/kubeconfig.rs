//! Kubeconfigs: issued per user and request with a fresh client certificate, recorded,
//! and listed.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use rcgen::ExtendedKeyUsagePurpose;

use super::ca::{ca_get, issuer};
use super::certs::leaf;
use super::{SecretKey, MAX_VALIDITY_HOURS, MIN_VALIDITY_HOURS};
use crate::domain::Role;
use crate::{now_ms, Error, Result, Store};

/// The group a project role is named by in the client certificate's O. It grants
/// nothing in the cluster (rights come from the bindings Shipyard keeps for each user,
/// see `clusters::access`), so a removed member's certificate is worth nothing.
pub fn role_group(role: Role) -> &'static str {
    match role {
        Role::Owner => "shipyard:owners",
        Role::Member => "shipyard:editors",
        Role::Viewer => "shipyard:viewers",
    }
}

/// A kubeconfig to issue.
#[derive(Clone, Debug)]
pub struct IssueRequest<'a> {
    pub cluster_id: &'a str,
    pub cluster_name: &'a str,
    pub user_id: &'a str,
    /// The certificate's CN: the user's name in the cluster.
    pub user: &'a str,
    /// The certificate's O.
    pub group: &'a str,
    /// `https://<vip>:6443`.
    pub server_url: &'a str,
    pub validity_hours: u32,
}

/// An issued kubeconfig.
#[derive(Clone, Debug)]
pub struct Kubeconfig {
    pub yaml: String,
    pub serial: String,
    pub not_after: i64,
    pub file_name: String,
    pub ca_generation: i64,
}

/// Checks a requested validity (hours).
pub fn check_validity(hours: u32) -> Result<()> {
    if !(MIN_VALIDITY_HOURS..=MAX_VALIDITY_HOURS).contains(&hours) {
        return Err(Error::invalid(
            "validity_hours",
            format!(
                "A kubeconfig is valid from {MIN_VALIDITY_HOURS} hour to {} days ({MAX_VALIDITY_HOURS} hours).",
                MAX_VALIDITY_HOURS / 24
            ),
        ));
    }
    Ok(())
}

/// Signs a fresh client certificate and wraps it in a kubeconfig; records the issue.
pub async fn issue_kubeconfig(
    store: &Store,
    key: &SecretKey,
    req: &IssueRequest<'_>,
) -> Result<Kubeconfig> {
    check_validity(req.validity_hours)?;
    let (ca, issuer) = issuer(store, key, req.cluster_id).await?;
    let client = leaf(
        &issuer,
        req.user,
        Some(req.group),
        Vec::new(),
        ExtendedKeyUsagePurpose::ClientAuth,
        req.validity_hours as i64 * 3_600_000,
    )?;
    let context = format!("{}@{}", req.user, req.cluster_name);
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{
            "name": req.cluster_name,
            "cluster": {
                "server": req.server_url,
                "certificate-authority-data": B64.encode(ca.cert_pem.as_bytes()),
            },
        }],
        "users": [{
            "name": context,
            "user": {
                "client-certificate-data": B64.encode(client.cert_pem.as_bytes()),
                "client-key-data": B64.encode(client.key_pem.as_bytes()),
            },
        }],
        "contexts": [{
            "name": context,
            "context": { "cluster": req.cluster_name, "user": context },
        }],
        "current-context": context,
        "preferences": {},
    });
    let yaml = serde_yaml::to_string(&doc).map_err(Error::internal)?;
    store
        .kubeconfig_record(
            req.cluster_id,
            &IssuedKubeconfig {
                serial: client.serial.clone(),
                user_id: req.user_id.to_string(),
                subject: req.user.to_string(),
                groups: req.group.to_string(),
                issued_at: now_ms(),
                not_after: client.not_after,
                ca_generation: ca.generation,
                current: true,
            },
        )
        .await?;
    Ok(Kubeconfig {
        yaml,
        serial: client.serial,
        not_after: client.not_after,
        file_name: format!("{}.kubeconfig.yaml", req.cluster_name),
        ca_generation: ca.generation,
    })
}

/// One issued kubeconfig as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedKubeconfig {
    pub serial: String,
    pub user_id: String,
    pub subject: String,
    pub groups: String,
    pub issued_at: i64,
    pub not_after: i64,
    pub ca_generation: i64,
    /// Signed by the cluster's active CA (false after a rotation: download again).
    pub current: bool,
}

/// The kubeconfigs issued for a cluster, newest first (optionally one user's).
pub async fn kubeconfigs_list(
    store: &Store,
    cluster_id: &str,
    user_id: Option<&str>,
) -> Result<Vec<IssuedKubeconfig>> {
    let active = ca_get(store, cluster_id).await?.map(|c| c.generation);
    store.kubeconfig_list(cluster_id, user_id, active).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_bounds() {
        assert!(check_validity(0).is_err());
        assert!(check_validity(1).is_ok());
        assert!(check_validity(24).is_ok());
        assert!(check_validity(720).is_ok());
        assert!(check_validity(721).is_err());
    }
}
