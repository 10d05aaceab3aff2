//! kubesim at the size of a big cluster: 200 simulated nodes and 5,000 pods on an API
//! server started in-process over mTLS with its store persisted (as in production).
//! Measures, in one run, the p50/p99 of `GET /api/v1/nodes` and `GET /api/v1/pods` (as
//! JSON and as the Table `kubectl get` asks for) against a static copy of the same
//! bytes served by the same process over the same TLS listener; the time until a
//! Deployment's 1,000 pending pods are all bound; the delay from a write to its watch
//! event; and `kubectl get pods -A` for reference. Prints a Markdown section for
//! docs/BENCHMARKS.md (`bench/run.sh`). `KUBESIM_BENCH_PODS` and
//! `KUBESIM_BENCH_SAMPLES` shrink it for a quick look.

#[path = "../../tests/common/mod.rs"]
mod common;

mod cluster;
mod measure;

use std::time::Duration;

use measure::{Latencies, ListVsStatic, TABLE};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn secs(d: Option<Duration>) -> String {
    d.map_or("not within the limit".into(), |d| {
        format!("{:.2} s", d.as_secs_f64())
    })
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**not met**"
    }
}

fn list_row(what: &str, r: &ListVsStatic) -> String {
    format!(
        "| {what} | {} | {:.1} KiB | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1}× |",
        r.items,
        r.bytes as f64 / 1024.0,
        r.list.ms(0.5),
        r.list.ms(0.99),
        r.statics.ms(0.5),
        r.statics.ms(0.99),
        r.list.ms(0.99) / r.statics.ms(0.99),
    )
}

fn p50_p99(l: &Latencies) -> String {
    format!("{:.1} / {:.1} ms", l.ms(0.5), l.ms(0.99))
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
    c.runtime.shutdown_background();
    let _ = std::fs::remove_dir_all(&dir);

    let goal_list = pods_json.list.ms(0.99) <= 200.0 && pods_table.list.ms(0.99) <= 200.0;
    let goal_bound = bound.is_some_and(|b| b <= Duration::from_secs(5));
    println!("## kubesim: {} nodes and {pods} pods\n", cluster::NODES);
    println!(
        "kubesim started in-process over mTLS on 127.0.0.1 with its store persisted to a \
         temporary directory (as in production); {nodes} simulated kubelets (each its own \
         `system:node` certificate) register their Nodes (4 CPU, 16 Gi) and renew their \
         Leases every 10 s throughout; {pods} pods (100m CPU, 128 Mi each) are created \
         through the API bound round-robin to the nodes, in {teams} namespaces, and the \
         simulated kubelet reports them Running. The client is reqwest (HTTP/1.1, the \
         admin's client certificate), one request at a time; each list is interleaved \
         with a GET of a static copy of its bytes served by the same router, listener and \
         TLS (`/bench/static/…`, a route only the bench adds: `kubesim::server::start_with`). \
         Server and client share the machine's cores. Script: `cargo bench -p kubesim \
         --bench api`.\n",
        nodes = cluster::NODES,
        teams = cluster::TEAMS,
    );
    println!("| request ({samples} or more each) | items | bytes | p50 | p99 | static p50 | static p99 | p99 / static p99 |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    println!("{}", list_row("`GET /api/v1/nodes`, JSON", &nodes_json));
    println!(
        "{}",
        list_row(
            "`GET /api/v1/nodes`, Table (`kubectl get nodes`)",
            &nodes_table
        )
    );
    println!("{}", list_row("`GET /api/v1/pods`, JSON", &pods_json));
    println!(
        "{}",
        list_row(
            "`GET /api/v1/pods`, Table (`kubectl get pods -A`)",
            &pods_table
        )
    );
    println!(
        "\nGoal: p99 of the {pods}-pod list ≤ 200 ms: {} (JSON {:.1} ms, Table {:.1} ms).\n",
        verdict(goal_list),
        pods_json.list.ms(0.99),
        pods_table.list.ms(0.99)
    );
    println!("| what | result |\n| --- | ---: |");
    println!(
        "| {pods} pod creates, 8 in flight | {:.2} s ({:.0}/s) |",
        created.as_secs_f64(),
        pods as f64 / created.as_secs_f64()
    );
    println!(
        "| … until the kubelets report all {pods} Running | {} |",
        secs(all_running)
    );
    println!(
        "| Deployment of {burst} replicas posted → all {burst} pods bound (`spec.nodeName`) | {} (goal ≤ 5 s: {}) |",
        secs(bound),
        verdict(goal_bound)
    );
    println!("| … → all {burst} Running | {} |", secs(running));
    println!(
        "| watch delay: a pod's label PATCHed → its MODIFIED event on a watch of all pods, p50 / p99 of {} | {} |",
        delays.0.len(),
        p50_p99(&delays)
    );
    println!(
        "| the PATCH's own answer, p50 / p99 | {} |",
        p50_p99(&writes)
    );
    match &kubectl_runs {
        Some((pods_run, nodes_run)) => {
            let k = kubectl.as_ref().unwrap().display();
            println!(
                "| `kubectl get pods -A` ({k}, HTTP/2, a process each; median / max of 5) | {:.0} / {:.0} ms |",
                pods_run.ms(0.5),
                pods_run.ms(1.0)
            );
            println!(
                "| `kubectl get nodes`, the same way | {:.0} / {:.0} ms |",
                nodes_run.ms(0.5),
                nodes_run.ms(1.0)
            );
        }
        None => println!("| `kubectl get pods -A` | not run: no kubectl found |"),
    }
    println!("| the store's files at the end | {store_mib:.1} MiB |");
}
