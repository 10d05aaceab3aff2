//! What every request handler shares: the server's [`Config`] and the cluster's
//! [`Store`]. Apart from [`crate::server`], which wires the routes, so the handlers can
//! take it without depending on the server that calls them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::store::Store;

/// What one API server needs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where it listens (a master's loopback address, port 6443).
    pub listen: SocketAddr,
    /// Its serving certificate (SANs: the VIP and the master) and key, PEM.
    pub cert_pem: String,
    pub key_pem: String,
    /// The cluster's CA: client certificates must be signed by it.
    pub ca_pem: String,
    /// e.g. `v1.31.12`.
    pub kubernetes_version: String,
    /// `host:port` clients reach the API at (the VIP), for discovery.
    pub advertise: String,
    /// Where the cluster's objects are kept; `None`: in memory only.
    pub store_file: Option<PathBuf>,
}

/// What every request handler sees.
#[derive(Clone)]
pub struct Shared {
    pub config: Arc<Config>,
    pub store: Arc<Store>,
}
