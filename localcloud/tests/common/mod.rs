//! What every localcloud test shares: the published samples, a shape check, and a
//! cloud started on a free port in a temporary directory.
#![allow(dead_code)]

use std::path::PathBuf;

use reqwest::StatusCode;
use serde_json::{json, Value};

/// `OPENSTACK_SAMPLES`, or the nearest `shared/openstack-api-samples` beside the
/// repository or one of its parents (CI lays `shared/` beside the clone).
pub fn samples_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("OPENSTACK_SAMPLES") {
        return PathBuf::from(dir);
    }
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .map(|a| a.join("shared/openstack-api-samples"))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| {
            panic!(
                "no shared/openstack-api-samples above {}; set OPENSTACK_SAMPLES",
                here.display()
            )
        })
}

pub fn sample(path: &str) -> Value {
    let file = samples_dir().join(path);
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// Keys whose values are free-form maps: their sample keys are examples, not a shape.
const MAPS: &[&str] = &[
    "extra_specs",
    "metadata",
    "rules",
    "scheduler_hints",
    "properties",
    "insert_headers",
];

/// Every key of `sample` is in `ours` with a value of the same JSON kind, recursively
/// (a null on either side stands for "optional").
pub fn assert_shape(sample: &Value, ours: &Value, path: &str) {
    match (sample, ours) {
        (_, Value::Null) | (Value::Null, _) => {}
        (Value::Object(s), Value::Object(o)) => {
            for (k, v) in s {
                let p = format!("{path}.{k}");
                let Some(ov) = o.get(k) else {
                    panic!("{p} is missing; ours: {ours}")
                };
                if !MAPS.contains(&k.as_str()) {
                    assert_shape(v, ov, &p);
                }
            }
        }
        (Value::Array(s), Value::Array(o)) => {
            if let (Some(s0), Some(o0)) = (s.first(), o.first()) {
                assert_shape(s0, o0, &format!("{path}[0]"));
            }
        }
        (Value::String(_), Value::String(_))
        | (Value::Number(_), Value::Number(_))
        | (Value::Bool(_), Value::Bool(_)) => {}
        _ => panic!("{path}: sample has {sample}, ours has {ours}"),
    }
}

pub struct Cloud {
    pub running: localcloud::Running,
    pub _dir: tempdir::Dir,
    pub http: reqwest::Client,
}

pub mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new() -> Dir {
            let p = std::env::temp_dir().join(format!("localcloud-test-{}", uuid_like()));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn uuid_like() -> String {
        format!("{}-{:?}", std::process::id(), std::time::SystemTime::now())
            .replace(|c: char| !c.is_ascii_alphanumeric(), "")
    }
}

impl Cloud {
    pub async fn start() -> Cloud {
        let dir = tempdir::Dir::new();
        let mut config = localcloud::Config::new("127.0.0.1:0".parse().unwrap(), &dir.0);
        config.vip_range = random_vip_range();
        config.subnet = localcloud::addresses::random_subnet();
        let running = localcloud::start(config).await.expect("localcloud starts");
        Cloud {
            running,
            _dir: dir,
            http: reqwest::Client::new(),
        }
    }

    pub async fn auth(&self, user: &str, password: &str, project: &str) -> reqwest::Response {
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"name": "Default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"name": "Default"}}}
        }});
        self.http
            .post(format!("{}/auth/tokens", self.running.auth_url()))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// The admin's password: random, kept in the cloud's data directory.
    pub fn password(&self) -> String {
        self.running.admin().password
    }

    /// The id of the `admin` project (tokens are scoped to it).
    pub async fn project_id(&self) -> String {
        let auth: Value = self
            .auth("admin", &self.password(), "admin")
            .await
            .json()
            .await
            .unwrap();
        auth["token"]["project"]["id"].as_str().unwrap().to_string()
    }

    pub async fn token(&self) -> String {
        let res = self.auth("admin", &self.password(), "admin").await;
        assert_eq!(res.status(), StatusCode::CREATED);
        res.headers()["x-subject-token"]
            .to_str()
            .unwrap()
            .to_string()
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut req = self.http.get(format!("{}{path}", self.running.url));
        if let Some(t) = token {
            req = req.header("x-auth-token", t);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }
}

impl Cloud {
    pub async fn start_with(f: impl FnOnce(&mut localcloud::Config)) -> Cloud {
        let dir = tempdir::Dir::new();
        let mut config = localcloud::Config::new("127.0.0.1:0".parse().unwrap(), &dir.0);
        config.vip_range = random_vip_range();
        config.subnet = localcloud::addresses::random_subnet();
        f(&mut config);
        let running = localcloud::start(config).await.expect("localcloud starts");
        Cloud {
            running,
            _dir: dir,
            http: reqwest::Client::new(),
        }
    }

    /// A fixed IP of the shared private network, held by a port of its own (a server's
    /// NIC, as Nova makes one): an address the cloud owns, which a test's backend binds
    /// as a real server would.
    pub async fn fixed_ip(&self, token: &str) -> std::net::Ipv4Addr {
        let (_, nets) = self
            .get("/network/v2.0/networks?name=private", Some(token))
            .await;
        let net = nets["networks"][0]["id"].as_str().unwrap().to_string();
        let (s, port) = self
            .send(
                reqwest::Method::POST,
                "/network/v2.0/ports",
                token,
                Some(json!({"port": {"network_id": net, "name": "backend"}})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{port}");
        port["port"]["fixed_ips"][0]["ip_address"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.running.url))
            .header("x-auth-token", token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }
}

pub fn random_vip_range() -> (std::net::Ipv4Addr, u8) {
    localcloud::random_vip_range()
}
