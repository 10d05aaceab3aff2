//! Crash recovery: `shipyard` runs as a child process against a localcloud that
//! outlives it; while it creates and deletes clusters it is killed with SIGKILL at
//! random moments and restarted, several times. In the end every operation succeeded
//! or unwound, nothing was created twice, and the cloud holds exactly what the
//! database says exists. Runs on SQLite and on PostgreSQL.

use std::time::Duration;

use provision::cloud::Cloud;
use provision::clusters::saga::{cluster_metadata, cluster_tag};
use provision::testdb::{TempDir, TestDb};
use provision::Backend;
use rand::Rng;
use serde_json::{json, Value};

mod child;
use child::*;

fn cluster(name: &str) -> Value {
    json!({"name": name, "master_count": 1, "master_flavor": "m1.small",
           "node_groups": [{"name": "w", "flavor": "m1.small", "node_count": 1}]})
}

async fn crash_and_recover(backend: Backend) {
    let db = TestDb::new(backend).await.expect("test database");
    let data = TempDir::new(&format!("shipyard-crash-{}", &provision::new_id()[..8])).unwrap();
    // The cloud lives in the test process and survives every kill; its latencies make
    // kills land in the middle of operations.
    let mut lc = localcloud::Config::new("127.0.0.1:0".parse().unwrap(), data.0.join("cloud"));
    lc.server_build_delay = Duration::from_millis(700);
    lc.volume_delay = Duration::from_millis(300);
    lc.lb_delay = Duration::from_millis(900);
    lc.lb_update_delay = Duration::from_millis(200);
    lc.vip_range = localcloud::random_vip_range();
    let cloud_running = localcloud::start(lc).await.unwrap();
    let admin = cloud_running.admin();
    let driver = driver(&admin).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();

    let mut shipyard = start(&db.url, &data.0, &admin);
    let token = token(&http, &shipyard.url).await;
    let mut ids = Vec::new();
    for i in 0..4 {
        let (status, body) = api(
            &http,
            reqwest::Method::POST,
            &format!("{}/api/v1/clusters", shipyard.url),
            &token,
            Some(cluster(&format!("crash-{i}"))),
        )
        .await;
        assert_eq!(status, 202, "{body}");
        ids.push(body["cluster"]["id"].as_str().unwrap().to_string());
    }
    let mut deleted = Vec::new();
    for round in 0..4 {
        let pause = rand::thread_rng().gen_range(200..1500);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        if round == 2 {
            // Delete two clusters, whatever state they are in, then keep killing.
            for id in &ids[..2] {
                for _ in 0..100 {
                    let (status, _) = api(
                        &http,
                        reqwest::Method::DELETE,
                        &format!("{}/api/v1/clusters/{id}", shipyard.url),
                        &token,
                        None,
                    )
                    .await;
                    if status == 202 {
                        deleted.push(id.clone());
                        break;
                    }
                    // 409 while its create is still running.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            tokio::time::sleep(Duration::from_millis(
                rand::thread_rng().gen_range(100..800),
            ))
            .await;
        }
        shipyard.child.kill().expect("SIGKILL");
        let _ = shipyard.child.wait();
        shipyard = start(&db.url, &data.0, &admin);
    }
    assert_eq!(deleted.len(), 2, "both deletes were accepted");

    // Let the last process finish everything.
    let store = db.store().await.unwrap();
    let mut settled = false;
    for _ in 0..600 {
        let open = store
            .op_list_in(&[
                provision::ops::OpState::Pending,
                provision::ops::OpState::Running,
                provision::ops::OpState::Unwinding,
            ])
            .await
            .unwrap();
        if open.is_empty() {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(settled, "operations finished after the last restart");
    for state in [
        provision::ops::OpState::Stuck,
        provision::ops::OpState::Failed,
    ] {
        let bad = store.op_list_in(&[state]).await.unwrap();
        assert!(bad.is_empty(), "{state:?}: {bad:?}");
    }

    // The cloud holds exactly what the database says exists.
    for id in &ids {
        let mark = cluster_metadata(id);
        let servers = driver.server_list(&mark).await.unwrap();
        let volumes = driver.volume_list(&mark).await.unwrap();
        let lbs = driver.load_balancer_list(&[cluster_tag(id)]).await.unwrap();
        let c = store.cluster_by_id(id).await.unwrap();
        match c.status.as_str() {
            "ACTIVE" => {
                assert!(!deleted.contains(id));
                assert_eq!(
                    (servers.len(), volumes.len(), lbs.len()),
                    (2, 1, 1),
                    "{id}: nothing twice"
                );
            }
            "DELETED" | "FAILED" => {
                assert!(
                    servers.is_empty() && volumes.is_empty() && lbs.is_empty(),
                    "{id} ({}) left {servers:?} {volumes:?} {lbs:?}",
                    c.status
                );
            }
            other => panic!("cluster {id} ended {other}"),
        }
        if deleted.contains(id) {
            assert_eq!(c.status, model::ClusterStatus::Deleted);
        }
    }
    let all = driver.server_list(&Default::default()).await.unwrap();
    let active = ids.len() - deleted.len();
    assert!(
        all.len() <= active * 2,
        "no untagged or leaked servers: {all:?}"
    );

    shipyard.child.kill().ok();
    let _ = shipyard.child.wait();
    store.close().await;
    cloud_running.stop();
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_survives_sigkill() {
    crash_and_recover(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_survives_sigkill() {
    crash_and_recover(Backend::Postgres).await;
}

/// Two replicas share one PostgreSQL; the one that took the requests is killed and
/// never comes back; the other finishes its operations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replica_finishes_what_a_dead_one_started() {
    let db = TestDb::new(Backend::Postgres).await.expect("test database");
    let data = TempDir::new(&format!("shipyard-replicas-{}", &provision::new_id()[..8])).unwrap();
    let mut lc = localcloud::Config::new("127.0.0.1:0".parse().unwrap(), data.0.join("cloud"));
    lc.server_build_delay = Duration::from_millis(800);
    lc.volume_delay = Duration::from_millis(300);
    lc.lb_delay = Duration::from_millis(1000);
    lc.lb_update_delay = Duration::from_millis(200);
    lc.vip_range = localcloud::random_vip_range();
    let cloud_running = localcloud::start(lc).await.unwrap();
    let admin = cloud_running.admin();
    let driver = driver(&admin).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut a = start(&db.url, &data.0.join("a"), &admin);
    let mut b = start(&db.url, &data.0.join("b"), &admin);
    let token = token(&http, &a.url).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let (status, body) = api(
            &http,
            reqwest::Method::POST,
            &format!("{}/api/v1/clusters", a.url),
            &token,
            Some(cluster(&format!("replica-{i}"))),
        )
        .await;
        assert_eq!(status, 202, "{body}");
        ids.push(body["cluster"]["id"].as_str().unwrap().to_string());
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    a.child.kill().expect("SIGKILL");
    let _ = a.child.wait();
    // The surviving replica answers for the clusters too.
    let store = db.store().await.unwrap();
    let mut done = false;
    for _ in 0..600 {
        let mut all = true;
        for id in &ids {
            let (_, body) = api(
                &http,
                reqwest::Method::GET,
                &format!("{}/api/v1/clusters/{id}", b.url),
                &token,
                None,
            )
            .await;
            if body["cluster"]["status"] != "ACTIVE" {
                all = false;
            }
        }
        if all {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(done, "the surviving replica finished every create");
    for id in &ids {
        let mark = cluster_metadata(id);
        assert_eq!(
            driver.server_list(&mark).await.unwrap().len(),
            2,
            "nothing twice"
        );
        assert_eq!(driver.volume_list(&mark).await.unwrap().len(), 1);
        assert_eq!(
            driver
                .load_balancer_list(&[cluster_tag(id)])
                .await
                .unwrap()
                .len(),
            1
        );
    }
    b.child.kill().ok();
    let _ = b.child.wait();
    store.close().await;
    cloud_running.stop();
    db.cleanup().await;
}
