//! The router in-process, for tests that need no TLS and no kubectl: each request
//! carries the caller's identity as the server puts it there.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use kubesim::store::Store;
use kubesim::tls::Identity;
use serde_json::Value;
use tower::ServiceExt;

pub fn app() -> (axum::Router, Arc<Store>) {
    let store = Arc::new(Store::open(None).unwrap());
    let config = kubesim::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        cert_pem: String::new(),
        key_pem: String::new(),
        ca_pem: String::new(),
        kubernetes_version: "v1.31.12".into(),
        advertise: "127.0.0.1:6443".into(),
        store_file: None,
    };
    let shared = kubesim::server::Shared {
        config: Arc::new(config),
        store: store.clone(),
    };
    (kubesim::server::router(shared), store)
}

pub fn who(user: &str, groups: &[&str]) -> Option<Identity> {
    Some(Identity {
        user: user.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
    })
}

/// (status, content type, body) of one request.
pub async fn call(
    app: &axum::Router,
    method: Method,
    path: &str,
    identity: Option<Identity>,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (StatusCode, String, Vec<u8>) {
    let mut req = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(Body::from(body)).unwrap();
    if let Some(i) = identity {
        req.extensions_mut().insert(i);
    }
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let content_type = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = axum::body::to_bytes(res.into_body(), 1 << 22)
        .await
        .unwrap();
    (status, content_type, body.to_vec())
}

pub fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}
