//! The cloud a conformance case runs on: an in-process localcloud or the real OpenStack
//! named by the environment, and helpers the cases and driver tests share.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use provision::cloud::*;

/// A cloud to test, and what to build on it.
pub struct Target {
    pub cloud: Arc<dyn Cloud>,
    pub flavor: String,
    pub image: String,
    pub network: Option<String>,
    /// A flavor that no host can take, when the cloud has one.
    pub huge_flavor: Option<String>,
    /// Whether host names and usage are visible (admin credentials).
    pub admin: bool,
    pub wait: WaitPolicy,
    /// Unique per test: resource names start with it, and it is the owner metadata.
    pub prefix: String,
    /// An address a load balancer member may have on this cloud (on localcloud, one of
    /// its loopback subnet: it refuses any other).
    pub member_address: String,
    _local: Option<Local>,
}

impl Target {
    pub fn cloud(&self) -> &dyn Cloud {
        self.cloud.as_ref()
    }

    pub fn name(&self, what: &str) -> String {
        format!("{}-{what}", self.prefix)
    }

    pub fn owner(&self) -> Metadata {
        BTreeMap::from([("shipyard-test".to_string(), self.prefix.clone())])
    }

    pub fn server_spec(&self, what: &str) -> ServerSpec {
        ServerSpec {
            name: self.name(what),
            flavor: self.flavor.clone(),
            image: self.image.clone(),
            metadata: self.owner(),
            group: None,
            network: self.network.clone(),
            boot_volume_gib: None,
            user_data: None,
        }
    }
}

/// A running localcloud and its data directory, removed afterwards.
pub struct Local {
    running: Option<localcloud::Running>,
    dir: std::path::PathBuf,
}

impl Drop for Local {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &provision::new_id()[..8])
}

/// localcloud with zero delays and three small hosts (4 vCPUs, 8 GiB), so that
/// `m1.xlarge` fits nowhere; `tweak` adjusts the config per test.
pub async fn start_localcloud(
    tweak: impl FnOnce(&mut localcloud::Config),
) -> (Local, localcloud::credentials::Credentials) {
    let dir = std::env::temp_dir().join(unique("shipyard-conformance"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut config = localcloud::Config::new("127.0.0.1:0".parse().expect("addr"), &dir);
    config.server_build_delay = Duration::ZERO;
    config.volume_delay = Duration::ZERO;
    config.lb_delay = Duration::ZERO;
    config.lb_update_delay = Duration::ZERO;
    config.vip_range = localcloud::random_vip_range();
    config.subnet = localcloud::addresses::random_subnet();
    config.hosts = (1..=3)
        .map(|i| localcloud::HostConfig {
            name: format!("host-{i}"),
            vcpus: 4,
            ram_mib: 8192,
        })
        .collect();
    tweak(&mut config);
    let running = localcloud::start(config).await.expect("localcloud starts");
    let admin = running.admin();
    (
        Local {
            running: Some(running),
            dir,
        },
        admin,
    )
}

pub fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
    }
}

pub async fn localcloud_target(tweak: impl FnOnce(&mut localcloud::Config)) -> Target {
    let (local, admin) = start_localcloud(tweak).await;
    // A host of the private network's subnet: an address the cloud owns.
    let subnet = local.running.as_ref().expect("running").cloud.config.subnet;
    let member_address = std::net::Ipv4Addr::from(subnet.first() + 10).to_string();
    let mut config = OpenStackConfig::new(
        admin.auth_url,
        admin.username,
        admin.password,
        admin.project,
    );
    config.retry = quick_retries();
    let cloud = OpenStack::connect(config).await.expect("connects");
    Target {
        cloud: Arc::new(cloud),
        flavor: "m1.tiny".into(),
        image: "ubuntu-22.04-k8s-v1.33".into(),
        network: Some("private".into()),
        huge_flavor: Some("m1.xlarge".into()),
        admin: true,
        wait: WaitPolicy {
            initial: Duration::from_millis(10),
            max_interval: Duration::from_millis(100),
            deadline: Duration::from_secs(10),
        },
        prefix: unique("sy-test"),
        member_address,
        _local: Some(local),
    }
}

/// The real cloud named by the environment, or `None` (and a note) when there is none.
pub async fn openstack_target(test: &str) -> Option<Target> {
    let config = match OpenStackConfig::from_environment() {
        Ok(Some(c)) => c,
        Ok(None) => {
            eprintln!("skipped {test} on OpenStack: set OS_CLOUD or OS_AUTH_URL to run it");
            return None;
        }
        Err(e) => panic!("OpenStack configuration: {e}"),
    };
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let (Some(flavor), Some(image)) = (var("SHIPYARD_TEST_FLAVOR"), var("SHIPYARD_TEST_IMAGE"))
    else {
        eprintln!("skipped {test} on OpenStack: set SHIPYARD_TEST_FLAVOR and SHIPYARD_TEST_IMAGE");
        return None;
    };
    let cloud = OpenStack::connect(config)
        .await
        .expect("connects to OpenStack");
    let admin = cloud.host_usage().await.is_ok();
    Some(Target {
        cloud: Arc::new(cloud),
        flavor,
        image,
        network: var("SHIPYARD_TEST_NETWORK"),
        huge_flavor: var("SHIPYARD_TEST_HUGE_FLAVOR"),
        admin,
        wait: WaitPolicy {
            initial: Duration::from_secs(2),
            max_interval: Duration::from_secs(10),
            deadline: Duration::from_secs(600),
        },
        prefix: unique("sy-test"),
        member_address: var("SHIPYARD_TEST_MEMBER_ADDRESS").unwrap_or_else(|| "10.0.0.10".into()),
        _local: None,
    })
}

/// Polls until `get` says not found (deletes are asynchronous on real clouds).
pub async fn gone<T: std::fmt::Debug, F, Fut>(t: &Target, what: &str, mut get: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = CloudResult<T>>,
{
    let start = std::time::Instant::now();
    loop {
        match get().await {
            Err(e) if e.is_not_found() => return,
            Err(e) if !e.retryable() => panic!("{what}: {e}"),
            other => assert!(
                start.elapsed() < t.wait.deadline,
                "{what} is still there: {other:?}"
            ),
        }
        tokio::time::sleep(t.wait.initial).await;
    }
}
