//! A SIGKILL of Shipyard in the middle of each controller's work leaves no duplicate
//! and nothing behind: a Service's load balancer and a claim's volume are being made
//! (the cloud is slow on purpose) when Shipyard is killed; after a restart each has
//! exactly one; then both are being removed when it is killed again, and after the
//! next restart the cloud holds neither.

use std::time::Duration;

use provision::cloud::{Cloud, OpenStack, OpenStackConfig};
use provision::testdb::{TempDir, TestDb};
use provision::Backend;

mod child;
use child::*;

async fn eventually<F, Fut>(what: &str, secs: u64, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const CLAIM: &str = "apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests: {storage: 1Gi}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_shipyard_leaves_no_duplicate_and_no_leak_of_what_its_controllers_make() {
    let db = TestDb::new(Backend::Sqlite).await.expect("test database");
    let data = TempDir::new(&format!("shipyard-ctl-{}", &provision::new_id()[..8])).unwrap();
    let mut lc = localcloud::Config::new("127.0.0.1:0".parse().unwrap(), data.0.join("cloud"));
    lc.server_build_delay = Duration::ZERO;
    lc.volume_delay = Duration::ZERO;
    lc.lb_delay = Duration::ZERO;
    lc.lb_update_delay = Duration::ZERO;
    lc.vip_range = localcloud::random_vip_range();
    lc.subnet = localcloud::addresses::random_subnet();
    let running = localcloud::start(lc).await.unwrap();
    let admin = running.admin();
    let cloud = OpenStack::connect(OpenStackConfig::new(
        admin.auth_url.clone(),
        admin.username.clone(),
        admin.password.clone(),
        admin.project.clone(),
    ))
    .await
    .unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .no_proxy()
        .build()
        .unwrap();
    let mut shipyard = start(&db.url, &data.0, &admin);
    let token = token(&http, &shipyard.url).await;
    let (id, file) = small_cluster(&http, &shipyard.url, &token, "ctl", &data.0).await;
    let claim = data.0.join("claim.yaml");
    std::fs::write(&claim, CLAIM).unwrap();
    eventually("the worker is Ready", 60, || async {
        let (ok, out) = kubectl(&file, &["get", "nodes"]);
        ok && out.contains(" Ready ")
    })
    .await;

    // The cloud is slow now: a load balancer takes 3 s, each change 1 s, a volume 3 s.
    let normal = running.cloud.behaviour();
    let mut slow = normal.clone();
    slow.lb_seconds = 3.0;
    slow.lb_update_seconds = 1.0;
    slow.volume_seconds = 3.0;
    running.cloud.set_behaviour(slow);
    let lb_name = format!("kube_service_{id}_default_web");
    let tags = [provision::clusters::saga::cluster_tag(&id), lb_name.clone()];
    let mark = provision::clusters::saga::cluster_metadata(&id);
    let pvc_volumes = || async {
        cloud
            .volume_list(&mark)
            .await
            .unwrap()
            .into_iter()
            .filter(|v| v.name.starts_with("pvc-"))
            .collect::<Vec<_>>()
    };

    let (ok, out) = kubectl(
        &file,
        &["create", "deployment", "web", "--image=nginx:1.27"],
    );
    assert!(ok, "{out}");
    let (ok, out) = kubectl(
        &file,
        &[
            "expose",
            "deployment",
            "web",
            "--type=LoadBalancer",
            "--port=80",
        ],
    );
    assert!(ok, "{out}");
    // Killed while the load balancer is being made.
    eventually("the load balancer is being made", 60, || async {
        !cloud.load_balancer_list(&tags).await.unwrap().is_empty()
    })
    .await;
    shipyard.child.kill().expect("SIGKILL");
    let _ = shipyard.child.wait();
    let mut shipyard = start(&db.url, &data.0, &admin);
    eventually("the Service has its EXTERNAL-IP", 120, || async {
        let (ok, out) = kubectl(
            &file,
            &[
                "get",
                "svc",
                "web",
                "-o",
                "jsonpath={.status.loadBalancer.ingress[0].ip}",
            ],
        );
        ok && out.starts_with("127.")
    })
    .await;
    let lbs = cloud.load_balancer_list(&tags).await.unwrap();
    assert_eq!(lbs.len(), 1, "one load balancer: {lbs:?}");
    let listeners = cloud
        .listener_list(std::slice::from_ref(&lb_name))
        .await
        .unwrap();
    assert_eq!(listeners.len(), 1, "one listener: {listeners:?}");
    let pools = cloud
        .pool_list(std::slice::from_ref(&lb_name))
        .await
        .unwrap();
    assert_eq!(pools.len(), 1, "one pool: {pools:?}");
    assert_eq!(cloud.member_list(&pools[0].id).await.unwrap().len(), 1);

    // Killed while the claim's volume is being made.
    let (ok, out) = kubectl(&file, &["apply", "-f", claim.to_str().unwrap()]);
    assert!(ok, "{out}");
    eventually("the volume is being made", 60, || async {
        !pvc_volumes().await.is_empty()
    })
    .await;
    shipyard.child.kill().expect("SIGKILL");
    let _ = shipyard.child.wait();
    let mut shipyard = start(&db.url, &data.0, &admin);
    eventually("the claim is Bound", 120, || async {
        let (ok, out) = kubectl(
            &file,
            &["get", "pvc", "data", "-o", "jsonpath={.status.phase}"],
        );
        ok && out == "Bound"
    })
    .await;
    assert_eq!(pvc_volumes().await.len(), 1, "one volume");

    // Killed while both are being removed; after the restart neither is left.
    let (ok, out) = kubectl(&file, &["delete", "svc", "web", "--wait=false"]);
    assert!(ok, "{out}");
    let (ok, out) = kubectl(&file, &["delete", "pvc", "data", "--wait=false"]);
    assert!(ok, "{out}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    shipyard.child.kill().expect("SIGKILL");
    let _ = shipyard.child.wait();
    let mut shipyard = start(&db.url, &data.0, &admin);
    eventually(
        "the Service and the claim are gone with their cloud objects",
        120,
        || async {
            let (_, svc) = kubectl(&file, &["get", "svc", "web"]);
            let (_, pvc) = kubectl(&file, &["get", "pvc", "data"]);
            svc.contains("NotFound")
                && pvc.contains("NotFound")
                && cloud.load_balancer_list(&tags).await.unwrap().is_empty()
                && pvc_volumes().await.is_empty()
        },
    )
    .await;
    running.cloud.set_behaviour(normal);
    shipyard.child.kill().expect("SIGKILL");
    let _ = shipyard.child.wait();
    running.stop();
    db.cleanup().await;
}
