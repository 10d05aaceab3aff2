//! A cluster's certificate authority: its rows (one per generation), made, rotated and
//! removed, and the active one opened to sign.

use super::{at, pki_err, random_serial, SecretKey, BACKDATE_SECS, CA_DAYS};
use crate::{now_ms, Error, Result, Store};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};

/// A cluster's CA as stored (the certificate, not the key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaInfo {
    pub cluster_id: String,
    pub generation: i64,
    pub common_name: String,
    pub cert_pem: String,
    pub created_at: i64,
    pub not_after: i64,
}

fn aad(cluster_id: &str, generation: i64) -> String {
    format!("shipyard-ca:{cluster_id}:{generation}")
}

/// The CA's parameters: the same for the self-signed certificate and for the issuer
/// that signs with it (subject and key identifiers must match).
fn ca_params(common_name: &str, not_before: i64, not_after: i64) -> Result<CertificateParams> {
    let mut p = CertificateParams::new(Vec::<String>::new()).map_err(pki_err)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "Shipyard");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = at(not_before);
    p.not_after = at(not_after);
    Ok(p)
}

/// The cluster's active CA, if it has one.
pub async fn ca_get(store: &Store, cluster_id: &str) -> Result<Option<CaInfo>> {
    store.ca_get(cluster_id).await
}

/// Makes the next CA generation (1 for a new cluster), retiring the active one.
async fn ca_make(store: &Store, key: &SecretKey, cluster_id: &str) -> Result<CaInfo> {
    let now = now_ms();
    let last = store.ca_last_generation(cluster_id).await?;
    let generation = last.unwrap_or(0) + 1;
    let common_name = format!(
        "shipyard-{}-ca-{generation}",
        &cluster_id[..cluster_id.len().min(8)]
    );
    let not_before = now - BACKDATE_SECS * 1000;
    let not_after = now + CA_DAYS * 86_400_000;
    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(pki_err)?;
    let mut params = ca_params(&common_name, not_before, not_after)?;
    params.serial_number = Some(random_serial().0);
    let cert = params.self_signed(&ca_key).map_err(pki_err)?;
    let sealed = key.seal(
        ca_key.serialize_pem().as_bytes(),
        &aad(cluster_id, generation),
    );
    let ca = CaInfo {
        cluster_id: cluster_id.to_string(),
        generation,
        common_name,
        cert_pem: cert.pem(),
        created_at: now,
        not_after,
    };
    store.ca_replace(&ca, &sealed).await?;
    Ok(ca)
}

/// The cluster's CA, made if it has none yet (idempotent: a saga step may run twice,
/// and two at once leave one CA).
pub async fn ca_create(store: &Store, key: &SecretKey, cluster_id: &str) -> Result<CaInfo> {
    if let Some(ca) = ca_get(store, cluster_id).await? {
        return Ok(ca);
    }
    match ca_make(store, key, cluster_id).await {
        Ok(ca) => Ok(ca),
        Err(e) => match ca_get(store, cluster_id).await? {
            Some(ca) => Ok(ca),
            None => Err(e),
        },
    }
}

/// Removes every CA of the cluster and the record of its kubeconfigs (a create that
/// unwinds leaves nothing).
pub async fn ca_remove(store: &Store, cluster_id: &str) -> Result<()> {
    store.ca_remove(cluster_id).await
}

/// What a rotation did.
#[derive(Clone, Debug)]
pub struct Rotation {
    pub ca: CaInfo,
    pub retired_generation: Option<i64>,
    /// Kubeconfigs still within their validity that the rotation invalidated.
    pub invalidated_kubeconfigs: i64,
}

/// Replaces the cluster's CA with a new one: kubeconfigs signed by the old one stop
/// verifying, and their holders must download again.
pub async fn ca_rotate(store: &Store, key: &SecretKey, cluster_id: &str) -> Result<Rotation> {
    let old = ca_get(store, cluster_id).await?;
    let ca = ca_make(store, key, cluster_id).await?;
    let invalidated = match &old {
        Some(old) => {
            store
                .kubeconfig_count_valid(cluster_id, old.generation, now_ms())
                .await?
        }
        None => 0,
    };
    Ok(Rotation {
        ca,
        retired_generation: old.map(|o| o.generation),
        invalidated_kubeconfigs: invalidated,
    })
}

/// The active CA with its key, ready to sign.
pub(super) async fn issuer(
    store: &Store,
    key: &SecretKey,
    cluster_id: &str,
) -> Result<(CaInfo, Issuer<'static, KeyPair>)> {
    let (ca, sealed) = store.ca_get_sealed(cluster_id).await?;
    let pem = key.open(&sealed, &aad(cluster_id, ca.generation))?;
    let pem = String::from_utf8(pem).map_err(Error::internal)?;
    let ca_key = KeyPair::from_pem(&pem).map_err(pki_err)?;
    let params = ca_params(&ca.common_name, ca.created_at, ca.not_after)?;
    Ok((ca, Issuer::new(params, ca_key)))
}
