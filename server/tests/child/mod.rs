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
    let body = json!({"name": name, "master_count": 1, "master_flavor": "m1.small",
        "node_groups": [{"name": "w", "flavor": "m1.small", "node_count": 1}]});
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
