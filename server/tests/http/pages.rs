//! Pages without JavaScript, health, readiness and metrics, and page renders under load.

use std::time::Duration;

use reqwest::header::LOCATION;
use reqwest::StatusCode;

use crate::common::{Answer, App};

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
