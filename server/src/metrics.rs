//! Prometheus text metrics: request counts by route, method and status, and a latency
//! histogram by route and method. Small enough not to need a metrics crate.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<(String, String), Histogram>,
}

#[derive(Clone, Default)]
pub struct Metrics {
    inner: Arc<Mutex<Inner>>,
    /// Server function paths, labelled one by one (any other path is not a label).
    api_paths: Arc<std::collections::HashSet<String>>,
}

impl Metrics {
    pub fn new(api_paths: impl IntoIterator<Item = String>) -> Self {
        Metrics {
            inner: Arc::default(),
            api_paths: Arc::new(api_paths.into_iter().collect()),
        }
    }

    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        *inner
            .requests
            .entry((route.to_string(), method.to_string(), status))
            .or_default() += 1;
        let h = inner
            .latency
            .entry((route.to_string(), method.to_string()))
            .or_default();
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += seconds;
        h.count += 1;
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let Ok(inner) = self.inner.lock() else {
            return out;
        };
        out.push_str("# HELP shipyard_http_requests_total HTTP requests answered.\n");
        out.push_str("# TYPE shipyard_http_requests_total counter\n");
        for ((route, method, status), n) in &inner.requests {
            let _ = writeln!(
                out,
                "shipyard_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{}\"}} {}",
                escape(route),
                method,
                status,
                n
            );
        }
        out.push_str(
            "# HELP shipyard_http_request_duration_seconds Time to answer HTTP requests.\n",
        );
        out.push_str("# TYPE shipyard_http_request_duration_seconds histogram\n");
        for ((route, method), h) in &inner.latency {
            let labels = format!("route=\"{}\",method=\"{}\"", escape(route), method);
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "shipyard_http_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "shipyard_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "shipyard_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "shipyard_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Route label: the matched route pattern, the server function path, or "other"
/// (so that arbitrary URLs cannot grow the label set).
fn route_label(metrics: &Metrics, req: &Request) -> String {
    let path = req.uri().path();
    if metrics.api_paths.contains(path) {
        return path.to_string();
    }
    if path.starts_with("/pkg/") {
        return "/pkg".into();
    }
    req.extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "other".into())
}

/// The method's label: one of HTTP's own methods, or `other` for any made-up one, so
/// that `curl -X Z1`, `Z2`, … cannot add series without end.
fn method_label(method: &http::Method) -> &'static str {
    use http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

pub async fn track(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = route_label(&metrics, &req);
    let method = method_label(req.method());
    let res = next.run(req).await;
    metrics.observe(
        &route,
        method,
        res.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    res
}

pub async fn endpoint(State(metrics): State<Metrics>) -> impl IntoResponse {
    (
        [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics.render(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_methods_share_one_label() {
        for m in ["Z1", "Z2", "PROPFIND", "get"] {
            let method = http::Method::from_bytes(m.as_bytes()).unwrap();
            assert_eq!(method_label(&method), "other", "{m}");
        }
        assert_eq!(method_label(&http::Method::DELETE), "DELETE");
        let metrics = Metrics::new(Vec::new());
        for i in 0..50 {
            let m = http::Method::from_bytes(format!("Z{i}").as_bytes()).unwrap();
            metrics.observe("other", method_label(&m), 405, 0.001);
        }
        let text = metrics.render();
        let series = text
            .lines()
            .filter(|l| l.starts_with("shipyard_http_requests_total"))
            .count();
        assert_eq!(series, 1, "{text}");
        assert!(text.contains("method=\"other\""), "{text}");
    }
}
