//! localcloud: an OpenStack-API-compatible cloud that runs on one machine, so that
//! Shipyard runs without a cloud account and every test drives the same driver code as
//! production. Each service answers in the shapes of OpenStack's published API samples.
//!
//! Services: Identity (Keystone v3 password tokens with a service catalog), Compute
//! (Nova v2.1: flavors, servers placed on hosts by bin packing, server groups,
//! hypervisor usage, quotas and limits), Load balancers (Octavia v2, listeners really
//! forwarding TCP on loopback VIPs, health monitors really probing), Block storage
//! (Cinder v3 volumes on sparse files), Network (Neutron v2: project networks, subnets
//! with address allocation, ports, security groups, and one shared `private` network)
//! and a minimal Image (Glance v2). State is saved in
//! `<data-dir>/localcloud.db`. Latencies and injected faults are configurable.

pub mod addresses;
pub mod common;
pub mod compute;
pub mod credentials;
pub mod egress;
pub mod guests;
pub mod identity;
pub mod images;
pub mod lbnet;
pub mod loadbalancers;
pub mod network;
pub mod quotas;
pub mod volumes;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;

/// A user that can request tokens, and the project its tokens are scoped to.
#[derive(Clone)]
pub struct UserConfig {
    pub name: String,
    /// `None`: a random password made once for this user and kept in the data
    /// directory (see [`credentials`]).
    pub password: Option<String>,
    pub project: String,
    /// Admins may read host usage and set quotas.
    pub admin: bool,
}

impl std::fmt::Debug for UserConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserConfig")
            .field("name", &self.name)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("project", &self.project)
            .field("admin", &self.admin)
            .finish()
    }
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
    /// How long a new load balancer stays PENDING_CREATE.
    pub lb_delay: Duration,
    /// How long a change under a load balancer keeps it PENDING_UPDATE.
    pub lb_update_delay: Duration,
    /// Where load balancer VIPs come from: a base address and prefix length on loopback.
    pub vip_range: (std::net::Ipv4Addr, u8),
    /// The shared `private` network's subnet, on loopback (see [`addresses`]).
    pub subnet: addresses::Cidr,
    /// The quota of every project that has not been given its own.
    pub quota: quotas::Quota,
    /// Injected faults (none by default).
    pub faults: common::faults::Faults,
    /// The simulated kubelets' heartbeat and the node controller's grace.
    pub node_timings: guests::NodeTimings,
}

