//! The operations engine, measured in one run on SQLite:
//! - step throughput at zero cloud latency (steps that do nothing but be recorded)
//!   against the raw single-row commit rate of the same database;
//! - a cluster create's makespan on localcloud with cloud-like latencies (scaled down
//!   by `BENCH_LATENCY_SCALE`, default 0.25, to keep the run short) against the longest
//!   chain of its plan under the same latencies.
//!
//! Prints a Markdown section that `bench/run.sh` puts into docs/BENCHMARKS.md.
//! `cargo bench -p provision --bench engine`

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use provision::cloud::{OpenStack, OpenStackConfig, WaitPolicy};
use provision::clusters::{self, saga, ClusterSpec};
use provision::domain::Actor;
use provision::ops::*;
use provision::Store;
use serde_json::{json, Value};

struct Nothing;

#[async_trait]
impl Step for Nothing {
    async fn run(&self, _cx: &StepContext) -> Result<Value, StepError> {
        Ok(json!({}))
    }
    async fn undo(&self, _cx: &StepContext, _o: Option<&Value>) -> Result<(), StepError> {
        Ok(())
    }
}

/// `width` independent steps, then one that waits for all of them.
struct Fan;

#[async_trait]
impl SagaKind for Fan {
    fn steps(&self, spec: &Value) -> provision::Result<Vec<StepDef>> {
        let width = spec["width"].as_u64().unwrap_or(8);
        let mut steps: Vec<StepDef> = (0..width)
            .map(|i| StepDef::new(format!("s{i}"), &[], Arc::new(Nothing)))
            .collect();
        let keys: Vec<String> = (0..width).map(|i| format!("s{i}")).collect();
        let after: Vec<&str> = keys.iter().map(String::as_str).collect();
        steps.push(StepDef::new("join", &after, Arc::new(Nothing)));
        Ok(steps)
    }
}

async fn store(dir: &std::path::Path, name: &str) -> Store {
    Store::connect(&format!("sqlite://{}", dir.join(name).display()))
        .await
        .expect("store")
}

async fn raw_commits_per_second(store: &Store, n: usize) -> f64 {
    sqlx::query("CREATE TABLE bench_rows (id BIGINT PRIMARY KEY, v TEXT NOT NULL)")
        .execute(store.pool())
        .await
        .expect("table");
    let start = Instant::now();
    for i in 0..n {
        sqlx::query("INSERT INTO bench_rows (id, v) VALUES ($1, $2)")
            .bind(i as i64)
            .bind("x")
            .execute(store.pool())
            .await
            .expect("insert");
    }
    n as f64 / start.elapsed().as_secs_f64()
}

async fn steps_per_second(store: &Store, ops: usize, width: u64) -> f64 {
    let engine = Engine::builder(
        store.clone(),
        EngineConfig {
            lease: Duration::from_secs(30),
            poll: Duration::from_millis(20),
            concurrency: 16,
            ..EngineConfig::default()
        },
    )
    .kind("fan", Arc::new(Fan))
    .build();
    for i in 0..ops {
        engine
            .submit(NewOperation {
                project_id: "bench".into(),
                kind: "fan".into(),
                target_id: format!("t{i}"),
                requested_by: "bench".into(),
                spec: json!({ "width": width }),
            })
            .await
            .expect("submit");
    }
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..4 {
        let e = engine.clone();
        workers.push(tokio::spawn(async move {
            while e.run_one().await.expect("run") {}
        }));
    }
    for w in workers {
        w.await.expect("worker");
    }
    let elapsed = start.elapsed().as_secs_f64();
    let done = store
        .op_list_in(&[OpState::Succeeded])
        .await
        .expect("list")
        .len();
    assert_eq!(done, ops, "every operation succeeded");
    (ops as u64 * (width + 1)) as f64 / elapsed
}

