//! What every module of this suite shares: a server started on SQLite or PostgreSQL
//! (`App`), a browser-like client (`Client`), the `both!` macro that runs a test on
//! each database, and the waits for operations.

use std::time::Duration;

use clap::Parser;
use provision::testdb::{TempDir, TestDb};
use provision::{Backend, Store};
use reqwest::header::{HeaderMap, COOKIE, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::Value;

pub(crate) const ADMIN_EMAIL: &str = "admin@test.example";
pub(crate) const ADMIN_PASSWORD: &str = "admin password 123";

macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = super::App::start(provision::Backend::Sqlite).await;
                super::$name(&app).await;
                app.stop().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let app = super::App::start(provision::Backend::Postgres).await;
                super::$name(&app).await;
                app.stop().await;
            }
        }
    };
}

pub(crate) struct App {
    pub(crate) url: String,
    pub(crate) store: Store,
    db: Option<TestDb>,
    pub(crate) _site: TempDir,
    task: tokio::task::JoinHandle<()>,
    workers: tokio::task::JoinHandle<()>,
    pub(crate) cloud: Option<localcloud::Running>,
}

impl App {
    pub(crate) async fn start(backend: Backend) -> App {
        let db = TestDb::new(backend).await.expect("test database");
        let (vip_base, vip_len) = localcloud::random_vip_range();
        let vips = format!("{vip_base}/{vip_len}");
        let subnet = localcloud::addresses::random_subnet().to_string();
        let site = TempDir::new(&format!("shipyard-site-{}", provision::new_id())).unwrap();
        let config = server::Config::parse_from([
            "shipyard",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &db.url,
            "--site-root",
            site.0.to_str().unwrap(),
            "--data-dir",
            site.0.to_str().unwrap(),
            "--cloud",
            "embedded",
            "--localcloud-listen",
            "127.0.0.1:0",
            "--localcloud-instant",
            "--localcloud-vip-range",
            &vips,
            "--localcloud-subnet",
            &subnet,
            "--admin-email",
            ADMIN_EMAIL,
            "--admin-password",
            ADMIN_PASSWORD,
        ]);
        let mut built = server::build(&config).await.expect("server builds");
        let workers = built.start_workers();
        let cloud = built.localcloud.take();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let router = built.router;
        let task = tokio::spawn(async move {
            let _ = server::serve(listener, router).await;
        });
        App {
            url,
            store: built.store,
            db: Some(db),
            _site: site,
            task,
            workers,
            cloud,
        }
    }

    pub(crate) async fn stop(mut self) {
        self.task.abort();
        self.workers.abort();
        if let Some(c) = self.cloud.take() {
            c.stop();
        }
        self.store.close().await;
        if let Some(db) = self.db.take() {
            db.cleanup().await;
        }
    }