impl Config {
    /// Loopback on `listen`, user `admin` in project `admin` with the data directory's
    /// password, 1 h tokens, the private network on [`addresses::DEFAULT_SUBNET`].
    pub fn new(listen: SocketAddr, data_dir: impl Into<PathBuf>) -> Config {
        Config {
            listen,
            data_dir: data_dir.into(),
            users: vec![UserConfig {
                name: "admin".into(),
                password: None,
                project: "admin".into(),
                admin: true,
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
            lb_delay: Duration::from_secs(30),
            lb_update_delay: Duration::from_secs(2),
            vip_range: (std::net::Ipv4Addr::new(127, 0, 100, 0), 22),
            subnet: addresses::Cidr::parse(addresses::DEFAULT_SUBNET)
                .expect("the default subnet parses"),
            quota: quotas::Quota::default(),
            faults: common::faults::Faults::default(),
            node_timings: guests::NodeTimings::default(),
        }
    }

    /// The address plan: the private subnet and the VIP range, checked.
    pub fn address_plan(&self) -> Result<addresses::Plan, String> {
        let (addr, len) = self.vip_range;
        addresses::Plan::new(self.subnet, addresses::Cidr { addr, len })
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
    pub lbs: loadbalancers::LoadBalancers,
    /// The load balancers' network side: bound listeners and member health.
    pub lbnet: lbnet::Net,
    pub quotas: quotas::Quotas,
    pub network: network::Neutron,
    behaviour: std::sync::RwLock<common::faults::Behaviour>,
    pub images: Vec<images::Image>,
    pub persist: common::persist::Persist,
    /// What runs inside servers that boot a Shipyard bootstrap.
    pub guests: guests::Guests,
}

impl Cloud {
    /// The latencies and faults in force now.
    pub fn behaviour(&self) -> common::faults::Behaviour {
        self.behaviour.read().map(|b| b.clone()).unwrap_or_default()
    }

    pub fn set_behaviour(&self, b: common::faults::Behaviour) {
        if let Ok(mut current) = self.behaviour.write() {
            *current = b;
        }
    }
}

/// A cloud serving on its port.
pub struct Running {
    pub url: String,
    pub cloud: Arc<Cloud>,
    task: tokio::task::JoinHandle<()>,
    lb_loop: tokio::task::JoinHandle<()>,
    guest_loop: tokio::task::JoinHandle<()>,
}

impl Running {
    /// The Keystone URL clients authenticate against.
    pub fn auth_url(&self) -> String {
        format!("{}/identity/v3", self.url)
    }

    /// The first admin's credentials (as in the data directory's `clouds.yaml`).
    pub fn admin(&self) -> credentials::Credentials {
        let user = self.cloud.config.users.iter().find(|u| u.admin);
        credentials::Credentials {
            auth_url: self.auth_url(),
            username: user.map(|u| u.name.clone()).unwrap_or_default(),
            password: user.and_then(|u| u.password.clone()).unwrap_or_default(),
            project: user.map(|u| u.project.clone()).unwrap_or_default(),
        }
    }

    /// Stops serving, closes every load balancer listener and releases the VIPs, so
    /// that a cloud started again on the same data directory can take them back.
    pub fn stop(self) {
        self.task.abort();
        self.lb_loop.abort();
        self.guest_loop.abort();
        guests::stop_all(&self.cloud);
        if let Ok(state) = self.cloud.lbs.state.lock() {
            self.cloud.lbnet.shutdown(&state);
        }
    }
}

/// Binds `config.listen`, writes `clouds.yaml` into the data directory and serves.
pub async fn start(mut config: Config) -> anyhow::Result<Running> {
    let plan = config.address_plan().map_err(anyhow::Error::msg)?;
    credentials::private_dir(&config.data_dir)?;
    credentials::resolve(&config.data_dir, &mut config.users)?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let persist = common::persist::Persist::open(&config.data_dir).await?;
    let compute = compute::Compute::new(&config);
    if let Some(saved) = persist.load("compute").await? {
        compute.servers.restore(saved);
    }
    let volumes = volumes::Volumes::new(config.data_dir.join("volumes"));
    if let Some(saved) = persist.load("volumes").await? {
        volumes.restore(saved);
    }
    let lbs = loadbalancers::LoadBalancers::new(&config);
    if let Some(saved) = persist.load("loadbalancers").await? {
        lbs.restore(saved);
    }
    let quotas = quotas::Quotas::new(config.quota);
    if let Some(saved) = persist.load("quotas").await? {
        quotas.restore(saved);
    }
    let network = network::Neutron::new(&config, plan);
    if let Some(saved) = persist.load("network").await? {
        network.restore(saved).map_err(|e| {
            anyhow::anyhow!("localcloud cannot use {}: {e}", config.data_dir.display())
        })?;
    }
    let cloud = Arc::new(Cloud {
        network,
        behaviour: std::sync::RwLock::new(common::faults::Behaviour::from_config(&config)),
        lbs,
        quotas,
        persist,
        guests: guests::Guests::default(),
        lbnet: lbnet::Net::default(),
        identity: identity::Identity::new(&config),
        compute,
        images: images::default_images(),
        volumes,
        base_url: url.clone(),
        config,
    });
    // Servers and load balancers saved before they had ports get them now.
    if let Some(snap) = cloud.network.adopt(cloud.compute.servers.addressed()) {
        network::save(&cloud, snap).await;
    }
    let vips: Vec<_> = cloud
        .lbs
        .state
        .lock()
        .map(|st| st.loadbalancers.values().cloned().collect())
        .unwrap_or_default();
    for lb in vips {
        let (p, id) = (&lb.c.project_id, &lb.c.id);
        let added =
            cloud
                .network
                .add_lb_port(p, id, &lb.vip_network_id, &lb.vip_subnet_id, lb.vip_address);
        if let Some(snap) = added {
            network::save(&cloud, snap).await;
        }
    }
    credentials::write_clouds_yaml(&cloud)?;
    // Listeners saved before a restart bind again now, before the first request.
    lbnet::reconcile(&cloud).await;
    let lb_loop = loadbalancers::spawn_loop(&cloud);
    let guest_loop = guests::spawn_loop(&cloud);
    let router = router(cloud.clone());
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "localcloud stopped");
        }
    });
    Ok(Running {
        url,
        cloud,
        task,
        lb_loop,
        guest_loop,
    })
}

pub fn router(cloud: Arc<Cloud>) -> Router {
    Router::new()
        .nest("/identity", identity::router())
        .route("/compute/v2.1/", axum::routing::get(compute::version))
        .nest(
            "/compute/v2.1",
            compute::router().merge(quotas::nova_router()),
        )
        .nest(
            "/volume/v3",
            volumes::router().merge(quotas::cinder_router()),
        )
        .nest("/load-balancer", loadbalancers::router())
        .nest("/admin", common::faults::router())
        .nest("/image", images::router())
        .route("/network/", axum::routing::get(network::versions))
        .nest("/network", network::router())
        .layer(axum::middleware::from_fn_with_state(
            cloud.clone(),
            common::faults::inject,
        ))
        .with_state(cloud)
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

/// Parses a VIP range, `a.b.c.d/n` on loopback with n from 8 to 30.
pub fn parse_vip_range(s: &str) -> Result<(std::net::Ipv4Addr, u8), String> {
    let (ip, len) = s.split_once('/').ok_or("expected a.b.c.d/n")?;
    let ip: std::net::Ipv4Addr = ip.parse().map_err(|e| format!("{e}"))?;
    let len: u8 = len.parse().map_err(|e| format!("{e}"))?;
    if !(8..=30).contains(&len) {
        return Err("prefix length must be 8 to 30".into());
    }
    if !ip.is_loopback() {
        return Err("VIPs must be loopback addresses (127.0.0.0/8)".into());
    }
    Ok((ip, len))
}

/// A /24 of loopback (in 127.200.0.0–127.249.255.0) picked at random, for clouds in
/// tests: load balancers of clouds running at the same time, even in other processes,
/// then almost never want the same VIP.
pub fn random_vip_range() -> (std::net::Ipv4Addr, u8) {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (
        std::net::Ipv4Addr::new(127, rng.gen_range(200..250), rng.gen(), 0),
        24,
    )
}