async fn makespan(dir: &std::path::Path, scale: f64) -> (f64, f64) {
    let secs = |s: f64| Duration::from_secs_f64(s * scale);
    let mut lc = localcloud::Config::new("127.0.0.1:0".parse().expect("addr"), dir.join("cloud"));
    lc.server_build_delay = secs(clusters::plan::SERVER_SECS);
    lc.volume_delay = secs(clusters::plan::VOLUME_SECS);
    lc.lb_delay = secs(clusters::plan::LB_SECS);
    lc.lb_update_delay = secs(clusters::plan::LB_CHANGE_SECS);
    lc.vip_range = localcloud::random_vip_range();
    let running = localcloud::start(lc).await.expect("localcloud");
    let cloud: Arc<dyn provision::cloud::Cloud> = Arc::new(
        OpenStack::connect({
            let admin = running.admin();
            OpenStackConfig::new(
                admin.auth_url,
                admin.username,
                admin.password,
                admin.project,
            )
        })
        .await
        .expect("driver"),
    );
    let store = store(dir, "makespan.db").await;
    let wait = WaitPolicy {
        initial: Duration::from_millis(50),
        max_interval: Duration::from_millis(250),
        deadline: Duration::from_secs(600),
    };
    let engine = saga::register(
        Engine::builder(
            store.clone(),
            EngineConfig {
                poll: Duration::from_millis(50),
                ..EngineConfig::default()
            },
        ),
        &store,
        cloud.clone(),
        saga::Settings {
            wait,
            ..saga::Settings::default()
        },
    )
    .build();
    let (user, project) = store
        .user_create_with_project("bench@example.com", "x", false, false)
        .await
        .expect("user");
    let actor = Actor {
        user_id: user.id,
        email: user.email,
        is_admin: false,
        client_addr: "bench".into(),
        credential: provision::domain::Credential::Session,
    };
    let spec: ClusterSpec = serde_json::from_value(json!({
        "name": "bench", "master_count": 3, "master_flavor": "m1.medium",
        "node_groups": [{"name": "w", "flavor": "m1.small", "node_count": 3}],
    }))
    .expect("spec");
    let flavors = cloud.flavor_list().await.expect("flavors");
    let chain = clusters::plan::create_seconds(&spec) * scale;
    let start = Instant::now();
    let started = clusters::create(&store, &engine, &actor, &project.id, spec, &flavors)
        .await
        .expect("create");
    while engine.run_one().await.expect("run") {}
    let took = start.elapsed().as_secs_f64();
    let op = store.op_get(&started.operation.id).await.expect("op");
    assert_eq!(op.state, OpState::Succeeded, "{:?}", op.error);
    running.stop();
    (took, chain)
}

