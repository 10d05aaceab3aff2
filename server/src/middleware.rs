//! Request guards that apply to every route: CSRF defence, the shape of server
//! function answers to plain form posts, and security headers.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{ACCEPT, HOST, LOCATION, ORIGIN};
use http::{HeaderValue, Method, StatusCode};

/// Refuses any mutating request that the browser says comes from another site.
///
/// `Sec-Fetch-Site` (sent by every current browser) must be `same-origin` or `none`;
/// `Origin`, when present, must name this host. Requests with neither header (curl,
/// API clients) carry no ambient browser credentials from another site and pass.
pub async fn csrf(req: Request, next: Next) -> Response {
    if !matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    ) {
        if let Some(reason) = cross_site(&req) {
            tracing::warn!(method = %req.method(), path = %req.uri().path(), reason, "cross-site request refused");
            return (
                StatusCode::FORBIDDEN,
                [(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "Cross-site request refused: this action must be submitted from Shipyard's own pages.\n",
            )
                .into_response();
        }
    }
    next.run(req).await
}

fn cross_site(req: &Request) -> Option<&'static str> {
    let headers = req.headers();
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or("");
        if site != "same-origin" && site != "none" {
            return Some("sec-fetch-site");
        }
    }
    if let Some(origin) = headers.get(ORIGIN) {
        let origin = origin.to_str().unwrap_or("null");
        let host = headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let origin_host = origin
            .split_once("://")
            .map(|(_, rest)| rest.trim_end_matches('/'))
            .unwrap_or("");
        if origin == "null" || origin_host.is_empty() || !origin_host.eq_ignore_ascii_case(host) {
            return Some("origin");
        }
    }
    None
}

/// Server functions answer plain (no-JavaScript) form posts with a redirect back to
/// the page, carrying the error in the URL. Leptos would keep the error's 4xx status
/// on that redirect, which browsers do not follow; make it a 303. A body that fails to
/// decode before our code runs is the client's fault: 400, not 500.
pub async fn server_fn_answers(req: Request, next: Next) -> Response {
    let is_api = req.uri().path().starts_with("/api/");
    let accepts_html = req
        .headers()
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    let mut res = next.run(req).await;
    if !is_api {
        return res;
    }
    let status = res.status();
    if accepts_html
        && res.headers().contains_key(LOCATION)
        && (status.is_client_error() || status.is_server_error())
    {
        *res.status_mut() = StatusCode::SEE_OTHER;
    } else if status == StatusCode::INTERNAL_SERVER_ERROR
        && !res.headers().contains_key(app::ssr::ERROR_HEADER)
    {
        *res.status_mut() = StatusCode::BAD_REQUEST;
    }
    res
}

/// Bodies larger than `limit` are refused with 413. A declared oversize body is read
/// and discarded (up to [`DRAIN_MAX`], for at most 5 s) before answering, so that the
/// client finishes sending and sees the answer instead of a reset connection.
pub async fn body_limit(limit: usize, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        let body = req.into_body();
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            axum::body::to_bytes(body, DRAIN_MAX),
        )
        .await;
        return too_large(limit);
    }
    let (parts, body) = req.into_parts();
    let body = axum::body::Body::new(http_body_util::Limited::new(body, limit));
    next.run(Request::from_parts(parts, body)).await
}

/// The most of an oversize body read before answering 413.
pub const DRAIN_MAX: usize = 8 * 1024 * 1024;

fn too_large(limit: usize) -> Response {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        [(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("Request body too large: at most {} KiB.\n", limit / 1024),
    )
        .into_response()
}

/// Whether an answer is made for this request (a page, JSON, a kubeconfig), not a file
/// of the site: such answers may carry keys, tokens or a tenant's data, so no cache
/// (the browser's included) may keep them.
fn dynamic(res: &Response) -> bool {
    let kind = res
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    [
        "text/html",
        "application/json",
        "application/yaml",
        "text/plain",
        "text/event-stream",
    ]
    .iter()
    .any(|k| kind.starts_with(k))
}

/// Headers every answer carries: no sniffing, no framing (`X-Frame-Options` and CSP's
/// `frame-ancestors 'none'`, with no plugins and no `<base>` elsewhere; pages carry
/// their own script policy with a nonce), same-origin
/// referrers, `no-store` on answers made for the request, and HSTS when `hsts` (the
/// console is served over HTTPS: `--secure-cookies`).
pub async fn security_headers(hsts: bool, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    if hsts {
        res.headers_mut().insert(
            http::header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    // A page sets its own policy, with its scripts' nonce (`app::ssr::
    // content_security_policy`); every other answer gets one that allows nothing to run.
    if !res
        .headers()
        .contains_key(http::header::CONTENT_SECURITY_POLICY)
    {
        res.headers_mut().insert(
            http::header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; frame-ancestors 'none'; object-src 'none'; base-uri 'self'",
            ),
        );
    }
    if !res.headers().contains_key(http::header::CACHE_CONTROL) && dynamic(&res) {
        res.headers_mut().insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        );
    }
    let h = res.headers_mut();
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    res
}

#[cfg(test)]
mod tests {
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    async fn headers_with(hsts: bool) -> http::HeaderMap {
        let app =
            Router::new()
                .route("/", get(|| async { "page" }))
                .layer(axum::middleware::from_fn(move |req, next| {
                    super::security_headers(hsts, req, next)
                }));
        let res = app
            .oneshot(
                http::Request::get("/")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        res.headers().clone()
    }

    #[tokio::test]
    async fn hsts_only_when_served_over_https() {
        let on = headers_with(true).await;
        assert_eq!(
            on[http::header::STRICT_TRANSPORT_SECURITY],
            "max-age=31536000"
        );
        let off = headers_with(false).await;
        assert!(!off.contains_key(http::header::STRICT_TRANSPORT_SECURITY));
        for h in [on, off] {
            assert!(h[http::header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'"));
            assert_eq!(h[http::header::CACHE_CONTROL], "no-store");
        }
    }
}
