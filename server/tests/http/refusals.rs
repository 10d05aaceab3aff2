//! Cross-site posts and bad input: refused, never a 5xx, nothing changed.

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::StatusCode;

use crate::common::App;

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
