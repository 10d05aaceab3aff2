//! `shipyard` as a child process against a localcloud the test runs, and the few API
//! calls the suites that kill and restart it make.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

pub const ADMIN_EMAIL: &str = "admin@crash.example";
pub const ADMIN_PASSWORD: &str = "admin password 123";

/// The same 256-bit key (hex) for every process on one database.
fn secret_key_for(db_url: &str) -> String {
    use std::hash::{Hash, Hasher};
    (0..4u8)
        .map(|i| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (db_url, i).hash(&mut h);
            format!("{:016x}", h.finish())
        })
        .collect()
}

pub struct Shipyard {
    pub child: Child,
    pub url: String,
}

pub fn start(
    db_url: &str,
    data: &std::path::Path,
    admin: &localcloud::credentials::Credentials,
) -> Shipyard {
    start_with(db_url, data, admin, &[])
}

/// As [`start`], with more environment (`SHIPYARD_AUTOSCALE_*`, `SHIPYARD_REPAIR_*`).
pub fn start_with(
    db_url: &str,
    data: &std::path::Path,
    admin: &localcloud::credentials::Credentials,
    env: &[(&str, &str)],
) -> Shipyard {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shipyard"))
        .env("SHIPYARD_LISTEN", "127.0.0.1:0")
        .env("SHIPYARD_DATA_DIR", data)
        .env("DATABASE_URL", db_url)
        // Replicas of one database share the key that seals cluster CAs, as they must.
        .env("SHIPYARD_SECRET_KEY", secret_key_for(db_url))
        .env("SHIPYARD_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("SHIPYARD_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("SHIPYARD_CLOUD", "openstack")
        .env("SHIPYARD_OPERATION_LEASE_SECONDS", "2")
        .env("OS_AUTH_URL", &admin.auth_url)
        .env("OS_USERNAME", &admin.username)
        .env("OS_PASSWORD", &admin.password)
        .env("OS_PROJECT_NAME", &admin.project)
        .env("OS_USER_DOMAIN_NAME", "Default")
        .env("OS_PROJECT_DOMAIN_NAME", "Default")
        .env_remove("OS_CLOUD")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("shipyard starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("shipyard prints its address")
            .expect("line");
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.trim().to_string();
        }
    };
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Shipyard { child, url }
}

impl Shipyard {
    /// SIGKILL, and wait for the process to be gone.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }
}

/// A test that fails leaves no Shipyard running.
impl Drop for Shipyard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn token(http: &reqwest::Client, url: &str) -> String {
    let res = http
        .post(format!("{url}/api/sign_in"))
        .header("accept", "application/json")
        .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("shipyard_session="))
        .map(|v| v.split(';').next().unwrap().to_string())
        .expect("session cookie");
    let res = http
        .post(format!("{url}/api/v1/tokens"))
        .header("cookie", cookie)
        .json(&json!({"name": "crash"}))
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    body["token"]["secret"].as_str().unwrap().to_string()
}

