//! localcloud: an OpenStack-API-compatible cloud that runs on one machine, so that
//! Shipyard runs without a cloud account and every test drives the same driver code as
//! production. Each service answers in the shapes of OpenStack's published API samples.
//!
//! Implemented so far: Identity (Keystone v3 password tokens with a service catalog)
//! and Compute (Nova v2.1: flavors, servers placed on hosts by bin packing, server
//! groups, hypervisor usage), Block storage (Cinder v3 volumes on sparse files) and a
//! minimal Image (Glance v2) and Network (Neutron v2: one shared `private` network)
//! services; state is saved in `<data-dir>/localcloud.db`. Load balancers, quotas and
//! fault injection follow (see the localcloud issue).

pub mod compute;
pub mod error;
pub mod identity;
pub mod images;
pub mod network;
pub mod persist;
pub mod placement;
pub mod servers;
pub mod volumes;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;

/// A user that can request tokens, and the project its tokens are scoped to.
#[derive(Clone, Debug)]
pub struct UserConfig {
    pub name: String,
    pub password: String,
    pub project: String,
}

/// A compute host: what placement can fill.
#[derive(Clone, Debug)]
pub struct HostConfig {
    pub name: String,
    pub vcpus: u64,
    pub ram_mib: u64,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub users: Vec<UserConfig>,
    pub token_ttl: Duration,
    pub region: String,
    pub hosts: Vec<HostConfig>,
    /// How long a new server stays in BUILD before it is ACTIVE.
    pub server_build_delay: Duration,
    /// How long a new volume stays `creating` before it is `available`.
    pub volume_delay: Duration,
}

impl Config {
    /// Loopback on `listen`, user `admin`/`admin` in project `admin`, 1 h tokens.
    pub fn new(listen: SocketAddr, data_dir: impl Into<PathBuf>) -> Config {
        Config {
            listen,
            data_dir: data_dir.into(),
            users: vec![UserConfig {
                name: "admin".into(),
                password: "admin".into(),
                project: "admin".into(),
            }],
            token_ttl: Duration::from_secs(3600),
            region: "RegionOne".into(),
            hosts: (1..=6)
                .map(|i| HostConfig {
                    name: format!("host-{i}"),
                    vcpus: 32,
                    ram_mib: 128 * 1024,
                })
                .collect(),
            server_build_delay: Duration::from_secs(20),
            volume_delay: Duration::from_secs(5),
        }
    }
}

/// Shared state of one running cloud.
pub struct Cloud {
    pub config: Config,
    /// `http://127.0.0.1:<port>`, as clients reach it.
    pub base_url: String,
    pub identity: identity::Identity,
    pub compute: compute::Compute,
    pub volumes: volumes::Volumes,
    pub images: Vec<images::Image>,
    pub persist: persist::Persist,
}

/// A cloud serving on its port.
pub struct Running {
    pub url: String,
    pub cloud: Arc<Cloud>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// The Keystone URL clients authenticate against.
    pub fn auth_url(&self) -> String {
        format!("{}/identity/v3", self.url)
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

/// Binds `config.listen`, writes `clouds.yaml` into the data directory and serves.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    std::fs::create_dir_all(&config.data_dir)?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let persist = persist::Persist::open(&config.data_dir).await?;
    let compute = compute::Compute::new(&config);
    if let Some(saved) = persist.load("compute").await? {
        compute.servers.restore(saved);
    }
    let volumes = volumes::Volumes::new(config.data_dir.join("volumes"), config.volume_delay);
    if let Some(saved) = persist.load("volumes").await? {
        volumes.restore(saved);
    }
    let cloud = Arc::new(Cloud {
        persist,
        identity: identity::Identity::new(&config),
        compute,
        images: images::default_images(),
        volumes,
        base_url: url.clone(),
        config,
    });
    write_clouds_yaml(&cloud.config.data_dir, &cloud)?;
    let router = router(cloud.clone());
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "localcloud stopped");
        }
    });
    Ok(Running { url, cloud, task })
}

pub fn router(cloud: Arc<Cloud>) -> Router {
    Router::new()
        .nest("/identity", identity::router())
        .route("/compute/v2.1/", axum::routing::get(compute::version))
        .nest("/compute/v2.1", compute::router())
        .nest("/volume/v3", volumes::router())
        .nest("/image", images::router())
        .nest("/network", network::router())
        .with_state(cloud)
}

/// A `clouds.yaml` with one entry, `localcloud`, for the first configured user, so that
/// `OS_CLIENT_CONFIG_FILE=<data-dir>/clouds.yaml OS_CLOUD=localcloud openstack ...` works.
fn write_clouds_yaml(dir: &Path, cloud: &Cloud) -> anyhow::Result<()> {
    let Some(user) = cloud.config.users.first() else {
        return Ok(());
    };
    let yaml = format!(
        "clouds:\n  localcloud:\n    auth:\n      auth_url: {}/identity/v3\n      username: {}\n      password: {}\n      project_name: {}\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: {}\n    identity_api_version: 3\n    interface: public\n",
        cloud.base_url, user.name, user.password, user.project, cloud.config.region
    );
    std::fs::write(dir.join("clouds.yaml"), yaml)?;
    Ok(())
}

/// RFC 3339 with microseconds and `Z`, as Keystone writes times.
pub fn format_time(t: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_default()
}

/// A stable id (32 hex digits) for a named thing: the same across restarts, so that
/// saved resources keep pointing at their project.
pub fn stable_id(kind: &str, name: &str) -> String {
    let fnv = |seed: u64| {
        format!("{kind}\0{name}")
            .bytes()
            .fold(seed, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3))
    };
    format!(
        "{:016x}{:016x}",
        fnv(0xcbf29ce484222325),
        fnv(0x84222325cbf29ce4)
    )
}

/// A fresh id in OpenStack's usual form (32 hex digits).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
