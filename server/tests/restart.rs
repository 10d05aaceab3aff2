//! Restarting keeps every object: a cluster made through Shipyard holds a ConfigMap and a
//! Deployment written with kubectl; then Shipyard is killed (SIGKILL) and the cloud
//! under it stopped, both start again from their data, and the same kubeconfig reads
//! the same objects through the same VIP, the worker Ready again.

use std::path::Path;
use std::time::Duration;

use provision::testdb::{TempDir, TestDb};
use provision::Backend;

mod child;
use child::*;

/// `kubectl args` until `done` holds (60 s at most); the last output.
async fn until(config: &Path, args: &[&str], done: impl Fn(bool, &str) -> bool) -> (bool, String) {
    for _ in 0..200 {
        let r = kubectl(config, args);
        if done(r.0, &r.1) {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    kubectl(config, args)
}

async fn cloud(
    dir: &Path,
    vips: (std::net::Ipv4Addr, u8),
    subnet: localcloud::addresses::Cidr,
) -> localcloud::Running {
    let mut lc = localcloud::Config::new("127.0.0.1:0".parse().unwrap(), dir);
    lc.server_build_delay = Duration::ZERO;
    lc.volume_delay = Duration::ZERO;
    lc.lb_delay = Duration::ZERO;
    lc.lb_update_delay = Duration::ZERO;
    lc.vip_range = vips;
    lc.subnet = subnet;
    localcloud::start(lc).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_of_shipyard_and_its_cloud_keeps_every_object_in_the_cluster() {
    let db = TestDb::new(Backend::Sqlite).await.expect("test database");
    let data = TempDir::new(&format!("shipyard-restart-{}", &provision::new_id()[..8])).unwrap();
    let (vips, subnet) = (
        localcloud::random_vip_range(),
        localcloud::addresses::random_subnet(),
    );
    let running = cloud(&data.0.join("cloud"), vips, subnet).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .no_proxy()
        .build()
        .unwrap();
    let mut shipyard = start(&db.url, &data.0, &running.admin());
    let token = token(&http, &shipyard.url).await;
    let (id, file) = small_cluster(&http, &shipyard.url, &token, "keep", &data.0).await;

    let (ok, out) = until(&file, &["get", "nodes"], |ok, out| {
        ok && out.contains(" Ready ")
    })
    .await;
    assert!(ok && out.contains(" Ready "), "{out}");
    let (ok, out) = kubectl(
        &file,
        &["create", "configmap", "kept", "--from-literal=color=blue"],
    );
    assert!(ok, "{out}");
    let (ok, out) = kubectl(
        &file,
        &[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.27",
            "--replicas=2",
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = kubectl(
        &file,
        &["rollout", "status", "deployment/web", "--timeout=60s"],
    );
    assert!(ok, "{out}");

    // Everything goes down: Shipyard killed, the cloud stopped.
    shipyard.child.kill().expect("SIGKILL");
    let _ = shipyard.child.wait();
    running.stop();
    let (ok, _) = kubectl(&file, &["get", "configmaps"]);
    assert!(!ok, "the API still answers with the cloud stopped");

    // Both start again from their data; the same kubeconfig reads the same objects.
    let running = cloud(&data.0.join("cloud"), vips, subnet).await;
    let mut shipyard = start(&db.url, &data.0, &running.admin());
    let (ok, out) = until(
        &file,
        &["get", "configmap", "kept", "-o", "jsonpath={.data.color}"],
        |ok, _| ok,
    )
    .await;
    assert!(ok, "{out}");
    assert_eq!(out, "blue");
    let (ok, out) = kubectl(
        &file,
        &[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.status.availableReplicas}",
        ],
    );
    assert!(ok && out == "2", "{out}");
    let (ok, out) = until(&file, &["get", "nodes"], |ok, out| {
        ok && out.contains(" Ready ")
    })
    .await;
    assert!(ok && out.contains(" Ready "), "{out}");
    // And Shipyard reads the cluster again.
    let (status, k) = api(
        &http,
        reqwest::Method::GET,
        &format!("{}/api/v1/clusters/{id}/kubernetes", shipyard.url),
        &token,
        None,
    )
    .await;
    assert_eq!(status, 200, "{k}");
    assert_eq!(k["api"]["reachable"], true, "{k}");
    shipyard.child.kill().expect("SIGKILL");
    let _ = shipyard.child.wait();
    running.stop();
    db.cleanup().await;
}