/// `n` clusters (1 master, 1 worker each) created at `concurrency` operations in flight
/// on an instant localcloud big enough to hold them, then deleted: how long, how many
/// ended anything but succeeded, and the slowest create.
async fn fleet(
    dir: &std::path::Path,
    n: usize,
    concurrency: usize,
) -> (f64, usize, f64, f64, usize) {
    let mut lc = localcloud::Config::new(
        "127.0.0.1:0".parse().expect("addr"),
        dir.join("fleet-cloud"),
    );
    lc.server_build_delay = Duration::ZERO;
    lc.volume_delay = Duration::ZERO;
    lc.lb_delay = Duration::ZERO;
    lc.lb_update_delay = Duration::ZERO;
    lc.vip_range = (std::net::Ipv4Addr::new(127, 251, 0, 0), 20);
    lc.hosts = (0..64)
        .map(|i| localcloud::HostConfig {
            name: format!("fleet-{i:02}"),
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
    let cloud: Arc<dyn provision::cloud::Cloud> = Arc::new(
        OpenStack::connect({
            let admin = running.admin();
            OpenStackConfig::new(
                admin.auth_url,
                admin.username,
                admin.password,
                admin.project,
            )
        })
        .await
        .expect("driver"),
    );
    let store = store(dir, "fleet.db").await;
    let engine = saga::register(
        Engine::builder(
            store.clone(),
            EngineConfig {
                poll: Duration::from_millis(100),
                concurrency,
                ..EngineConfig::default()
            },
        ),
        &store,
        cloud.clone(),
        saga::Settings {
            wait: WaitPolicy {
                initial: Duration::from_millis(20),
                max_interval: Duration::from_millis(200),
                deadline: Duration::from_secs(600),
            },
            ..saga::Settings::default()
        },
    )
    .build();
    let (user, project) = store
        .user_create_with_project("fleet@example.com", "x", false, false)
        .await
        .expect("user");
    provision::quotas::set(
        &store,
        &project.id,
        &provision::quotas::Quota {
            clusters: n as i64,
            vcpus: 1_000_000,
            ram_mib: 1_000_000_000,
            volume_gib: 100_000_000,
            load_balancers: n as i64,
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
    let start = Instant::now();
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let spec: ClusterSpec = serde_json::from_value(json!({
            "name": format!("fleet-{i}"), "master_count": 1, "master_flavor": "m1.small",
            "node_groups": [{"name": "w", "flavor": "m1.small", "node_count": 1}],
        }))
        .expect("spec");
        let started = clusters::create(&store, &engine, &actor, &project.id, spec, &flavors)
            .await
            .expect("create");
        ids.push(started.operation.id);
    }
    let workers = engine.spawn();
    let finished = [
        OpState::Succeeded,
        OpState::Failed,
        OpState::Unwound,
        OpState::Stuck,
    ];
    loop {
        let done = store.op_list_in(&finished).await.expect("list").len();
        if done >= n {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(1800),
            "the fleet did not finish: {done}/{n}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let took = start.elapsed().as_secs_f64();
    let mut slowest: f64 = 0.0;
    let mut not_succeeded = 0;
    for id in &ids {
        let op = store.op_get(id).await.expect("op");
        if op.state != OpState::Succeeded {
            not_succeeded += 1;
        }
        if let Some(f) = op.finished_at {
            slowest = slowest.max((f - op.created_at) as f64 / 1000.0);
        }
    }
    // And all of them deleted again, also 100 at a time.
    let delete_start = Instant::now();
    for c in store.cluster_list(&project.id).await.expect("clusters") {
        clusters::delete(&store, &engine, &actor, &project.id, &c.id)
            .await
            .expect("delete");
    }
    loop {
        let open = store
            .op_list_in(&[OpState::Pending, OpState::Running, OpState::Unwinding])
            .await
            .expect("list")
            .len();
        if open == 0 {
            break;
        }
        assert!(
            delete_start.elapsed() < Duration::from_secs(1800),
            "the fleet's deletes did not finish"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let deleted = delete_start.elapsed().as_secs_f64();
    let deletes_bad: Vec<String> = store
        .op_list_in(&[OpState::Failed, OpState::Stuck, OpState::Unwound])
        .await
        .expect("list")
        .into_iter()
        .filter(|o| o.kind == saga::DELETE)
        .map(|o| {
            format!(
                "{} {}: {}",
                o.target_id,
                o.state.as_str(),
                o.error.unwrap_or_default()
            )
        })
        .collect();
    let left: Vec<String> = cloud
        .server_list(&Default::default())
        .await
        .expect("servers")
        .into_iter()
        .map(|s| format!("{} {}", s.name, s.status))
        .collect();
    eprintln!("fleet: created in {took:.1} s, deleted in {deleted:.1} s; deletes not succeeded: {deletes_bad:?}; servers left: {left:?}");
    workers.abort();
    running.stop();
    (
        took,
        not_succeeded,
        slowest,
        deleted,
        deletes_bad.len() + left.len(),
    )
}

#[tokio::main]
async fn main() {
    let dir = std::env::temp_dir().join(format!("shipyard-engine-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let raw_store = store(&dir, "raw.db").await;
    raw_commits_per_second(&raw_store, 200).await; // warm-up
    let raw = {
        let s = store(&dir, "raw2.db").await;
        raw_commits_per_second(&s, 3000).await
    };
    let engine_store = store(&dir, "engine.db").await;
    let steps = steps_per_second(&engine_store, 100, 8).await;
    let scale: f64 = std::env::var("BENCH_LATENCY_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.25);
    let (took, chain) = makespan(&dir, scale).await;
    let fleet_n: usize = std::env::var("BENCH_FLEET")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let (fleet_secs, fleet_bad, fleet_slowest, fleet_delete, fleet_left) =
        fleet(&dir, fleet_n, 100).await;
    let _ = std::fs::remove_dir_all(&dir);

    let ratio = 100.0 * steps / raw;
    let span = took / chain;
    let verdict = |ok: bool| if ok { "met" } else { "**not met**" };
    println!("## Operations engine (SQLite)\n");
    println!("| what | result |\n| --- | ---: |");
    println!("| raw single-row commits (INSERT, one per transaction) | {raw:.0} /s |");
    println!(
        "| engine steps (100 operations × 9 recorded no-op steps, 4 workers) | {steps:.0} /s |"
    );
    println!(
        "| **steps / raw commits** | **{ratio:.1} %** (goal ≥ 25 %: {}) |",
        verdict(ratio >= 25.0)
    );
    println!("| 3-master cluster create on localcloud, latencies × {scale} (server {:.1} s, LB {:.1} s) | {took:.1} s |", clusters::plan::SERVER_SECS * scale, clusters::plan::LB_SECS * scale);
    println!("| longest chain of its plan under the same latencies | {chain:.1} s |");
    println!(
        "| **makespan / longest chain** | **{span:.2}×** (goal ≤ 1.15×: {}) |",
        verdict(span <= 1.15)
    );
    println!("| {fleet_n} clusters (1 master, 1 worker) created at 100 operations in flight, instant localcloud | {fleet_secs:.1} s (slowest create {fleet_slowest:.1} s) |");
    println!(
        "| **of those, not succeeded (stuck, failed or unwound)** | **{fleet_bad}** (goal 0: {}) |",
        verdict(fleet_bad == 0)
    );
    println!(
        "| the same {fleet_n} deleted, 100 at a time | {fleet_delete:.1} s; deletes not succeeded + servers left: {fleet_left} (goal 0: {}) |",
        verdict(fleet_left == 0)
    );
    println!(
        "\nSteps that start together share one commit, and results that arrive together share"
    );
    println!(
        "one (with their events and the operation's progress); an abort is looked for once per"
    );
    println!("poll interval, not after every step.");
}
