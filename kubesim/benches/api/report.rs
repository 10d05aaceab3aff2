//! The bench's Markdown section: this run's numbers against the goals, and the numbers
//! of the same bench on the code before the journal and the shared objects (measured
//! once, kept here as they were measured; they are not re-measured).

use std::time::Duration;

use crate::measure::{Latencies, ListVsStatic};

/// What one run measured.
pub struct Results {
    pub pods: usize,
    pub samples: usize,
    pub burst: usize,
    pub created: Duration,
    pub all_running: Option<Duration>,
    /// Nodes as JSON, nodes as a Table, pods as JSON, pods as a Table.
    pub lists: [ListVsStatic; 4],
    pub delays: Latencies,
    pub writes: Latencies,
    /// The kubectl run, and its `get pods -A` and `get nodes`.
    pub kubectl: Option<(std::path::PathBuf, (Latencies, Latencies))>,
    pub bound: Option<Duration>,
    pub running: Option<Duration>,
    pub store_mib: f64,
}

/// The same bench before the change (2026-12-06, this machine): at 1,000 pods with 20
/// samples per list, and the attempt at 5,000.
struct Before {
    creates_per_s: &'static str,
    pods_json_p99: &'static str,
    pods_table_p99: &'static str,
    bound: &'static str,
    watch: &'static str,
    kubectl: &'static str,
}

const BEFORE_1000: Before = Before {
    creates_per_s: "10/s",
    pods_json_p99: "2982 ms",
    pods_table_p99: "1659 ms",
    bound: "384 s",
    watch: "475 / 6043 ms",
    kubectl: "252 ms",
};

/// At 5,000 pods the older code never got there: at 4,455 pods (22 minutes in, 3,708
/// of them Running) one create waited more than the client's 120 s and the run stopped.
const BEFORE_5000: Before = Before {
    creates_per_s: "3.4/s, then a create over 120 s at 4,455 pods: stopped",
    pods_json_p99: "—",
    pods_table_p99: "—",
    bound: "—",
    watch: "—",
    kubectl: "—",
};

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
        "| {what} | {} | {:.1} KiB | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1}× / {:.1}× |",
        r.items,
        r.bytes as f64 / 1024.0,
        r.list.ms(0.5),
        r.list.ms(0.99),
        r.statics.ms(0.5),
        r.statics.ms(0.99),
        r.list.ms(0.5) / r.statics.ms(0.5),
        r.list.ms(0.99) / r.statics.ms(0.99),
    )
}

fn p50_p99(l: &Latencies) -> String {
    format!("{:.1} / {:.1} ms", l.ms(0.5), l.ms(0.99))
}

