//! Each cluster's certificate authority and the kubeconfigs it signs.
//!
//! A cluster gets its own CA (ECDSA P-256, ten years) when it is created. Its private
//! key is sealed at rest with the server's [`SecretKey`] (AES-256-GCM, the cluster id
//! and generation as associated data, so a sealed key cannot be moved to another row).
//! A kubeconfig is issued per user and per request: a fresh client certificate
//! (CN = the user, O = the group of their project role) valid 1 hour to 30 days
//! (24 hours by default), the CA embedded, server `https://<API VIP>:6443`. Every
//! issuance is recorded with its serial and expiry. Rotation retires the CA and makes
//! the next generation: certificates of the old one stop verifying.

use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use sqlx::Row;
use time::OffsetDateTime;

use crate::domain::Role;
use crate::{now_ms, Error, Result, Store};

/// The environment variable that holds the server key (64 hex digits).
pub const SECRET_KEY_ENV: &str = "SHIPYARD_SECRET_KEY";
/// The file under the data directory that holds it otherwise (created at first start).
pub const SECRET_KEY_FILE: &str = "secret.key";

/// How long a CA lives.
const CA_DAYS: i64 = 3650;
/// Kubeconfig validity: default and bounds, in hours.
pub const DEFAULT_VALIDITY_HOURS: u32 = 24;
pub const MIN_VALIDITY_HOURS: u32 = 1;
pub const MAX_VALIDITY_HOURS: u32 = 30 * 24;
/// Certificates start a little in the past, for clocks that are a little behind.
const BACKDATE_SECS: i64 = 300;

/// The server's 256-bit key that seals CA private keys.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

impl SecretKey {
    /// A fresh random key.
    pub fn generate() -> SecretKey {
        let mut k = [0u8; 32];
        SystemRandom::new()
            .fill(&mut k)
            .expect("the system random source works");
        SecretKey(k)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(s: &str) -> Result<SecretKey> {
        let bytes = hex::decode(s.trim()).map_err(|_| bad_key())?;
        let k: [u8; 32] = bytes.try_into().map_err(|_| bad_key())?;
        Ok(SecretKey(k))
    }

    fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Reads the key from `path`, or creates the file (mode 0600) with a new key.
    pub fn load_or_create(path: &Path) -> Result<SecretKey> {
        match std::fs::read_to_string(path) {
            Ok(s) => SecretKey::from_hex(&s).map_err(|_| {
                Error::internal(format!(
                    "{}: not a secret key (64 hex digits expected)",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = SecretKey::generate();
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    let mut b = std::fs::DirBuilder::new();
                    b.recursive(true);
                    #[cfg(unix)]
                    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
                    b.create(dir).map_err(Error::internal)?;
                }
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                match options.open(path) {
                    Ok(mut f) => {
                        use std::io::Write;
                        f.write_all(format!("{}\n", key.to_hex()).as_bytes())
                            .map_err(Error::internal)?;
                        f.sync_all().map_err(Error::internal)?;
                        Ok(key)
                    }
                    // Another process made it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        SecretKey::load_or_create(path)
                    }
                    Err(e) => Err(Error::internal(format!("{}: {e}", path.display()))),
                }
            }
            Err(e) => Err(Error::internal(format!("{}: {e}", path.display()))),
        }
    }

    /// `SHIPYARD_SECRET_KEY` when set, else `<data_dir>/secret.key` (created if absent).
    pub fn from_env_or_file(data_dir: &Path) -> Result<SecretKey> {
        match std::env::var(SECRET_KEY_ENV) {
            Ok(v) if !v.trim().is_empty() => SecretKey::from_hex(&v)
                .map_err(|_| Error::internal(format!("{SECRET_KEY_ENV} must be 64 hex digits"))),
            _ => SecretKey::load_or_create(&data_dir.join(SECRET_KEY_FILE)),
        }
    }

    fn aead(&self) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.0).expect("a 32-byte key"))
    }

    /// Encrypts `plain`, bound to `aad`: base64 of nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, plain: &[u8], aad: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("the system random source works");
        let mut buf = plain.to_vec();
        self.aead()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_bytes()),
                &mut buf,
            )
            .expect("sealing cannot fail for in-memory buffers");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        B64.encode(out)
    }

    /// Decrypts what [`SecretKey::seal`] made with the same `aad`.
    pub fn open(&self, sealed: &str, aad: &str) -> Result<Vec<u8>> {
        let wrong = || {
            Error::internal(
                "a sealed key does not open with this server's secret key (was SHIPYARD_SECRET_KEY or secret.key changed?)",
            )
        };
        let raw = B64.decode(sealed).map_err(|_| wrong())?;
        if raw.len() < NONCE_LEN {
            return Err(wrong());
        }
        let (nonce, body) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| wrong())?;
        let mut body = body.to_vec();
        let plain = self
            .aead()
            .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut body)
            .map_err(|_| wrong())?;
        Ok(plain.to_vec())
    }
}

