//! Command-line flags, each also readable from an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// The longest auto-repair timing accepted, seconds (a week; turn it off instead).
const WEEK: u64 = 7 * 24 * 3600;

/// Which cloud Shipyard provisions on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CloudMode {
    /// Start localcloud (an OpenStack-compatible cloud on this machine) in-process.
    Embedded,
    /// A real OpenStack: credentials from OS_CLOUD (clouds.yaml) or OS_AUTH_URL and friends.
    Openstack,
}

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

    /// Sign-ups allowed from one client address per hour (each makes a project with its
    /// own quota and costs an argon2 hash).
    #[arg(long, env = "SHIPYARD_SIGNUPS_PER_ADDRESS_PER_HOUR", default_value_t = provision::accounts::SIGNUP_MAX_PER_ADDRESS)]
    pub signups_per_address_per_hour: i64,

    /// Live views (server-sent event streams) one user may keep open at once.
    #[arg(long, env = "SHIPYARD_LIVE_STREAMS_PER_USER", default_value_t = crate::live_streams::PER_USER)]
    pub live_streams_per_user: usize,

    /// Live views open at once on this server, all users together.
    #[arg(long, env = "SHIPYARD_LIVE_STREAMS_TOTAL", default_value_t = crate::live_streams::TOTAL)]
    pub live_streams_total: usize,

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

    /// The cloud to provision on. Default: a real OpenStack when OS_CLOUD or OS_AUTH_URL
    /// is set, otherwise the embedded localcloud.
    #[arg(long, env = "SHIPYARD_CLOUD", value_enum)]
    pub cloud: Option<CloudMode>,

    /// Where the embedded localcloud serves its OpenStack APIs (port 0 picks one).
    #[arg(
        long,
        env = "SHIPYARD_LOCALCLOUD_LISTEN",
        default_value = "127.0.0.1:5000"
    )]
    pub localcloud_listen: SocketAddr,

    /// Embedded localcloud: make servers, volumes and load balancers ready at once
    /// instead of after cloud-like delays (for tests and demos).
    #[arg(long, env = "SHIPYARD_LOCALCLOUD_INSTANT", default_value_t = false)]
    pub localcloud_instant: bool,

    /// Embedded localcloud: the loopback range load balancer VIPs come from.
    #[arg(
        long,
        env = "SHIPYARD_LOCALCLOUD_VIP_RANGE",
        default_value = "127.0.100.0/22",
        value_parser = localcloud::parse_vip_range
    )]
    pub localcloud_vip_range: (std::net::Ipv4Addr, u8),

    /// Embedded localcloud: the loopback subnet of its shared private network, where
    /// every server gets its address (outside 127.0.0.0/16 and the VIP range).
    #[arg(
        long,
        env = "SHIPYARD_LOCALCLOUD_SUBNET",
        default_value = localcloud::addresses::DEFAULT_SUBNET,
        value_parser = localcloud::addresses::parse_subnet
    )]
    pub localcloud_subnet: localcloud::addresses::Cidr,

    /// Seconds an operation worker's claim lasts without renewal: after a crash, another
    /// worker (or the restarted one) resumes the operation once it has passed.
    #[arg(long, env = "SHIPYARD_OPERATION_LEASE_SECONDS", default_value_t = 30)]
    pub operation_lease_seconds: u64,

    /// Node group autoscaling: seconds a node's pods' requests must stay under the
    /// utilization threshold before the node is removed (cluster-autoscaler's
    /// --scale-down-unneeded-time).
    #[arg(
        long,
        env = "SHIPYARD_AUTOSCALE_UNNEEDED_SECONDS",
        default_value_t = 600
    )]
    pub autoscale_unneeded_seconds: u64,

    /// Node group autoscaling: no scale-down for this many seconds after a scale-up
    /// (--scale-down-delay-after-add).
    #[arg(
        long,
        env = "SHIPYARD_AUTOSCALE_DELAY_AFTER_ADD_SECONDS",
        default_value_t = 600
    )]
    pub autoscale_delay_after_add_seconds: u64,

    /// Node group autoscaling: nothing changes for this many seconds after a failed
    /// scale operation (--scale-down-delay-after-failure).
    #[arg(
        long,
        env = "SHIPYARD_AUTOSCALE_BACKOFF_SECONDS",
        default_value_t = 180
    )]
    pub autoscale_backoff_seconds: u64,

    /// Node group autoscaling: a node whose pods' requests stay under this share of its
    /// allocatable CPU and memory is unneeded (--scale-down-utilization-threshold).
    #[arg(long, env = "SHIPYARD_AUTOSCALE_UTILIZATION", default_value_t = 0.5)]
    pub autoscale_utilization: f64,

    /// Auto-repair: replace broken nodes (ERROR in the cloud, NotReady too long, never
    /// registered). `false` turns it off.
    #[arg(
        long,
        env = "SHIPYARD_REPAIR_ENABLED",
        default_value_t = true,
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub repair_enabled: bool,

    /// Auto-repair: seconds a Node may stay NotReady (or Unknown) before its worker is
    /// replaced.
    #[arg(long, env = "SHIPYARD_REPAIR_NOT_READY_SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=WEEK))]
    pub repair_not_ready_seconds: u64,

    /// Auto-repair: seconds an ACTIVE worker may go without registering its Node before
    /// it is replaced.
    #[arg(long, env = "SHIPYARD_REPAIR_UNREGISTERED_SECONDS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=WEEK))]
    pub repair_unregistered_seconds: u64,

    /// Auto-repair: how often each cluster's servers are read from the cloud and judged,
    /// seconds.
    #[arg(long, env = "SHIPYARD_REPAIR_EVERY_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=WEEK))]
    pub repair_every_seconds: u64,

    /// Take the client address from X-Forwarded-For (only behind a trusted reverse proxy).
    #[arg(long, env = "SHIPYARD_TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,

    /// With --trust-forwarded-for: how many reverse proxies stand in front of Shipyard,
    /// each appending the address it saw to X-Forwarded-For. The client is the entry
    /// this many places from the right; entries left of it are the client's own claims.
    #[arg(long, env = "SHIPYARD_TRUSTED_PROXY_HOPS", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=16))]
    pub trusted_proxy_hops: u8,
}

