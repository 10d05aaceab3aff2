//! Command-line flags, each also readable from an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Shipyard: a self-hosted console for managed Kubernetes.
#[derive(Clone, Debug, Parser)]
#[command(name = "shipyard", version, about)]
pub struct Config {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "SHIPYARD_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// Directory for the embedded database and other state.
    #[arg(long, env = "SHIPYARD_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Database URL: sqlite://path or postgres://user@host/db. Default: SQLite in the data directory.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// Directory with the built site (pkg/ with the WASM bundle and CSS, and public files).
    #[arg(long, env = "SHIPYARD_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,

    /// Log format.
    #[arg(long, env = "SHIPYARD_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Mark the session cookie Secure (set when Shipyard is served over HTTPS).
    #[arg(long, env = "SHIPYARD_SECURE_COOKIES", default_value_t = false)]
    pub secure_cookies: bool,

    /// A session ends after this many minutes without a request.
    #[arg(long, env = "SHIPYARD_SESSION_IDLE_MINUTES", default_value_t = 120)]
    pub session_idle_minutes: i64,

    /// A session ends this many hours after sign-in, however active.
    #[arg(long, env = "SHIPYARD_SESSION_ABSOLUTE_HOURS", default_value_t = 12)]
    pub session_absolute_hours: i64,

    /// Email of the first admin, created at first start.
    #[arg(
        long,
        env = "SHIPYARD_ADMIN_EMAIL",
        default_value = "admin@shipyard.local"
    )]
    pub admin_email: String,

    /// Password of the first admin; when unset a one-time password is generated and printed once.
    #[arg(long, env = "SHIPYARD_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,

    /// Take the client address from X-Forwarded-For (only behind a trusted reverse proxy).
    #[arg(long, env = "SHIPYARD_TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,
}

impl Config {
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("shipyard.db").display()))
    }
}
