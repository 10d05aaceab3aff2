//! localcloud over real TCP: identity and compute flavors, checked against the
//! published OpenStack API samples in ../shared (read from there, never copied).

use std::path::PathBuf;

use reqwest::StatusCode;
use serde_json::{json, Value};

/// `OPENSTACK_SAMPLES`, or the nearest `shared/openstack-api-samples` beside the
/// repository or one of its parents (CI lays `shared/` beside the clone).
fn samples_dir() -> PathBuf {
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

fn sample(path: &str) -> Value {
    let file = samples_dir().join(path);
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// Keys whose values are free-form maps: their sample keys are examples, not a shape.
const MAPS: &[&str] = &["extra_specs", "metadata"];

/// Every key of `sample` is in `ours` with a value of the same JSON kind, recursively
/// (a null on either side stands for "optional").
fn assert_shape(sample: &Value, ours: &Value, path: &str) {
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

struct Cloud {
    running: localcloud::Running,
    _dir: tempdir::Dir,
    http: reqwest::Client,
}

mod tempdir {
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
    async fn start() -> Cloud {
        let dir = tempdir::Dir::new();
        let running = localcloud::start(localcloud::Config::new(
            "127.0.0.1:0".parse().unwrap(),
            &dir.0,
        ))
        .await
        .expect("localcloud starts");
        Cloud {
            running,
            _dir: dir,
            http: reqwest::Client::new(),
        }
    }

    async fn auth(&self, user: &str, password: &str, project: &str) -> reqwest::Response {
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

    async fn token(&self) -> String {
        let res = self.auth("admin", "admin", "admin").await;
        assert_eq!(res.status(), StatusCode::CREATED);
        res.headers()["x-subject-token"]
            .to_str()
            .unwrap()
            .to_string()
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut req = self.http.get(format!("{}{path}", self.running.url));
        if let Some(t) = token {
            req = req.header("x-auth-token", t);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn password_token_with_catalog_in_keystones_shape() {
    let cloud = Cloud::start().await;
    let res = cloud.auth("admin", "admin", "admin").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(res.headers().contains_key("x-subject-token"));
    let body: Value = res.json().await.unwrap();
    assert_shape(&sample("keystone/project-scoped-password.json"), &body, "");
    let catalog = body["token"]["catalog"].as_array().unwrap();
    let compute = catalog
        .iter()
        .find(|s| s["type"] == "compute")
        .expect("compute in catalog");
    let public = compute["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["interface"] == "public")
        .unwrap();
    assert_eq!(public["url"], format!("{}/compute/v2.1", cloud.running.url));
    // The token is the subject of a validation call.
    let token = cloud.token().await;
    let res = cloud
        .http
        .get(format!("{}/auth/tokens", cloud.running.auth_url()))
        .header("x-auth-token", &token)
        .header("x-subject-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // The sample request (by user id) parses; its unknown user is refused like any other.
    let res = cloud
        .http
        .post(format!("{}/auth/tokens", cloud.running.auth_url()))
        .json(&sample("keystone/project-name-password.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let clouds = std::fs::read_to_string(cloud._dir.0.join("clouds.yaml")).unwrap();
    assert!(
        clouds.contains(&format!("auth_url: {}/identity/v3", cloud.running.url)),
        "{clouds}"
    );
    cloud.running.stop();
}

#[tokio::test]
async fn identity_refusals_in_keystones_error_shape() {
    let cloud = Cloud::start().await;
    for (user, password, project) in [
        ("admin", "wrong", "admin"),
        ("nobody", "admin", "admin"),
        ("admin", "admin", "other"),
    ] {
        let res = cloud.auth(user, password, project).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], 401, "{body}");
        assert_eq!(body["error"]["title"], "Unauthorized");
        assert!(body["error"]["message"].is_string());
    }
    for bad in [&b""[..], b"{", b"\xff\xfe", b"{\"auth\": 3}", b"[]"] {
        let res = cloud
            .http
            .post(format!("{}/auth/tokens", cloud.running.auth_url()))
            .header("content-type", "application/json")
            .body(bad.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad:?}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], 400);
    }
    cloud.running.stop();
}

#[tokio::test]
async fn flavors_in_novas_shape() {
    let cloud = Cloud::start().await;
    let token = cloud.token().await;
    let (status, list) = cloud.get("/compute/v2.1/flavors", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_shape(&sample("nova/flavors-list-resp.json"), &list, "");
    let (status, detail) = cloud
        .get("/compute/v2.1/flavors/detail", Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_shape(&sample("nova/flavors-detail-resp.json"), &detail, "");
    let names: Vec<&str> = detail["flavors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["m1.tiny", "m1.small", "m1.medium", "m1.large", "m1.xlarge"]
    );
    let (status, one) = cloud.get("/compute/v2.1/flavors/3", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_shape(&sample("nova/flavor-get-resp.json"), &one, "");
    assert_eq!(
        (
            one["flavor"]["vcpus"].as_u64(),
            one["flavor"]["ram"].as_u64()
        ),
        (Some(2), Some(4096))
    );

    let (status, missing) = cloud.get("/compute/v2.1/flavors/nope", Some(&token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_shape(
        &sample("nova/faults-itemNotFound.extracted.json"),
        &missing,
        "",
    );
    for token in [None, Some("not-a-token")] {
        let (status, body) = cloud.get("/compute/v2.1/flavors", token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["unauthorized"]["code"], 401, "{body}");
    }
    cloud.running.stop();
}
