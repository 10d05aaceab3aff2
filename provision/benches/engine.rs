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
        OpenStack::connect(OpenStackConfig::new(
            running.auth_url(),
            "admin",
            "admin",
            "admin",
        ))
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
    println!("\nEach step commits twice (its start; its result with its event and the operation's");
    println!("progress), and each operation adds its claim, state changes and an abort check per");
    println!("finished step: about three commits and a read per step, on one SQLite writer.");
}