pub async fn api(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http.request(method, url).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    match req.send().await {
        Ok(res) => {
            let status = res.status().as_u16();
            (status, res.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

/// `kubectl args` with the kubeconfig `config` (PATH's kubectl): success, and what it
/// printed (both streams).
pub fn kubectl(config: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(config)
        .arg("--request-timeout=5s")
        .args(args)
        .env_remove("KUBECONFIG")
        .env("HOME", config.parent().unwrap())
        .output()
        .expect("kubectl runs (make test-tools installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Creates a cluster of one master and one worker through the API, waits for its
/// create to succeed, and writes a kubeconfig for it into `dir`: its id and the file.
pub async fn small_cluster(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    name: &str,
    dir: &std::path::Path,
) -> (String, std::path::PathBuf) {
    cluster_of(http, url, token, name, dir, 1, 1).await
}

/// As [`small_cluster`], with `masters` masters and `workers` workers (m1.small) in the
/// node group `w`.
pub async fn cluster_of(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    name: &str,
    dir: &std::path::Path,
    masters: u32,
    workers: u32,
) -> (String, std::path::PathBuf) {
    let body = json!({"name": name, "master_count": masters, "master_flavor": "m1.small",
        "node_groups": [{"name": "w", "flavor": "m1.small", "node_count": workers}]});
    let (status, made) = api(
        http,
        reqwest::Method::POST,
        &format!("{url}/api/v1/clusters"),
        token,
        Some(body),
    )
    .await;
    assert_eq!(status, 202, "{made}");
    let id = made["cluster"]["id"].as_str().unwrap().to_string();
    let op = made["operation"]["id"].as_str().unwrap().to_string();
    let mut state = Value::Null;
    for _ in 0..300 {
        let (_, o) = api(
            http,
            reqwest::Method::GET,
            &format!("{url}/api/v1/operations/{op}"),
            token,
            None,
        )
        .await;
        state = o["operation"]["state"].clone();
        if state == "succeeded" || state == "unwound" || state == "failed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(state, "succeeded");
    let kubeconfig = http
        .post(format!("{url}/api/v1/clusters/{id}/kubeconfig"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let file = dir.join(format!("{name}.kubeconfig.yaml"));
    std::fs::write(&file, kubeconfig).unwrap();
    (id, file)
}

/// The cluster as `GET /api/v1/clusters/{id}` shows it (with its node groups and
/// operations), `Null` while Shipyard does not answer.
pub async fn cluster_shown(http: &reqwest::Client, url: &str, token: &str, id: &str) -> Value {
    let (status, body) = api(
        http,
        reqwest::Method::GET,
        &format!("{url}/api/v1/clusters/{id}"),
        token,
        None,
    )
    .await;
    if status == 200 {
        body["cluster"].clone()
    } else {
        Value::Null
    }
}

/// The cluster's operations of `kind` (newest first, as the API lists them).
pub async fn operations_of(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    id: &str,
    kind: &str,
) -> Vec<Value> {
    cluster_shown(http, url, token, id).await["operations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o["kind"] == kind)
        .cloned()
        .collect()
}

/// Whether an operation's state is final.
pub fn finished(op: &Value) -> bool {
    matches!(
        op["state"].as_str(),
        Some("succeeded" | "failed" | "unwound" | "stuck")
    )
}

/// An admin action of localcloud's Nova on a server (`{"os-resetState": …}`), as the
/// cloud's admin; the cloud must accept it.
pub async fn nova_action(cloud: &localcloud::Running, server_id: &str, action: Value) {
    let admin = cloud.admin();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let auth = http
        .post(format!("{}/auth/tokens", admin.auth_url))
        .json(&json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": admin.username, "domain": {"id": "default"}, "password": admin.password}}},
            "scope": {"project": {"name": admin.project, "domain": {"id": "default"}}}}}))
        .send()
        .await
        .unwrap();
    let token = auth.headers()["x-subject-token"]
        .to_str()
        .unwrap()
        .to_string();
    let r = http
        .post(format!(
            "{}/compute/v2.1/servers/{server_id}/action",
            cloud.url
        ))
        .header("x-auth-token", token)
        .json(&action)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        202,
        "{action}: {}",
        r.text().await.unwrap_or_default()
    );
}

/// Waits until `check` holds, `secs` at most.
pub async fn eventually<F, Fut>(what: &str, secs: u64, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !check().await {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Shipyard's own OpenStack driver, signed in to the cloud as its admin: how a test
/// reads the cloud's inventory.
pub async fn driver(admin: &localcloud::credentials::Credentials) -> provision::cloud::OpenStack {
    provision::cloud::OpenStack::connect(provision::cloud::OpenStackConfig::new(
        admin.auth_url.clone(),
        admin.username.clone(),
        admin.password.clone(),
        admin.project.clone(),
    ))
    .await
    .unwrap()
}

/// The names of the Ready nodes in `kubectl get nodes -o json`'s answer, sorted.
pub fn ready_nodes(json: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(json).unwrap_or_default();
    let mut names: Vec<String> = v["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| {
            n["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
        })
        .map(|n| n["metadata"]["name"].as_str().unwrap_or("").to_string())
        .collect();
    names.sort();
    names
}
