//! The cluster the bench measures: kubesim started in-process over mTLS on
//! 127.0.0.1:0 with its store in a temporary directory (persisted, as in production),
//! on a runtime of its own; 200 simulated kubelets ([`kubesim::node_agent::NodeAgent`],
//! each with its own `system:node:<name>` certificate, registering its Node and renewing
//! its Lease every 10 s as in production, started spread over those 10 s as servers
//! boot at different moments); then 5,000 pods bound across the nodes,
//! created through the API, until the kubelets report them all Running. Also the
//! static route the lists are compared with: the same bytes, served by the same router
//! behind the same listener and TLS.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use serde_json::{json, Value};

use crate::common;

pub const NODES: usize = 200;
/// Namespaces the seeded pods are spread over.
pub const TEAMS: usize = 10;

/// Bytes the bench serves as static files, by name (`/bench/static/{name}`).
pub type Statics = Arc<Mutex<HashMap<String, Bytes>>>;

/// A started cluster and how to reach it.
pub struct Cluster {
    pub dir: PathBuf,
    pub base: String,
    pub client: reqwest::Client,
    pub kubeconfig: PathBuf,
    pub statics: Statics,
    running: kubesim::Running,
    /// The server's runtime (API server, control loop, kubelets).
    runtime: tokio::runtime::Runtime,
}

/// The bench's only addition to the server: named bytes, answered as they are.
fn static_routes(statics: Statics) -> axum::Router {
    use axum::extract::{Path, State};
    use axum::routing::get;
    async fn serve(State(s): State<Statics>, Path(name): Path<String>) -> axum::response::Response {
        use axum::response::IntoResponse;
        let body = s.lock().unwrap().get(&name).cloned();
        match body {
            Some(b) => ([("content-type", "application/json")], b).into_response(),
            None => axum::http::StatusCode::NOT_FOUND.into_response(),
        }
    }
    axum::Router::new()
        .route("/bench/static/{name}", get(serve))
        .with_state(statics)
}

/// A client of `ca` with the certificate `(cert, key)`, HTTP/1.1 (reqwest's, as built here).
pub fn client(ca_pem: &str, (cert, key): &(String, String)) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .identity(reqwest::Identity::from_pem(format!("{cert}\n{key}").as_bytes()).unwrap())
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

/// Starts the server and the kubelets; answers once every Node is registered and Ready.
pub async fn start(dir: &Path) -> Cluster {
    let ca = common::ca("bench-cluster-ca");
    let serving = common::leaf(&ca, "kube-apiserver", &[], true);
    let store_file = dir.join("objects.json");
    let statics: Statics = Default::default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = kubesim::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        cert_pem: serving.0,
        key_pem: serving.1,
        ca_pem: ca.pem.clone(),
        kubernetes_version: "v1.33.2".into(),
        advertise: "127.0.0.1:6443".into(),
        store_file: Some(store_file.clone()),
    };
    let routes = static_routes(statics.clone());
    let running = runtime
        .spawn(kubesim::server::start_with(config, routes))
        .await
        .unwrap()
        .unwrap();
    let base = format!("https://{}", running.addr);
    let admin = common::leaf(&ca, "bench-admin", &["system:masters"], false);
    let kubeconfig = common::kubeconfig(dir, "admin", &base[8..], &ca.pem, &admin);
    let client = client(&ca.pem, &admin);
    for i in 0..NODES {
        let name = node_name(i);
        let (cert, key) = common::leaf(
            &ca,
            &format!("system:node:{name}"),
            &["system:nodes"],
            false,
        );
        let agent = kubesim::node_agent::NodeAgent {
            bootstrap: kubesim::bootstrap::Bootstrap {
                role: kubesim::bootstrap::Role::Worker,
                cluster: "bench".into(),
                kubernetes_version: "v1.33.2".into(),
                api_server: base.clone(),
                node_name: name,
                ca_pem: ca.pem.clone(),
                cert_pem: cert,
                key_pem: key,
                node_labels: [("shipyard.io/node-group".to_string(), "bench".to_string())].into(),
                node_taints: Vec::new(),
            },
            internal_ip: format!("10.0.{}.{}", i / 250, i % 250 + 1),
            server_id: format!("00000000-0000-4000-8000-{i:012}"),
            vcpus: 4,
            memory_mib: 16 * 1024,
            labels: [(
                "node.kubernetes.io/instance-type".to_string(),
                "m1.large".to_string(),
            )]
            .into(),
            heartbeat: kubesim::node_agent::HEARTBEAT,
        };
        // Servers boot at different moments: the kubelets start spread over one
        // heartbeat, so their renewals do not all land together.
        let delay = kubesim::node_agent::HEARTBEAT * i as u32 / NODES as u32;
        runtime.spawn(async move {
            tokio::time::sleep(delay).await;
            agent.spawn().await
        });
    }
    let cluster = Cluster {
        dir: dir.to_path_buf(),
        base,
        client,
        kubeconfig,
        statics,
        running,
        runtime,
    };
    let c = &cluster;
    let ready = until(
        Duration::from_secs(300),
        "every node Ready",
        move || async move {
            let nodes = c.get_json("/api/v1/nodes").await;
            let n = nodes["items"].as_array().map_or(0, |i| {
                i.iter().filter(|n| kubesim::kubelet::node_ready(n)).count()
            });
            n == NODES
        },
    )
    .await;
    assert!(ready.is_some(), "the nodes never all registered");
    cluster
}