fn bad_key() -> Error {
    Error::internal("a secret key is 64 hex digits (32 bytes)")
}

fn pki_err(e: rcgen::Error) -> Error {
    Error::internal(format!("certificate: {e}"))
}

fn random_serial() -> (SerialNumber, String) {
    let mut b = [0u8; 16];
    SystemRandom::new()
        .fill(&mut b)
        .expect("the system random source works");
    b[0] &= 0x7f; // positive
    b[0] |= 0x01; // and 16 bytes long, so it prints the same everywhere
    (SerialNumber::from_slice(&b), hex::encode(b))
}

/// A stored time (ms) as RFC 3339, UTC.
pub fn rfc3339(ms: i64) -> String {
    at(ms)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn at(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(ms / 1000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

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

fn ca_row(r: &sqlx::any::AnyRow) -> Result<CaInfo> {
    Ok(CaInfo {
        cluster_id: r.try_get("cluster_id")?,
        generation: r.try_get("generation")?,
        common_name: r.try_get("common_name")?,
        cert_pem: r.try_get("cert_pem")?,
        created_at: r.try_get("created_at")?,
        not_after: r.try_get("not_after")?,
    })
}

const CA_COLUMNS: &str = "cluster_id, generation, common_name, cert_pem, created_at, not_after";

/// The cluster's active CA, if it has one.
pub async fn ca_get(store: &Store, cluster_id: &str) -> Result<Option<CaInfo>> {
    let row = sqlx::query(&format!(
        "SELECT {CA_COLUMNS} FROM cluster_cas WHERE cluster_id = $1 AND retired_at IS NULL"
    ))
    .bind(cluster_id)
    .fetch_optional(store.pool())
    .await?;
    row.as_ref().map(ca_row).transpose()
}

/// Makes the next CA generation (1 for a new cluster), retiring the active one.
async fn ca_make(store: &Store, key: &SecretKey, cluster_id: &str) -> Result<CaInfo> {
    let now = now_ms();
    let last: Option<i64> =
        sqlx::query("SELECT MAX(generation) AS g FROM cluster_cas WHERE cluster_id = $1")
            .bind(cluster_id)
            .fetch_one(store.pool())
            .await?
            .try_get("g")?;
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
    let mut tx = store.pool().begin().await?;
    sqlx::query(
        "UPDATE cluster_cas SET retired_at = $1 WHERE cluster_id = $2 AND retired_at IS NULL",
    )
    .bind(now)
    .bind(cluster_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO cluster_cas (cluster_id, generation, common_name, cert_pem, key_sealed, created_at, not_after) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(cluster_id)
    .bind(generation)
    .bind(&common_name)
    .bind(cert.pem())
    .bind(&sealed)
    .bind(now)
    .bind(not_after)
    .execute(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            Error::Conflict("The cluster's CA changed meanwhile; try again.".into())
        }
        _ => Error::from(e),
    })?;
    tx.commit().await?;
    Ok(CaInfo {
        cluster_id: cluster_id.to_string(),
        generation,
        common_name,
        cert_pem: cert.pem(),
        created_at: now,
        not_after,
    })
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
    let mut tx = store.pool().begin().await?;
    for table in ["kubeconfigs_issued", "cluster_cas"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE cluster_id = $1"))
            .bind(cluster_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
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
        Some(old) => sqlx::query(
            "SELECT COUNT(*) AS n FROM kubeconfigs_issued \
             WHERE cluster_id = $1 AND ca_generation = $2 AND not_after > $3",
        )
        .bind(cluster_id)
        .bind(old.generation)
        .bind(now_ms())
        .fetch_one(store.pool())
        .await?
        .try_get("n")?,
        None => 0,
    };
    Ok(Rotation {
        ca,
        retired_generation: old.map(|o| o.generation),
        invalidated_kubeconfigs: invalidated,
    })
}

/// The active CA with its key, ready to sign.
async fn issuer(
    store: &Store,
    key: &SecretKey,
    cluster_id: &str,
) -> Result<(CaInfo, Issuer<'static, KeyPair>)> {
    let row = sqlx::query(&format!(
        "SELECT {CA_COLUMNS}, key_sealed FROM cluster_cas WHERE cluster_id = $1 AND retired_at IS NULL"
    ))
    .bind(cluster_id)
    .fetch_optional(store.pool())
    .await?
    .ok_or_else(|| Error::Conflict("The cluster has no certificate authority yet.".into()))?;
    let ca = ca_row(&row)?;
    let sealed: String = row.try_get("key_sealed")?;
    let pem = key.open(&sealed, &aad(cluster_id, ca.generation))?;
    let pem = String::from_utf8(pem).map_err(Error::internal)?;
    let ca_key = KeyPair::from_pem(&pem).map_err(pki_err)?;
    let params = ca_params(&ca.common_name, ca.created_at, ca.not_after)?;
    Ok((ca, Issuer::new(params, ca_key)))
}

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

fn leaf(
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
    sqlx::query(
        "INSERT INTO kubeconfigs_issued (serial, cluster_id, ca_generation, user_id, subject, groups, issued_at, not_after) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&client.serial)
    .bind(req.cluster_id)
    .bind(ca.generation)
    .bind(req.user_id)
    .bind(req.user)
    .bind(req.group)
    .bind(now_ms())
    .bind(client.not_after)
    .execute(store.pool())
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
    let rows = sqlx::query(
        "SELECT serial, user_id, subject, groups, issued_at, not_after, ca_generation FROM kubeconfigs_issued \
         WHERE cluster_id = $1 AND ($2 = '' OR user_id = $2) ORDER BY issued_at DESC, serial LIMIT 200",
    )
    .bind(cluster_id)
    .bind(user_id.unwrap_or(""))
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let generation: i64 = r.try_get("ca_generation")?;
            Ok(IssuedKubeconfig {
                serial: r.try_get("serial")?,
                user_id: r.try_get("user_id")?,
                subject: r.try_get("subject")?,
                groups: r.try_get("groups")?,
                issued_at: r.try_get("issued_at")?,
                not_after: r.try_get("not_after")?,
                ca_generation: generation,
                current: Some(generation) == active,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_opens_only_with_the_same_key_and_aad() {
        let k = SecretKey::generate();
        let sealed = k.seal(b"private", "a");
        assert_eq!(k.open(&sealed, "a").unwrap(), b"private");
        assert!(k.open(&sealed, "b").is_err());
        assert!(SecretKey::generate().open(&sealed, "a").is_err());
        assert!(k.open("not base64!", "a").is_err());
        assert!(k.open("", "a").is_err());
        // Two seals of the same text differ (fresh nonces).
        assert_ne!(k.seal(b"x", "a"), k.seal(b"x", "a"));
    }

    #[test]
    fn hex_keys() {
        let k = SecretKey::generate();
        assert_eq!(SecretKey::from_hex(&k.to_hex()).unwrap().0, k.0);
        assert!(SecretKey::from_hex("abcd").is_err());
        assert!(SecretKey::from_hex(&"zz".repeat(32)).is_err());
        assert_eq!(format!("{k:?}"), "SecretKey(…)");
    }

    #[test]
    fn key_file_is_created_once_and_private() {
        let dir = std::env::temp_dir().join(format!("shipyard-key-{}", crate::new_id()));
        let path = dir.join(SECRET_KEY_FILE);
        let a = SecretKey::load_or_create(&path).unwrap();
        let b = SecretKey::load_or_create(&path).unwrap();
        assert_eq!(a.0, b.0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "garbage").unwrap();
        assert!(SecretKey::load_or_create(&path).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn validity_bounds() {
        assert!(check_validity(0).is_err());
        assert!(check_validity(1).is_ok());
        assert!(check_validity(24).is_ok());
        assert!(check_validity(720).is_ok());
        assert!(check_validity(721).is_err());
    }
}
