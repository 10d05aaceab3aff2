//! The measurements, each with real clients of the cluster: a list against the same
//! bytes served statically (interleaved, one request at a time), the delay from a write
//! to its watch event, the time a Deployment's pods take to be bound, and `kubectl get`
//! runs for reference.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::cluster::{Cluster, NODES};

/// `kubectl get`'s Accept header.
pub const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

/// Samples of one measurement.
#[derive(Default)]
pub struct Latencies(pub Vec<Duration>);

impl Latencies {
    /// The `p`-quantile (nearest rank), in milliseconds.
    pub fn ms(&self, p: f64) -> f64 {
        let mut v = self.0.clone();
        v.sort();
        if v.is_empty() {
            return f64::NAN;
        }
        let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
        v[rank - 1].as_secs_f64() * 1e3
    }
}

/// A list and its static copy.
pub struct ListVsStatic {
    pub bytes: usize,
    pub items: usize,
    pub list: Latencies,
    pub statics: Latencies,
}

async fn fetch(c: &Cluster, path: &str, accept: &str) -> (Duration, axum::body::Bytes) {
    let start = Instant::now();
    let r = c
        .client
        .get(c.url(path))
        .header("accept", accept)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "GET {path}: {}", r.status());
    let body = r.bytes().await.unwrap();
    (start.elapsed(), body)
}

/// `n` GETs of `path` with `accept`, each followed by a GET of the same bytes as a
/// static file (`/bench/static/<name>`).
pub async fn list_vs_static(
    c: &Cluster,
    name: &str,
    path: &str,
    accept: &str,
    n: usize,
) -> ListVsStatic {
    let (_, body) = fetch(c, path, accept).await;
    let parsed: Value = serde_json::from_slice(&body).unwrap();
    let items = parsed["items"]
        .as_array()
        .or(parsed["rows"].as_array())
        .map_or(0, Vec::len);
    let bytes = body.len();
    c.statics.lock().unwrap().insert(name.to_string(), body);
    let static_path = format!("/bench/static/{name}");
    let (_, copy) = fetch(c, &static_path, accept).await;
    assert_eq!(copy.len(), bytes);
    let mut out = ListVsStatic {
        bytes,
        items,
        list: Latencies::default(),
        statics: Latencies::default(),
    };
    for _ in 0..n {
        out.list.0.push(fetch(c, path, accept).await.0);
        out.statics.0.push(fetch(c, &static_path, accept).await.0);
    }
    out
}

/// A watch's events as they arrive.
struct Watch {
    response: reqwest::Response,
    buf: Vec<u8>,
}

impl Watch {
    async fn open(c: &Cluster, path: &str) -> Watch {
        let response = c.client.get(c.url(path)).send().await.unwrap();
        assert!(response.status().is_success(), "watch {path}");
        Watch {
            response,
            buf: Vec::new(),
        }
    }

    /// The next event; `None` when the watch ended (or nothing came for 30 s).
    async fn next(&mut self) -> Option<Value> {
        loop {
            if let Some(end) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                return serde_json::from_slice(&line).ok();
            }
            let chunk = tokio::time::timeout(Duration::from_secs(30), self.response.chunk())
                .await
                .ok()?
                .ok()??;
            self.buf.extend_from_slice(&chunk);
        }
    }
}

