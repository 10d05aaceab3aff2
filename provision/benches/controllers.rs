//! Shipyard's controllers of its clusters, measured in one run on localcloud:
//! - the time from creating a Service of type LoadBalancer (through the cluster's API,
//!   as `kubectl apply` does) to its EXTERNAL-IP, against the cloud's own time to make
//!   the same load balancer (listener, pool, monitor, one member) through the driver;
//! - the process's CPU with `BENCH_IDLE_CLUSTERS` (default 50) quiet clusters, with the
//!   controllers watching them and without, over the same interval.
//!
//! Prints a Markdown section that `bench/run.sh` puts into docs/BENCHMARKS.md.
//! `cargo bench -p provision --bench controllers`

use std::sync::Arc;
use std::time::{Duration, Instant};

use provision::cloud::*;
use provision::clusters::{self, saga, ClusterSpec};
use provision::controllers::Controllers;
use provision::domain::Actor;
use provision::kube::KubeClient;
use provision::ops::*;
use provision::Store;
use serde_json::json;

/// CPU seconds this process has used (user + system), from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after ") ".
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line: 11 and 12 after the state.
    (ticks(11) + ticks(12)) / 100.0
}

struct World {
    actor: Actor,
    running: localcloud::Running,
    cloud: Arc<dyn Cloud>,
    store: Store,
    engine: Engine,
    key: Arc<provision::pki::SecretKey>,
    clusters: Vec<String>,
}

