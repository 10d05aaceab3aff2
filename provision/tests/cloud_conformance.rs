//! The conformance suite every cloud driver must pass, written once against `&dyn Cloud`.
//! Each case runs against an in-process localcloud (`on_localcloud::*`), and against a
//! real OpenStack (`on_openstack::*`) when `OS_CLOUD` or `OS_AUTH_URL` is set; without
//! one those variants say they are skipped. For a real cloud also set
//! `SHIPYARD_TEST_FLAVOR` and `SHIPYARD_TEST_IMAGE` (names or ids), and optionally
//! `SHIPYARD_TEST_NETWORK` and `SHIPYARD_TEST_HUGE_FLAVOR` (a flavor no host can take).
//!
//! After the suite come driver tests that need a cloud misbehaving on purpose: a TCP stub
//! answering 503s, 400s or 401s, and short-lived tokens.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use provision::cloud::*;

/// A cloud to test, and what to build on it.
struct Target {
    cloud: Arc<dyn Cloud>,
    flavor: String,
    image: String,
    network: Option<String>,
    /// A flavor that no host can take, when the cloud has one.
    huge_flavor: Option<String>,
    /// Whether host names and usage are visible (admin credentials).
    admin: bool,
    wait: WaitPolicy,
    /// Unique per test: resource names start with it, and it is the owner metadata.
    prefix: String,
    /// An address a load balancer member may have on this cloud (on localcloud, one of
    /// its loopback subnet: it refuses any other).
    member_address: String,
    _local: Option<Local>,
}

impl Target {
    fn cloud(&self) -> &dyn Cloud {
        self.cloud.as_ref()
    }

    fn name(&self, what: &str) -> String {
        format!("{}-{what}", self.prefix)
    }

    fn owner(&self) -> Metadata {
        BTreeMap::from([("shipyard-test".to_string(), self.prefix.clone())])
    }

    fn server_spec(&self, what: &str) -> ServerSpec {
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
struct Local {
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

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &provision::new_id()[..8])
}

/// localcloud with zero delays and three small hosts (4 vCPUs, 8 GiB), so that
/// `m1.xlarge` fits nowhere; `tweak` adjusts the config per test.
async fn start_localcloud(
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

fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
    }
}

