//! What runs inside localcloud's servers. A server whose `user_data` is a Shipyard
//! bootstrap ([`kubesim::bootstrap`]) runs its guest while it is ACTIVE: a master serves
//! the cluster's Kubernetes API on its own address, port 6443; a worker runs the
//! simulated kubelet, which registers its Node through the API's VIP. The guest stops
//! when the server is stopped, deleted or in ERROR, and its open connections end with
//! it. The masters of one cluster share one object store, kept under the data
//! directory (`kubernetes/<cluster>.json`), and one control loop, which runs while any
//! of them does; the store goes when the cluster's last server does.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use kubesim::bootstrap::{Bootstrap, Role};
use kubesim::node_agent::NodeAgent;
use kubesim::node_lifecycle::NodeLifecycle;
use kubesim::store::Store;

use crate::Cloud;

/// How often guests are started and stopped to follow their servers.
const TICK: Duration = Duration::from_millis(500);

/// The API's port on each master.
pub const API_PORT: u16 = 6443;

/// Heartbeat and grace of the simulated nodes.
#[derive(Clone, Copy, Debug)]
pub struct NodeTimings {
    /// The kubelet's lease renewal (10 s).
    pub heartbeat: Duration,
    /// How long a silent node stays Ready (50 s).
    pub grace: Duration,
}

impl Default for NodeTimings {
    fn default() -> Self {
        NodeTimings {
            heartbeat: kubesim::node_agent::HEARTBEAT,
            grace: kubesim::node_lifecycle::GRACE,
        }
    }
}

enum Guest {
    Master(kubesim::Running),
    Worker(tokio::task::JoinHandle<()>),
}

impl Guest {
    fn stop(self) {
        match self {
            Guest::Master(api) => api.stop(),
            Guest::Worker(kubelet) => kubelet.abort(),
        }
    }
}

/// One cluster's shared objects and its control loop.
struct ClusterRuntime {
    store: Arc<Store>,
    control: Option<tokio::task::JoinHandle<()>>,
}

/// A server that carries a bootstrap, as the loop sees it.
#[derive(Clone)]
struct Booted {
    server_id: String,
    active: bool,
    address: String,
    vcpus: u64,
    memory_mib: u64,
    flavor: String,
    bootstrap: Arc<Bootstrap>,
}

#[derive(Default)]
pub struct Guests {
    running: Mutex<HashMap<String, Guest>>,
    clusters: Mutex<HashMap<String, ClusterRuntime>>,
    /// Parsed bootstraps by server id (a server's user_data never changes).
    parsed: Mutex<HashMap<String, Option<Arc<Bootstrap>>>>,
}

impl Guests {
    /// The ids of the servers whose guest runs now.
    pub fn running(&self) -> Vec<String> {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.keys().cloned().collect()
    }

    /// Forgets a server's parsed bootstrap and stops its guest (the server was rebuilt
    /// with new user_data): the next pass starts it from what it reads now.
    pub fn forget(&self, server_id: &str) {
        self.parsed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(server_id);
        let guest = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(server_id);
        if let Some(g) = guest {
            g.stop();
        }
    }

    fn bootstrap_of(&self, server_id: &str, user_data: Option<&str>) -> Option<Arc<Bootstrap>> {
        let mut parsed = self.parsed.lock().unwrap_or_else(|p| p.into_inner());
        parsed
            .entry(server_id.to_string())
            .or_insert_with(|| match user_data.and_then(Bootstrap::parse) {
                Some(Ok(b)) => Some(Arc::new(b)),
                Some(Err(e)) => {
                    tracing::warn!(server = server_id, error = %e, "the server's bootstrap does not read; it boots as a plain VM");
                    None
                }
                None => None,
            })
            .clone()
    }
}

fn store_file(cloud: &Cloud, cluster: &str) -> PathBuf {
    cloud
        .config
        .data_dir
        .join("kubernetes")
        .join(format!("{cluster}.json"))
}

/// The servers that carry a bootstrap, now.
fn booted(cloud: &Cloud) -> Vec<Booted> {
    let now = time::OffsetDateTime::now_utc();
    let Ok(state) = cloud.compute.servers.lock() else {
        return Vec::new();
    };
    state
        .servers
        .values()
        .filter_map(|s| {
            let bootstrap = cloud.guests.bootstrap_of(&s.id, s.user_data.as_deref())?;
            Some(Booted {
                server_id: s.id.clone(),
                active: s.status(now) == "ACTIVE",
                address: s.address.clone(),
                vcpus: u64::from(s.flavor.vcpus),
                memory_mib: s.flavor.ram_mib,
                flavor: s.flavor.name.clone(),
                bootstrap,
            })
        })
        .collect()
}

/// Whether `cluster` still has a server named `node` (the cloud controller's question).
fn instance_exists(cloud: &Weak<Cloud>, cluster: &str, node: &str) -> bool {
    let Some(cloud) = cloud.upgrade() else {
        return true;
    };
    booted(&cloud)
        .iter()
        .any(|b| b.bootstrap.cluster == cluster && b.bootstrap.node_name == node)
}

/// Starts and stops guests to follow their servers.
pub async fn reconcile(cloud: &Arc<Cloud>) {
    let servers = booted(cloud);
    let wanted: BTreeMap<&str, &Booted> = servers
        .iter()
        .filter(|b| b.active)
        .map(|b| (b.server_id.as_str(), b))
        .collect();
    // Stop what should no longer run.
    let to_start: Vec<Booted> = {
        let mut running = cloud
            .guests
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let gone: Vec<String> = running
            .keys()
            .filter(|id| !wanted.contains_key(id.as_str()))
            .cloned()
            .collect();
        for id in gone {
            if let Some(g) = running.remove(&id) {
                tracing::info!(server = %id, "guest stopped");
                g.stop();
            }
        }
        wanted
            .values()
            .filter(|b| !running.contains_key(&b.server_id))
            .map(|b| (*b).clone())
            .collect()
    };
    for b in to_start {
        if let Some(guest) = start(cloud, &b).await {
            let mut running = cloud
                .guests
                .running
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(old) = running.insert(b.server_id.clone(), guest) {
                old.stop();
            }
        }
    }
    control_loops(cloud, &servers);
}

