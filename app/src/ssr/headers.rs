//! The security headers a page is answered with (its Content-Security-Policy).

use http::HeaderValue;
use leptos::prelude::*;
use leptos_axum::ResponseOptions;

/// The Content-Security-Policy of a page, whose inline scripts (the hydration
/// bootstrap and the streamed resources) carry `nonce`: scripts only from this origin
/// or with this request's nonce, WebAssembly compiled from them (`'wasm-unsafe-eval'`,
/// no `eval` of strings), requests and forms only to this origin, no plugins, no
/// framing. Styles may be inline (the views set a few `style` attributes).
pub fn content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'self'"
    )
}

/// Sets the page's [`content_security_policy`] with the nonce leptos_axum made for
/// this render (called from the shell).
pub fn page_security_policy() {
    let (Some(nonce), Some(res)) = (leptos::nonce::use_nonce(), use_context::<ResponseOptions>())
    else {
        return;
    };
    if let Ok(v) = HeaderValue::from_str(&content_security_policy(&nonce)) {
        res.insert_header(http::header::CONTENT_SECURITY_POLICY, v);
    }
}
