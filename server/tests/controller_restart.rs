//! A SIGKILL of Shipyard in the middle of each controller's work leaves no duplicate
//! and nothing behind: a Service's load balancer and a claim's volume are being made
//! (the cloud is slow on purpose) when Shipyard is killed; after a restart each has
//! exactly one; then both are being removed when it is killed again, and after the
//! next restart the cloud holds neither.
//!
//! The same for auto-repair and the node group autoscaler, on SQLite and PostgreSQL: a
//! worker put into ERROR is being replaced (its replacement booting) when Shipyard is
//! killed; after a restart the repair ends with exactly one replacement and the broken
//! server gone; a master put into ERROR (of three) is being replaced (its new master
//! booting) when Shipyard is killed; after a restart the repair ends with exactly one
//! new master, one etcd volume per master, the broken master's server and volume gone
//! and the API pool sending to the three live masters. A Deployment larger than the group is being made room for (new workers
//! booting) when Shipyard is killed; after a restart the group has exactly the nodes
//! its pods need; then, its pods scaled down, it is killed while a node is being
//! removed, and after the next restart the group is back at its minimum.

use std::collections::BTreeSet;
use std::time::Duration;

use provision::cloud::{Cloud, Metadata, OpenStack, Server};
use provision::clusters::saga::cluster_metadata;
use provision::testdb::{TempDir, TestDb};
use provision::Backend;
use serde_json::{json, Value};

mod child;
use child::*;

/// Each test runs a cloud, a cluster and Shipyard: one at a time on a small machine.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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
    let _one = ONE_AT_A_TIME.lock().await;
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
    let cloud = driver(&admin).await;
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

/// A cloud in this process (quick, nodes that register and heartbeat within seconds)
/// that outlives every Shipyard, its data directory, and the driver the test reads its
/// inventory with.
struct World {
    db: TestDb,
    data: TempDir,
    running: localcloud::Running,
    cloud: OpenStack,
    http: reqwest::Client,
}

async fn world(backend: Backend, name: &str) -> World {
    let db = TestDb::new(backend).await.expect("test database");
    let data = TempDir::new(&format!("shipyard-{name}-{}", &provision::new_id()[..8])).unwrap();
    let mut lc = localcloud::Config::new("127.0.0.1:0".parse().unwrap(), data.0.join("cloud"));
    lc.server_build_delay = Duration::ZERO;
    lc.volume_delay = Duration::ZERO;
    lc.lb_delay = Duration::ZERO;
    lc.lb_update_delay = Duration::ZERO;
    lc.vip_range = localcloud::random_vip_range();
    lc.subnet = localcloud::addresses::random_subnet();
    lc.node_timings = localcloud::guests::NodeTimings {
        heartbeat: Duration::from_secs(1),
        grace: Duration::from_secs(5),
    };
    let running = localcloud::start(lc).await.unwrap();
    let admin = running.admin();
    let cloud = driver(&admin).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .no_proxy()
        .build()
        .unwrap();
    World {
        db,
        data,
        running,
        cloud,
        http,
    }
}

impl World {
    /// Every server in the cloud (whoever made it).
    async fn servers(&self) -> Vec<Server> {
        self.cloud.server_list(&Metadata::new()).await.unwrap()
    }

    /// The cluster's servers of `role` (`worker`, `master`) in the cloud, by name.
    async fn of_role(&self, id: &str, role: &str) -> Vec<Server> {
        let mut w: Vec<Server> = self
            .cloud
            .server_list(&cluster_metadata(id))
            .await
            .unwrap()
            .into_iter()
            .filter(|s| s.metadata.get("shipyard-role").map(String::as_str) == Some(role))
            .collect();
        w.sort_by(|a, b| a.name.cmp(&b.name));
        w
    }

    /// The cluster's workers in the cloud, by name.
    async fn workers(&self, id: &str) -> Vec<Server> {
        self.of_role(id, "worker").await
    }

    /// Nothing the cloud holds is left over: no two servers share a name, and every
    /// volume is attached to a server that exists. The number of volumes.
    async fn nothing_leaked(&self) -> usize {
        let servers = self.servers().await;
        let names: BTreeSet<&str> = servers.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names.len(),
            servers.len(),
            "a server made twice: {servers:?}"
        );
        let volumes = self.cloud.volume_list(&Metadata::new()).await.unwrap();
        for v in &volumes {
            assert!(
                !v.attached_to.is_empty()
                    && v.attached_to
                        .iter()
                        .all(|id| servers.iter().any(|s| &s.id == id)),
                "a volume left behind: {v:?} (servers {servers:?})"
            );
        }
        volumes.len()
    }

    async fn finish(self, shipyard: Shipyard) {
        shipyard.kill();
        self.running.stop();
        self.db.cleanup().await;
    }
}