/// A cluster's store, opened on first use.
fn cluster_store(cloud: &Cloud, cluster: &str) -> Option<Arc<Store>> {
    let mut clusters = cloud
        .guests
        .clusters
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(c) = clusters.get(cluster) {
        return Some(c.store.clone());
    }
    let file = store_file(cloud, cluster);
    if let Some(dir) = file.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match kubesim::server::open_store(Some(file)) {
        Ok(store) => {
            clusters.insert(
                cluster.to_string(),
                ClusterRuntime {
                    store: store.clone(),
                    control: None,
                },
            );
            Some(store)
        }
        Err(e) => {
            tracing::warn!(cluster, error = %e, "cannot open the cluster's objects");
            None
        }
    }
}

async fn start(cloud: &Arc<Cloud>, b: &Booted) -> Option<Guest> {
    let boot = &b.bootstrap;
    match boot.role {
        Role::Master => {
            let store = cluster_store(cloud, &boot.cluster)?;
            let ip: std::net::IpAddr = b.address.parse().ok()?;
            let config = kubesim::Config {
                listen: SocketAddr::new(ip, API_PORT),
                cert_pem: boot.cert_pem.clone(),
                key_pem: boot.key_pem.clone(),
                ca_pem: boot.ca_pem.clone(),
                kubernetes_version: boot.kubernetes_version.clone(),
                advertise: boot.api_address().to_string(),
                store_file: None,
            };
            match kubesim::server::serve(config, store).await {
                Ok(api) => {
                    tracing::info!(server = %b.server_id, listen = %api.addr, "Kubernetes API started");
                    Some(Guest::Master(api))
                }
                Err(e) => {
                    tracing::warn!(server = %b.server_id, error = %e, "the Kubernetes API cannot start");
                    None
                }
            }
        }
        Role::Worker => {
            let agent = NodeAgent {
                bootstrap: (**boot).clone(),
                internal_ip: b.address.clone(),
                server_id: b.server_id.clone(),
                vcpus: b.vcpus,
                memory_mib: b.memory_mib,
                labels: BTreeMap::from([
                    (
                        "node.kubernetes.io/instance-type".to_string(),
                        b.flavor.clone(),
                    ),
                    (
                        "topology.kubernetes.io/zone".to_string(),
                        "nova".to_string(),
                    ),
                ]),
                heartbeat: cloud.config.node_timings.heartbeat,
            };
            tracing::info!(server = %b.server_id, node = %boot.node_name, "kubelet started");
            Some(Guest::Worker(agent.spawn()))
        }
    }
}

/// Each cluster's control loop runs while one of its masters does; a cluster whose
/// servers are all gone loses its store.
fn control_loops(cloud: &Arc<Cloud>, servers: &[Booted]) {
    // Every cluster with a server has its store open, so the store goes with the last.
    let mut seen = std::collections::BTreeSet::new();
    for b in servers {
        if seen.insert(b.bootstrap.cluster.as_str()) {
            cluster_store(cloud, &b.bootstrap.cluster);
        }
    }
    let running = cloud.guests.running();
    let mut clusters = cloud
        .guests
        .clusters
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let ids: Vec<String> = clusters.keys().cloned().collect();
    for id in ids {
        let mine = servers.iter().filter(|b| b.bootstrap.cluster == id);
        let mut any = false;
        let mut serving = false;
        for b in mine {
            any = true;
            serving |= b.bootstrap.role == Role::Master && running.contains(&b.server_id);
        }
        let Some(c) = clusters.get_mut(&id) else {
            continue;
        };
        match (serving, c.control.is_some()) {
            (true, false) => {
                let weak = Arc::downgrade(cloud);
                let cluster = id.clone();
                let lifecycle = NodeLifecycle {
                    grace: cloud.config.node_timings.grace,
                    instance_exists: Some(Arc::new(move |node| {
                        instance_exists(&weak, &cluster, node)
                    })),
                };
                c.control = Some(kubesim::controllers::start(c.store.clone(), lifecycle));
            }
            (false, true) => {
                if let Some(t) = c.control.take() {
                    t.abort();
                }
            }
            _ => {}
        }
        if !any {
            if let Some(c) = clusters.remove(&id) {
                if let Some(t) = c.control {
                    t.abort();
                }
            }
            let _ = std::fs::remove_file(store_file(cloud, &id));
            tracing::info!(cluster = %id, "the cluster's last server is gone; its objects too");
        }
    }
}

/// Runs [`reconcile`] every tick while the cloud lives.
pub fn spawn_loop(cloud: &Arc<Cloud>) -> tokio::task::JoinHandle<()> {
    let weak = Arc::downgrade(cloud);
    tokio::spawn(async move {
        loop {
            let Some(cloud) = weak.upgrade() else { return };
            reconcile(&cloud).await;
            drop(cloud);
            tokio::time::sleep(TICK).await;
        }
    })
}

/// Stops every guest (localcloud stopping).
pub fn stop_all(cloud: &Cloud) {
    let mut running = cloud
        .guests
        .running
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    for (_, g) in running.drain() {
        g.stop();
    }
    let mut clusters = cloud
        .guests
        .clusters
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    for (_, c) in clusters.drain() {
        if let Some(t) = c.control {
            t.abort();
        }
    }
}
