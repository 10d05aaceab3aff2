//! kubesim at the size of a big cluster: 200 simulated nodes and 5,000 pods on an API
//! server started in-process over mTLS with its store persisted (as in production).
//! Measures, in one run, the p50/p99 of `GET /api/v1/nodes` and `GET /api/v1/pods` (as
//! JSON and as the Table `kubectl get` asks for) against a static copy of the same
//! bytes served by the same process over the same TLS listener; the time until a
//! Deployment's 1,000 pending pods are all bound; the delay from a write to its watch
//! event; and `kubectl get pods -A` for reference. Prints a Markdown section for
//! docs/BENCHMARKS.md (`bench/run.sh`). `KUBESIM_BENCH_PODS`, `KUBESIM_BENCH_SAMPLES`
//! and `KUBESIM_BENCH_BURST` shrink it for a quick look.

#[path = "../../tests/common/mod.rs"]
mod common;

mod cluster;
mod measure;
mod report;

use std::time::Duration;

use measure::TABLE;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let pods = env("KUBESIM_BENCH_PODS", 5_000);
    let samples = env("KUBESIM_BENCH_SAMPLES", 100);
    let burst = env("KUBESIM_BENCH_BURST", 1_000);
    let dir = std::env::temp_dir().join(format!("kubesim-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The clients' runtime; the server has its own (see `cluster::start`).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let c = rt.block_on(cluster::start(&dir));
    let (created, all_running) = rt.block_on(c.seed_pods(pods, 8));
    eprintln!("seeded: {created:?} created, {all_running:?} running");
    let (nodes_json, nodes_table, pods_json, pods_table) = rt.block_on(async {
        (
            measure::list_vs_static(
                &c,
                "nodes",
                "/api/v1/nodes",
                "application/json",
                samples * 2,
            )
            .await,
            measure::list_vs_static(&c, "nodes-table", "/api/v1/nodes", TABLE, samples * 2).await,
            measure::list_vs_static(&c, "pods", "/api/v1/pods", "application/json", samples).await,
            measure::list_vs_static(&c, "pods-table", "/api/v1/pods", TABLE, samples).await,
        )
    });
    eprintln!("lists measured");
    let (delays, writes) = rt.block_on(measure::watch_delay(&c, samples * 2));
    eprintln!("watch measured");
    let kubectl = measure::kubectl();
    let kubectl_runs = kubectl.as_ref().map(|k| {
        (
            measure::kubectl_get(&c, k, &["pods", "-A"], pods + 1, 5),
            measure::kubectl_get(&c, k, &["nodes"], measure::NODE_LINES, 5),
        )
    });
    eprintln!("kubectl measured");
    let (bound, running) =
        rt.block_on(measure::schedule_burst(&c, burst, Duration::from_secs(600)));
    let store_mib = c.store_bytes() as f64 / (1024.0 * 1024.0);
    c.stop();

    report::print(&report::Results {
        pods,
        samples,
        burst,
        created,
        all_running,
        lists: [nodes_json, nodes_table, pods_json, pods_table],
        delays,
        writes,
        kubectl: kubectl.zip(kubectl_runs),
        bound,
        running,
        store_mib,
    });
}
