//! The server over real TCP, on SQLite and on PostgreSQL: sign-up and sign-in,
//! sessions, throttling, CSRF, roles, tenant isolation and bad input.

use std::time::Duration;

use clap::Parser;
use provision::testdb::{TempDir, TestDb};
use provision::{Backend, Store};
use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::Value;

const ADMIN_EMAIL: &str = "admin@test.example";
const ADMIN_PASSWORD: &str = "admin password 123";

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

struct App {
    url: String,
    store: Store,
    db: Option<TestDb>,
    _site: TempDir,
    task: tokio::task::JoinHandle<()>,
    workers: tokio::task::JoinHandle<()>,
    cloud: Option<localcloud::Running>,
}

impl App {
    async fn start(backend: Backend) -> App {
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

    async fn stop(mut self) {
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

    fn client(&self) -> Client {
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

    async fn signed_up(&self, email: &str) -> Client {
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

    async fn admin(&self) -> Client {
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
struct Client {
    base: String,
    http: reqwest::Client,
    cookie: Option<String>,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

impl Client {
    /// Calls a server function the way the hydrated app does.
    async fn call(&mut self, endpoint: &str, form: &[(&str, &str)]) -> Answer {
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

    async fn send(
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

    async fn session(&mut self) -> Value {
        let r = self.call("session", &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.json()
    }

    async fn email(&mut self) -> Option<String> {
        self.session().await["user"]["email"]
            .as_str()
            .map(String::from)
    }
}

async fn sign_up_sign_in_and_cycled_sessions(app: &App) {
    let mut c = app.signed_up("Alice@Example.com").await;
    assert_eq!(c.email().await.as_deref(), Some("alice@example.com"));
    let projects = c.session().await["projects"].clone();
    assert_eq!(projects[0]["role"], "owner");
    let first = c.cookie.clone().expect("session cookie");

    // Signing in again issues a new session id; the old id is dead.
    let r = c
        .call(
            "sign_in",
            &[
                ("email", "alice@example.com"),
                ("password", "a long password!"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.headers.get(LOCATION).unwrap(), "/clusters");
    let second = c.cookie.clone().expect("new cookie");
    assert_ne!(first, second, "session id not cycled at sign-in");
    let mut old = app.client();
    old.cookie = Some(first);
    assert_eq!(old.email().await, None);
    assert_eq!(c.email().await.as_deref(), Some("alice@example.com"));

    // Cookie attributes.
    let mut fresh = app.client();
    let r = fresh
        .call(
            "sign_in",
            &[
                ("email", "alice@example.com"),
                ("password", "a long password!"),
            ],
        )
        .await;
    let set = r
        .headers
        .get(SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Lax"), "{set}");
    assert!(!set.contains("Secure"), "{set}");
}
both!(sign_up_sign_in_and_cycled_sessions);

async fn sign_up_validation_messages(app: &App) {
    let mut c = app.client();
    for (email, password, expect) in [
        ("", "a long password!", "Enter your email"),
        ("not-an-email", "a long password!", "malformed"),
        (
            &format!("{}@example.com", "x".repeat(300)) as &str,
            "a long password!",
            "too long",
        ),
        ("bob@example.com", "", "Enter a password"),
        ("bob@example.com", "eleven char", "at least 12"),
        ("bob@example.com", &"p".repeat(200), "too long"),
    ] {
        let r = c
            .call("sign_up", &[("email", email), ("password", password)])
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{email:?}: {}", r.body);
        assert!(
            r.body.contains(expect),
            "{email:?}/{password:?}: {}",
            r.body
        );
    }
    assert_eq!(
        app.store.user_count().await.unwrap(),
        1,
        "only the admin exists"
    );
}
both!(sign_up_validation_messages);

async fn wrong_password_then_throttled(app: &App) {
    app.signed_up("bob@example.com").await;
    let mut c = app.client();
    for _ in 0..10 {
        let r = c
            .call(
                "sign_in",
                &[
                    ("email", "bob@example.com"),
                    ("password", "not the password"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        assert!(r.body.contains("Wrong email or password"), "{}", r.body);
    }
    let r = c
        .call(
            "sign_in",
            &[
                ("email", "bob@example.com"),
                ("password", "a long password!"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    let retry: u64 = r
        .headers
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=300).contains(&retry));
    assert!(
        r.body.contains("Too many failed sign-in attempts"),
        "{}",
        r.body
    );
    assert!(c.cookie.is_none(), "no session for a throttled sign-in");

    // The same refusal as a plain form post: a redirect back with the message.
    let r = c
        .send(
            reqwest::Method::POST,
            "/api/sign_in",
            Some(b"email=bob%40example.com&password=whatever+password".to_vec()),
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("accept", "text/html"),
                ("referer", &format!("{}/signin", app.url)),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let location = r.headers.get(LOCATION).unwrap().to_str().unwrap();
    assert!(
        location.starts_with(&format!("{}/signin?", app.url)) && location.contains("__err="),
        "{location}"
    );
    let page = c
        .send(
            reqwest::Method::GET,
            location.trim_start_matches(&app.url),
            None,
            &[],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("Too many failed sign-in attempts"),
        "message not in the page"
    );
}
both!(wrong_password_then_throttled);

async fn sign_out_ends_the_session(app: &App) {
    let mut c = app.signed_up("carol@example.com").await;
    let cookie = c.cookie.clone();
    // A GET never mutates: the sign-out function refuses GET.
    let r = c
        .send(reqwest::Method::GET, "/api/sign_out", None, &[])
        .await;
    assert!(r.status.is_client_error(), "{}", r.status);
    assert_eq!(c.email().await.as_deref(), Some("carol@example.com"));

    let r = c.call("sign_out", &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(c.email().await, None);
    let mut replay = app.client();
    replay.cookie = cookie;
    assert_eq!(replay.email().await, None, "old cookie still signed in");
    let page = replay
        .send(
            reqwest::Method::GET,
            "/clusters",
            None,
            &[("accept", "text/html")],
        )
        .await;
    assert_eq!(page.status, StatusCode::FOUND);
    assert_eq!(page.headers.get(LOCATION).unwrap(), "/signin");
}
both!(sign_out_ends_the_session);

// A password change ends every other session of the user and cycles the current one;
// asked to, it revokes every API token too. Tokens expire, may be read-only, and
// cannot mint tokens. A one-time password allows nothing but the change itself.
async fn sessions_and_tokens_end_when_they_should(app: &App) {
    use reqwest::Method;
    const PW: &str = "a long password!";
    let email = "rotate@example.com";
    let mut a = app.signed_up(email).await;
    let mut b = app.client();
    let r = b
        .call("sign_in", &[("email", email), ("password", PW)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(b.email().await.as_deref(), Some(email));

    // Tokens: read and write by default for 90 days; read-only on request.
    let rw = a.token("rw").await;
    let r = a
        .api(
            Method::POST,
            "/api/v1/tokens",
            None,
            Some(serde_json::json!({"name": "ro", "read_only": true, "expires_in_days": 7})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let ro = r.json()["token"]["secret"].as_str().unwrap().to_string();
    let r = a.api(Method::GET, "/api/v1/tokens", Some(&ro), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let now = provision::now_ms();
    for t in r.json()["tokens"].as_array().unwrap() {
        let days = if t["name"] == "ro" { 7 } else { 90 };
        let left = t["expires_at"].as_i64().unwrap() - now;
        assert!((left - days * 86_400_000).abs() < 600_000, "{t}");
        assert_eq!(t["read_only"], t["name"] == "ro", "{t}");
    }
    let r = a
        .api(
            Method::POST,
            "/api/v1/tokens",
            None,
            Some(serde_json::json!({"name": "x", "expires_in_days": 0})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    // A read-only token reads and nothing else; no token mints another.
    let r = a
        .api(Method::GET, "/api/v1/clusters", Some(&ro), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = a
        .api(
            Method::POST,
            "/api/v1/clusters",
            Some(&ro),
            Some(serde_json::json!({"name": "nope"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body.contains("read-only"), "{}", r.body);
    for t in [&ro, &rw] {
        let r = a
            .api(
                Method::POST,
                "/api/v1/tokens",
                Some(t),
                Some(serde_json::json!({"name": "minted"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    }
    let listed = a.api(Method::GET, "/api/v1/tokens", Some(&rw), None).await;
    assert_eq!(listed.json()["tokens"].as_array().unwrap().len(), 2);

    // The change: the other session ends, this one goes on under a new cookie (the old
    // one is dead too), the tokens stay unless asked.
    let before = a.cookie.clone();
    let r = a
        .call(
            "change_password",
            &[("current", PW), ("new", "a second long password")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_ne!(a.cookie, before, "the session id is cycled");
    assert_eq!(a.email().await.as_deref(), Some(email));
    assert_eq!(b.email().await, None, "the other session is over");
    let mut replay = app.client();
    replay.cookie = before;
    assert_eq!(replay.email().await, None, "the old cookie is over");
    let r = b.api(Method::GET, "/api/v1/clusters", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    let r = a
        .api(Method::GET, "/api/v1/clusters", Some(&rw), None)
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "tokens stay unless asked: {}",
        r.body
    );
    let r = a
        .call(
            "change_password",
            &[
                ("current", "a second long password"),
                ("new", "a third long password"),
                ("revoke_tokens", "on"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(a.email().await.as_deref(), Some(email));
    for t in [&ro, &rw] {
        let r = a.api(Method::GET, "/api/v1/clusters", Some(t), None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    }

    // An expired token stops working.
    let late = a.token("late").await;
    let r = a
        .api(Method::GET, "/api/v1/clusters", Some(&late), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    sqlx::query("UPDATE api_tokens SET expires_at = $1 WHERE name = 'late'")
        .bind(provision::now_ms() - 1)
        .execute(app.store.pool())
        .await
        .unwrap();
    let r = a
        .api(Method::GET, "/api/v1/clusters", Some(&late), None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);

    // A one-time password (as an admin's reset gives): only the change is allowed.
    let keep = a.token("keep").await;
    let user = app.store.user_by_email(email).await.unwrap().unwrap();
    let hash = provision::accounts::hash_password("one time password")
        .await
        .unwrap();
    app.store
        .user_set_password(&user.id, &hash, true)
        .await
        .unwrap();
    assert_eq!(a.email().await, None, "a reset ends the sessions too");
    let mut c = app.client();
    let r = c
        .call(
            "sign_in",
            &[("email", email), ("password", "one time password")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(c.session().await["user"]["must_change_password"], true);
    for (what, r) in [
        ("tokens", c.call("tokens", &[("shown", "")]).await),
        (
            "token_create",
            c.call("token_create", &[("name", "t")]).await,
        ),
        (
            "rest",
            c.api(Method::GET, "/api/v1/clusters", None, None).await,
        ),
        (
            "old token",
            c.api(Method::GET, "/api/v1/clusters", Some(&keep), None)
                .await,
        ),
    ] {
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{what}: {}", r.body);
    }
    let page = c
        .send(Method::GET, "/clusters", None, &[("accept", "text/html")])
        .await;
    assert_eq!(page.status, StatusCode::FOUND);
    assert_eq!(page.headers.get(LOCATION).unwrap(), "/account");
    let r = c
        .call(
            "change_password",
            &[
                ("current", "one time password"),
                ("new", "my own password now"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = c.call("tokens", &[("shown", "")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = c
        .api(Method::GET, "/api/v1/clusters", Some(&keep), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}
both!(sessions_and_tokens_end_when_they_should);

// A user owns at most the admin-set number of projects (their personal one included),
// also when they ask for many at once: the count and the insert are one transaction.
async fn projects_per_user_are_limited(app: &App) {
    let c = app.signed_up("hoarder@example.com").await;
    let cookie = c.cookie.clone();
    let tries = (0..20).map(|i| {
        let mut c = app.client();
        c.cookie = cookie.clone();
        async move {
            c.call("project_create", &[("name", &format!("p{i}"))])
                .await
                .status
        }
    });
    let statuses = futures_util::future::join_all(tries).await;
    let made = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    let limit = provision::projects::DEFAULT_PROJECT_LIMIT as usize;
    assert_eq!((made, refused), (limit - 1, 21 - limit), "{statuses:?}");
    let user = app
        .store
        .user_by_email("hoarder@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        app.store
            .project_list_for_user(&user.id)
            .await
            .unwrap()
            .len(),
        limit
    );
    // Only an admin sets the limit, within bounds; raised, it admits one more.
    let mut c = app.client();
    c.cookie = cookie;
    let r = c.call("admin_project_limit", &[("limit", "50")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let mut admin = app.admin().await;
    for bad in ["0", "-3", "1001", "many"] {
        let r = admin.call("admin_project_limit", &[("limit", bad)]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.body);
    }
    let r = admin
        .call(
            "admin_project_limit",
            &[("limit", &(limit + 1).to_string())],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        admin.call("admin_users", &[]).await.json()["project_limit"],
        limit + 1
    );
    let r = c.call("project_create", &[("name", "one more")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = c.call("project_create", &[("name", "and another")]).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(r.body.contains("administrator"), "{}", r.body);
}
both!(projects_per_user_are_limited);

// Sign-ups are throttled per client address (each costs an argon2 hash and makes a
// project), counted before the hash, so a parallel burst cannot slip past.
async fn sign_ups_are_throttled_per_address(app: &App) {
    let limit = provision::accounts::SIGNUP_MAX_PER_ADDRESS as usize;
    let tries = (0..limit + 5).map(|i| async move {
        let mut c = app.client();
        let email = format!("burst{i}@example.com");
        c.call(
            "sign_up",
            &[("email", email.as_str()), ("password", "a long password!")],
        )
        .await
    });
    let answers = futures_util::future::join_all(tries).await;
    let made = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .count();
    let throttled: Vec<_> = answers
        .iter()
        .filter(|a| a.status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!(
        (made, throttled.len()),
        (limit, 5),
        "{:?}",
        answers
            .iter()
            .map(|a| (a.status, a.body.as_str()))
            .collect::<Vec<_>>()
    );
    assert!(throttled[0].headers.contains_key("retry-after"));
    assert!(
        throttled[0].body.contains("Too many sign-ups"),
        "{}",
        throttled[0].body
    );
    // A client's own X-Forwarded-For claim (no proxy is trusted here) changes nothing.
    let form = |who: &str| format!("email={who}%40example.com&password=a+long+password%21");
    let headers = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("accept", "application/json"),
        ("x-forwarded-for", "203.0.113.9"),
    ];
    let mut c = app.client();
    let r = c
        .send(
            reqwest::Method::POST,
            "/api/sign_up",
            Some(form("claims").into_bytes()),
            &headers,
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    // Another address is not held back.
    let mut c = app.client();
    c.http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(Some("127.0.0.2".parse().unwrap()))
        .build()
        .unwrap();
    let r = c
        .send(
            reqwest::Method::POST,
            "/api/sign_up",
            Some(form("elsewhere").into_bytes()),
            &headers[..2],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}
both!(sign_ups_are_throttled_per_address);

// Without JavaScript a signed-in page shows who is signed in and the list; `/` sends a
// signed-in user to the list and anyone else to sign in; a file beside the pages is
// served as it is.
async fn pages_show_the_session_without_javascript(app: &App) {
    let mut c = app.signed_up("dora@example.com").await;
    let html = [("accept", "text/html")];
    let page = c.send(reqwest::Method::GET, "/clusters", None, &html).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("class=\"whoami\">dora@example.com"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("No clusters in this project yet."),
        "{}",
        page.body
    );
    // Scripts run only with this answer's nonce: every inline script carries it, the
    // policy names it, and the next answer has another.
    let policy_nonce = |page: &Answer| -> String {
        let csp = page.headers[reqwest::header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            csp.contains("'wasm-unsafe-eval'") && !csp.contains("'unsafe-eval'"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        let nonce = csp
            .split("'nonce-")
            .nth(1)
            .and_then(|r| r.split('\'').next())
            .unwrap_or_else(|| panic!("no nonce in {csp}"))
            .to_string();
        let scripts = page.body.matches("<script").count();
        assert!(scripts > 0, "{}", page.body);
        assert_eq!(
            page.body.matches(&format!("nonce=\"{nonce}\"")).count(),
            scripts,
            "every script has the nonce: {}",
            page.body
        );
        nonce
    };
    let again = c.send(reqwest::Method::GET, "/clusters", None, &html).await;
    assert_ne!(policy_nonce(&page), policy_nonce(&again));
    std::fs::write(app._site.0.join("robots.txt"), "User-agent: *\n").unwrap();
    let file = c.send(reqwest::Method::GET, "/robots.txt", None, &[]).await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(file.body, "User-agent: *\n");
    let home = c.send(reqwest::Method::GET, "/", None, &html).await;
    assert_eq!(home.status, StatusCode::FOUND);
    assert_eq!(home.headers.get(LOCATION).unwrap(), "/clusters");

    assert_eq!(c.call("sign_out", &[]).await.status, StatusCode::OK);
    let home = c.send(reqwest::Method::GET, "/", None, &html).await;
    assert_eq!(home.status, StatusCode::FOUND);
    assert_eq!(home.headers.get(LOCATION).unwrap(), "/signin");
}
both!(pages_show_the_session_without_javascript);

async fn cross_site_posts_are_refused(app: &App) {
    let mut c = app.signed_up("dave@example.com").await;
    let host = app.url.trim_start_matches("http://").to_string();
    for headers in [
        vec![("origin", "http://evil.example")],
        vec![("origin", "null")],
        vec![("sec-fetch-site", "cross-site")],
        vec![
            ("sec-fetch-site", "same-site"),
            ("origin", &app.url as &str),
        ],
    ] {
        let mut h = vec![
            ("content-type", "application/x-www-form-urlencoded"),
            ("accept", "application/json"),
        ];
        h.extend(headers.iter().copied());
        let r = c
            .send(reqwest::Method::POST, "/api/sign_out", Some(Vec::new()), &h)
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{headers:?}");
        let r = c
            .send(
                reqwest::Method::POST,
                "/api/project_create",
                Some(b"name=x".to_vec()),
                &h,
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{headers:?}");
    }
    assert_eq!(
        c.email().await.as_deref(),
        Some("dave@example.com"),
        "refused sign-out ran"
    );
    assert_eq!(c.session().await["projects"].as_array().unwrap().len(), 1);
    // The same request from the same origin goes through.
    let origin = format!("http://{host}");
    let r = c
        .send(
            reqwest::Method::POST,
            "/api/project_create",
            Some(b"name=same+origin".to_vec()),
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("accept", "application/json"),
                ("origin", &origin),
                ("sec-fetch-site", "same-origin"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}
both!(cross_site_posts_are_refused);

async fn roles_viewer_member_owner(app: &App) {
    let mut owner = app.signed_up("owner@example.com").await;
    let mut viewer = app.signed_up("viewer@example.com").await;
    let mut member = app.signed_up("member@example.com").await;
    let project = owner.session().await["current"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Adding someone invites their email: the answer is the same whether or not an
    // account uses it, so the form tells nobody who has one.
    let mut answers = Vec::new();
    for (email, role) in [
        ("viewer@example.com", "viewer"),
        ("member@example.com", "member"),
        ("nobody-here@example.com", "member"),
    ] {
        let r = owner
            .call(
                "member_set",
                &[("project_id", &project), ("email", email), ("role", role)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        answers.push((r.status, r.body, r.headers.get(LOCATION).cloned()));
    }
    assert_eq!(answers[1], answers[2], "an account and none look the same");
    let details = owner
        .call("project", &[("project_id", &project)])
        .await
        .json();
    assert_eq!(details["members"].as_array().unwrap().len(), 1, "{details}");
    let invited: Vec<&str> = details["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        invited,
        [
            "member@example.com",
            "nobody-here@example.com",
            "viewer@example.com"
        ]
    );
    // Not a member until they accept; then with the role they were invited with.
    let r = viewer.call("project", &[("project_id", &project)]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let mine = viewer.call("my_invitations", &[]).await.json();
    assert_eq!(mine[0]["project_id"], project.as_str(), "{mine}");
    assert_eq!(mine[0]["role"], "viewer", "{mine}");
    for c in [&mut viewer, &mut member] {
        let r = c
            .call("invitation_accept", &[("project_id", &project)])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(c.session().await["current"]["id"], project.as_str());
        let r = c
            .call("invitation_accept", &[("project_id", &project)])
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "used once: {}", r.body);
    }
    // The invitation nobody took is withdrawn.
    let r = owner
        .call(
            "invitation_revoke",
            &[
                ("project_id", &project),
                ("email", "nobody-here@example.com"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let details = owner
        .call("project", &[("project_id", &project)])
        .await
        .json();
    assert_eq!(details["members"].as_array().unwrap().len(), 3, "{details}");
    assert_eq!(details["invitations"], serde_json::json!([]), "{details}");
    // A viewer can read but not change.
    let r = viewer.call("project", &[("project_id", &project)]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["can_edit"], false);
    let r = viewer
        .call(
            "project_update",
            &[("project_id", &project), ("description", "viewer was here")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body.contains("viewer"), "{}", r.body);
    // A member can change, but not manage members.
    let r = member
        .call(
            "project_update",
            &[("project_id", &project), ("description", "member was here")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = member
        .call(
            "member_set",
            &[
                ("project_id", &project),
                ("email", "member@example.com"),
                ("role", "owner"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = owner.call("project", &[("project_id", &project)]).await;
    assert_eq!(r.json()["project"]["description"], "member was here");
    // The last owner stays.
    let owner_id = owner.session().await["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = owner
        .call(
            "member_remove",
            &[("project_id", &project), ("user_id", &owner_id)],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    // Denials are audited.
    let denied = app
        .store
        .audit_list(&provision::domain::AuditFilter {
            outcome: Some("denied".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(denied
        .iter()
        .any(|a| a.actor_email == "viewer@example.com" && a.action == "project.update"));
}
both!(roles_viewer_member_owner);

async fn tenants_are_isolated(app: &App) {
    let mut erin = app.signed_up("erin@example.com").await;
    let mut frank = app.signed_up("frank@example.com").await;
    let erins = erin.session().await["current"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (endpoint, form) in [
        ("project", vec![("project_id", erins.as_str())]),
        ("switch_project", vec![("project_id", erins.as_str())]),
        (
            "project_update",
            vec![("project_id", erins.as_str()), ("description", "x")],
        ),
        (
            "member_set",
            vec![
                ("project_id", erins.as_str()),
                ("email", "frank@example.com"),
                ("role", "owner"),
            ],
        ),
        (
            "invitation_revoke",
            vec![
                ("project_id", erins.as_str()),
                ("email", "erin@example.com"),
            ],
        ),
        ("invitation_accept", vec![("project_id", erins.as_str())]),
    ] {
        let r = frank.call(endpoint, &form).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{endpoint}: {}", r.body);
        assert!(!r.body.contains("erin"), "{endpoint} leaks: {}", r.body);
    }
    let r = frank
        .call("project", &[("project_id", "no-such-project")])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(frank.session().await["projects"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["id"] != erins.as_str()));
    // Signed out: 401, not data.
    let r = app
        .client()
        .call("project", &[("project_id", &erins)])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Admin pages and functions are for admins only.
    for function in [
        "admin_overview",
        "admin_clusters",
        "admin_users",
        "admin_quota_table",
        "admin_offer",
        "admin_audit",
    ] {
        let r = frank.call(function, &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{function}: {}", r.body);
    }
    let r = frank.call("admin_signup", &[("open", "false")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    for path in [
        "/admin",
        "/admin/clusters",
        "/admin/users",
        "/admin/quotas",
        "/admin/offer",
        "/admin/audit",
    ] {
        let page = frank
            .send(reqwest::Method::GET, path, None, &[("accept", "text/html")])
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        assert!(
            !page.body.contains("frank@example.com</td>"),
            "{path}: user list leaked"
        );
        assert!(
            !page.body.contains("class=\"tabs\""),
            "{path}: the admin tabs showed"
        );
    }
}
both!(tenants_are_isolated);

async fn admin_closes_signup_and_disables_users(app: &App) {
    let mut admin = app.admin().await;
    let mut gina = app.signed_up("gina@example.com").await;
    let r = admin.call("admin_signup", &[("open", "false")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .client()
        .call(
            "sign_up",
            &[
                ("email", "hank@example.com"),
                ("password", "a long password!"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body.contains("Sign-up is closed"));
    let users = admin.call("admin_users", &[]).await.json();
    assert_eq!(users["signup_open"], false);
    let gina_id = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "gina@example.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = admin
        .call(
            "admin_user",
            &[("user_id", &gina_id), ("change", "disable")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Her live session stops working at once.
    assert_eq!(gina.email().await, None);
    let r = app
        .client()
        .call(
            "sign_in",
            &[
                ("email", "gina@example.com"),
                ("password", "a long password!"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // Audit entries for all of it.
    let audit = admin.call("admin_audit", &[]).await.json();
    let actions: Vec<String> = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap().to_string())
        .collect();
    assert!(
        actions.contains(&"settings.signup".to_string()),
        "{actions:?}"
    );
    assert!(actions.contains(&"user.sign_in".to_string()), "{actions:?}");
}
both!(admin_closes_signup_and_disables_users);

async fn bad_input_never_5xx_and_changes_nothing(app: &App) {
    let mut c = app.signed_up("ivan@example.com").await;
    let users = app.store.user_count().await.unwrap();
    let projects = c.session().await["projects"].as_array().unwrap().len();
    let big = vec![b'a'; 1024 * 1024];
    let mut big_form = b"email=".to_vec();
    big_form.extend(vec![b'x'; 1024 * 1024]);
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("oversized", big),
        ("oversized form", big_form),
        ("malformed", b"%%%&&&==&email".to_vec()),
        ("non-utf8", vec![0xff, 0xfe, 0xfd, b'=', 0xc3, 0x28]),
        ("non-utf8 escaped", b"email=%ff%fe&password=%c3%28".to_vec()),
        ("json", b"{\"email\": [1,2,3]}".to_vec()),
        (
            "wrong types",
            b"open=maybe&project_id[]=1&project_id[x]=2".to_vec(),
        ),
    ];
    let mut paths: Vec<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(p, _)| p.to_string())
        .collect();
    paths.sort();
    paths.dedup();
    // Signing out needs no input, so any body is a valid sign-out; it is tested above.
    paths.retain(|p| p != "/api/sign_out");
    assert!(paths.len() >= 14, "{paths:?}");
    paths.extend(
        [
            "/signin",
            "/signup",
            "/clusters",
            "/healthz",
            "/metrics",
            "/nope",
            "/api/nope",
        ]
        .map(String::from),
    );
    for path in &paths {
        for (what, body) in &bodies {
            for content_type in [
                "application/x-www-form-urlencoded",
                "application/json",
                "text/plain",
            ] {
                let r = c
                    .send(
                        reqwest::Method::POST,
                        path,
                        Some(body.clone()),
                        &[
                            (CONTENT_TYPE.as_str(), content_type),
                            (ACCEPT.as_str(), "application/json"),
                        ],
                    )
                    .await;
                assert!(
                    !r.status.is_server_error(),
                    "{path} with {what} body ({content_type}): {} {}",
                    r.status,
                    &r.body[..r.body.len().min(300)]
                );
                if r.status.is_client_error() {
                    assert!(
                        !r.body.trim().is_empty() || r.status == StatusCode::METHOD_NOT_ALLOWED,
                        "{path} {what}: no message"
                    );
                }
            }
        }
    }
    assert_eq!(app.store.user_count().await.unwrap(), users);
    assert_eq!(
        c.email().await.as_deref(),
        Some("ivan@example.com"),
        "bad input signed us out"
    );
    assert_eq!(
        c.session().await["projects"].as_array().unwrap().len(),
        projects
    );
}
both!(bad_input_never_5xx_and_changes_nothing);

async fn health_readiness_metrics(app: &App) {
    let mut c = app.client();
    let r = c.send(reqwest::Method::GET, "/healthz", None, &[]).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "ok\n"));
    let r = c.send(reqwest::Method::GET, "/readyz", None, &[]).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "ready\n"));
    let page = c.send(reqwest::Method::GET, "/signin", None, &[]).await;
    // Not to be framed, sniffed or cached; no HSTS over plain HTTP (--secure-cookies
    // turns it on).
    let csp = page.headers[reqwest::header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.headers["x-content-type-options"], "nosniff");
    assert_eq!(page.headers[reqwest::header::CACHE_CONTROL], "no-store");
    assert!(!page
        .headers
        .contains_key(reqwest::header::STRICT_TRANSPORT_SECURITY));
    let r = c.send(reqwest::Method::GET, "/metrics", None, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body.contains(
            "shipyard_http_requests_total{route=\"/signin\",method=\"GET\",status=\"200\"} 1"
        ),
        "{}",
        r.body
    );
    assert!(r.body.contains("shipyard_http_request_duration_seconds_bucket{route=\"/readyz\",method=\"GET\",le=\"+Inf\"} 1"), "{}", r.body);
    // Unknown paths share one label.
    c.send(reqwest::Method::GET, "/random/path/123", None, &[])
        .await;
    let r = c.send(reqwest::Method::GET, "/metrics", None, &[]).await;
    assert!(!r.body.contains("/random/path/123"));
    // Made-up methods share one label too: they cannot add series without end.
    for m in ["Z1", "Z2", "Z3"] {
        let method = reqwest::Method::from_bytes(m.as_bytes()).unwrap();
        let r = c.send(method, "/signin", None, &[]).await;
        assert!(r.status.is_client_error(), "{m}: {}", r.status);
    }
    let r = c.send(reqwest::Method::GET, "/metrics", None, &[]).await;
    assert!(!r.body.contains("method=\"Z"), "{}", r.body);
    assert!(r.body.contains("method=\"other\""), "{}", r.body);
    assert_eq!(r.headers[reqwest::header::CACHE_CONTROL], "no-store");
    let page = c
        .send(reqwest::Method::GET, "/does-not-exist", None, &[])
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("Page not found"));
}
both!(health_readiness_metrics);

// ---- the REST API ---------------------------------------------------------------------

impl Client {
    /// A JSON call to `/api/v1`, with a bearer token when given (else the session).
    async fn api(
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
    async fn token(&mut self, name: &str) -> String {
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

async fn wait_operation(c: &mut Client, token: &str, id: &str) -> Value {
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

async fn api_creates_plans_and_deletes_clusters(app: &App) {
    use reqwest::Method;
    let mut c = app.signed_up("api-user@example.com").await;
    let token = c.token("ci").await;
    assert!(token.starts_with("sy_"));
    let body = serde_json::json!({ "name": "demo", "kubernetes_version": "v1.31.12", "master_count": 3, "master_flavor": "m1.medium",
        "node_groups": [ { "name": "default-worker", "flavor": "m1.medium", "node_count": 2, "min_node_count": 1, "max_node_count": 5 } ] });

    let plan = c
        .api(
            Method::POST,
            "/api/v1/clusters?dry_run=true",
            Some(&token),
            Some(body.clone()),
        )
        .await;
    assert_eq!(plan.status, StatusCode::OK, "{}", plan.body);
    let plan = plan.json()["plan"].clone();
    assert_eq!(plan["totals"]["servers"], 5);
    assert_eq!(plan["capacity"]["fits"], true);
    assert!(plan["expected_seconds"].as_f64().unwrap() > 0.0);
    let r = c
        .api(Method::GET, "/api/v1/clusters", Some(&token), None)
        .await;
    assert_eq!(
        r.json()["clusters"],
        serde_json::json!([]),
        "a plan changes nothing"
    );

    let r = c
        .api(
            Method::POST,
            "/api/v1/clusters",
            Some(&token),
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let created = r.json();
    let id = created["cluster"]["id"].as_str().unwrap().to_string();
    assert_eq!(created["cluster"]["status"], "CREATING");
    let op = wait_operation(&mut c, &token, created["operation"]["id"].as_str().unwrap()).await;
    assert_eq!(op["state"], "succeeded", "{op}");
    assert_eq!(op["progress"]["done"], op["progress"]["total"]);
    assert!(op["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["state"] == "succeeded"));
    let r = c
        .api(
            Method::GET,
            &format!("/api/v1/clusters/{id}"),
            Some(&token),
            None,
        )
        .await;
    let cluster = r.json()["cluster"].clone();
    assert_eq!(cluster["status"], "ACTIVE", "{cluster}");
    assert!(cluster["api_address"].as_str().unwrap().ends_with(":6443"));
    assert_eq!(cluster["node_groups"][0]["node_count"], 2);

    // Scale the node group up, then down, through the API.
    let r = c
        .api(
            Method::PATCH,
            &format!("/api/v1/clusters/{id}/nodegroups/default-worker"),
            Some(&token),
            Some(serde_json::json!({"node_count": 3})),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let op = wait_operation(
        &mut c,
        &token,
        r.json()["operation"]["id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(op["state"], "succeeded", "{op}");
    let r = c
        .api(
            Method::GET,
            &format!("/api/v1/clusters/{id}/nodegroups"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.json()["node_groups"][0]["node_count"], 3);
    let r = c
        .api(
            Method::PATCH,
            &format!("/api/v1/clusters/{id}/nodegroups/default-worker"),
            Some(&token),
            Some(serde_json::json!({"node_count": 7})),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "above the maximum: {}",
        r.body
    );
    let r = c
        .api(
            Method::PATCH,
            &format!("/api/v1/clusters/{id}/nodegroups/default-worker"),
            Some(&token),
            Some(serde_json::json!({"node_count": 2})),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let op = wait_operation(
        &mut c,
        &token,
        r.json()["operation"]["id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(op["state"], "succeeded", "{op}");

    // The cloud's own inventory carries the cluster's mark.
    let cloud = app.cloud.as_ref().unwrap();
    let tagged = cloud
        .cloud
        .compute
        .servers
        .usage()
        .iter()
        .map(|h| h.vcpus_used)
        .sum::<u64>();
    assert_eq!(tagged, 5 * 2, "five m1.medium servers");

    // Another user sees nothing of it, through every route.
    let mut other = app.signed_up("api-other@example.com").await;
    let other_token = other.token("theirs").await;
    for (m, path) in [
        (Method::GET, format!("/api/v1/clusters/{id}")),
        (Method::DELETE, format!("/api/v1/clusters/{id}")),
        (
            Method::GET,
            format!(
                "/api/v1/operations/{}",
                created["operation"]["id"].as_str().unwrap()
            ),
        ),
    ] {
        let r = other.api(m, &path, Some(&other_token), None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
        assert_eq!(r.json()["error"]["code"], "not_found");
    }
    let r = other
        .api(Method::GET, "/api/v1/clusters", Some(&other_token), None)
        .await;
    assert_eq!(r.json()["clusters"], serde_json::json!([]));

    // Bad input: a clear error, nothing changes.
    for (bad, field) in [
        (
            serde_json::json!({"name": "Demo!", "node_groups": [{"name": "w", "node_count": 1}]}),
            "name",
        ),
        (
            serde_json::json!({"name": "x", "master_count": 2, "node_groups": [{"name": "w", "node_count": 1}]}),
            "master_count",
        ),
        (
            serde_json::json!({"name": "x", "pod_cidr": "10.96.0.0/16", "node_groups": [{"name": "w", "node_count": 1}]}),
            "service_cidr",
        ),
        (
            serde_json::json!({"name": "x", "node_groups": []}),
            "node_groups",
        ),
    ] {
        let r = c
            .api(Method::POST, "/api/v1/clusters", Some(&token), Some(bad))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert_eq!(r.json()["error"]["field"], field, "{}", r.body);
        assert_eq!(r.json()["error"]["retryable"], false);
    }
    let r = c
        .send(
            Method::POST,
            "/api/v1/clusters",
            Some(b"{nope".to_vec()),
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"]["code"], "invalid");
    let r = c
        .api(
            Method::POST,
            "/api/v1/clusters",
            Some(&token),
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "same name: {}", r.body);
    let r = c
        .api(
            Method::GET,
            "/api/v1/clusters",
            Some("sy_not-a-token"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app
        .client()
        .api(Method::GET, "/api/v1/clusters", None, None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["error"]["code"], "unauthenticated");
    let r = c
        .api(Method::GET, "/api/v1/nothing-here", Some(&token), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        c.api(Method::GET, "/api/v1/clusters", Some(&token), None)
            .await
            .json()["clusters"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Delete: DELETING, then gone (404) and nothing left in the cloud. The cluster page's
    // live stream, opened before, tells the end and then ends itself.
    let events = c
        .http
        .get(format!("{}/clusters/{id}/events", c.base))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), StatusCode::OK);
    let r = c
        .api(
            Method::DELETE,
            &format!("/api/v1/clusters/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.json()["cluster"]["status"], "DELETING");
    let op = wait_operation(
        &mut c,
        &token,
        r.json()["operation"]["id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(op["state"], "succeeded", "{op}");
    let stream = tokio::time::timeout(Duration::from_secs(20), events.text())
        .await
        .expect("the stream ends once the cluster is deleted")
        .unwrap();
    let last = stream
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .next_back()
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .expect("at least one event");
    assert_eq!(last["status"], "DELETED", "{stream}");
    let r = c
        .send(
            Method::GET,
            &format!("/clusters/{id}/events"),
            None,
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "a deleted cluster has no stream"
    );
    let r = c
        .api(
            Method::GET,
            &format!("/api/v1/clusters/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        cloud
            .cloud
            .compute
            .servers
            .usage()
            .iter()
            .map(|h| h.vcpus_used)
            .sum::<u64>(),
        0
    );

    // Tokens: listed without secrets; a revoked token stops working at once.
    let r = c
        .api(Method::GET, "/api/v1/tokens", Some(&token), None)
        .await;
    let tokens = r.json()["tokens"].clone();
    assert_eq!(tokens.as_array().unwrap().len(), 1);
    assert!(!r.body.contains(&token), "secrets are never listed");
    let tid = tokens[0]["id"].as_str().unwrap().to_string();
    let r = other
        .api(
            Method::DELETE,
            &format!("/api/v1/tokens/{tid}"),
            Some(&other_token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "not someone else's");
    let r = c
        .api(
            Method::DELETE,
            &format!("/api/v1/tokens/{tid}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = c
        .api(Method::GET, "/api/v1/clusters", Some(&token), None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    let r = c.api(Method::GET, "/api/v1/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    for p in [
        "/api/v1/clusters",
        "/api/v1/clusters/{id}",
        "/api/v1/clusters/{id}/plan-delete",
        "/api/v1/clusters/{id}/kubeconfig",
        "/api/v1/clusters/{id}/rotate-ca",
        "/api/v1/clusters/{id}/kubernetes",
        "/api/v1/projects",
        "/api/v1/projects/{id}/members",
        "/api/v1/projects/{id}/members/{user_id}",
        "/api/v1/clusters/{id}/nodegroups",
        "/api/v1/clusters/{id}/nodegroups/{ng}",
        "/api/v1/clusters/{id}/nodegroups/{ng}/plan-delete",
        "/api/v1/clusters/{id}/services",
        "/api/v1/clusters/{id}/services/{name}",
        "/api/v1/clusters/{id}/volumes",
        "/api/v1/clusters/{id}/volumes/{name}",
        "/api/v1/operations/{id}",
        "/api/v1/operations/{id}/retry",
        "/api/v1/operations/{id}/abort",
        "/api/v1/admin/operations",
        "/api/v1/versions",
        "/api/v1/admin/versions/{version}",
        "/api/v1/tokens",
        "/api/v1/tokens/{id}",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} documented");
    }
}
both!(api_creates_plans_and_deletes_clusters);

/// Kubeconfigs, node groups, services and volumes through the API; another user gets
/// 404 on every one of those routes.
/// Opens the cluster's live stream with a session cookie or a token; answers the
/// response (its body still streaming).
async fn open_stream(c: &Client, id: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = c.http.get(format!("{}/clusters/{id}/events", c.base));
    req = match token {
        Some(t) => req.header("authorization", format!("Bearer {t}")),
        None => req.header(COOKIE, c.cookie.clone().unwrap()),
    };
    req.send().await.unwrap()
}

/// Reads a live stream to its end; panics if it is still open after `within`.
async fn ends_within(stream: reqwest::Response, within: Duration, why: &str) {
    let mut stream = stream;
    tokio::time::timeout(within, async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await
    .unwrap_or_else(|_| panic!("the stream did not end: {why}"));
}

async fn live_streams_are_capped_and_end_with_access(app: &App) {
    use reqwest::Method;
    let mut a = app.signed_up("streams@example.com").await;
    let mut b = app.signed_up("streams-viewer@example.com").await;
    let token = a.token("streams").await;
    let body = serde_json::json!({ "name": "live", "master_count": 1,
        "node_groups": [ { "name": "default-worker", "flavor": "m1.small", "node_count": 1 } ] });
    let r = a
        .api(Method::POST, "/api/v1/clusters", Some(&token), Some(body))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let id = r.json()["cluster"]["id"].as_str().unwrap().to_string();
    let op = r.json()["operation"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        wait_operation(&mut a, &token, &op).await["state"],
        "succeeded"
    );

    // Eight at once per user (the default); the ninth is refused with 429 and words.
    let mut open = Vec::new();
    for _ in 0..server::live_streams::PER_USER {
        let s = open_stream(&a, &id, None).await;
        assert_eq!(s.status(), StatusCode::OK);
        open.push(s);
    }
    let r = a
        .send(Method::GET, &format!("/clusters/{id}/events"), None, &[])
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(r.body.contains("live views open"), "{}", r.body);
    // A stream the client closed gives its place back (noticed at the next keep-alive).
    drop(open.pop());
    let mut reopened = None;
    for _ in 0..200 {
        let s = open_stream(&a, &id, None).await;
        if s.status() == StatusCode::OK {
            reopened = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    open.push(reopened.expect("a closed stream's place comes back"));
    drop(open);

    // Access is asked again while a stream runs. A revoked token's stream ends.
    let second = a.token("second").await;
    let by_token = open_stream(&a, &id, Some(&second)).await;
    assert_eq!(by_token.status(), StatusCode::OK);
    let tokens = a
        .api(Method::GET, "/api/v1/tokens", Some(&token), None)
        .await
        .json();
    let second_id = tokens["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "second")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = a
        .api(
            Method::DELETE,
            &format!("/api/v1/tokens/{second_id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    ends_within(by_token, Duration::from_secs(20), "token revoked").await;

    // A member removed from the project: their stream ends.
    let project = a.session().await["current"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = a
        .call(
            "member_set",
            &[
                ("project_id", &project),
                ("email", "streams-viewer@example.com"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = b
        .call("invitation_accept", &[("project_id", &project)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let viewing = open_stream(&b, &id, None).await;
    assert_eq!(viewing.status(), StatusCode::OK);
    let b_id = b.session().await["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = a
        .call(
            "member_remove",
            &[("project_id", &project), ("user_id", &b_id)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    ends_within(viewing, Duration::from_secs(20), "member removed").await;

    // A signed-out session's stream ends, and so does a disabled user's.
    let mut other = app.client();
    let r = other
        .call(
            "sign_in",
            &[
                ("email", "streams@example.com"),
                ("password", "a long password!"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let signed_in_elsewhere = open_stream(&other, &id, None).await;
    assert_eq!(signed_in_elsewhere.status(), StatusCode::OK);
    let r = other.call("sign_out", &[]).await;
    assert!(
        r.status.is_success() || r.status.is_redirection(),
        "{}",
        r.body
    );
    ends_within(signed_in_elsewhere, Duration::from_secs(20), "signed out").await;
    let mine = open_stream(&a, &id, None).await;
    assert_eq!(mine.status(), StatusCode::OK);
    let mut admin = app.admin().await;
    let users = admin.call("admin_users", &[]).await.json();
    let a_id = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "streams@example.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = admin
        .call("admin_user", &[("user_id", &a_id), ("change", "disable")])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    ends_within(mine, Duration::from_secs(20), "user disabled").await;
}
both!(live_streams_are_capped_and_end_with_access);

/// Every route of the OpenAPI document that names an object, tried by another tenant on
/// the first tenant's objects: 404 (admin routes: 403), and nothing changes. The routes
/// come from the document, so a new one is covered without editing this test; a new
/// kind of path parameter fails here until it is given a value below.
async fn cross_tenant_sweep_of_every_route_with_an_id(app: &App) {
    use reqwest::Method;
    let mut a = app.signed_up("sweep-owner@example.com").await;
    let mut b = app.signed_up("sweep-other@example.com").await;
    let ta = a.token("sweep").await;
    let tb = b.token("sweep").await;
    let body = serde_json::json!({ "name": "swept", "master_count": 1,
        "node_groups": [ { "name": "default-worker", "flavor": "m1.small", "node_count": 1 } ] });
    let r = a
        .api(Method::POST, "/api/v1/clusters", Some(&ta), Some(body))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let cluster = r.json()["cluster"]["id"].as_str().unwrap().to_string();
    let op = r.json()["operation"]["id"].as_str().unwrap().to_string();
    assert_eq!(wait_operation(&mut a, &ta, &op).await["state"], "succeeded");
    for (path, body) in [
        (
            "services",
            serde_json::json!({"name": "web", "ports": [{"port": 80}]}),
        ),
        (
            "volumes",
            serde_json::json!({"name": "data", "size_gib": 1}),
        ),
    ] {
        let r = a
            .api(
                Method::POST,
                &format!("/api/v1/clusters/{cluster}/{path}"),
                Some(&ta),
                Some(body),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{path}: {}", r.body);
        let op = r.json()["operation"]["id"].as_str().unwrap().to_string();
        assert_eq!(wait_operation(&mut a, &ta, &op).await["state"], "succeeded");
    }
    let tokens = a
        .api(Method::GET, "/api/v1/tokens", Some(&ta), None)
        .await
        .json();
    let token_id = tokens["tokens"][0]["id"].as_str().unwrap().to_string();
    let project = a.session().await["current"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let owner_id = a
        .api(
            Method::GET,
            &format!("/api/v1/projects/{project}/members"),
            Some(&ta),
            None,
        )
        .await
        .json()["members"][0]["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    let before = a
        .api(
            Method::GET,
            &format!("/api/v1/clusters/{cluster}"),
            Some(&ta),
            None,
        )
        .await
        .body;

    let doc = a
        .api(Method::GET, "/api/v1/openapi.json", Some(&ta), None)
        .await
        .json();
    let mut tried = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        if !path.contains('{') {
            continue;
        }
        let admin = path.starts_with("/api/v1/admin/");
        let concrete = path
            .replace(
                "{id}",
                if path.starts_with("/api/v1/clusters/") {
                    &cluster
                } else if path.starts_with("/api/v1/operations/") {
                    &op
                } else if path.starts_with("/api/v1/tokens/") {
                    &token_id
                } else if path.starts_with("/api/v1/admin/projects/")
                    || path.starts_with("/api/v1/projects/")
                {
                    &project
                } else if path.contains("{id}") {
                    panic!("{path}: which object does {{id}} name here? Add it to the sweep.")
                } else {
                    ""
                },
            )
            .replace("{ng}", "default-worker")
            .replace(
                "{name}",
                if path.contains("/volumes/") {
                    "data"
                } else if path.contains("/services/") {
                    "web"
                } else {
                    "m1.small"
                },
            )
            .replace("{version}", "v1.31.12")
            .replace("{user_id}", &owner_id);
        assert!(
            !concrete.contains('{'),
            "{path}: a path parameter the sweep does not know"
        );
        for method in ops.as_object().unwrap().keys() {
            let m: Method = method.to_uppercase().parse().unwrap();
            let body = matches!(m, Method::POST | Method::PUT | Method::PATCH)
                .then(|| serde_json::json!({}));
            let r = b.api(m.clone(), &concrete, Some(&tb), body).await;
            let want = if admin {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::NOT_FOUND
            };
            assert_eq!(
                r.status, want,
                "{method} {concrete} by another tenant: {}",
                r.body
            );
            assert!(
                !r.body.contains("swept"),
                "{method} {concrete} leaks: {}",
                r.body
            );
            tried += 1;
        }
    }
    assert!(tried >= 20, "only {tried} routes with an id");
    // Nothing changed: the cluster is as it was, the token still works.
    let after = a
        .api(
            Method::GET,
            &format!("/api/v1/clusters/{cluster}"),
            Some(&ta),
            None,
        )
        .await;
    assert_eq!(after.status, StatusCode::OK, "{}", after.body);
    assert_eq!(after.body, before);
}
both!(cross_tenant_sweep_of_every_route_with_an_id);

/// Projects and members through the REST API: create, list, invite, change a role,
/// remove; each refused to someone who is not an owner.
async fn api_projects_and_members(app: &App) {
    use reqwest::Method;
    let mut a = app.signed_up("proj-owner@example.com").await;
    let mut b = app.signed_up("proj-other@example.com").await;
    let ta = a.token("p").await;
    let tb = b.token("p").await;
    let r = a
        .api(
            Method::POST,
            "/api/v1/projects",
            Some(&ta),
            Some(serde_json::json!({"name": "team"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.json()["role"], "owner");
    let project = r.json()["id"].as_str().unwrap().to_string();
    let r = a
        .api(Method::GET, "/api/v1/projects", Some(&ta), None)
        .await;
    assert!(
        r.json()["projects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == project),
        "{}",
        r.body
    );
    let members = format!("/api/v1/projects/{project}/members");
    // The other user is invited, accepts in the console (here: the store), and shows up.
    let r = a
        .api(
            Method::PUT,
            &members,
            Some(&ta),
            Some(serde_json::json!({"email": "proj-other@example.com", "role": "viewer"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["result"], "invited");
    // Not a member yet: the other user cannot see the members.
    let r = b.api(Method::GET, &members, Some(&tb), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let other = b.session().await["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.store
        .invitation_accept(
            &project,
            "proj-other@example.com",
            &other,
            provision::domain::Role::Viewer,
        )
        .await
        .unwrap();
    let r = b.api(Method::GET, &members, Some(&tb), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let list = r.json()["members"].as_array().unwrap().clone();
    assert!(
        list.iter()
            .any(|m| m["email"] == "proj-other@example.com" && m["role"] == "viewer"),
        "{list:?}"
    );
    // A viewer cannot manage members.
    let r = b
        .api(
            Method::PUT,
            &members,
            Some(&tb),
            Some(serde_json::json!({"email": "proj-other@example.com", "role": "owner"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // The owner changes the role, then removes them.
    let r = a
        .api(
            Method::PUT,
            &members,
            Some(&ta),
            Some(serde_json::json!({"email": "proj-other@example.com", "role": "member"})),
        )
        .await;
    assert_eq!(r.json()["result"], "role_changed", "{}", r.body);
    let r = a
        .api(
            Method::PUT,
            &members,
            Some(&ta),
            Some(serde_json::json!({"email": "x@example.com", "role": "captain"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = a
        .api(
            Method::DELETE,
            &format!("{members}/{other}"),
            Some(&ta),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = b.api(Method::GET, &members, Some(&tb), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
}
both!(api_projects_and_members);

async fn api_kubeconfigs_node_groups_services_volumes(app: &App) {
    use reqwest::Method;
    let mut c = app.signed_up("api-more@example.com").await;
    let token = c.token("more").await;
    let t = Some(token.as_str());
    let body = serde_json::json!({ "name": "more", "master_count": 1,
        "node_groups": [ { "name": "default-worker", "flavor": "m1.small", "node_count": 1 } ] });
    let r = c.api(Method::POST, "/api/v1/clusters", t, Some(body)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let id = r.json()["cluster"]["id"].as_str().unwrap().to_string();
    let op = wait_operation(
        &mut c,
        &token,
        r.json()["operation"]["id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(op["state"], "succeeded", "{op}");

    // What the cluster itself says, read through its API: answering, its one worker
    // registered and Ready with the cluster's version.
    let mut seen = serde_json::Value::Null;
    for _ in 0..60 {
        let r = c
            .api(
                Method::GET,
                &format!("/api/v1/clusters/{id}/kubernetes"),
                t,
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        seen = r.json();
        if seen["nodes"]
            .as_array()
            .is_some_and(|n| n.len() == 1 && n[0]["ready"] == "True")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    assert_eq!(seen["api"]["reachable"], true, "{seen}");
    assert!(
        seen["api"]["version"].as_str().unwrap().starts_with("v1."),
        "{seen}"
    );
    assert_eq!(seen["nodes"][0]["ready"], "True", "{seen}");
    assert_eq!(seen["nodes"][0]["simulated"], true, "{seen}");

    // A kubeconfig as a download: YAML, a file name, its serial and expiry.
    let r = c
        .send(
            Method::POST,
            &format!("/api/v1/clusters/{id}/kubeconfig"),
            None,
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.headers[CONTENT_TYPE], "application/yaml");
    assert_eq!(
        r.headers["content-disposition"],
        "attachment; filename=\"more.kubeconfig.yaml\""
    );
    assert!(r.headers.contains_key("x-shipyard-kubeconfig-expires"));
    let dir = TempDir::new(&format!("shipyard-http-kc-{}", &provision::new_id()[..8])).unwrap();
    let file = dir.0.join("more.kubeconfig.yaml");
    std::fs::write(&file, &r.body).unwrap();
    let view = std::process::Command::new("kubectl")
        .args(["config", "view", "--kubeconfig"])
        .arg(&file)
        .args(["-o", "jsonpath={.users[0].name}"])
        .env("KUBECONFIG", "/dev/null")
        .output()
        .unwrap();
    assert!(
        view.status.success(),
        "{}",
        String::from_utf8_lossy(&view.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&view.stdout),
        "api-more@example.com@more"
    );
    // As JSON, with a validity; bad validity is a 400.
    let r = c
        .api(
            Method::POST,
            &format!("/api/v1/clusters/{id}/kubeconfig"),
            t,
            Some(serde_json::json!({"validity_hours": 2})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(r.json()["kubeconfig"]["yaml"]
        .as_str()
        .unwrap()
        .contains("client-certificate-data"));
    // It carries a key: no cache may keep it.
    assert_eq!(r.headers[reqwest::header::CACHE_CONTROL], "no-store");
    for bad in [
        serde_json::json!({"validity_hours": 0}),
        serde_json::json!({"validity_hours": 9999}),
        serde_json::json!({"valid": 1}),
    ] {
        let r = c
            .api(
                Method::POST,
                &format!("/api/v1/clusters/{id}/kubeconfig"),
                t,
                Some(bad),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    }

    // A second node group, then remove it; the last one stays.
    let r = c
        .api(
            Method::POST,
            &format!("/api/v1/clusters/{id}/nodegroups"),
            t,
            Some(serde_json::json!({"name": "batch", "flavor": "m1.small", "node_count": 1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let op = wait_operation(
        &mut c,
        &token,
        r.json()["operation"]["id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(op["state"], "succeeded", "{op}");
    let r = c
        .api(
            Method::DELETE,
            &format!("/api/v1/clusters/{id}/nodegroups/batch"),
            t,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let op = wait_operation(
        &mut c,
        &token,
        r.json()["operation"]["id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(op["state"], "succeeded", "{op}");
    let r = c
        .api(
            Method::DELETE,
            &format!("/api/v1/clusters/{id}/nodegroups/default-worker"),
            t,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);

    // A service and a volume: created, listed.
    let r = c
        .api(
            Method::POST,
            &format!("/api/v1/clusters/{id}/services"),
            t,
            Some(serde_json::json!({"name": "web", "ports": [{"port": 80}]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let op = wait_operation(
        &mut c,
        &token,
        r.json()["operation"]["id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(op["state"], "succeeded", "{op}");
    let r = c
        .api(
            Method::POST,
            &format!("/api/v1/clusters/{id}/volumes"),
            t,
            Some(serde_json::json!({"name": "data", "size_gib": 3})),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let op = wait_operation(
        &mut c,
        &token,
        r.json()["operation"]["id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(op["state"], "succeeded", "{op}");
    let services = c
        .api(
            Method::GET,
            &format!("/api/v1/clusters/{id}/services"),
            t,
            None,
        )
        .await
        .json();
    assert_eq!(services["services"][0]["status"], "ACTIVE", "{services}");
    assert_eq!(services["services"][0]["ports"][0]["node_port"], 30000);
    let volumes = c
        .api(
            Method::GET,
            &format!("/api/v1/clusters/{id}/volumes"),
            t,
            None,
        )
        .await
        .json();
    assert_eq!(volumes["volumes"][0]["size_gib"], 3, "{volumes}");
    // The console's "Services and volumes" page reads the same, and nothing runs.
    let r = c.call("cluster_workloads", &[("id", id.as_str())]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let w = r.json();
    assert_eq!(w["services"][0]["ports"], "80→30000", "{w}");
    assert_eq!(w["services"][0]["status"], "ACTIVE", "{w}");
    assert_eq!(w["persistent_volumes"][0]["size_gib"], 3, "{w}");
    assert_eq!(w["busy"], false, "{w}");
    assert_eq!(w["can_edit"], true, "{w}");
    let page = c
        .send(
            Method::GET,
            &format!("/clusters/{id}/workloads"),
            None,
            &[("accept", "text/html")],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("data-service=\"web\""), "{}", page.body);
    assert!(page.body.contains("id=\"volume-form\""), "{}", page.body);
    // The cluster's page comes drawn: the same HTML from its function as in the page.
    let r = c.call("cluster", &[("id", id.as_str())]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let p = r.json();
    assert_eq!(p["id"], id.as_str(), "{p}");
    assert_eq!(p["busy"], false, "{p}");
    let html = p["html"].as_str().unwrap();
    for part in [
        "id=\"masters\"",
        "id=\"load-balancers\"",
        "id=\"download-kubeconfig\"",
        "data-node-group=\"default-worker\"",
    ] {
        assert!(html.contains(part), "{part} in {html}");
    }
    let page = c
        .send(
            Method::GET,
            &format!("/clusters/{id}"),
            None,
            &[("accept", "text/html")],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("id=\"cluster-page\""), "{}", page.body);
    assert!(page.body.contains("id=\"masters\""), "{}", page.body);
    for (path, bad) in [
        (
            "services",
            serde_json::json!({"name": "x", "ports": [{"port": 80, "node_port": 1}]}),
        ),
        ("services", serde_json::json!({"name": "x"})),
        ("volumes", serde_json::json!({"name": "x", "size_gib": 0})),
        (
            "volumes",
            serde_json::json!({"name": "x", "size_gib": "big"}),
        ),
    ] {
        let r = c
            .api(
                Method::POST,
                &format!("/api/v1/clusters/{id}/{path}"),
                t,
                Some(bad),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    }

    // Another user: 404 everywhere.
    let mut other = app.signed_up("api-more-other@example.com").await;
    let ot = other.token("o").await;
    for (m, path, body) in [
        (
            Method::POST,
            format!("/api/v1/clusters/{id}/kubeconfig"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/clusters/{id}/rotate-ca"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/clusters/{id}/nodegroups"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/clusters/{id}/nodegroups"),
            Some(serde_json::json!({"name": "x", "node_count": 1})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/clusters/{id}/nodegroups/default-worker"),
            None,
        ),
        (Method::GET, format!("/api/v1/clusters/{id}/services"), None),
        (
            Method::POST,
            format!("/api/v1/clusters/{id}/services"),
            Some(serde_json::json!({"name": "x", "ports": [{"port": 80}]})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/clusters/{id}/services/web"),
            None,
        ),
        (Method::GET, format!("/api/v1/clusters/{id}/volumes"), None),
        (
            Method::POST,
            format!("/api/v1/clusters/{id}/volumes"),
            Some(serde_json::json!({"name": "x", "size_gib": 1})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/clusters/{id}/volumes/data"),
            None,
        ),
    ] {
        let r = other.api(m, &path, Some(&ot), body).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
    }
    let r = other
        .call("cluster_workloads", &[("id", id.as_str())])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert!(!r.body.contains("web"), "{}", r.body);
    let page = other
        .send(
            Method::GET,
            &format!("/clusters/{id}/workloads"),
            None,
            &[("accept", "text/html")],
        )
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(!page.body.contains("data-service"), "{}", page.body);
    let r = other.call("cluster", &[("id", id.as_str())]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert!(!r.body.contains("masters"), "{}", r.body);

    // CA rotation by the owner.
    let r = c
        .api(
            Method::POST,
            &format!("/api/v1/clusters/{id}/rotate-ca"),
            t,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.json()["ca"]["generation"], 2);
    assert_eq!(r.json()["ca"]["invalidated_kubeconfigs"], 2);
    // The servers boot again with certificates of the new CA.
    let op = wait_operation(
        &mut c,
        &token,
        r.json()["operation"]["id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(op["state"], "succeeded", "{op}");

    // Delete a volume, then the cluster: the service goes with it.
    let r = c
        .api(
            Method::DELETE,
            &format!("/api/v1/clusters/{id}/volumes/data"),
            t,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    wait_operation(
        &mut c,
        &token,
        r.json()["operation"]["id"].as_str().unwrap(),
    )
    .await;
    let r = c
        .api(Method::DELETE, &format!("/api/v1/clusters/{id}"), t, None)
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let op = wait_operation(
        &mut c,
        &token,
        r.json()["operation"]["id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(op["state"], "succeeded", "{op}");
    let lc = app.cloud.as_ref().unwrap();
    assert_eq!(
        lc.cloud
            .compute
            .servers
            .usage()
            .iter()
            .map(|h| h.vcpus_used)
            .sum::<u64>(),
        0
    );
}
both!(api_kubeconfigs_node_groups_services_volumes);

/// Plans before apply for every change, and "the world changed" instead of surprises.
async fn api_plans_and_world_changes(app: &App) {
    use reqwest::Method;
    let mut c = app.signed_up("api-plans@example.com").await;
    let token = c.token("plans").await;
    let t = Some(token.as_str());
    let body = serde_json::json!({ "name": "planned", "master_count": 1,
        "node_groups": [ { "name": "default-worker", "flavor": "m1.small", "node_count": 1, "max_node_count": 4 } ] });
    let plan = c
        .api(
            Method::POST,
            "/api/v1/clusters?dry_run=true",
            t,
            Some(body.clone()),
        )
        .await
        .json()["plan"]
        .clone();
    let plan_id = plan["plan_id"].as_str().unwrap().to_string();
    assert!(
        plan["quota"]["left_after"]["vcpus"].as_i64().is_some(),
        "{plan}"
    );
    let r = c
        .api(
            Method::POST,
            "/api/v1/clusters?plan_id=0000",
            t,
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("world changed"));
    assert_eq!(
        c.api(Method::GET, "/api/v1/clusters", t, None).await.json()["clusters"],
        serde_json::json!([])
    );
    let r = c
        .api(
            Method::POST,
            &format!("/api/v1/clusters?plan_id={plan_id}"),
            t,
            Some(body),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let id = r.json()["cluster"]["id"].as_str().unwrap().to_string();
    let op = wait_operation(
        &mut c,
        &token,
        r.json()["operation"]["id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(op["state"], "succeeded", "{op}");

    // Scale plan: exactly which node is added.
    let ng = format!("/api/v1/clusters/{id}/nodegroups/default-worker");
    let r = c
        .api(
            Method::PATCH,
            &format!("{ng}?dry_run=true"),
            t,
            Some(serde_json::json!({"node_count": 2})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let scale = r.json()["plan"].clone();
    assert_eq!(scale["resources"][0]["action"], "create");
    assert!(
        scale["resources"][0]["name"]
            .as_str()
            .unwrap()
            .ends_with("-default-worker-1"),
        "{scale}"
    );
    assert_eq!(scale["totals"]["servers_added"], 1);
    let scale_id = scale["plan_id"].as_str().unwrap().to_string();
    // Someone else scales first: the plan no longer holds.
    let r = c
        .api(
            Method::PATCH,
            &ng,
            t,
            Some(serde_json::json!({"node_count": 2})),
        )
        .await;
    wait_operation(
        &mut c,
        &token,
        r.json()["operation"]["id"].as_str().unwrap(),
    )
    .await;
    let r = c
        .api(
            Method::PATCH,
            &format!("{ng}?plan_id={scale_id}"),
            t,
            Some(serde_json::json!({"node_count": 2})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    // Shrink plan names the newest node.
    let shrink = c
        .api(
            Method::PATCH,
            &format!("{ng}?dry_run=true"),
            t,
            Some(serde_json::json!({"node_count": 1})),
        )
        .await
        .json()["plan"]
        .clone();
    assert_eq!(shrink["resources"][0]["action"], "delete");
    assert!(
        shrink["resources"][0]["name"]
            .as_str()
            .unwrap()
            .ends_with("-default-worker-1"),
        "{shrink}"
    );

    // Node group plans.
    let p = c
        .api(
            Method::POST,
            &format!("/api/v1/clusters/{id}/nodegroups?dry_run=true"),
            t,
            Some(serde_json::json!({"name": "batch", "flavor": "m1.small", "node_count": 2})),
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert_eq!(p.json()["plan"]["resources"].as_array().unwrap().len(), 2);
    let p = c
        .api(Method::GET, &format!("{ng}/plan-delete"), t, None)
        .await
        .json()["plan"]
        .clone();
    assert_eq!(p["resources"].as_array().unwrap().len(), 2, "{p}");
    assert!(p["resources"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["action"] == "delete"));

    // Delete plan: everything the cloud holds of the cluster; a service exposed since
    // changes it, and the stale plan is refused.
    let before = c
        .api(
            Method::GET,
            &format!("/api/v1/clusters/{id}/plan-delete"),
            t,
            None,
        )
        .await
        .json()["plan"]
        .clone();
    assert_eq!(before["totals"]["servers"], 3, "{before}");
    assert_eq!(before["totals"]["load_balancers"], 1);
    let r = c
        .api(
            Method::POST,
            &format!("/api/v1/clusters/{id}/services"),
            t,
            Some(serde_json::json!({"name": "web", "ports": [{"port": 80}]})),
        )
        .await;
    wait_operation(
        &mut c,
        &token,
        r.json()["operation"]["id"].as_str().unwrap(),
    )
    .await;
    let r = c
        .api(
            Method::DELETE,
            &format!(
                "/api/v1/clusters/{id}?plan_id={}",
                before["plan_id"].as_str().unwrap()
            ),
            t,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("-svc-web"),
        "{}",
        r.body
    );
    let after = c
        .api(
            Method::GET,
            &format!("/api/v1/clusters/{id}/plan-delete"),
            t,
            None,
        )
        .await
        .json()["plan"]
        .clone();
    assert_eq!(after["totals"]["load_balancers"], 2);
    assert!(after["resources"]
        .to_string()
        .contains("service load balancer"));
    let r = c
        .api(
            Method::DELETE,
            &format!(
                "/api/v1/clusters/{id}?plan_id={}",
                after["plan_id"].as_str().unwrap()
            ),
            t,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let op = wait_operation(
        &mut c,
        &token,
        r.json()["operation"]["id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(op["state"], "succeeded", "{op}");
}
both!(api_plans_and_world_changes);

async fn wait_state(c: &mut Client, token: &str, id: &str, want: &str) {
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

/// Abort a running create (it unwinds), abort a running delete (it stops failed), retry
/// it (it finishes); admins list every project's operations.
async fn api_abort_retry_and_admin_operations(app: &App) {
    use reqwest::Method;
    let lc = app.cloud.as_ref().unwrap().cloud.clone();
    let mut c = app.signed_up("api-abort@example.com").await;
    let token = c.token("abort").await;
    let t = Some(token.as_str());
    let normal = lc.behaviour();
    let mut slow = normal.clone();
    slow.server_build_seconds = 60.0;
    lc.set_behaviour(slow);
    let body = serde_json::json!({"name": "slow", "node_groups": [{"name": "w", "flavor": "m1.small", "node_count": 1}]});
    let r = c.api(Method::POST, "/api/v1/clusters", t, Some(body)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let id = r.json()["cluster"]["id"].as_str().unwrap().to_string();
    let create = r.json()["operation"]["id"].as_str().unwrap().to_string();
    wait_state(&mut c, &token, &create, "running").await;

    // Not someone else's to abort or retry.
    let mut other = app.signed_up("api-abort-other@example.com").await;
    let ot = other.token("o").await;
    for action in ["abort", "retry"] {
        let r = other
            .api(
                Method::POST,
                &format!("/api/v1/operations/{create}/{action}"),
                Some(&ot),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    }
    let r = c
        .api(
            Method::POST,
            &format!("/api/v1/operations/{create}/abort"),
            t,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let op = wait_operation(&mut c, &token, &create).await;
    assert_eq!(op["state"], "unwound", "{op}");
    let cluster = c
        .api(Method::GET, &format!("/api/v1/clusters/{id}"), t, None)
        .await
        .json()["cluster"]
        .clone();
    assert_eq!(cluster["status"], "FAILED");
    assert!(
        cluster["status_reason"]
            .as_str()
            .unwrap()
            .contains("Aborted"),
        "{cluster}"
    );
    let r = c
        .api(
            Method::POST,
            &format!("/api/v1/operations/{create}/retry"),
            t,
            None,
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "an unwound create is not retried: {}",
        r.body
    );

    // A slow delete, aborted: it stops failed (a delete never puts things back); a
    // retry finishes it.
    let mut very_slow = normal.clone();
    very_slow.api_latency_ms = 1500;
    lc.set_behaviour(very_slow);
    let r = c
        .api(Method::DELETE, &format!("/api/v1/clusters/{id}"), t, None)
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let delete = r.json()["operation"]["id"].as_str().unwrap().to_string();
    wait_state(&mut c, &token, &delete, "running").await;
    let r = c
        .api(
            Method::POST,
            &format!("/api/v1/operations/{delete}/abort"),
            t,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let op = wait_operation(&mut c, &token, &delete).await;
    assert_eq!(op["state"], "failed", "{op}");
    lc.set_behaviour(normal);
    let r = c
        .api(
            Method::POST,
            &format!("/api/v1/operations/{delete}/retry"),
            t,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let op = wait_operation(&mut c, &token, &delete).await;
    assert_eq!(op["state"], "succeeded", "{op}");
    let r = c
        .api(Method::GET, &format!("/api/v1/clusters/{id}"), t, None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Admins see every project's operations; others may not.
    let r = c
        .api(Method::GET, "/api/v1/admin/operations", t, None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let mut admin = app.admin().await;
    let r = admin
        .api(
            Method::GET,
            "/api/v1/admin/operations?state=unwound,succeeded",
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let ids: Vec<&str> = r.json()["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect::<Vec<_>>()
        .into_iter()
        .map(|s| s.to_string())
        .collect::<Vec<String>>()
        .leak()
        .iter()
        .map(|s| s.as_str())
        .collect();
    assert!(
        ids.contains(&create.as_str()) && ids.contains(&delete.as_str()),
        "{ids:?}"
    );
    let r = admin
        .api(
            Method::GET,
            "/api/v1/admin/operations?state=bogus",
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    // The audit log has both.
    let audit = app
        .store
        .audit_list(&provision::domain::AuditFilter {
            actor_email: Some("api-abort@example.com".into()),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    for action in ["operation.abort", "operation.retry"] {
        assert!(audit.iter().any(|a| a.action == action), "{action} audited");
    }
}
both!(api_abort_retry_and_admin_operations);

/// The versions on offer are the admins' to manage: a disabled version takes no new
/// clusters (the API says which are on offer), a new one is offered at once.
async fn api_versions_are_admin_managed(app: &App) {
    use reqwest::Method;
    let mut c = app.signed_up("api-versions@example.com").await;
    let token = c.token("v").await;
    let t = Some(token.as_str());
    let list = c.api(Method::GET, "/api/v1/versions", t, None).await.json();
    let versions: Vec<&str> = list["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["v1.30.14", "v1.31.12", "v1.32.8", "v1.33.4"]);
    let r = c
        .api(
            Method::PUT,
            "/api/v1/admin/versions/v1.30.14",
            t,
            Some(serde_json::json!({"enabled": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

    let mut admin = app.admin().await;
    let admin_token = admin.token("admin").await;
    let a = Some(admin_token.as_str());
    let r = admin
        .api(
            Method::PUT,
            "/api/v1/admin/versions/v1.30.14",
            a,
            Some(serde_json::json!({"enabled": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = admin
        .api(
            Method::PUT,
            "/api/v1/admin/versions/v1.34.1",
            a,
            Some(serde_json::json!({"enabled": true, "image": "ubuntu-24.04-k8s-v1.34"})),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "the cloud has no such image: {}",
        r.body
    );
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no image"));
    let r = admin
        .api(
            Method::PUT,
            "/api/v1/admin/versions/v1.33.5",
            a,
            Some(serde_json::json!({"enabled": true, "image": "ubuntu-22.04-k8s-v1.33"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for (path, body) in [
        ("v1.35.0", serde_json::json!({"enabled": true})),
        ("1.35", serde_json::json!({"enabled": true, "image": "x"})),
        ("v1.35.0", serde_json::json!({"enabled": "yes"})),
    ] {
        let r = admin
            .api(
                Method::PUT,
                &format!("/api/v1/admin/versions/{path}"),
                a,
                Some(body),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.body);
    }
    let all = admin
        .api(Method::GET, "/api/v1/versions", a, None)
        .await
        .json();
    assert_eq!(
        all["versions"].as_array().unwrap().len(),
        5,
        "admins see the disabled one"
    );

    let list = c.api(Method::GET, "/api/v1/versions", t, None).await.json();
    let versions: Vec<&str> = list["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["v1.31.12", "v1.32.8", "v1.33.4", "v1.33.5"]);
    let old = serde_json::json!({"name": "old", "kubernetes_version": "v1.30.14", "node_groups": [{"name": "w", "flavor": "m1.small", "node_count": 1}]});
    let r = c.api(Method::POST, "/api/v1/clusters", t, Some(old)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.json()["error"]["field"], "kubernetes_version");
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("v1.33.5"));
    // No version: the newest on offer, booting its image.
    let new = serde_json::json!({"name": "new", "node_groups": [{"name": "w", "flavor": "m1.small", "node_count": 1}]});
    let r = c.api(Method::POST, "/api/v1/clusters", t, Some(new)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.json()["cluster"]["kubernetes_version"], "v1.33.5");
    let op = wait_operation(
        &mut c,
        &token,
        r.json()["operation"]["id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(op["state"], "succeeded", "{op}");
    // Disabling the version does not stop its clusters from scaling.
    admin
        .api(
            Method::PUT,
            "/api/v1/admin/versions/v1.33.5",
            a,
            Some(serde_json::json!({"enabled": false})),
        )
        .await;
    let id = r.json()["cluster"]["id"].as_str().unwrap().to_string();
    let r = c
        .api(
            Method::PATCH,
            &format!("/api/v1/clusters/{id}/nodegroups/w"),
            t,
            Some(serde_json::json!({"node_count": 2, "max_node_count": 3})),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let op = wait_operation(
        &mut c,
        &token,
        r.json()["operation"]["id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(op["state"], "succeeded", "{op}");
}
both!(api_versions_are_admin_managed);

/// Admins choose the flavors on offer, set quotas and read the audit log filtered;
/// tenants get 403 for all of it, and bad input changes nothing.
async fn api_flavors_quotas_and_audit(app: &App) {
    use reqwest::Method;
    let mut c = app.signed_up("api-offers@example.com").await;
    let token = c.token("o").await;
    let t = Some(token.as_str());
    let names = |v: &Value| -> Vec<String> {
        v["flavors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_string())
            .collect()
    };
    let offered = names(&c.api(Method::GET, "/api/v1/flavors", t, None).await.json());
    assert!(offered.contains(&"m1.large".to_string()), "{offered:?}");
    for (method, path, body) in [
        (
            Method::PUT,
            "/api/v1/admin/flavors/m1.large",
            Some(serde_json::json!({"enabled": false})),
        ),
        (Method::GET, "/api/v1/admin/quotas", None),
        (Method::GET, "/api/v1/admin/audit", None),
    ] {
        let r = c.api(method, path, t, body).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
    }

    let mut admin = app.admin().await;
    let admin_token = admin.token("admin").await;
    let a = Some(admin_token.as_str());
    let r = admin
        .api(
            Method::PUT,
            "/api/v1/admin/flavors/m1.large",
            a,
            Some(serde_json::json!({"enabled": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["flavor"]["enabled"], false);
    for (path, body, want) in [
        (
            "m9.huge",
            serde_json::json!({"enabled": true}),
            StatusCode::NOT_FOUND,
        ),
        (
            "m1.large",
            serde_json::json!({"enabled": "no"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "m1.large",
            serde_json::json!({"enabled": true, "x": 1}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let r = admin
            .api(
                Method::PUT,
                &format!("/api/v1/admin/flavors/{path}"),
                a,
                Some(body),
            )
            .await;
        assert_eq!(r.status, want, "{path}: {}", r.body);
    }
    // Tenants no longer see it, and a cluster or node group on it is refused by name;
    // admins still see it, disabled.
    let offered = names(&c.api(Method::GET, "/api/v1/flavors", t, None).await.json());
    assert!(!offered.contains(&"m1.large".to_string()), "{offered:?}");
    let all = admin
        .api(Method::GET, "/api/v1/flavors", a, None)
        .await
        .json();
    assert!(all["flavors"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["name"] == "m1.large" && f["enabled"] == false));
    let big = serde_json::json!({"name": "big", "node_groups": [{"name": "w", "flavor": "m1.large", "node_count": 1}]});
    let r = c
        .api(
            Method::POST,
            "/api/v1/clusters?dry_run=true",
            t,
            Some(big.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not on offer"));
    admin
        .api(
            Method::PUT,
            "/api/v1/admin/flavors/m1.large",
            a,
            Some(serde_json::json!({"enabled": true})),
        )
        .await;
    let r = c
        .api(Method::POST, "/api/v1/clusters?dry_run=true", t, Some(big))
        .await;
    assert_eq!(r.status, StatusCode::OK, "on offer again: {}", r.body);

    // Quotas: every project listed with its use; a limit of 0 clusters refuses the next.
    let quotas = admin
        .api(Method::GET, "/api/v1/admin/quotas", a, None)
        .await
        .json();
    let mine = quotas["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["personal_of"] == "api-offers@example.com")
        .cloned()
        .expect("the tenant's project is listed");
    let pid = mine["project_id"].as_str().unwrap().to_string();
    assert_eq!(mine["usage"]["clusters"], 0);
    let zero = serde_json::json!({"clusters": 0, "vcpus": 8, "ram_mib": 16384, "volume_gib": 100, "load_balancers": 2});
    for (path, body, want) in [
        (
            format!("/api/v1/admin/projects/{pid}/quota"),
            serde_json::json!({"clusters": -1, "vcpus": 8, "ram_mib": 1, "volume_gib": 1, "load_balancers": 1}),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/api/v1/admin/projects/{pid}/quota"),
            serde_json::json!({"clusters": 1}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/admin/projects/no-such-project/quota".to_string(),
            zero.clone(),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let r = admin.api(Method::PUT, &path, a, Some(body)).await;
        assert_eq!(r.status, want, "{path}: {}", r.body);
    }
    let after = admin
        .api(Method::GET, "/api/v1/admin/quotas", a, None)
        .await
        .json();
    assert_eq!(after, quotas, "refused changes change nothing");
    let r = admin
        .api(
            Method::PUT,
            &format!("/api/v1/admin/projects/{pid}/quota"),
            a,
            Some(zero),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let small = serde_json::json!({"name": "small", "node_groups": [{"name": "w", "flavor": "m1.small", "node_count": 1}]});
    let r = c
        .api(Method::POST, "/api/v1/clusters", t, Some(small))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("clusters"),
        "{}",
        r.body
    );
    // Set again (an update of the same row): the listing shows the new limits.
    let more = serde_json::json!({"clusters": 3, "vcpus": 8, "ram_mib": 16384, "volume_gib": 100, "load_balancers": 2});
    let r = admin
        .api(
            Method::PUT,
            &format!("/api/v1/admin/projects/{pid}/quota"),
            a,
            Some(more),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let listed = admin
        .api(Method::GET, "/api/v1/admin/quotas", a, None)
        .await
        .json();
    let q = listed["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["project_id"] == pid.as_str())
        .unwrap()["quota"]
        .clone();
    assert_eq!(q["clusters"], 3, "{q}");

    // The audit log, filtered.
    let audit = |q: &str| format!("/api/v1/admin/audit{q}");
    let r = admin
        .api(Method::GET, &audit("?action=flavor.set"), a, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let entries = r.json()["entries"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert!(entries
        .iter()
        .all(|e| e["action"] == "flavor.set" && e["actor_email"] == ADMIN_EMAIL));
    // Made through the REST API with a token: recorded with the client's real address.
    assert!(
        entries.iter().all(|e| e["client_addr"] == "127.0.0.1"),
        "{entries:?}"
    );
    let r = admin
        .api(
            Method::GET,
            &audit(&format!("?project={pid}&action=quota.set")),
            a,
            None,
        )
        .await;
    assert_eq!(
        r.json()["entries"].as_array().unwrap().len(),
        2,
        "{}",
        r.body
    );
    let r = admin
        .api(
            Method::GET,
            &audit("?actor=API-OFFERS@example.com&outcome=success"),
            a,
            None,
        )
        .await;
    let entries = r.json()["entries"].as_array().unwrap().clone();
    assert!(!entries.is_empty());
    assert!(entries
        .iter()
        .all(|e| e["actor_email"] == "api-offers@example.com" && e["outcome"] == "success"));
    let r = admin
        .api(
            Method::GET,
            &audit("?since=2000-01-01&until=2000-12-31"),
            a,
            None,
        )
        .await;
    assert_eq!(
        r.json()["entries"].as_array().unwrap().len(),
        0,
        "{}",
        r.body
    );
    let r = admin
        .api(Method::GET, &audit("?since=2000-01-01T00:00"), a, None)
        .await;
    assert!(!r.json()["entries"].as_array().unwrap().is_empty());
    for q in [
        "?since=yesterday",
        "?outcome=maybe",
        "?since=2026-02-01&until=2026-01-01",
        "?limit=lots",
        "?colour=red",
    ] {
        let r = admin.api(Method::GET, &audit(q), a, None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}: {}", r.body);
    }
}
both!(api_flavors_quotas_and_audit);

/// Page renders under concurrency all finish: eight clients at once on two threads, each
/// starting servers of its own and loading pages signed in and signed out. Before the
/// console's routes were worked out once per process (`server::console_routes`), a server
/// starting up stalled, for good, any resource another server's page began to load
/// meanwhile (Leptos suppresses resource loads for the whole process while it lists the
/// routes); this test then hung within 100 to 250 pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_renders_under_concurrency_all_finish() {
    let mut clients = tokio::task::JoinSet::new();
    for i in 0..8 {
        clients.spawn(async move {
            for j in 0..25 {
                let app = App::start(provision::Backend::Sqlite).await;
                let mut c = app.signed_up(&format!("busy{i}x{j}@example.com")).await;
                let signed_out = c.cookie.clone();
                for k in 0..4 {
                    if k == 3 {
                        let r = c.call("sign_out", &[]).await;
                        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
                        c = app.client();
                        c.cookie = signed_out.clone();
                    }
                    let page = tokio::time::timeout(
                        Duration::from_secs(10),
                        c.send(
                            reqwest::Method::GET,
                            "/clusters",
                            None,
                            &[("accept", "text/html")],
                        ),
                    )
                    .await
                    .unwrap_or_else(|_| panic!("client {i}, server {j}: page {k} never came"));
                    let expected = if k == 3 {
                        StatusCode::FOUND
                    } else {
                        StatusCode::OK
                    };
                    assert_eq!(page.status, expected, "client {i}, server {j}, page {k}");
                }
                app.stop().await;
            }
        });
    }
    while let Some(done) = clients.join_next().await {
        done.unwrap();
    }
}
