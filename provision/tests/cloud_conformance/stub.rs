//! A fake Keystone + Nova on a real TCP port: tokens `tok-1`, `tok-2`, ...; the flavor
//! list answers as `mode` says.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use provision::cloud::*;

use crate::target::quick_retries;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 503 twice, then the flavors.
    Unavailable503Twice,
    /// 400 every time.
    BadRequest,
    /// 401 for the first token, then the flavors.
    RejectFirstToken,
    /// The server list loses its marker once (it was deleted between pages).
    MarkerVanishes,
}

pub struct Stub {
    pub url: String,
    pub mode: Mode,
    pub auths: AtomicUsize,
    pub calls: AtomicUsize,
}

pub async fn start(mode: Mode) -> Arc<Stub> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let stub = Arc::new(Stub {
        url,
        mode,
        auths: AtomicUsize::new(0),
        calls: AtomicUsize::new(0),
    });
    let app = Router::new()
        .route("/identity/v3/auth/tokens", post(token))
        .route("/compute/flavors/detail", get(flavors))
        .route("/compute/servers/detail", get(servers))
        .with_state(stub.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    stub
}

async fn token(State(stub): State<Arc<Stub>>) -> Response {
    let n = stub.auths.fetch_add(1, Ordering::SeqCst) + 1;
    let body = json!({"token": {
        "expires_at": "2099-01-01T00:00:00.000000Z",
        "issued_at": "2026-01-01T00:00:00.000000Z",
        "methods": ["password"],
        "project": {"id": "p1", "name": "admin", "domain": {"id": "default", "name": "Default"}},
        "catalog": [{"type": "compute", "name": "nova", "id": "c", "endpoints": [
            {"id": "e", "interface": "public", "region": "RegionOne", "region_id": "RegionOne",
             "url": format!("{}/compute", stub.url)}]}],
    }});
    let mut res = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(v) = format!("tok-{n}").parse() {
        res.headers_mut().insert("x-subject-token", v);
    }
    res
}

async fn flavors(State(stub): State<Arc<Stub>>, headers: HeaderMap) -> Response {
    let n = stub.calls.fetch_add(1, Ordering::SeqCst) + 1;
    let token = headers.get("x-auth-token").and_then(|v| v.to_str().ok());
    match stub.mode {
        Mode::Unavailable503Twice if n <= 2 => fault_body(
            StatusCode::SERVICE_UNAVAILABLE,
            "serviceUnavailable",
            "The server is busy.",
        ),
        Mode::BadRequest => fault_body(StatusCode::BAD_REQUEST, "badRequest", "Invalid filter."),
        Mode::RejectFirstToken if token == Some("tok-1") => fault_body(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "The request you have made requires authentication.",
        ),
        _ => Json(json!({"flavors": [
            {"id": "1", "name": "m1.tiny", "vcpus": 1, "ram": 512, "disk": 1}
        ]}))
        .into_response(),
    }
}

/// Two pages: `s1`, `s2` and a next link, then (after marker `s2`) `s3`. With
/// `MarkerVanishes`, `s2` is deleted after the first page: marker `s2` is then not
/// found, and the list is `s1`, `s3`.
async fn servers(
    State(stub): State<Arc<Stub>>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    if stub.mode == Mode::MarkerVanishes {
        let n = stub.calls.fetch_add(1, Ordering::SeqCst);
        let server = |id: &str| json!({"id": id, "name": id, "status": "ACTIVE", "metadata": {}, "addresses": {}});
        return match (n, q.get("marker").map(String::as_str)) {
            (0, None) => Json(json!({
                "servers": [server("s1"), server("s2")],
                "servers_links": [{"rel": "next", "href": "http://x/servers/detail?marker=s2"}],
            }))
            .into_response(),
            (_, Some(m)) => fault_body(
                StatusCode::BAD_REQUEST,
                "badRequest",
                &format!("marker [{m}] not found"),
            ),
            (_, None) => Json(json!({"servers": [server("s1"), server("s3")]})).into_response(),
        };
    }
    let server = |id: &str, role: &str| {
        json!({"id": id, "name": id, "status": "ACTIVE", "metadata": {"role": role},
               "addresses": {"private": [{"addr": "10.0.0.9", "version": 4}]}})
    };
    match q.get("marker").map(String::as_str) {
        None => Json(json!({
            "servers": [server("s1", "master"), server("s2", "worker")],
            "servers_links": [{"rel": "next", "href": "http://x/servers/detail?marker=s2"}],
        }))
        .into_response(),
        Some("s2") => Json(json!({"servers": [server("s3", "master")]})).into_response(),
        Some(m) => fault_body(
            StatusCode::BAD_REQUEST,
            "badRequest",
            &format!("marker [{m}] not found"),
        ),
    }
}

fn fault_body(status: StatusCode, name: &str, message: &str) -> Response {
    (
        status,
        Json(json!({ name: {"code": status.as_u16(), "message": message} })),
    )
        .into_response()
}

pub async fn driver(stub: &Stub) -> OpenStack {
    let mut config = OpenStackConfig::new(
        format!("{}/identity/v3", stub.url),
        "admin",
        "admin",
        "admin",
    );
    config.retry = quick_retries();
    OpenStack::connect(config)
        .await
        .expect("connects to the stub")
}