/// The store's current resourceVersion (from a small list).
async fn revision(c: &Cluster) -> String {
    c.get_json("/api/v1/namespaces").await["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `n` label PATCHes of one pod, each waited for on a watch of every pod (as `kubectl
/// get pods -A -w`): (write → event, the PATCH's own answer).
pub async fn watch_delay(c: &Cluster, n: usize) -> (Latencies, Latencies) {
    let (ns, pod) = ("team-00", "web-00000");
    let mut since = revision(c).await;
    let mut watch = Watch::open(c, &format!("/api/v1/pods?watch=1&resourceVersion={since}")).await;
    let (mut delays, mut writes) = (Latencies::default(), Latencies::default());
    for i in 0..n {
        let seq = format!("{i}");
        let start = Instant::now();
        let r = c
            .client
            .patch(c.url(&format!("/api/v1/namespaces/{ns}/pods/{pod}")))
            .header("content-type", "application/merge-patch+json")
            .body(json!({"metadata": {"labels": {"bench-seq": seq}}}).to_string())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        let written = start.elapsed();
        let mut reopened = 0;
        loop {
            match watch.next().await {
                Some(e) => {
                    if let Some(rv) = e["object"]["metadata"]["resourceVersion"].as_str() {
                        since = rv.to_string();
                    }
                    let o = &e["object"]["metadata"];
                    if o["name"] == pod && o["labels"]["bench-seq"] == seq.as_str() {
                        break;
                    }
                }
                // The watch ended (it fell behind): watch again from the last event seen,
                // as a client does; the sample includes the reconnect.
                None if reopened < 3 => {
                    reopened += 1;
                    let path = format!("/api/v1/pods?watch=1&resourceVersion={since}");
                    watch = Watch::open(c, &path).await;
                }
                None => panic!("the watch never told PATCH {i}"),
            }
        }
        delays.0.push(start.elapsed());
        writes.0.push(written);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (delays, writes)
}

/// The time from a Deployment of `replicas` pods being posted to all of them bound to a
/// node (`spec.nodeName`), and to all of them Running, seen on a watch of the namespace
/// (listing again when the watch ends, as an informer does); `None` past `limit`.
pub async fn schedule_burst(
    c: &Cluster,
    replicas: usize,
    limit: Duration,
) -> (Option<Duration>, Option<Duration>) {
    let ns = "burst";
    c.post(
        "/api/v1/namespaces",
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
    )
    .await;
    let pods = format!("/api/v1/namespaces/{ns}/pods");
    let since = revision(c).await;
    let mut watch = Watch::open(c, &format!("{pods}?watch=1&resourceVersion={since}")).await;
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "burst", "namespace": ns},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "burst"}},
            "template": {"metadata": {"labels": {"app": "burst"}}, "spec": crate::cluster::pod_spec(None)}},
    });
    let start = Instant::now();
    c.post(
        &format!("/apis/apps/v1/namespaces/{ns}/deployments"),
        &deployment,
    )
    .await;
    // Each pod: (bound, running).
    let mut state: HashMap<String, (bool, bool)> = HashMap::new();
    let see = |state: &mut HashMap<String, (bool, bool)>, kind: &str, o: &Value| {
        let name = o["metadata"]["name"].as_str().unwrap_or("").to_string();
        if kind == "DELETED" {
            state.remove(&name);
        } else {
            let bound = o["spec"]["nodeName"]
                .as_str()
                .is_some_and(|n| !n.is_empty());
            state.insert(name, (bound, o["status"]["phase"] == "Running"));
        }
    };
    let (mut bound_at, mut running_at) = (None, None);
    while start.elapsed() < limit && running_at.is_none() {
        match watch.next().await {
            Some(e) if e["type"] != "ERROR" => {
                see(&mut state, e["type"].as_str().unwrap_or(""), &e["object"]);
            }
            _ => {
                // Ended or expired: list again, then watch from the list.
                let list = c.get_json(&pods).await;
                state.clear();
                for o in list["items"].as_array().into_iter().flatten() {
                    see(&mut state, "ADDED", o);
                }
                let since = list["metadata"]["resourceVersion"].as_str().unwrap_or("0");
                watch = Watch::open(c, &format!("{pods}?watch=1&resourceVersion={since}")).await;
            }
        }
        let bound = state.values().filter(|s| s.0).count();
        let running = state.values().filter(|s| s.1).count();
        if bound >= replicas && bound_at.is_none() {
            bound_at = Some(start.elapsed());
        }
        if running >= replicas {
            running_at = Some(start.elapsed());
        }
    }
    (bound_at, running_at)
}

/// Where a current kubectl is: the Cloud SDK's 1.33, else one on PATH.
pub fn kubectl() -> Option<std::path::PathBuf> {
    let sdk = std::path::PathBuf::from("/usr/lib/google-cloud-sdk/bin/kubectl.1.33");
    if sdk.is_file() {
        return Some(sdk);
    }
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| std::path::Path::new(d).join("kubectl"))
        .find(|p| p.is_file())
}

/// `runs` timed runs of `kubectl get <args>` (after one untimed, which fills kubectl's
/// discovery cache); each must print `lines` lines.
pub fn kubectl_get(
    c: &Cluster,
    kubectl: &std::path::Path,
    args: &[&str],
    lines: usize,
    runs: usize,
) -> Latencies {
    let mut out = Latencies::default();
    for run in 0..=runs {
        let start = Instant::now();
        let done = Command::new(kubectl)
            .arg("--kubeconfig")
            .arg(&c.kubeconfig)
            .arg("--request-timeout=120s")
            .arg("get")
            .args(args)
            .env("HOME", &c.dir)
            .output()
            .expect("kubectl runs");
        let took = start.elapsed();
        let printed = String::from_utf8_lossy(&done.stdout).lines().count();
        assert!(
            done.status.success() && printed == lines,
            "kubectl get {args:?}: {printed} lines, {}",
            String::from_utf8_lossy(&done.stderr)
        );
        if run > 0 {
            out.0.push(took);
        }
    }
    out
}

/// How many nodes a `kubectl get nodes` prints (with its header).
pub const NODE_LINES: usize = NODES + 1;