    pub(crate) fn client(&self) -> Client {
        Client {
            base: self.url.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    pub(crate) async fn signed_up(&self, email: &str) -> Client {
        let mut c = self.client();
        let r = c
            .call(
                "sign_up",
                &[("email", email), ("password", "a long password!")],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        c
    }

    pub(crate) async fn admin(&self) -> Client {
        let mut c = self.client();
        let r = c
            .call(
                "sign_in",
                &[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        c
    }
}

/// A browser-like client that keeps the session cookie by hand, so tests can replay
/// an old one.
pub(crate) struct Client {
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    pub(crate) cookie: Option<String>,
}

pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

impl Client {
    /// Calls a server function the way the hydrated app does.
    pub(crate) async fn call(&mut self, endpoint: &str, form: &[(&str, &str)]) -> Answer {
        let body = serde_urlencoded::to_string(form).unwrap();
        self.send(
            reqwest::Method::POST,
            &format!("/api/{endpoint}"),
            Some(body.into_bytes()),
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("accept", "application/json"),
            ],
        )
        .await
    }

    pub(crate) async fn send(
        &mut self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(c) = &self.cookie {
            req = req.header(COOKIE, c);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let res = req.send().await.expect("request");
        for v in res.headers().get_all(SET_COOKIE) {
            let v = v.to_str().unwrap();
            let pair = v.split(';').next().unwrap().to_string();
            if pair.starts_with("shipyard_session=") {
                let expired = v.contains("Max-Age=0") || pair == "shipyard_session=";
                self.cookie = if expired { None } else { Some(pair) };
            }
        }
        Answer {
            status: res.status(),
            headers: res.headers().clone(),
            body: res.text().await.unwrap_or_default(),
        }
    }

    pub(crate) async fn session(&mut self) -> Value {
        let r = self.call("session", &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.json()
    }

    pub(crate) async fn email(&mut self) -> Option<String> {
        self.session().await["user"]["email"]
            .as_str()
            .map(String::from)
    }
}

// ---- the REST API ---------------------------------------------------------------------

impl Client {
    /// A JSON call to `/api/v1`, with a bearer token when given (else the session).
    pub(crate) async fn api(
        &mut self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![
            ("content-type", "application/json"),
            ("accept", "application/json"),
        ];
        if let Some(a) = &auth {
            headers.push(("authorization", a.as_str()));
        }
        let body = body.map(|b| b.to_string().into_bytes());
        self.send(method, path, body, &headers).await
    }

    /// Creates an API token through the session and returns its secret.
    pub(crate) async fn token(&mut self, name: &str) -> String {
        let r = self
            .api(
                reqwest::Method::POST,
                "/api/v1/tokens",
                None,
                Some(serde_json::json!({"name": name})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(r.headers[reqwest::header::CACHE_CONTROL], "no-store");
        r.json()["token"]["secret"].as_str().unwrap().to_string()
    }
}

/// Waits until `GET path` lists `key` (`services` or `volumes`) with `name` in
/// `status`, and answers that list (the controllers make their cloud side meanwhile).
pub(crate) async fn wait_listed(
    c: &mut Client,
    token: &str,
    path: &str,
    key: &str,
    name: &str,
    status: &str,
) -> Value {
    let mut last = Value::Null;
    for _ in 0..600 {
        let r = c.api(reqwest::Method::GET, path, Some(token), None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        last = r.json();
        let found = last[key]
            .as_array()
            .into_iter()
            .flatten()
            .any(|x| x["name"] == name && x["status"] == status);
        if found {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{name} never {status} in {path}: {last}");
}

/// Waits until the cluster's API lists `count` Nodes, all Ready: a load balancer made
/// before then gets its members in a second operation when the nodes come.
pub(crate) async fn wait_nodes_ready(c: &mut Client, token: &str, cluster: &str, count: usize) {
    let path = format!("/api/v1/clusters/{cluster}/kubernetes");
    let mut last = Value::Null;
    for _ in 0..600 {
        let r = c.api(reqwest::Method::GET, &path, Some(token), None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        last = r.json();
        let nodes = last["nodes"].as_array().cloned().unwrap_or_default();
        if nodes.len() == count && nodes.iter().all(|n| n["ready"] == "True") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the cluster's {count} node(s) never all Ready: {last}");
}

/// `DELETE path`, again while the answer is 409 because another operation of the
/// object runs (a controller's, say).
pub(crate) async fn delete_when_idle(c: &mut Client, token: Option<&str>, path: &str) -> Answer {
    for _ in 0..600 {
        let r = c.api(reqwest::Method::DELETE, path, token, None).await;
        if r.status != StatusCode::CONFLICT {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} stayed busy");
}

pub(crate) async fn wait_operation(c: &mut Client, token: &str, id: &str) -> Value {
    for _ in 0..600 {
        let r = c
            .api(
                reqwest::Method::GET,
                &format!("/api/v1/operations/{id}"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let op = r.json()["operation"].clone();
        if ["succeeded", "unwound", "failed", "stuck"].contains(&op["state"].as_str().unwrap_or(""))
        {
            return op;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("operation {id} did not finish");
}

/// Opens the cluster's live stream with a session cookie or a token; answers the
/// response (its body still streaming).
pub(crate) async fn open_stream(c: &Client, id: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = c.http.get(format!("{}/clusters/{id}/events", c.base));
    req = match token {
        Some(t) => req.header("authorization", format!("Bearer {t}")),
        None => req.header(COOKIE, c.cookie.clone().unwrap()),
    };
    req.send().await.unwrap()
}

/// Reads a live stream to its end; panics if it is still open after `within`.
pub(crate) async fn ends_within(stream: reqwest::Response, within: Duration, why: &str) {
    let mut stream = stream;
    tokio::time::timeout(within, async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await
    .unwrap_or_else(|_| panic!("the stream did not end: {why}"));
}

pub(crate) async fn wait_state(c: &mut Client, token: &str, id: &str, want: &str) {
    for _ in 0..300 {
        let r = c
            .api(
                reqwest::Method::GET,
                &format!("/api/v1/operations/{id}"),
                Some(token),
                None,
            )
            .await;
        if r.json()["operation"]["state"] == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("operation {id} never became {want}");
}