impl Config {
    /// How many X-Forwarded-For entries from the right were appended by trusted
    /// proxies: 0 unless --trust-forwarded-for.
    pub fn forwarded_hops(&self) -> usize {
        if self.trust_forwarded_for {
            self.trusted_proxy_hops as usize
        } else {
            0
        }
    }

    /// The cloud mode in force (see [`Config::cloud`]).
    pub fn cloud_mode(&self) -> CloudMode {
        self.cloud.unwrap_or_else(|| {
            let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.trim().is_empty());
            if set("OS_CLOUD") || set("OS_AUTH_URL") {
                CloudMode::Openstack
            } else {
                CloudMode::Embedded
            }
        })
    }

    /// Auto-repair's settings: the timings above, the rest as
    /// [`RepairSettings::default`](provision::controllers::repair::RepairSettings).
    pub fn repair(&self) -> provision::controllers::repair::RepairSettings {
        provision::controllers::repair::RepairSettings {
            enabled: self.repair_enabled,
            not_ready_for: std::time::Duration::from_secs(self.repair_not_ready_seconds),
            unregistered_for: std::time::Duration::from_secs(self.repair_unregistered_seconds),
            every: std::time::Duration::from_secs(self.repair_every_seconds),
            ..Default::default()
        }
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("shipyard.db").display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repair_defaults_are_the_controllers_and_bad_values_are_refused() {
        let c = Config::try_parse_from(["shipyard"]).unwrap();
        let (got, want) = (
            c.repair(),
            provision::controllers::repair::RepairSettings::default(),
        );
        assert_eq!(got.enabled, want.enabled);
        assert_eq!(got.not_ready_for, want.not_ready_for);
        assert_eq!(got.unregistered_for, want.unregistered_for);
        assert_eq!(got.every, want.every);

        let c = Config::try_parse_from([
            "shipyard",
            "--repair-enabled",
            "off",
            "--repair-not-ready-seconds",
            "5",
            "--repair-unregistered-seconds",
            "30",
            "--repair-every-seconds",
            "1",
        ])
        .unwrap();
        let r = c.repair();
        assert!(!r.enabled);
        assert_eq!(r.not_ready_for, std::time::Duration::from_secs(5));
        assert_eq!(r.unregistered_for, std::time::Duration::from_secs(30));
        assert_eq!(r.every, std::time::Duration::from_secs(1));

        for (flag, bad) in [
            ("--repair-enabled", "maybe"),
            ("--repair-every-seconds", "0"),
            ("--repair-not-ready-seconds", "-1"),
            ("--repair-unregistered-seconds", "ten"),
        ] {
            let e = Config::try_parse_from(["shipyard", &format!("{flag}={bad}")]).unwrap_err();
            assert!(e.to_string().contains(flag), "{flag}={bad}: {e}");
        }
    }
}