pub fn print(r: &Results) {
    let (pods, burst) = (r.pods, r.burst);
    let [nodes_json, nodes_table, pods_json, pods_table] = &r.lists;
    let goal_list = pods_json.list.ms(0.99) <= 200.0 && pods_table.list.ms(0.99) <= 200.0;
    let goal_bound = r.bound.is_some_and(|b| b <= Duration::from_secs(5));
    let creates = format!("{:.0}/s", pods as f64 / r.created.as_secs_f64());
    println!(
        "## kubesim: {} nodes and {pods} pods\n",
        crate::cluster::NODES
    );
    println!(
        "kubesim started in-process over mTLS on 127.0.0.1 with its store persisted to a \
         temporary directory (as in production); {nodes} simulated kubelets (each its own \
         `system:node` certificate, started spread over 10 s) register their Nodes (4 CPU, \
         16 Gi) and renew their Leases every 10 s throughout; {pods} pods (100m CPU, 128 Mi each) are created \
         through the API bound round-robin to the nodes, in {teams} namespaces, and the \
         simulated kubelet reports them Running. The client is reqwest (HTTP/1.1, the \
         admin's client certificate), one request at a time; each list is interleaved \
         with a GET of a static copy of its bytes served by the same router, listener and \
         TLS (`/bench/static/…`, a route only the bench adds: \
         `kubesim::server::start_with`). Server and client share the machine's cores. \
         Script: `cargo bench -p kubesim --bench api`.\n",
        nodes = crate::cluster::NODES,
        teams = crate::cluster::TEAMS,
    );
    println!(
        "| request ({} or more each) | items | bytes | p50 | p99 | static p50 | static p99 | list / static, p50 / p99 |",
        r.samples
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    println!("{}", list_row("`GET /api/v1/nodes`, JSON", nodes_json));
    println!(
        "{}",
        list_row(
            "`GET /api/v1/nodes`, Table (`kubectl get nodes`)",
            nodes_table
        )
    );
    println!("{}", list_row("`GET /api/v1/pods`, JSON", pods_json));
    println!(
        "{}",
        list_row(
            "`GET /api/v1/pods`, Table (`kubectl get pods -A`)",
            pods_table
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
        "| {pods} pod creates, 8 in flight | {:.2} s ({creates}) |",
        r.created.as_secs_f64()
    );
    println!(
        "| … until the kubelets report all {pods} Running | {} |",
        secs(r.all_running)
    );
    println!(
        "| Deployment of {burst} replicas posted → all {burst} pods bound (`spec.nodeName`) | {} (goal ≤ 5 s: {}) |",
        secs(r.bound),
        verdict(goal_bound)
    );
    println!("| … → all {burst} Running | {} |", secs(r.running));
    println!(
        "| watch delay: a pod's label PATCHed → its MODIFIED event on a watch of all pods, p50 / p99 of {} | {} |",
        r.delays.0.len(),
        p50_p99(&r.delays)
    );
    println!(
        "| the PATCH's own answer, p50 / p99 | {} |",
        p50_p99(&r.writes)
    );
    let kubectl_pods = match &r.kubectl {
        Some((k, (pods_run, nodes_run))) => {
            println!(
                "| `kubectl get pods -A` ({}, HTTP/2, a process each; median / max of 5) | {:.0} / {:.0} ms |",
                k.display(),
                pods_run.ms(0.5),
                pods_run.ms(1.0)
            );
            println!(
                "| `kubectl get nodes`, the same way | {:.0} / {:.0} ms |",
                nodes_run.ms(0.5),
                nodes_run.ms(1.0)
            );
            format!("{:.0} ms", pods_run.ms(0.5))
        }
        None => {
            println!("| `kubectl get pods -A` | not run: no kubectl found |");
            "not run".into()
        }
    };
    println!("| the store's files at the end | {:.1} MiB |", r.store_mib);
    before_and_after(r, &creates, &kubectl_pods);
}

fn before_and_after(r: &Results, creates: &str, kubectl_pods: &str) {
    let [_, _, pods_json, pods_table] = &r.lists;
    let (b1, b5) = (&BEFORE_1000, &BEFORE_5000);
    println!(
        "\n### kubesim before and after\n\n\
         The same bench on the code before this change (commit 7672fd5 with this bench \
         and its `start_with` hook added), measured once on 2026-12-06 on this machine \
         (`KUBESIM_BENCH_PODS=1000 KUBESIM_BENCH_SAMPLES=20`, and the attempt at 5,000; \
         kept in `kubesim/benches/api/report.rs`, not re-measured), against this run. At 5,000 pods the older code \
         never got as far as measuring: at 4,455 pods, 22 minutes in, one create waited \
         more than the client's 120 s.\n"
    );
    println!(
        "| what | before, 1,000 pods | before, 5,000 pods | after, {} pods (this run) |",
        r.pods
    );
    println!("| --- | ---: | ---: | ---: |");
    let rows = [
        (
            "pod creates through the API, 8 in flight",
            b1.creates_per_s,
            b5.creates_per_s,
            creates.to_string(),
        ),
        (
            "`GET /api/v1/pods` JSON, p99",
            b1.pods_json_p99,
            b5.pods_json_p99,
            format!("{:.0} ms", pods_json.list.ms(0.99)),
        ),
        (
            "`GET /api/v1/pods` Table, p99",
            b1.pods_table_p99,
            b5.pods_table_p99,
            format!("{:.0} ms", pods_table.list.ms(0.99)),
        ),
        (
            "Deployment of 1,000 → all bound",
            b1.bound,
            b5.bound,
            secs(r.bound),
        ),
        (
            "watch delay, p50 / p99",
            b1.watch,
            b5.watch,
            p50_p99(&r.delays),
        ),
        (
            "`kubectl get pods -A`, median",
            b1.kubectl,
            b5.kubectl,
            kubectl_pods.to_string(),
        ),
    ];
    for (what, one, five, now) in rows {
        println!("| {what} | {one} | {five} | {now} |");
    }
    println!(
        "\n`kubectl get pods -A` prints five times the rows after; most of its time is \
         kubectl's own (reading and printing the Table, whose answer takes the Table p50 \
         above)."
    );
    println!("{}", CHANGES);
}

/// What changed, and why the numbers moved.
const CHANGES: &str = "
Before, every write (the 200 kubelets' Lease renewals alone are 20 a second) rewrote
the store's whole file, serializing every object; every list and every control-loop
pass deep-copied the objects it read, and the loop woke on every write, Leases
included, to copy every pod four times; the scheduler and the kubelet matched pods to
nodes by scanning. Now:

- The store's file is an append-only journal (`kubesim/src/journal.rs`): one JSON
  line per write, written with one `write(2)` before the write is answered (no
  fsync: a write survives the process being killed, not a power cut, as the
  whole-file store never synced either). When the appended lines outgrow both 8 MiB
  and the last snapshot, the file is compacted: a snapshot written to a temporary
  file, fsynced and renamed over it (a few tens of ms with 5,000 pods, under the
  store's lock, once per 8 MiB or more of writes). Opening reads the snapshot and
  replays the lines; a torn last line is dropped. A file of the whole-file store
  opens as a snapshot.
- The store keeps each object behind an `Arc` with its JSON, written once when it is
  stored: a list copies pointers, a JSON list is the stored JSON joined, a Table
  borrows the objects' metadata.
- The control loop reads the shared objects, runs each pass on a blocking thread (off
  the workers that answer requests) and wakes only on changes of Deployments,
  ReplicaSets, Pods and Nodes (and once a second); ReplicaSets find their pods in one
  index per pass; the scheduler keeps each node's room in a vector (no allocation per
  pod and node); the kubelet finds a pod's node in a map.
- A watch that falls behind a burst of writes catches up from the store's recent
  changes instead of ending.";
