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
//!
//! Here: the limits and the helpers the others share; the server key in
//! `secret_key`, the CA's rows in `ca`, certificates in `certs`, kubeconfigs in
//! `kubeconfig`.

use rcgen::SerialNumber;
use ring::rand::{SecureRandom, SystemRandom};
use time::OffsetDateTime;

use crate::Error;

mod ca;
mod certs;
mod kubeconfig;
mod secret_key;

pub use ca::{ca_create, ca_get, ca_remove, ca_rotate, CaInfo, Rotation};
pub use certs::{client_cert, serving_cert, CertifiedPem};
pub use kubeconfig::{
    check_validity, issue_kubeconfig, kubeconfigs_list, role_group, IssueRequest, IssuedKubeconfig,
    Kubeconfig,
};
pub use secret_key::SecretKey;

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