/// The Ready nodes `kubectl get nodes` shows, once there are `n` (else what there are
/// at the deadline).
async fn ready_nodes_when(file: &std::path::Path, n: usize, secs: u64) -> Vec<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let (ok, out) = kubectl(file, &["get", "nodes", "-o", "json"]);
        let ready = if ok { ready_nodes(&out) } else { Vec::new() };
        if ready.len() == n || std::time::Instant::now() >= deadline {
            return ready;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Every Node's name `kubectl get nodes` shows (Ready or not), once there are `n` (else
/// what there are at the deadline).
async fn node_names_when(file: &std::path::Path, n: usize, secs: u64) -> Vec<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let (ok, out) = kubectl(file, &["get", "nodes", "-o", "json"]);
        let v: Value = serde_json::from_str(&out).unwrap_or_default();
        let mut names: Vec<String> = v["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n["metadata"]["name"].as_str().map(str::to_string))
            .collect();
        names.sort();
        if (ok && names.len() == n) || std::time::Instant::now() >= deadline {
            return names;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Auto-repair in seconds rather than minutes.
const QUICK_REPAIR: [(&str, &str); 3] = [
    ("SHIPYARD_REPAIR_EVERY_SECONDS", "1"),
    ("SHIPYARD_REPAIR_NOT_READY_SECONDS", "5"),
    ("SHIPYARD_REPAIR_UNREGISTERED_SECONDS", "30"),
];

/// Puts `before[1]` into ERROR while new servers take 4 s to boot, kills Shipyard once
/// its `kind` repair runs and a new `role` server is booting, starts it again and waits
/// for the repair to end. Checks it was the only one, succeeded, by the controller; the
/// broken server is gone, the healthy ones stay and exactly one new one, ACTIVE, took
/// its place. Answers the Shipyard now running, the broken server and the new one.
#[allow(clippy::too_many_arguments)]
async fn kill_during_repair(
    w: &World,
    shipyard: Shipyard,
    admin: &localcloud::credentials::Credentials,
    token: &str,
    id: &str,
    kind: &str,
    role: &str,
    before: &[Server],
) -> (Shipyard, Server, Server) {
    let normal = w.running.cloud.behaviour();
    let mut slow = normal.clone();
    slow.server_build_seconds = 4.0;
    w.running.cloud.set_behaviour(slow);
    let broken = before[1].clone();
    nova_action(
        &w.running,
        &broken.id,
        json!({"os-resetState": {"state": "error"}}),
    )
    .await;
    let known: BTreeSet<String> = before.iter().map(|s| s.name.clone()).collect();
    eventually(
        &format!("a {kind} runs and its new {role} is booting"),
        120,
        || async {
            let ops = operations_of(&w.http, &shipyard.url, token, id, kind).await;
            let running = ops.iter().any(|o| o["state"] == "running");
            running
                && w.of_role(id, role)
                    .await
                    .iter()
                    .any(|s| !known.contains(&s.name) && s.status == "BUILD")
        },
    )
    .await;
    shipyard.kill();

    let shipyard = start_with(&w.db.url, &w.data.0, admin, &QUICK_REPAIR);
    eventually(&format!("the {kind} ends"), 240, || async {
        let ops = operations_of(&w.http, &shipyard.url, token, id, kind).await;
        !ops.is_empty() && ops.iter().all(finished)
    })
    .await;
    w.running.cloud.set_behaviour(normal);
    let ops = operations_of(&w.http, &shipyard.url, token, id, kind).await;
    assert_eq!(ops.len(), 1, "one {kind}: {ops:?}");
    assert_eq!(ops[0]["state"], "succeeded", "{:?}", ops[0]);
    assert_eq!(ops[0]["requested_by"], provision::controllers::CONTROLLER);

    let after = w.of_role(id, role).await;
    assert!(!after.iter().any(|s| s.id == broken.id), "{after:?}");
    assert_eq!(after.len(), before.len(), "as many as before: {after:?}");
    let new: Vec<&Server> = after.iter().filter(|s| !known.contains(&s.name)).collect();
    assert_eq!(new.len(), 1, "one replacement: {after:?}");
    assert_eq!(new[0].status, "ACTIVE");
    assert!(
        before
            .iter()
            .filter(|s| s.id != broken.id)
            .all(|s| after.iter().any(|a| a.id == s.id)),
        "the healthy ones stay: {after:?}"
    );
    let new = new[0].clone();
    (shipyard, broken, new)
}

async fn a_killed_repair_ends_with_one_replacement(backend: Backend) {
    let _one = ONE_AT_A_TIME.lock().await;
    let w = world(backend, "repair").await;
    let admin = w.running.admin();
    let shipyard = start_with(&w.db.url, &w.data.0, &admin, &QUICK_REPAIR);
    let token = token(&w.http, &shipyard.url).await;
    let (id, file) = cluster_of(&w.http, &shipyard.url, &token, "rp", &w.data.0, 1, 3).await;
    let ready = ready_nodes_when(&file, 3, 60).await;
    assert_eq!(ready.len(), 3, "three Ready workers: {ready:?}");
    let before = w.workers(&id).await;
    assert_eq!(before.len(), 3, "{before:?}");
    let servers_before = w.servers().await.len();
    let volumes_before = w.nothing_leaked().await;

    // A replacement takes 4 s to boot: Shipyard is killed while it does.
    let (shipyard, broken, new) = kill_during_repair(
        &w,
        shipyard,
        &admin,
        &token,
        &id,
        "node.repair",
        "worker",
        &before,
    )
    .await;
    assert_eq!(new.metadata["shipyard-node-group"], "w");
    assert_eq!(w.servers().await.len(), servers_before, "no extra server");
    assert_eq!(
        w.nothing_leaked().await,
        volumes_before,
        "no volume more or less"
    );
    let ready = ready_nodes_when(&file, 3, 60).await;
    assert_eq!(ready.len(), 3, "three Ready nodes: {ready:?}");
    assert!(ready.contains(&new.name), "{ready:?}");
    assert!(!ready.contains(&broken.name), "{ready:?}");
    let nodes = node_names_when(&file, 3, 60).await;
    assert_eq!(nodes, ready, "the old Node is gone: {nodes:?}");
    w.finish(shipyard).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_killed_repair_ends_with_one_replacement() {
    a_killed_repair_ends_with_one_replacement(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_killed_repair_ends_with_one_replacement() {
    a_killed_repair_ends_with_one_replacement(Backend::Postgres).await;
}

async fn a_killed_master_repair_ends_with_one_new_master(backend: Backend) {
    let _one = ONE_AT_A_TIME.lock().await;
    let w = world(backend, "master").await;
    let admin = w.running.admin();
    let shipyard = start_with(&w.db.url, &w.data.0, &admin, &QUICK_REPAIR);
    let token = token(&w.http, &shipyard.url).await;
    let (id, file) = cluster_of(&w.http, &shipyard.url, &token, "mr", &w.data.0, 3, 1).await;
    let ready = ready_nodes_when(&file, 1, 60).await;
    assert_eq!(ready.len(), 1, "one Ready worker: {ready:?}");
    let before = w.of_role(&id, "master").await;
    assert_eq!(before.len(), 3, "{before:?}");
    let p = before[0]
        .name
        .strip_suffix("-master-0")
        .expect("the first master is master-0")
        .to_string();
    let servers_before = w.servers().await.len();
    let volumes_before = w.nothing_leaked().await;
    let etcd_of = |name: &str| format!("{p}-etcd-{}", name.rsplit('-').next().unwrap());

    // A new master takes 4 s to boot: Shipyard is killed while it does.
    let (shipyard, broken, _) = kill_during_repair(
        &w,
        shipyard,
        &admin,
        &token,
        &id,
        "master.repair",
        "master",
        &before,
    )
    .await;
    let after = w.of_role(&id, "master").await;
    assert!(after.iter().all(|s| s.status == "ACTIVE"), "{after:?}");
    assert_eq!(w.servers().await.len(), servers_before, "no extra server");

    // One etcd volume per live master, attached to it; the broken one's is gone.
    let volumes = w.cloud.volume_list(&Metadata::new()).await.unwrap();
    let mut etcd: Vec<(String, Vec<String>)> = volumes
        .iter()
        .filter(|v| v.name.starts_with(&format!("{p}-etcd-")))
        .map(|v| (v.name.clone(), v.attached_to.clone()))
        .collect();
    etcd.sort();
    let mut want: Vec<(String, Vec<String>)> = after
        .iter()
        .map(|s| (etcd_of(&s.name), vec![s.id.clone()]))
        .collect();
    want.sort();
    assert_eq!(etcd, want, "one etcd volume attached to each master");
    assert!(
        !volumes.iter().any(|v| v.name == etcd_of(&broken.name)),
        "the broken master's etcd volume is gone: {volumes:?}"
    );
    assert_eq!(
        w.nothing_leaked().await,
        volumes_before,
        "no volume more or less"
    );

    // The API pool sends to the three live masters, each on its address.
    let pool = w
        .cloud
        .pool_list(&[provision::clusters::saga::cluster_tag(&id)])
        .await
        .unwrap()
        .into_iter()
        .find(|pl| pl.name == format!("{p}-api-masters"))
        .expect("the API pool");
    let mut in_pool: Vec<(String, String, u16)> = w
        .cloud
        .member_list(&pool.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.name, m.address, m.port))
        .collect();
    in_pool.sort();
    let mut want: Vec<(String, String, u16)> = after
        .iter()
        .map(|s| (s.name.clone(), s.addresses[0].clone(), 6443))
        .collect();
    want.sort();
    assert_eq!(in_pool, want, "the pool's members are the live masters");

    let ready = ready_nodes_when(&file, 1, 60).await;
    assert_eq!(ready.len(), 1, "the worker is Ready: {ready:?}");
    w.finish(shipyard).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_killed_master_repair_ends_with_one_new_master() {
    a_killed_master_repair_ends_with_one_new_master(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_killed_master_repair_ends_with_one_new_master() {
    a_killed_master_repair_ends_with_one_new_master(Backend::Postgres).await;
}

/// Three pods of 600m: one per m1.small node (1 vCPU).
const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        resources:
          requests: {cpu: 600m, memory: 256Mi}
";

/// The autoscaler in seconds rather than minutes.
const QUICK_AUTOSCALE: [(&str, &str); 3] = [
    ("SHIPYARD_AUTOSCALE_UNNEEDED_SECONDS", "3"),
    ("SHIPYARD_AUTOSCALE_DELAY_AFTER_ADD_SECONDS", "5"),
    ("SHIPYARD_AUTOSCALE_BACKOFF_SECONDS", "5"),
];

/// (scheduled, Pending) pods of the Deployment.
fn pods(file: &std::path::Path) -> (usize, usize) {
    let (_, out) = kubectl(file, &["get", "pods", "-l", "app=web", "-o", "json"]);
    let v: Value = serde_json::from_str(&out).unwrap_or_default();
    let live: Vec<&Value> = v["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .collect();
    let placed = live
        .iter()
        .filter(|p| p["spec"]["nodeName"].is_string())
        .count();
    (placed, live.len() - placed)
}

/// The node group `w`'s count.
async fn group_count(http: &reqwest::Client, url: &str, token: &str, id: &str) -> Option<u64> {
    let c = cluster_shown(http, url, token, id).await;
    c["node_groups"]
        .as_array()?
        .iter()
        .find(|g| g["name"] == "w")?["node_count"]
        .as_u64()
}

/// The autoscaler's operations of `kind` on the cluster.
async fn autoscaler_ops(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    id: &str,
    kind: &str,
) -> Vec<Value> {
    operations_of(http, url, token, id, kind)
        .await
        .into_iter()
        .filter(|o| o["requested_by"] == provision::controllers::CONTROLLER)
        .collect()
}

async fn a_killed_autoscaler_grows_and_shrinks_exactly(backend: Backend) {
    let _one = ONE_AT_A_TIME.lock().await;
    let w = world(backend, "autoscale").await;
    let admin = w.running.admin();
    let shipyard = start_with(&w.db.url, &w.data.0, &admin, &QUICK_AUTOSCALE);
    let token = token(&w.http, &shipyard.url).await;
    let (id, file) = small_cluster(&w.http, &shipyard.url, &token, "as", &w.data.0).await;
    let ready = ready_nodes_when(&file, 1, 60).await;
    assert_eq!(ready.len(), 1, "one Ready worker: {ready:?}");
    let (status, body) = api(
        &w.http,
        reqwest::Method::PUT,
        &format!(
            "{}/api/v1/clusters/{id}/nodegroups/w/autoscaling",
            shipyard.url
        ),
        &token,
        Some(json!({"enabled": true, "min_node_count": 1, "max_node_count": 4})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let masters = w.servers().await.len() - 1;
    let volumes_before = w.nothing_leaked().await;
    let known: BTreeSet<String> = w.workers(&id).await.into_iter().map(|s| s.name).collect();

    // 1. Three pods that need a node each: new workers take 4 s to boot, and Shipyard
    // is killed while they do.
    let normal = w.running.cloud.behaviour();
    let mut slow = normal.clone();
    slow.server_build_seconds = 4.0;
    w.running.cloud.set_behaviour(slow.clone());
    let deployment = w.data.0.join("web.yaml");
    std::fs::write(&deployment, DEPLOYMENT).unwrap();
    let (ok, out) = kubectl(&file, &["apply", "-f", deployment.to_str().unwrap()]);
    assert!(ok, "{out}");
    eventually(
        "the autoscaler's scale-up runs and a new worker is booting",
        120,
        || async {
            let ops = autoscaler_ops(&w.http, &shipyard.url, &token, &id, "nodegroup.scale").await;
            ops.iter().any(|o| o["state"] == "running")
                && w.workers(&id)
                    .await
                    .iter()
                    .any(|s| !known.contains(&s.name) && s.status == "BUILD")
        },
    )
    .await;
    shipyard.kill();

    let shipyard = start_with(&w.db.url, &w.data.0, &admin, &QUICK_AUTOSCALE);
    eventually("the pods all have a node", 180, || async {
        pods(&file) == (3, 0)
    })
    .await;
    let ready = ready_nodes_when(&file, 3, 60).await;
    assert_eq!(ready.len(), 3, "three Ready nodes: {ready:?}");
    assert_eq!(node_names_when(&file, 3, 60).await, ready, "no other Node");
    eventually("the autoscaler's operations end", 60, || async {
        let ops = autoscaler_ops(&w.http, &shipyard.url, &token, &id, "nodegroup.scale").await;
        ops.iter().all(finished)
    })
    .await;
    let ups = autoscaler_ops(&w.http, &shipyard.url, &token, &id, "nodegroup.scale").await;
    assert_eq!(
        ups.len(),
        1,
        "one scale-up, for as many nodes as the pods need: {ups:?}"
    );
    assert_eq!(ups[0]["state"], "succeeded", "{:?}", ups[0]);
    let count = group_count(&w.http, &shipyard.url, &token, &id).await;
    assert_eq!(count, Some(3), "the group has what its pods need, no more");
    let workers = w.workers(&id).await;
    assert_eq!(workers.len(), 3, "{workers:?}");
    assert!(workers.iter().all(|s| s.status == "ACTIVE"), "{workers:?}");
    assert_eq!(w.servers().await.len(), masters + 3, "no extra server");
    assert_eq!(
        w.nothing_leaked().await,
        volumes_before,
        "no volume more or less"
    );

    // 2. One pod: the two emptied nodes go (together, or a pass apart); Shipyard is
    // killed while the first removal runs (each cloud call takes a while).
    let (ok, out) = kubectl(&file, &["scale", "deployment", "web", "--replicas=1"]);
    assert!(ok, "{out}");
    let mut slower = slow.clone();
    slower.api_latency_ms = 1000;
    w.running.cloud.set_behaviour(slower);
    eventually("the autoscaler's scale-down runs", 120, || async {
        autoscaler_ops(&w.http, &shipyard.url, &token, &id, "nodegroup.shrink")
            .await
            .iter()
            .any(|o| o["state"] == "running")
    })
    .await;
    shipyard.kill();
    w.running.cloud.set_behaviour(slow);

    let shipyard = start_with(&w.db.url, &w.data.0, &admin, &QUICK_AUTOSCALE);
    eventually("the group is back at its minimum", 180, || async {
        group_count(&w.http, &shipyard.url, &token, &id).await == Some(1)
            && autoscaler_ops(&w.http, &shipyard.url, &token, &id, "nodegroup.shrink")
                .await
                .iter()
                .all(finished)
    })
    .await;
    let downs = autoscaler_ops(&w.http, &shipyard.url, &token, &id, "nodegroup.shrink").await;
    assert!(
        (1..=2).contains(&downs.len()),
        "one scale-down of both empty nodes, or one each: {downs:?}"
    );
    assert!(downs.iter().all(|o| o["state"] == "succeeded"), "{downs:?}");
    let workers = w.workers(&id).await;
    assert_eq!(workers.len(), 1, "{workers:?}");
    assert_eq!(
        w.servers().await.len(),
        masters + 1,
        "no server left behind"
    );
    assert_eq!(
        w.nothing_leaked().await,
        volumes_before,
        "no volume more or less"
    );
    let ready = ready_nodes_when(&file, 1, 60).await;
    assert_eq!(
        ready,
        vec![workers[0].name.clone()],
        "one Ready node, the one left"
    );
    let nodes = node_names_when(&file, 1, 60).await;
    assert_eq!(nodes, ready, "the removed nodes' Nodes are gone too");
    eventually("the one pod runs", 60, || async { pods(&file) == (1, 0) }).await;
    w.running.cloud.set_behaviour(normal);
    w.finish(shipyard).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_killed_autoscaler_grows_and_shrinks_exactly() {
    a_killed_autoscaler_grows_and_shrinks_exactly(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_killed_autoscaler_grows_and_shrinks_exactly() {
    a_killed_autoscaler_grows_and_shrinks_exactly(Backend::Postgres).await;
}
