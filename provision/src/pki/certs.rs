//! Leaf certificates signed by a cluster's CA: the API server's serving certificate and
//! clients' certificates.

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, PKCS_ECDSA_P256_SHA256,
};

use super::ca::{issuer, CaInfo};
use super::{at, pki_err, random_serial, SecretKey, BACKDATE_SECS};
use crate::{now_ms, Error, Result, Store};

/// A certificate and its private key, PEM. Its `Debug` leaves the key out.
#[derive(Clone)]
pub struct CertifiedPem {
    pub cert_pem: String,
    pub key_pem: String,
    pub serial: String,
    pub not_after: i64,
}

impl std::fmt::Debug for CertifiedPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertifiedPem")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<hidden>")
            .field("serial", &self.serial)
            .field("not_after", &self.not_after)
            .finish()
    }
}

pub(super) fn leaf(
    issuer: &Issuer<'_, KeyPair>,
    common_name: &str,
    organization: Option<&str>,
    sans: Vec<SanType>,
    usage: ExtendedKeyUsagePurpose,
    valid_ms: i64,
) -> Result<CertifiedPem> {
    let now = now_ms();
    let not_after = now + valid_ms;
    let mut p = CertificateParams::new(Vec::<String>::new()).map_err(pki_err)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    if let Some(o) = organization {
        dn.push(DnType::OrganizationName, o);
    }
    p.distinguished_name = dn;
    p.subject_alt_names = sans;
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![usage];
    p.use_authority_key_identifier_extension = true;
    p.not_before = at(now - BACKDATE_SECS * 1000);
    p.not_after = at(not_after);
    let (serial, serial_hex) = random_serial();
    p.serial_number = Some(serial);
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(pki_err)?;
    let cert = p.signed_by(&key, issuer).map_err(pki_err)?;
    Ok(CertifiedPem {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        serial: serial_hex,
        not_after: not_after / 1000 * 1000,
    })
}

/// A serving certificate from the cluster's CA for the API server's addresses (IPs or
/// DNS names), one year.
pub async fn serving_cert(
    store: &Store,
    key: &SecretKey,
    cluster_id: &str,
    addresses: &[String],
) -> Result<CertifiedPem> {
    let (_, issuer) = issuer(store, key, cluster_id).await?;
    let mut sans = Vec::new();
    for a in addresses {
        sans.push(match a.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(
                a.clone()
                    .try_into()
                    .map_err(|_| Error::invalid("address", format!("{a} is not a host name")))?,
            ),
        });
    }
    leaf(
        &issuer,
        "kube-apiserver",
        None,
        sans,
        ExtendedKeyUsagePurpose::ServerAuth,
        365 * 86_400_000,
    )
}

/// A client certificate from the cluster's active CA (a node's kubelet, or Shipyard
/// itself), with the CA it chains to.
pub async fn client_cert(
    store: &Store,
    key: &SecretKey,
    cluster_id: &str,
    common_name: &str,
    organization: &str,
    valid_ms: i64,
) -> Result<(CaInfo, CertifiedPem)> {
    let (ca, issuer) = issuer(store, key, cluster_id).await?;
    let cert = leaf(
        &issuer,
        common_name,
        Some(organization),
        Vec::new(),
        ExtendedKeyUsagePurpose::ClientAuth,
        valid_ms,
    )?;
    Ok((ca, cert))
}