pub fn node_name(i: usize) -> String {
    format!("node-{i:03}")
}

/// A pod of `app` asking for 100m CPU and 128Mi, as a small web workload would.
pub fn pod_spec(node: Option<&str>) -> Value {
    let mut spec = json!({
        "containers": [{
            "name": "web",
            "image": "registry.example.com/team/web:1.27.3",
            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
            "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "REGION", "value": "local-1"}],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                          "limits": {"cpu": "500m", "memory": "256Mi"}},
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10},
        }],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "default",
    });
    if let Some(n) = node {
        spec["nodeName"] = json!(n);
    }
    spec
}

impl Cluster {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let r = self.client.get(self.url(path)).send().await.unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) {
        let r = self
            .client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        assert!(
            status.is_success() || status.as_u16() == 409,
            "POST {path}: {status} {}",
            r.text().await.unwrap_or_default()
        );
    }

    /// Creates `pods` pods bound round-robin to the nodes, spread over [`TEAMS`]
    /// namespaces, `in_flight` at a time: (time to create them all, time until the
    /// kubelets report them all Running).
    pub async fn seed_pods(&self, pods: usize, in_flight: usize) -> (Duration, Option<Duration>) {
        for t in 0..TEAMS {
            let ns =
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": team(t)}});
            self.post("/api/v1/namespaces", &ns).await;
        }
        let start = Instant::now();
        let mut workers = tokio::task::JoinSet::new();
        for w in 0..in_flight {
            let (client, base) = (self.client.clone(), self.base.clone());
            workers.spawn(async move {
                for i in (w..pods).step_by(in_flight) {
                    let ns = team(i % TEAMS);
                    let pod = json!({
                        "apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": format!("web-{i:05}"), "namespace": ns,
                            "labels": {"app": "web", "team": ns, "tier": "frontend"}},
                        "spec": pod_spec(Some(&node_name(i % NODES))),
                    });
                    let r = client
                        .post(format!("{base}/api/v1/namespaces/{ns}/pods"))
                        .json(&pod)
                        .send()
                        .await
                        .unwrap();
                    assert!(r.status().is_success() || r.status().as_u16() == 409);
                }
            });
        }
        while let Some(done) = workers.join_next().await {
            done.unwrap();
        }
        let created = start.elapsed();
        let running = until(
            Duration::from_secs(1800),
            "every seeded pod Running",
            move || async move { running_pods(&self.get_json("/api/v1/pods").await) >= pods },
        )
        .await
        .map(|_| start.elapsed());
        (created, running)
    }

    /// Stops the server, its control loop and the kubelets (waiting for a pass under
    /// way), and removes the directory.
    pub fn stop(self) {
        self.running.stop();
        self.runtime.shutdown_timeout(Duration::from_secs(10));
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// The store's files on disk (the store file and anything beside it): bytes.
    pub fn store_bytes(&self) -> u64 {
        std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("objects"))
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum()
    }
}

pub fn team(t: usize) -> String {
    format!("team-{t:02}")
}

pub fn running_pods(list: &Value) -> usize {
    list["items"].as_array().map_or(0, |i| {
        i.iter()
            .filter(|p| p["status"]["phase"] == "Running")
            .count()
    })
}

/// Polls `check` every 200 ms until it holds or `limit` passes: how long it took.
pub async fn until<F, Fut>(limit: Duration, what: &str, check: F) -> Option<Duration>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("not within {limit:?}: {what}");
    None
}
