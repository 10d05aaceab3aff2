//! What the cluster suites share: a database per backend (`both!`), an in-process
//! localcloud behind the OpenStack driver, an engine with every cluster operation, and
//! helpers that read the cloud's inventory.
#![allow(dead_code)]

pub mod kubectl;

use std::sync::Arc;
use std::time::Duration;

use provision::cloud::*;
use provision::clusters::saga::{self, cluster_metadata, cluster_tag};
use provision::clusters::ClusterSpec;
use provision::domain::Actor;
use provision::ops::{Backoff, Engine, EngineConfig};
use provision::testdb::TestDb;
use provision::{Backend, Store};

#[macro_export]
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                $crate::common::run(provision::Backend::Sqlite, $body).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                $crate::common::run(provision::Backend::Postgres, $body).await
            }
        }
    };
}

pub async fn run<F, Fut>(backend: Backend, body: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let db = TestDb::new(backend).await.expect("test database");
    let store = db.store().await.expect("connect and migrate");
    body(store.clone()).await;
    store.close().await;
    db.cleanup().await;
}

pub struct Env {
    pub store: Store,
    pub engine: Engine,
    pub cloud: Arc<dyn Cloud>,
    pub running: Option<localcloud::Running>,
    pub dir: std::path::PathBuf,
    pub actor: Actor,
    pub project: String,
    pub flavors: Vec<Flavor>,
    /// The key that seals this environment's cluster CAs.
    pub key: provision::pki::SecretKey,
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub async fn env(store: Store, tweak: impl FnOnce(&mut localcloud::Config)) -> Env {
    let dir = std::env::temp_dir().join(format!("shipyard-clusters-{}", &provision::new_id()[..8]));
    let mut config = localcloud::Config::new("127.0.0.1:0".parse().unwrap(), &dir);
    config.server_build_delay = Duration::ZERO;
    config.volume_delay = Duration::ZERO;
    config.lb_delay = Duration::ZERO;
    config.lb_update_delay = Duration::ZERO;
    config.vip_range = localcloud::random_vip_range();
    config.subnet = localcloud::addresses::random_subnet();
    tweak(&mut config);
    let running = localcloud::start(config).await.expect("localcloud");
    let admin = running.admin();
    let mut os = OpenStackConfig::new(
        admin.auth_url,
        admin.username,
        admin.password,
        admin.project,
    );
    os.retry = RetryPolicy {
        max_attempts: 6,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(40),
    };
    os.request_timeout = Duration::from_secs(2);
    let cloud: Arc<dyn Cloud> = Arc::new(OpenStack::connect(os).await.expect("driver"));
    let settings = test_settings();
    let key = (*settings.secret_key).clone();
    // Membership changes reach the clusters' bindings, as in the server.
    provision::clusters::access::ClusterAccess::new(store.clone(), settings.secret_key.clone())
        .install();
    let engine = engine_with(&store, saga::kinds(&store, cloud.clone(), settings));
    let (user, project) = store
        .user_create_with_project(
            &format!("{}@example.com", &provision::new_id()[..8]),
            "x",
            false,
            false,
        )
        .await
        .unwrap();
    let flavors = cloud.flavor_list().await.unwrap();
    Env {
        store,
        engine,
        cloud,
        running: Some(running),
        dir,
        actor: Actor {
            user_id: user.id,
            email: user.email,
            is_admin: false,
            client_addr: "127.0.0.1".into(),
            credential: provision::domain::Credential::Session,
        },
        project: project.id,
        flavors,
        key,
    }
}

pub fn test_settings() -> saga::Settings {
    saga::Settings {
        wait: WaitPolicy {
            initial: Duration::from_millis(10),
            max_interval: Duration::from_millis(100),
            deadline: Duration::from_secs(20),
        },
        ..saga::Settings::default()
    }
}

pub fn engine_with(
    store: &Store,
    kinds: Vec<(&'static str, Arc<dyn provision::ops::SagaKind>)>,
) -> Engine {
    kinds
        .into_iter()
        .fold(
            Engine::builder(
                store.clone(),
                EngineConfig {
                    lease: Duration::from_secs(10),
                    poll: Duration::from_millis(50),
                    concurrency: 8,
                    backoff: Backoff {
                        max_attempts: 6,
                        initial: Duration::from_millis(10),
                        max: Duration::from_millis(100),
                    },
                },
            ),
            |b, (name, kind)| b.kind(name, kind),
        )
        .build()
}

pub fn spec(name: &str, masters: u32, workers: u32) -> ClusterSpec {
    serde_json::from_value(serde_json::json!({
        "name": name, "kubernetes_version": "v1.31.12", "master_count": masters, "master_flavor": "m1.medium",
        "node_groups": [{"name": "default-worker", "flavor": "m1.small", "node_count": workers, "min_node_count": 1, "max_node_count": 5}],
    }))
    .unwrap()
}

pub async fn drain(engine: &Engine) {
    tokio::time::timeout(Duration::from_secs(120), async {
        while engine.run_one().await.expect("run") {}
    })
    .await
    .expect("operations finish");
}

/// What the cloud holds of a cluster: (servers, volumes, load balancers, server group?).
pub async fn inventory(
    cloud: &dyn Cloud,
    cluster_id: &str,
) -> (Vec<Server>, Vec<Volume>, Vec<LoadBalancer>, bool) {
    let mark = cluster_metadata(cluster_id);
    let group = format!("sy-{}-masters", &cluster_id[..8]);
    (
        cloud.server_list(&mark).await.unwrap(),
        cloud.volume_list(&mark).await.unwrap(),
        cloud
            .load_balancer_list(&[cluster_tag(cluster_id)])
            .await
            .unwrap(),
        cloud.server_group_find(&group).await.unwrap().is_some(),
    )
}

pub async fn assert_empty(cloud: &dyn Cloud, cluster_id: &str) {
    let (s, v, l, g) = inventory(cloud, cluster_id).await;
    assert!(
        s.is_empty() && v.is_empty() && l.is_empty() && !g,
        "left behind: {s:?} {v:?} {l:?} group={g}"
    );
}

/// Simulated kubelets that heartbeat every second and go NotReady after 5 s of silence.
pub fn fast_nodes(c: &mut localcloud::Config) {
    c.node_timings = localcloud::guests::NodeTimings {
        heartbeat: Duration::from_secs(1),
        grace: Duration::from_secs(5),
    };
}

/// A cluster of `masters` and `workers` in a group `default-worker`, made and ACTIVE.
pub async fn active_cluster(e: &Env, name: &str, masters: u32, workers: u32) -> String {
    let started = provision::clusters::create(
        &e.store,
        &e.engine,
        &e.actor,
        &e.project,
        spec(name, masters, workers),
        &e.flavors,
    )
    .await
    .unwrap();
    drain(&e.engine).await;
    let c = e
        .store
        .cluster_get(&e.project, &started.cluster.id)
        .await
        .unwrap();
    assert_eq!(
        c.status,
        model::ClusterStatus::Active,
        "{:?}",
        c.status_reason
    );
    c.id
}

/// A Nova server action through localcloud's API as its admin (`{"os-stop": null}`,
/// `{"os-resetState": {"state": "error"}}`: what the `openstack` CLI sends).
pub async fn nova_action(e: &Env, server_id: &str, action: serde_json::Value) {
    let running = e.running.as_ref().unwrap();
    let admin = running.admin();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let auth = http
        .post(format!("{}/auth/tokens", admin.auth_url))
        .json(&serde_json::json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": admin.username, "domain": {"id": "default"}, "password": admin.password}}},
            "scope": {"project": {"name": admin.project, "domain": {"id": "default"}}}}}))
        .send()
        .await
        .unwrap();
    let token = auth.headers()["x-subject-token"]
        .to_str()
        .unwrap()
        .to_string();
    let r = http
        .post(format!(
            "{}/compute/v2.1/servers/{server_id}/action",
            running.url
        ))
        .header("x-auth-token", token)
        .json(&action)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        202,
        "{action}: {}",
        r.text().await.unwrap_or_default()
    );
}

/// Waits until `check` holds, `secs` at most.
pub async fn eventually<F, Fut>(what: &str, secs: u64, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