async fn localcloud_target(tweak: impl FnOnce(&mut localcloud::Config)) -> Target {
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
async fn openstack_target(test: &str) -> Option<Target> {
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

/// Each case as two tests: on localcloud (configured by the closure) and on OpenStack.
macro_rules! suite {
    ($($(#[$attr:meta])* $name:ident => $tweak:expr;)*) => {
        mod on_localcloud {
            #[allow(unused_imports)]
            use super::*;
            $(
                $(#[$attr])*
                #[tokio::test]
                async fn $name() {
                    let t = super::localcloud_target($tweak).await;
                    super::$name(&t).await;
                }
            )*
        }
        mod on_openstack {
            #[allow(unused_imports)]
            use super::*;
            $(
                $(#[$attr])*
                #[tokio::test]
                async fn $name() {
                    let Some(t) = super::openstack_target(stringify!($name)).await else {
                        return;
                    };
                    super::$name(&t).await;
                }
            )*
        }
    };
}

suite! {
    catalog_flavors_images_hosts => |_| {};
    server_group_lifecycle => |_| {};
    server_lifecycle => |_| {};
    server_boots_from_a_volume => |_| {};
    volume_lifecycle => |_| {};
    deleting_missing_resources_is_ok => |_| {};
    waits_time_out_retryably => |c| {
        c.server_build_delay = Duration::from_secs(120);
        c.volume_delay = Duration::from_secs(120);
    };
    unplaceable_server_fails_permanently => |_| {};
    bad_requests_are_permanent => |_| {};
    load_balancer_lifecycle => |_| {};
}

/// Polls until `get` says not found (deletes are asynchronous on real clouds).
async fn gone<T: std::fmt::Debug, F, Fut>(t: &Target, what: &str, mut get: F)
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

async fn catalog_flavors_images_hosts(t: &Target) {
    let c = t.cloud();
    let flavors = c.flavor_list().await.expect("flavors");
    let flavor = flavors
        .iter()
        .find(|f| f.name == t.flavor || f.id == t.flavor)
        .unwrap_or_else(|| panic!("{} is not in {flavors:?}", t.flavor));
    assert!(flavor.vcpus > 0 && flavor.ram_mib > 0, "{flavor:?}");
    let image = c.image_id(&t.image).await;
    assert!(
        image.is_ok() || t.image.len() == 36,
        "image {}: {image:?}",
        t.image
    );
    let missing = c
        .image_id(&t.name("no-such-image"))
        .await
        .expect_err("no such image");
    assert!(missing.is_not_found(), "{missing}");
    if let Some(net) = &t.network {
        assert!(!c.network_id(net).await.expect("network").is_empty());
    }
    if t.admin {
        let hosts = c.host_usage().await.expect("hosts");
        assert!(!hosts.is_empty());
        assert!(
            hosts.iter().all(|h| h.vcpus > 0 && h.ram_mib > 0),
            "{hosts:?}"
        );
    }
}

async fn server_group_lifecycle(t: &Target) {
    let c = t.cloud();
    let name = t.name("masters");
    let g = c
        .server_group_create(&name, GroupPolicy::AntiAffinity)
        .await
        .expect("create");
    assert_eq!(
        (g.name.as_str(), g.policy.as_str()),
        (name.as_str(), "anti-affinity")
    );
    let again = c
        .server_group_create(&name, GroupPolicy::AntiAffinity)
        .await
        .expect("create again");
    assert_eq!(again.id, g.id, "a second create returns the first group");
    let found = c.server_group_find(&name).await.expect("find");
    assert_eq!(found.map(|f| f.id), Some(g.id.clone()));
    let soft = c
        .server_group_create(&t.name("workers"), GroupPolicy::SoftAntiAffinity)
        .await
        .expect("soft");
    assert_eq!(soft.policy, "soft-anti-affinity");
    c.server_group_delete(&g.id).await.expect("delete");
    c.server_group_delete(&g.id).await.expect("delete again");
    c.server_group_delete(&soft.id).await.expect("delete soft");
    assert_eq!(c.server_group_find(&name).await.expect("find"), None);
}

async fn server_lifecycle(t: &Target) {
    let c = t.cloud();
    let group = c
        .server_group_create(&t.name("masters"), GroupPolicy::AntiAffinity)
        .await
        .expect("group");
    let mut spec = t.server_spec("master-0");
    spec.group = Some(group.id.clone());
    spec.metadata.insert("role".into(), "master".into());
    let s = c.server_create(&spec).await.expect("create");
    assert_eq!(s.name, spec.name);
    assert_eq!(s.metadata.get("role").map(String::as_str), Some("master"));
    let again = c.server_create(&spec).await.expect("create again");
    assert_eq!(again.id, s.id, "a second create returns the first server");

    let s = c.wait_server_active(&s.id, &t.wait).await.expect("ACTIVE");
    assert_eq!(s.status, "ACTIVE");
    assert!(
        !s.addresses.is_empty(),
        "an ACTIVE server has an address: {s:?}"
    );
    if t.admin {
        assert!(s.host.is_some(), "admins see the host: {s:?}");
    }
    assert_eq!(c.server_get(&s.id).await.expect("get").id, s.id);
    let listed = c.server_list(&t.owner()).await.expect("list");
    assert_eq!(
        listed.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        vec![s.id.as_str()],
        "the cloud has one server for the spec"
    );
    let mut other_owner = t.owner();
    other_owner.insert("role".into(), "worker".into());
    assert!(c.server_list(&other_owner).await.expect("list").is_empty());
    let g = c
        .server_group_find(&group.name)
        .await
        .expect("find group")
        .expect("group");
    assert!(g.members.contains(&s.id), "{g:?}");

    c.server_delete(&s.id).await.expect("delete");
    c.server_delete(&s.id).await.expect("delete again");
    gone(t, "deleted server", || c.server_get(&s.id)).await;
    c.server_group_delete(&group.id)
        .await
        .expect("delete group");
}

async fn server_boots_from_a_volume(t: &Target) {
    let c = t.cloud();
    let mut spec = t.server_spec("bfv");
    spec.boot_volume_gib = Some(10);
    let s = c.server_create(&spec).await.expect("create");
    let s = c.wait_server_active(&s.id, &t.wait).await.expect("ACTIVE");
    assert_eq!(s.name, spec.name);
    c.server_delete(&s.id).await.expect("delete");
    gone(t, "deleted server", || c.server_get(&s.id)).await;
}

async fn volume_lifecycle(t: &Target) {
    let c = t.cloud();
    let spec = VolumeSpec {
        name: t.name("etcd-0"),
        size_gib: 1,
        volume_type: None,
        metadata: t.owner(),
    };
    let v = c.volume_create(&spec).await.expect("create");
    assert_eq!((v.name.as_str(), v.size_gib), (spec.name.as_str(), 1));
    assert_eq!(c.volume_create(&spec).await.expect("again").id, v.id);
    let v = c
        .wait_volume_available(&v.id, &t.wait)
        .await
        .expect("available");
    let listed = c.volume_list(&t.owner()).await.expect("list");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].metadata, t.owner());

    c.volume_extend(&v.id, 2).await.expect("extend");
    let v = c
        .wait_volume_available(&v.id, &t.wait)
        .await
        .expect("available");
    assert_eq!(v.size_gib, 2);
    c.volume_extend(&v.id, 2)
        .await
        .expect("extend to the same size is a no-op");

    let s = c
        .server_create(&t.server_spec("worker-0"))
        .await
        .expect("server");
    c.wait_server_active(&s.id, &t.wait).await.expect("ACTIVE");
    let a = c.volume_attach(&s.id, &v.id).await.expect("attach");
    assert_eq!(
        (a.server_id.as_str(), a.volume_id.as_str()),
        (s.id.as_str(), v.id.as_str())
    );
    let again = c.volume_attach(&s.id, &v.id).await.expect("attach again");
    assert_eq!(again.volume_id, v.id);
    let in_use = c
        .wait_volume_status(&v.id, "in-use", &t.wait)
        .await
        .expect("in-use");
    assert_eq!(in_use.attached_to, vec![s.id.clone()]);
    let busy = c
        .volume_delete(&v.id)
        .await
        .expect_err("an attached volume stays");
    assert_eq!(
        (busy.kind, busy.status),
        (ErrorKind::Permanent, Some(400)),
        "{busy}"
    );

    c.volume_detach(&s.id, &v.id).await.expect("detach");
    c.volume_detach(&s.id, &v.id).await.expect("detach again");
    c.wait_volume_available(&v.id, &t.wait)
        .await
        .expect("available");
    c.volume_delete(&v.id).await.expect("delete");
    c.volume_delete(&v.id).await.expect("delete again");
    gone(t, "deleted volume", || c.volume_get(&v.id)).await;
    c.server_delete(&s.id).await.expect("delete server");
}

async fn deleting_missing_resources_is_ok(t: &Target) {
    let c = t.cloud();
    let missing = "00000000-0000-4000-8000-000000000000";
    c.server_delete(missing).await.expect("server");
    c.volume_delete(missing).await.expect("volume");
    c.server_group_delete(missing).await.expect("server group");
    let e = c.server_get(missing).await.expect_err("no such server");
    assert_eq!((e.kind, e.status), (ErrorKind::NotFound, Some(404)));
    assert!(e.call.contains(missing) && !e.message.is_empty(), "{e}");
    let e = c.volume_get(missing).await.expect_err("no such volume");
    assert!(e.is_not_found(), "{e}");
}

async fn waits_time_out_retryably(t: &Target) {
    let c = t.cloud();
    let tiny = WaitPolicy {
        initial: Duration::from_millis(5),
        max_interval: Duration::from_millis(10),
        deadline: Duration::from_millis(30),
    };
    let s = c
        .server_create(&t.server_spec("slow"))
        .await
        .expect("create");
    let e = c
        .wait_server_active(&s.id, &tiny)
        .await
        .expect_err("times out");
    assert!(e.retryable(), "{e}");
    assert!(
        e.message.contains("timed out") && e.message.contains("BUILD"),
        "{e}"
    );
    let v = c
        .volume_create(&VolumeSpec {
            name: t.name("slow"),
            size_gib: 1,
            volume_type: None,
            metadata: t.owner(),
        })
        .await
        .expect("volume");
    let e = c
        .wait_volume_available(&v.id, &tiny)
        .await
        .expect_err("times out");
    assert!(e.retryable() && e.message.contains("creating"), "{e}");
    c.server_delete(&s.id).await.expect("delete server");
    // Cinder refuses to delete a volume still creating: then wait for it first.
    if c.volume_delete(&v.id).await.is_err() {
        c.wait_volume_available(&v.id, &t.wait)
            .await
            .expect("available");
        c.volume_delete(&v.id).await.expect("delete volume");
    }
}

async fn unplaceable_server_fails_permanently(t: &Target) {
    let Some(huge) = &t.huge_flavor else {
        eprintln!("skipped: set SHIPYARD_TEST_HUGE_FLAVOR to a flavor no host can take");
        return;
    };
    let c = t.cloud();
    let mut spec = t.server_spec("huge");
    spec.flavor = huge.clone();
    let s = c
        .server_create(&spec)
        .await
        .expect("Nova accepts, then fails to place");
    let e = c
        .wait_server_active(&s.id, &t.wait)
        .await
        .expect_err("ERROR");
    assert_eq!(e.kind, ErrorKind::Permanent, "{e}");
    assert!(e.message.contains("No valid host"), "{e}");
    assert!(e.call.contains(&s.id), "{e}");
    assert!(c.server_get(&s.id).await.expect("get").fault.is_some());
    c.server_delete(&s.id).await.expect("delete");
}

async fn bad_requests_are_permanent(t: &Target) {
    let c = t.cloud();
    let e = c
        .volume_create(&VolumeSpec {
            name: t.name("empty"),
            size_gib: 0,
            volume_type: None,
            metadata: t.owner(),
        })
        .await
        .expect_err("size 0");
    assert_eq!((e.kind, e.status), (ErrorKind::Permanent, Some(400)), "{e}");
    assert!(e.call.contains(&t.name("empty")), "{e}");
    assert!(
        !e.message.is_empty() && !e.message.starts_with("HTTP"),
        "{e}"
    );

    let mut spec = t.server_spec("bad-image");
    spec.image = "00000000-0000-4000-8000-000000000000".into();
    let e = c.server_create(&spec).await.expect_err("no such image");
    assert_eq!((e.kind, e.status), (ErrorKind::Permanent, Some(400)), "{e}");

    let mut spec = t.server_spec("bad-flavor");
    spec.flavor = t.name("no-such-flavor");
    let e = c.server_create(&spec).await.expect_err("no such flavor");
    assert_eq!(e.kind, ErrorKind::Permanent, "{e}");
    assert!(e.message.contains("no-such-flavor"), "{e}");

    let e = c
        .server_group_create(&"x".repeat(300), GroupPolicy::AntiAffinity)
        .await
        .expect_err("name too long");
    assert_eq!((e.kind, e.status), (ErrorKind::Permanent, Some(400)), "{e}");
    assert!(c.server_list(&t.owner()).await.expect("list").is_empty());
}

async fn load_balancer_lifecycle(t: &Target) {
    let c = t.cloud();
    let Some(network) = &t.network else {
        eprintln!("skipped: set SHIPYARD_TEST_NETWORK for the load balancer's VIP");
        return;
    };
    let net = Some(c.network_id(network).await.expect("network"));
    let tags = vec![format!("shipyard-test={}", t.prefix)];
    let spec = LoadBalancerSpec {
        name: t.name("api"),
        tags: tags.clone(),
        vip_network_id: net,
        vip_subnet_id: None,
    };
    let lb = c.load_balancer_create(&spec).await.expect("create");
    assert_eq!(lb.name, spec.name);
    assert_eq!(
        c.load_balancer_create(&spec).await.expect("again").id,
        lb.id
    );
    let lb = c
        .wait_load_balancer_active(&lb.id, &t.wait)
        .await
        .expect("ACTIVE");
    assert!(lb.vip_address.is_some(), "{lb:?}");
    let listed = c.load_balancer_list(&tags).await.expect("list");
    assert_eq!(
        listed.iter().map(|l| &l.id).collect::<Vec<_>>(),
        vec![&lb.id]
    );

    let lspec = ListenerSpec {
        name: t.name("api-6443"),
        load_balancer_id: lb.id.clone(),
        port: 6443,
        tags: tags.clone(),
    };
    let listener = c.listener_create(&lspec).await.expect("listener");
    assert_eq!((listener.protocol.as_str(), listener.port), ("TCP", 6443));
    c.wait_load_balancer_active(&lb.id, &t.wait)
        .await
        .expect("ACTIVE");
    assert_eq!(
        c.listener_create(&lspec).await.expect("again").id,
        listener.id
    );

    let pspec = PoolSpec {
        name: t.name("api-masters"),
        listener_id: listener.id.clone(),
        tags: tags.clone(),
    };
    let pool = c.pool_create(&pspec).await.expect("pool");
    assert_eq!(pool.lb_algorithm, "ROUND_ROBIN");
    c.wait_load_balancer_active(&lb.id, &t.wait)
        .await
        .expect("ACTIVE");
    assert_eq!(c.pool_create(&pspec).await.expect("again").id, pool.id);

    let mspec = MemberSpec {
        name: t.name("master-0"),
        address: t.member_address.clone(),
        port: 6443,
    };
    let m = c.member_add(&pool.id, &mspec).await.expect("member");
    c.wait_load_balancer_active(&lb.id, &t.wait)
        .await
        .expect("ACTIVE");
    assert_eq!(
        c.member_add(&pool.id, &mspec).await.expect("again").id,
        m.id
    );
    assert_eq!(c.member_list(&pool.id).await.expect("members").len(), 1);

    let hm = c
        .health_monitor_create(&HealthMonitorSpec {
            name: t.name("api-check"),
            pool_id: pool.id.clone(),
            delay_secs: 5,
            timeout_secs: 3,
            max_retries: 3,
        })
        .await
        .expect("health monitor");
    assert_eq!(hm.kind, "TCP");
    c.wait_load_balancer_active(&lb.id, &t.wait)
        .await
        .expect("ACTIVE");

    c.member_remove(&pool.id, &m.id).await.expect("remove");
    c.wait_load_balancer_active(&lb.id, &t.wait)
        .await
        .expect("ACTIVE");
    c.member_remove(&pool.id, &m.id)
        .await
        .expect("remove again");
    assert!(c.member_list(&pool.id).await.expect("members").is_empty());

    c.load_balancer_delete(&lb.id).await.expect("delete");
    gone(t, "deleted load balancer", || c.load_balancer_get(&lb.id)).await;
    c.load_balancer_delete(&lb.id).await.expect("delete again");
}

// ------------------------------------------------------------ driver behaviour

/// A fake Keystone + Nova on a real TCP port: tokens `tok-1`, `tok-2`, ...; the flavor
/// list answers as `mode` says.
mod stub {
    use super::*;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::routing::{get, post};
    use axum::{Json, Router};
    use serde_json::json;

    #[derive(Clone, Copy, PartialEq, Eq)]
    pub enum Mode {
        /// 503 twice, then the flavors.
        Unavailable503Twice,
        /// 400 every time.
        BadRequest,
        /// 401 for the first token, then the flavors.
        RejectFirstToken,
        /// The server list loses its marker once (it was deleted between pages).
        MarkerVanishes,
    }

    pub struct Stub {
        pub url: String,
        pub mode: Mode,
        pub auths: AtomicUsize,
        pub calls: AtomicUsize,
    }

    pub async fn start(mode: Mode) -> Arc<Stub> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let stub = Arc::new(Stub {
            url,
            mode,
            auths: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/identity/v3/auth/tokens", post(token))
            .route("/compute/flavors/detail", get(flavors))
            .route("/compute/servers/detail", get(servers))
            .with_state(stub.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        stub
    }

    async fn token(State(stub): State<Arc<Stub>>) -> Response {
        let n = stub.auths.fetch_add(1, Ordering::SeqCst) + 1;
        let body = json!({"token": {
            "expires_at": "2099-01-01T00:00:00.000000Z",
            "issued_at": "2026-01-01T00:00:00.000000Z",
            "methods": ["password"],
            "project": {"id": "p1", "name": "admin", "domain": {"id": "default", "name": "Default"}},
            "catalog": [{"type": "compute", "name": "nova", "id": "c", "endpoints": [
                {"id": "e", "interface": "public", "region": "RegionOne", "region_id": "RegionOne",
                 "url": format!("{}/compute", stub.url)}]}],
        }});
        let mut res = (StatusCode::CREATED, Json(body)).into_response();
        if let Ok(v) = format!("tok-{n}").parse() {
            res.headers_mut().insert("x-subject-token", v);
        }
        res
    }

    async fn flavors(State(stub): State<Arc<Stub>>, headers: HeaderMap) -> Response {
        let n = stub.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let token = headers.get("x-auth-token").and_then(|v| v.to_str().ok());
        match stub.mode {
            Mode::Unavailable503Twice if n <= 2 => fault_body(
                StatusCode::SERVICE_UNAVAILABLE,
                "serviceUnavailable",
                "The server is busy.",
            ),
            Mode::BadRequest => {
                fault_body(StatusCode::BAD_REQUEST, "badRequest", "Invalid filter.")
            }
            Mode::RejectFirstToken if token == Some("tok-1") => fault_body(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "The request you have made requires authentication.",
            ),
            _ => Json(json!({"flavors": [
                {"id": "1", "name": "m1.tiny", "vcpus": 1, "ram": 512, "disk": 1}
            ]}))
            .into_response(),
        }
    }

    /// Two pages: `s1`, `s2` and a next link, then (after marker `s2`) `s3`. With
    /// `MarkerVanishes`, `s2` is deleted after the first page: marker `s2` is then not
    /// found, and the list is `s1`, `s3`.
    async fn servers(
        State(stub): State<Arc<Stub>>,
        axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
    ) -> Response {
        if stub.mode == Mode::MarkerVanishes {
            let n = stub.calls.fetch_add(1, Ordering::SeqCst);
            let server = |id: &str| json!({"id": id, "name": id, "status": "ACTIVE", "metadata": {}, "addresses": {}});
            return match (n, q.get("marker").map(String::as_str)) {
                (0, None) => Json(json!({
                    "servers": [server("s1"), server("s2")],
                    "servers_links": [{"rel": "next", "href": "http://x/servers/detail?marker=s2"}],
                }))
                .into_response(),
                (_, Some(m)) => fault_body(
                    StatusCode::BAD_REQUEST,
                    "badRequest",
                    &format!("marker [{m}] not found"),
                ),
                (_, None) => Json(json!({"servers": [server("s1"), server("s3")]})).into_response(),
            };
        }
        let server = |id: &str, role: &str| {
            json!({"id": id, "name": id, "status": "ACTIVE", "metadata": {"role": role},
                   "addresses": {"private": [{"addr": "10.0.0.9", "version": 4}]}})
        };
        match q.get("marker").map(String::as_str) {
            None => Json(json!({
                "servers": [server("s1", "master"), server("s2", "worker")],
                "servers_links": [{"rel": "next", "href": "http://x/servers/detail?marker=s2"}],
            }))
            .into_response(),
            Some("s2") => Json(json!({"servers": [server("s3", "master")]})).into_response(),
            Some(m) => fault_body(
                StatusCode::BAD_REQUEST,
                "badRequest",
                &format!("marker [{m}] not found"),
            ),
        }
    }

    fn fault_body(status: StatusCode, name: &str, message: &str) -> Response {
        (
            status,
            Json(json!({ name: {"code": status.as_u16(), "message": message} })),
        )
            .into_response()
    }

    pub async fn driver(stub: &Stub) -> OpenStack {
        let mut config = OpenStackConfig::new(
            format!("{}/identity/v3", stub.url),
            "admin",
            "admin",
            "admin",
        );
        config.retry = quick_retries();
        OpenStack::connect(config)
            .await
            .expect("connects to the stub")
    }
}

#[tokio::test]
async fn retries_503_until_it_succeeds() {
    let stub = stub::start(stub::Mode::Unavailable503Twice).await;
    let cloud = stub::driver(&stub).await;
    let flavors = cloud.flavor_list().await.expect("third time lucky");
    assert_eq!(flavors[0].name, "m1.tiny");
    assert_eq!(stub.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn does_not_retry_a_bad_request() {
    let stub = stub::start(stub::Mode::BadRequest).await;
    let cloud = stub::driver(&stub).await;
    let e = cloud.flavor_list().await.expect_err("400");
    assert_eq!((e.kind, e.status), (ErrorKind::Permanent, Some(400)));
    assert_eq!(e.message, "Invalid filter.");
    assert_eq!(e.call, "list flavors");
    assert_eq!(stub.calls.load(Ordering::SeqCst), 1, "a 400 is not retried");
}

#[tokio::test]
async fn gives_up_on_503_after_the_retry_budget() {
    let stub = stub::start(stub::Mode::Unavailable503Twice).await;
    let mut config = OpenStackConfig::new(
        format!("{}/identity/v3", stub.url),
        "admin",
        "admin",
        "admin",
    );
    config.retry = RetryPolicy {
        max_attempts: 2,
        ..quick_retries()
    };
    let cloud = OpenStack::connect(config).await.expect("connects");
    let e = cloud.flavor_list().await.expect_err("only two tries");
    assert!(e.retryable() && e.status == Some(503), "{e}");
    assert_eq!(e.message, "The server is busy.");
    assert_eq!(stub.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn renews_the_token_once_on_401() {
    let stub = stub::start(stub::Mode::RejectFirstToken).await;
    let cloud = stub::driver(&stub).await;
    cloud.flavor_list().await.expect("works with a new token");
    assert_eq!(stub.auths.load(Ordering::SeqCst), 2);
    assert_eq!(cloud.tokens_issued(), 2);
    assert_eq!(stub.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn renews_a_token_before_it_expires() {
    let (_local, admin) = start_localcloud(|c| c.token_ttl = Duration::from_secs(2)).await;
    let mut config = OpenStackConfig::new(
        admin.auth_url,
        admin.username,
        admin.password,
        admin.project,
    );
    config.retry = quick_retries();
    let cloud = OpenStack::connect(config).await.expect("connects");
    cloud.flavor_list().await.expect("first token");
    assert_eq!(cloud.tokens_issued(), 1);
    // Past half the token's life (the refresh point for short tokens) and past its end.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    cloud.flavor_list().await.expect("renewed token");
    assert_eq!(cloud.tokens_issued(), 2);
}

#[tokio::test]
async fn wrong_password_is_permanent_with_keystones_message() {
    let (_local, admin) = start_localcloud(|_| {}).await;
    let mut config = OpenStackConfig::new(admin.auth_url, "admin", "wrong", "admin");
    config.retry = quick_retries();
    let e = OpenStack::connect(config).await.expect_err("refused");
    assert_eq!((e.kind, e.status), (ErrorKind::Permanent, Some(401)), "{e}");
    assert!(e.message.contains("requires authentication"), "{e}");
}

#[tokio::test]
async fn unreachable_cloud_is_retryable() {
    // Bind and drop a port, so nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let mut config = OpenStackConfig::new(
        format!("http://127.0.0.1:{port}/identity/v3"),
        "admin",
        "admin",
        "admin",
    );
    config.retry = quick_retries();
    config.request_timeout = Duration::from_secs(2);
    let e = OpenStack::connect(config).await.expect_err("nobody there");
    assert!(e.retryable(), "{e}");
    assert_eq!(e.status, None);
    assert!(e.message.contains("could not connect"), "{e}");
}

/// Code generic over `impl Cloud` takes the shared driver as it is.
async fn flavor_count(cloud: impl Cloud) -> usize {
    cloud.flavor_list().await.map(|f| f.len()).unwrap_or(0)
}

#[tokio::test]
async fn usable_as_shared_trait_object() {
    let t = localcloud_target(|_| {}).await;
    let shared: Arc<dyn Cloud> = t.cloud.clone();
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let c = shared.clone();
            tokio::spawn(async move { c.flavor_list().await.map(|f| f.len()) })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("joins").expect("flavors"), 5);
    }
    assert_eq!(flavor_count(shared.clone()).await, 5);
    assert_eq!(flavor_count(Box::new(shared)).await, 5);
}

/// A driver on a localcloud of its own, with the given retry policy and request time-out.
async fn driver_on(
    admin: &localcloud::credentials::Credentials,
    retry: RetryPolicy,
    timeout: Duration,
) -> OpenStack {
    let mut config = OpenStackConfig::new(
        admin.auth_url.clone(),
        admin.username.clone(),
        admin.password.clone(),
        admin.project.clone(),
    );
    config.retry = retry;
    config.request_timeout = timeout;
    OpenStack::connect(config).await.expect("connects")
}

#[tokio::test]
async fn survives_injected_faults_without_duplicates() {
    // A fifth of the calls fail with 500/503, a tenth do their work but answer too late:
    // every step still succeeds, and no create made a second resource.
    let (_local, admin) = start_localcloud(|c| {
        c.server_build_delay = Duration::ZERO;
        c.faults.error_rate = 0.2;
        c.faults.timeout_rate = 0.1;
        c.faults.timeout_seconds = 1.0;
    })
    .await;
    let retry = RetryPolicy {
        max_attempts: 12,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(40),
    };
    let c = driver_on(&admin, retry, Duration::from_millis(400)).await;
    let prefix = unique("sy-faults");
    let owner = BTreeMap::from([("shipyard-test".to_string(), prefix.clone())]);
    let wait = WaitPolicy {
        initial: Duration::from_millis(10),
        max_interval: Duration::from_millis(50),
        deadline: Duration::from_secs(20),
    };
    let group = c
        .server_group_create(&format!("{prefix}-masters"), GroupPolicy::AntiAffinity)
        .await
        .expect("group");
    let mut servers = Vec::new();
    for i in 0..3 {
        let spec = ServerSpec {
            name: format!("{prefix}-master-{i}"),
            flavor: "m1.tiny".into(),
            image: "ubuntu-22.04-k8s-v1.33".into(),
            metadata: owner.clone(),
            group: Some(group.id.clone()),
            network: Some("private".into()),
            boot_volume_gib: None,
            user_data: None,
        };
        let s = c.server_create(&spec).await.expect("server");
        servers.push(c.wait_server_active(&s.id, &wait).await.expect("ACTIVE"));
    }
    let v = c
        .volume_create(&VolumeSpec {
            name: format!("{prefix}-etcd"),
            size_gib: 1,
            volume_type: None,
            metadata: owner.clone(),
        })
        .await
        .expect("volume");
    c.wait_volume_available(&v.id, &wait)
        .await
        .expect("available");
    c.volume_extend(&v.id, 3).await.expect("extend");
    c.volume_attach(&servers[0].id, &v.id)
        .await
        .expect("attach");

    let listed = c.server_list(&owner).await.expect("list");
    assert_eq!(listed.len(), 3, "one server per spec: {listed:?}");
    let hosts: std::collections::BTreeSet<_> = listed.iter().map(|s| s.host.clone()).collect();
    assert_eq!(hosts.len(), 3, "anti-affinity kept: {listed:?}");
    let vols = c.volume_list(&owner).await.expect("volumes");
    assert_eq!(vols.len(), 1, "{vols:?}");
    assert_eq!(vols[0].size_gib, 3, "extended once, to 3");

    c.volume_detach(&servers[0].id, &v.id)
        .await
        .expect("detach");
    c.wait_volume_available(&v.id, &wait)
        .await
        .expect("available");
    c.volume_delete(&v.id).await.expect("delete volume");
    for s in &servers {
        c.server_delete(&s.id).await.expect("delete server");
    }
    c.server_group_delete(&group.id)
        .await
        .expect("delete group");
    assert!(c.server_list(&owner).await.expect("list").is_empty());
}

#[tokio::test]
async fn load_balancer_changes_wait_out_pending_update() {
    // Each change keeps the load balancer PENDING_UPDATE for a moment, and Octavia
    // answers 409 meanwhile: retryable, and retried.
    let (_local, admin) = start_localcloud(|c| {
        c.lb_delay = Duration::ZERO;
        c.lb_update_delay = Duration::from_millis(300);
    })
    .await;
    let patient = RetryPolicy {
        max_attempts: 10,
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
    };
    let c = driver_on(&admin, patient, Duration::from_secs(5)).await;
    let once = driver_on(
        &admin,
        RetryPolicy {
            max_attempts: 1,
            ..patient
        },
        Duration::from_secs(5),
    )
    .await;
    let prefix = unique("sy-pending");
    let tags = vec![format!("shipyard-test={prefix}")];
    let net = c.network_id("private").await.expect("network");
    let lb = c
        .load_balancer_create(&LoadBalancerSpec {
            name: format!("{prefix}-api"),
            tags: tags.clone(),
            vip_network_id: Some(net),
            vip_subnet_id: None,
        })
        .await
        .expect("lb");
    let listener = c
        .listener_create(&ListenerSpec {
            name: format!("{prefix}-6443"),
            load_balancer_id: lb.id.clone(),
            port: 6443,
            tags: tags.clone(),
        })
        .await
        .expect("listener");
    let pool_spec = PoolSpec {
        name: format!("{prefix}-masters"),
        listener_id: listener.id.clone(),
        tags: tags.clone(),
    };
    let e = once
        .pool_create(&pool_spec)
        .await
        .expect_err("409 while PENDING_UPDATE");
    assert_eq!((e.kind, e.status), (ErrorKind::Retryable, Some(409)), "{e}");
    assert!(e.message.contains("immutable"), "{e}");
    let pool = c
        .pool_create(&pool_spec)
        .await
        .expect("retried past PENDING_UPDATE");
    assert_eq!(pool.listener_ids, vec![listener.id.clone()]);
    c.load_balancer_delete(&lb.id).await.expect("delete");
}

#[tokio::test]
async fn quota_exceeded_is_permanent_with_novas_message() {
    let t = localcloud_target(|c| c.quota.instances = 1).await;
    let c = t.cloud();
    let first = c
        .server_create(&t.server_spec("one"))
        .await
        .expect("within quota");
    let e = c
        .server_create(&t.server_spec("two"))
        .await
        .expect_err("over quota");
    assert_eq!((e.kind, e.status), (ErrorKind::Permanent, Some(403)), "{e}");
    assert!(e.message.contains("Quota exceeded"), "{e}");
    assert!(e.call.contains(&t.name("two")), "{e}");
    let core = provision::Error::from(e);
    assert!(!core.retryable());
    assert!(core.external_message().contains("Quota exceeded"), "{core}");
    c.server_delete(&first.id).await.expect("delete");
}

#[tokio::test]
async fn lists_servers_across_pages() {
    let stub = stub::start(stub::Mode::BadRequest).await;
    let cloud = stub::driver(&stub).await;
    let all = cloud
        .server_list(&Metadata::new())
        .await
        .expect("two pages");
    let ids: Vec<&str> = all.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["s1", "s2", "s3"]);
    let masters = cloud
        .server_list(&Metadata::from([("role".into(), "master".into())]))
        .await
        .expect("filtered");
    let ids: Vec<&str> = masters.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["s1", "s3"]);
    assert_eq!(masters[0].addresses, ["10.0.0.9"]);
}

#[tokio::test]
async fn listing_starts_over_when_its_marker_is_deleted() {
    // Page one ends with s2; s2 is deleted before page two is asked for, and Nova answers
    // 400 "marker [s2] not found". The driver lists again from the start.
    let stub = stub::start(stub::Mode::MarkerVanishes).await;
    let cloud = stub::driver(&stub).await;
    let servers = cloud
        .server_list(&Default::default())
        .await
        .expect("the listing survives");
    let ids: Vec<&str> = servers.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["s1", "s3"]);
}