async fn world(dir: &std::path::Path, n: usize) -> World {
    let mut lc = localcloud::Config::new("127.0.0.1:0".parse().expect("addr"), dir.join("cloud"));
    lc.server_build_delay = Duration::ZERO;
    lc.volume_delay = Duration::ZERO;
    lc.lb_delay = Duration::ZERO;
    lc.lb_update_delay = Duration::ZERO;
    lc.vip_range = localcloud::random_vip_range();
    lc.hosts = (0..16)
        .map(|i| localcloud::HostConfig {
            name: format!("ctl-{i:02}"),
            vcpus: 256,
            ram_mib: 1024 * 1024,
        })
        .collect();
    lc.quota = localcloud::quotas::Quota {
        instances: 10_000,
        cores: 100_000,
        ram_mib: 100_000_000,
        server_groups: 10_000,
        server_group_members: 100,
        volumes: 10_000,
        gigabytes: 10_000_000,
        load_balancers: 10_000,
    };
    let running = localcloud::start(lc).await.expect("localcloud");
    let admin = running.admin();
    let cloud: Arc<dyn Cloud> = Arc::new(
        OpenStack::connect(OpenStackConfig::new(
            admin.auth_url,
            admin.username,
            admin.password,
            admin.project,
        ))
        .await
        .expect("driver"),
    );
    let store = Store::connect(&format!("sqlite://{}", dir.join("ctl.db").display()))
        .await
        .expect("store");
    let settings = saga::Settings {
        wait: WaitPolicy {
            initial: Duration::from_millis(20),
            max_interval: Duration::from_millis(100),
            deadline: Duration::from_secs(600),
        },
        ..saga::Settings::default()
    };
    let key = settings.secret_key.clone();
    provision::clusters::access::ClusterAccess::new(store.clone(), key.clone()).install();
    let engine = saga::register(
        Engine::builder(
            store.clone(),
            EngineConfig {
                poll: Duration::from_millis(20),
                concurrency: 32,
                ..EngineConfig::default()
            },
        ),
        &store,
        cloud.clone(),
        settings,
    )
    .build();
    engine.spawn();
    let (user, project) = store
        .user_create_with_project("bench@example.com", "x", false, false)
        .await
        .expect("user");
    provision::quotas::set(
        &store,
        &project.id,
        &provision::quotas::Quota {
            clusters: n as i64 + 1,
            vcpus: 1_000_000,
            ram_mib: 1_000_000_000,
            volume_gib: 100_000_000,
            load_balancers: 10 * n as i64,
        },
    )
    .await
    .expect("quota");
    let actor = Actor {
        user_id: user.id,
        email: user.email,
        is_admin: false,
        client_addr: "bench".into(),
        credential: provision::domain::Credential::Session,
    };
    let flavors = cloud.flavor_list().await.expect("flavors");
    let mut ops = Vec::new();
    let mut ids = Vec::new();
    for i in 0..n {
        let spec: ClusterSpec = serde_json::from_value(json!({
            "name": format!("idle-{i}"), "master_count": 1, "master_flavor": "m1.small",
            "node_groups": [{"name": "w", "flavor": "m1.small", "node_count": 1}],
        }))
        .expect("spec");
        let s = clusters::create(&store, &engine, &actor, &project.id, spec, &flavors)
            .await
            .expect("create");
        ids.push(s.cluster.id.clone());
        ops.push(s.operation.id);
    }
    for op in ops {
        loop {
            let o = store.op_get(&op).await.expect("op");
            if !o.state.unfinished() {
                assert_eq!(o.state, OpState::Succeeded, "{:?}", o.error);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    World {
        actor,
        running,
        cloud,
        store,
        engine,
        key,
        clusters: ids,
    }
}

/// The cloud's own time for one service's load balancer: made through the driver,
/// each change waited for, as the controller's operation does.
async fn cloud_alone(w: &World, member: &(String, String), i: usize) -> f64 {
    let cloud = w.cloud.as_ref();
    let wait = WaitPolicy {
        initial: Duration::from_millis(20),
        max_interval: Duration::from_millis(100),
        deadline: Duration::from_secs(120),
    };
    let name = format!("bench-direct-{i}");
    let tags = vec![name.clone()];
    let start = Instant::now();
    let network = cloud.network_id("private").await.expect("network");
    let lb = cloud
        .load_balancer_create(&LoadBalancerSpec {
            name: name.clone(),
            tags: tags.clone(),
            vip_network_id: Some(network),
            vip_subnet_id: None,
        })
        .await
        .expect("lb");
    cloud
        .wait_load_balancer_active(&lb.id, &wait)
        .await
        .expect("active");
    let l = cloud
        .listener_create(&ListenerSpec {
            name: name.clone(),
            load_balancer_id: lb.id.clone(),
            port: 80,
            tags: tags.clone(),
        })
        .await
        .expect("listener");
    cloud
        .wait_load_balancer_active(&lb.id, &wait)
        .await
        .expect("active");
    let p = cloud
        .pool_create(&PoolSpec {
            name: name.clone(),
            listener_id: l.id,
            tags: tags.clone(),
        })
        .await
        .expect("pool");
    cloud
        .wait_load_balancer_active(&lb.id, &wait)
        .await
        .expect("active");
    cloud
        .health_monitor_create(&HealthMonitorSpec {
            name: name.clone(),
            pool_id: p.id.clone(),
            delay_secs: 5,
            timeout_secs: 3,
            max_retries: 3,
        })
        .await
        .expect("monitor");
    cloud
        .wait_load_balancer_active(&lb.id, &wait)
        .await
        .expect("active");
    cloud
        .member_add(
            &p.id,
            &MemberSpec {
                name: member.0.clone(),
                address: member.1.clone(),
                port: 30080,
            },
        )
        .await
        .expect("member");
    cloud
        .wait_load_balancer_active(&lb.id, &wait)
        .await
        .expect("active");
    let took = start.elapsed().as_secs_f64();
    cloud.load_balancer_delete(&lb.id).await.expect("delete");
    took
}

/// From creating the Service to its EXTERNAL-IP, through the controllers.
async fn through_controllers(w: &World, kube: &KubeClient, i: usize) -> f64 {
    let name = format!("bench-svc-{i}");
    let start = Instant::now();
    kube.create(
        "/api/v1/namespaces/default/services",
        &json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": "LoadBalancer", "selector": {"app": "x"}, "ports": [{"port": 80}]}}),
    )
    .await
    .expect("service");
    let path = format!("/api/v1/namespaces/default/services/{name}");
    loop {
        let s: serde_json::Value = kube.get(&path).await.expect("get");
        if s["status"]["loadBalancer"]["ingress"][0]["ip"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = start.elapsed().as_secs_f64();
    // Gone again (its load balancer first) before the next one.
    kube.delete(&path).await.expect("delete");
    while kube.get::<serde_json::Value>(&path).await.is_ok() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = w;
    took
}

/// The cloud's own time to boot one worker-sized server (m1.small), as the scale-up's
/// step waits for it.
async fn boot_alone(w: &World) -> f64 {
    let cloud = w.cloud.as_ref();
    let wait = WaitPolicy {
        initial: Duration::from_millis(20),
        max_interval: Duration::from_millis(100),
        deadline: Duration::from_secs(120),
    };
    let start = Instant::now();
    let s = cloud
        .server_create(&ServerSpec {
            name: "bench-boot".into(),
            flavor: "m1.small".into(),
            image: "ubuntu-22.04-k8s-v1.31".into(),
            metadata: [("bench".to_string(), "boot".to_string())].into(),
            group: None,
            network: Some("private".into()),
            boot_volume_gib: None,
            user_data: None,
        })
        .await
        .expect("server");
    cloud
        .wait_server_active(&s.id, &wait)
        .await
        .expect("active");
    let took = start.elapsed().as_secs_f64();
    cloud.server_delete(&s.id).await.expect("delete");
    took
}

/// From a Deployment that does not fit to all its pods placed: the autoscaler's
/// operation boots a worker, it registers Ready, the scheduler binds the pods.
async fn scale_up(w: &World, cluster: &str) -> f64 {
    let core = provision::Provisioner {
        store: w.store.clone(),
        engine: w.engine.clone(),
        cloud: w.cloud.clone(),
        secret_key: w.key.clone(),
    };
    core.node_group_autoscale(
        &w.actor,
        &cluster.to_string().into(),
        &"w".to_string().into(),
        &provision::clusters::Autoscaling {
            enabled: true,
            min_node_count: Some(1),
            max_node_count: Some(2),
        },
    )
    .await
    .expect("autoscaling on");
    let kube = KubeClient::for_cluster(&w.store, &w.key, cluster)
        .await
        .expect("client");
    // Two pods of 700m: one fits the one m1.small worker, the other needs a new node.
    let start = Instant::now();
    kube.create(
        "/apis/apps/v1/namespaces/default/deployments",
        &json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "grow"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "grow"}},
              "template": {"metadata": {"labels": {"app": "grow"}}, "spec": {"containers": [
                {"name": "c", "image": "nginx:1.27", "resources": {"requests": {"cpu": "700m"}}}]}}}}),
    )
    .await
    .expect("deployment");
    loop {
        let (pods, _) = kube
            .list::<serde_json::Value>("/api/v1/namespaces/default/pods")
            .await
            .expect("pods");
        let placed = pods
            .iter()
            .filter(|p| {
                p["metadata"]["labels"]["app"] == "grow" && p["spec"]["nodeName"].is_string()
            })
            .count();
        if placed == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let idle_n: usize = std::env::var("BENCH_IDLE_CLUSTERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let lb_secs: f64 = std::env::var("BENCH_LB_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0);
    let dir = std::env::temp_dir().join(format!("shipyard-ctl-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let w = world(&dir, idle_n).await;
    let first = w.clusters[0].clone();
    let kube = KubeClient::for_cluster(&w.store, &w.key, &first)
        .await
        .expect("client");
    // The first cluster's worker, as the member both ways.
    let worker = w
        .cloud
        .server_list(&saga::cluster_metadata(&first))
        .await
        .expect("servers")
        .into_iter()
        .find(|s| s.metadata.get("shipyard-role").map(String::as_str) == Some("worker"))
        .expect("a worker");
    let member = (worker.name.clone(), worker.addresses[0].clone());
    // Wait until its Node is Ready (the controllers take only Ready nodes).
    loop {
        let (nodes, _) = kube
            .list::<serde_json::Value>("/api/v1/nodes")
            .await
            .expect("nodes");
        let ready = nodes.iter().any(|n| {
            n["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
        });
        if ready {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Idle CPU without controllers, then with them, over the same interval.
    let window = Duration::from_secs(
        std::env::var("BENCH_IDLE_SECONDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20),
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let c0 = cpu_seconds();
    tokio::time::sleep(window).await;
    let without = cpu_seconds() - c0;
    let controllers = Controllers {
        store: w.store.clone(),
        engine: w.engine.clone(),
        cloud: w.cloud.clone(),
        key: w.key.clone(),
        autoscaler: provision::controllers::Autoscaler::new(
            provision::controllers::autoscale::Settings {
                unneeded: Duration::from_secs(600),
                delay_after_add: Duration::from_secs(600),
                backoff: Duration::from_secs(5),
                utilization: 0.5,
            },
        ),
        repair: Default::default(),
    }
    .install();
    // Every cluster's caches listed (the controllers' start), then quiet.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let c1 = cpu_seconds();
    tokio::time::sleep(window).await;
    let with = cpu_seconds() - c1;

    // Service latency with a cloud that takes time.
    let mut b = w.running.cloud.behaviour();
    b.lb_seconds = lb_secs;
    b.lb_update_seconds = lb_secs / 10.0;
    w.running.cloud.set_behaviour(b);
    let mut direct = Vec::new();
    let mut via = Vec::new();
    for i in 0..3 {
        direct.push(cloud_alone(&w, &member, i).await);
        via.push(through_controllers(&w, &kube, i).await);
    }
    // Scale-up with a cloud whose servers take time to boot.
    let boot_secs: f64 = std::env::var("BENCH_BOOT_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2.0);
    let mut b = w.running.cloud.behaviour();
    b.server_build_seconds = boot_secs;
    w.running.cloud.set_behaviour(b);
    let boot = boot_alone(&w).await;
    let grow = scale_up(&w, &w.clusters[1]).await;
    controllers.abort();
    let (direct, via) = (median(direct), median(via));
    let ratio = via / direct;
    let secs = window.as_secs_f64();
    let extra_ms = 1000.0 * (with - without) / secs;
    let verdict = |ok: bool| if ok { "met" } else { "**not met**" };
    println!("## Cloud controller (services, volumes)\n");
    println!("| what | result |\n| --- | ---: |");
    println!(
        "| the cloud's own time for a load balancer with one listener, pool, monitor and member (localcloud: LB {lb_secs:.1} s, each change {:.2} s; median of 3) | {direct:.2} s |",
        lb_secs / 10.0
    );
    println!("| Service of type LoadBalancer created through the cluster's API → EXTERNAL-IP, through the controllers (median of 3) | {via:.2} s |");
    println!(
        "| **controllers / cloud** | **{ratio:.2}×** (goal ≤ 1.2×: {}) |",
        verdict(ratio <= 1.2)
    );
    println!(
        "| process CPU, {idle_n} quiet clusters (1 master, 1 simulated kubelet each), {secs:.0} s, without controllers | {:.0} ms/s |",
        1000.0 * without / secs
    );
    println!(
        "| the same with the controllers watching all {idle_n} | {:.0} ms/s |",
        1000.0 * with / secs
    );
    println!(
        "| **controllers' share** | **{extra_ms:.1} ms/s** ({:.2} ms/s per cluster) |",
        extra_ms / idle_n as f64
    );
    println!(
        "| the cloud's own time to boot a worker-sized server (localcloud: {boot_secs:.1} s) | {boot:.2} s |"
    );
    println!("| Deployment that does not fit → its Unschedulable pod placed on a new node made by the autoscaler (boot, register Ready, bind) | {grow:.2} s |");
    println!("| **scale-up / boot** | **{:.2}×** |", grow / boot);
    println!("\nThe controllers hold one watch per collection per cluster (Services, Nodes, Pods,");
    println!("claims, PVs, StorageClasses), look at a quiet cluster again every 5 minutes, and");
    println!("auto-repair reads each ACTIVE cluster's servers from the cloud every 30 s; the");
    println!("simulated kubelets' heartbeats are changes they see. The CPU rows are the whole");
    println!("process (localcloud and 50 kubesim API servers included), so the share is their");
    println!("difference, and a difference below a few ms/s is noise.");
    let _ = std::fs::remove_dir_all(&dir);
    w.running.stop();
}
