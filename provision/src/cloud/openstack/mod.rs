//! The [`Cloud`] driver for OpenStack over reqwest: Keystone v3 password tokens scoped
//! to a project, endpoints from the token's catalog, Nova (microversion 2.64), Cinder
//! v3, Glance v2, Neutron v2.0 and Octavia v2.
//!
//! Every request has a time-out; a token is renewed before it expires and once on a 401;
//! retryable errors are retried with bounded, jittered exponential backoff. A create is
//! retried as "look up, then create", never as a blind second POST, so a create whose
//! answer was lost does not make a duplicate.
//!
//! Here: the client and what its parts share. Signing in and the token's session are
//! in `auth`, sending a request (time-outs, retries, "look up, then create") in
//! `requests`, finding flavors, images, networks and listing pages in `lookups`, and the
//! [`Cloud`] calls themselves, service by service, in `services`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::wire;
use super::*;

mod auth;
mod lookups;
mod requests;
mod services;

use auth::Session;

/// The Nova microversion the driver speaks: server groups with a single `policy`, and
/// hypervisor usage still reported (dropped in 2.88).
const NOVA_MICROVERSION: &str = "2.64";
/// Page size for server and volume lists.
/// How many times a paged listing starts over after losing its marker.
const MAX_LIST_RESTARTS: u32 = 5;

/// "marker [..] not found": the item a page ended with was deleted meanwhile.
fn marker_gone(e: &CloudError) -> bool {
    e.status == Some(400) && e.message.to_ascii_lowercase().contains("marker")
}

/// The services the driver calls, each found in the catalog by type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Service {
    Compute,
    Volume,
    Image,
    Network,
    LoadBalancer,
}

impl Service {
    /// Catalog types, in order of preference.
    fn kinds(self) -> &'static [&'static str] {
        match self {
            Service::Compute => &["compute"],
            Service::Volume => &["block-storage", "volumev3", "volume"],
            Service::Image => &["image"],
            Service::Network => &["network"],
            Service::LoadBalancer => &["load-balancer"],
        }
    }
}

/// When a failed call may be sent again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Retry {
    /// Reads and deletes: any retryable error.
    Idempotent,
    /// Creates and actions: the caller retries them as "look up, then act again".
    Never,
}

impl Retry {
    fn allows(self, e: &CloudError) -> bool {
        match self {
            Retry::Idempotent => e.retryable(),
            Retry::Never => false,
        }
    }
}

/// An OpenStack project, reached with one user's password.
pub struct OpenStack {
    http: reqwest::Client,
    config: OpenStackConfig,
    session: tokio::sync::Mutex<Option<Session>>,
    tokens_issued: AtomicU64,
}

impl std::fmt::Debug for OpenStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenStack")
            .field("auth_url", &self.config.auth_url)
            .field("username", &self.config.username)
            .field("project_name", &self.config.project_name)
            .finish_non_exhaustive()
    }
}

impl OpenStack {
    /// Authenticates once, so that wrong credentials or an unreachable cloud show at
    /// start-up rather than at the first cluster.
    pub async fn connect(config: OpenStackConfig) -> CloudResult<OpenStack> {
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| CloudError::unexpected("build the HTTP client", e.to_string()))?;
        let cloud = OpenStack {
            http,
            config,
            session: tokio::sync::Mutex::new(None),
            tokens_issued: AtomicU64::new(0),
        };
        cloud.session().await?;
        Ok(cloud)
    }

    /// How many tokens this client has obtained (1 after connecting; more after renewals).
    pub fn tokens_issued(&self) -> u64 {
        self.tokens_issued.load(Ordering::Relaxed)
    }
}

fn parse<T: DeserializeOwned>(bytes: &[u8], call: &str) -> CloudResult<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| CloudError::unexpected(call, format!("unreadable answer: {e}")))
}

/// Strips a version suffix some catalogs put on endpoints the driver adds itself.
fn normalize_endpoint(service: Service, url: String) -> String {
    let strip: &[&str] = match service {
        Service::Image => &["/v2", "/v2.0"],
        Service::Network => &["/v2.0"],
        Service::LoadBalancer => &["/v2", "/v2.0"],
        Service::Compute | Service::Volume => &[],
    };
    for s in strip {
        if let Some(base) = url.strip_suffix(s) {
            return base.to_string();
        }
    }
    url
}

fn looks_like_uuid(s: &str) -> bool {
    let hex = |c: char| c.is_ascii_hexdigit();
    (s.len() == 36 && s.chars().all(|c| hex(c) || c == '-') && s.matches('-').count() == 4)
        || (s.len() == 32 && s.chars().all(hex))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_modes() {
        let e = |status, msg: &str| CloudError::from_response(status, msg.as_bytes(), "c");
        assert!(Retry::Idempotent.allows(&e(500, "x")));
        assert!(!Retry::Never.allows(&e(503, "x")));
        assert!(!Retry::Idempotent.allows(&e(400, "x")));
    }

    #[test]
    fn endpoints_and_ids() {
        assert_eq!(
            normalize_endpoint(Service::Network, "http://n:9696/v2.0".into()),
            "http://n:9696"
        );
        assert_eq!(
            normalize_endpoint(Service::Compute, "http://c/v2.1".into()),
            "http://c/v2.1"
        );
        assert!(looks_like_uuid("70a599e0-31e7-49b7-b260-868f441e862b"));
        assert!(!looks_like_uuid("ubuntu-22.04-k8s-v1.33"));
    }
}
