//! Driver behaviour: what is retried and what is not, injected faults, Octavia's
//! PENDING_UPDATE and Nova's quota.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use provision::cloud::*;

use crate::stub;
use crate::target::*;

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
