//! The gate every request passes before its handler (one middleware layer of
//! [`crate::server::router`]): the caller is authenticated (their certificate's user and
//! groups, plus `system:authenticated`), what they ask is read from the method, path and
//! query as kube-apiserver's RequestInfo reads it, and [`crate::rbac`] decides; a refusal
//! is kube-apiserver's 403 `Forbidden` Status, word for word. Then a protobuf body is
//! read into JSON for the handler ([`crate::protobuf`]).

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use crate::rbac::{self, Attributes};
use crate::state::Shared;
use crate::tls::Identity;

/// The group every authenticated caller is in.
pub const AUTHENTICATED: &str = "system:authenticated";

/// `identity` as authenticated: its groups and `system:authenticated`.
pub fn authenticated(mut identity: Identity) -> Identity {
    if !identity.groups.iter().any(|g| g == AUTHENTICATED) {
        identity.groups.push(AUTHENTICATED.to_string());
    }
    identity
}

/// The layer: authenticates, authorizes, and hands the request (carrying the
/// authenticated [`Identity`], its body JSON) on, or answers 401, 403, or 400/415 for a
/// protobuf body that cannot be read.
pub async fn layer(State(shared): State<Shared>, mut req: Request, next: Next) -> Response {
    let Some(identity) = req.extensions().get::<Identity>().cloned() else {
        return status(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Unauthorized",
            None,
        );
    };
    let user = authenticated(identity);
    let a = attributes(req.method(), req.uri().path(), req.uri().query());
    let decision = rbac::authorize(&shared.store, &user, &a);
    if !decision.allowed {
        return forbidden(&user, &a, &decision.reason);
    }
    req.extensions_mut().insert(user);
    // A protobuf body to what is not served is left to the handler's 404.
    let served = a.resource_request
        && crate::kinds::of(&a.api_group, &a.api_version).any(|k| k.resource == a.resource);
    if !served {
        return next.run(req).await;
    }
    match crate::protobuf::as_json(req).await {
        Ok(req) => next.run(req).await,
        Err(refused) => refused.into_response(),
    }
}

/// What a request asks, as kube-apiserver's RequestInfoFactory reads it: under `/api/v1`
/// and `/apis/<group>/<version>` a resource request (verb from the method, `list` or
/// `watch` for a GET without a name, `watch` also from a `/watch/` path), anything else
/// a path with the method as verb.
pub fn attributes(method: &Method, path: &str, query: Option<&str>) -> Attributes {
    let mut a = Attributes {
        verb: method.as_str().to_lowercase(),
        path: path.to_string(),
        ..Default::default()
    };
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let rest = match parts.as_slice() {
        ["api", rest @ ..] if rest.len() >= 2 => rest,
        ["apis", group, rest @ ..] if rest.len() >= 2 => {
            a.api_group = group.to_string();
            rest
        }
        _ => return a,
    };
    a.resource_request = true;
    a.api_version = rest[0].to_string();
    let mut parts = &rest[1..];
    if matches!(parts[0], "watch" | "proxy") {
        a.verb = parts[0].to_string();
        parts = &parts[1..];
    } else {
        a.verb = match *method {
            Method::POST => "create",
            Method::GET | Method::HEAD => "get",
            Method::PUT => "update",
            Method::PATCH => "patch",
            Method::DELETE => "delete",
            _ => "",
        }
        .to_string();
    }
    if parts.first() == Some(&"namespaces") {
        if let Some(ns) = parts.get(1) {
            a.namespace = ns.to_string();
            if parts.len() > 2 && !matches!(parts[2], "status" | "finalize") {
                parts = &parts[2..];
            }
        }
    }
    if parts.len() >= 3 && a.verb != "proxy" {
        a.subresource = parts[2].to_string();
    }
    if parts.len() >= 2 {
        a.name = parts[1].to_string();
    }
    a.resource = parts.first().unwrap_or(&"").to_string();
    if a.name.is_empty() && a.verb == "get" {
        let q = query_pairs(query.unwrap_or(""));
        let watch = q.iter().any(|(k, v)| {
            k == "watch" && matches!(v.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True")
        });
        a.verb = if watch { "watch" } else { "list" }.to_string();
        if let Some((_, selector)) = q.iter().find(|(k, _)| k == "fieldSelector") {
            if let Some(name) = exact_name(selector) {
                a.name = name;
            }
        }
    }
    if a.name.is_empty() && a.verb == "delete" {
        a.verb = "deletecollection".to_string();
    }
    a
}

/// The name a field selector asks for exactly (`metadata.name=x`, alone).
fn exact_name(selector: &str) -> Option<String> {
    if selector.contains(',') {
        return None;
    }
    let value = selector
        .strip_prefix("metadata.name==")
        .or_else(|| selector.strip_prefix("metadata.name="))?;
    let valid = !value.is_empty() && !matches!(value, "." | "..") && !value.contains(['/', '%']);
    valid.then(|| value.to_string())
}

/// A query string's pairs, percent-decoded.
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (unescape(k), unescape(v))
        })
        .collect()
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// kube-apiserver's refusal: `pods is forbidden: User "ann" cannot create resource
/// "pods" in API group "" in the namespace "default"`, with `reason` after a colon.
pub fn forbidden(user: &Identity, a: &Attributes, reason: &str) -> Response {
    let what = if !a.resource_request {
        format!("User {:?} cannot {} path {:?}", user.user, a.verb, a.path)
    } else {
        let resource = if a.subresource.is_empty() {
            a.resource.clone()
        } else {
            format!("{}/{}", a.resource, a.subresource)
        };
        let scope = if a.namespace.is_empty() {
            "at the cluster scope".to_string()
        } else {
            format!("in the namespace {:?}", a.namespace)
        };
        format!(
            "User {:?} cannot {} resource {:?} in API group {:?} {scope}",
            user.user, a.verb, resource, a.api_group
        )
    };
    let what = if reason.is_empty() {
        what
    } else {
        format!("{what}: {reason}")
    };
    let (resource, group) = if a.resource_request {
        (a.resource.as_str(), a.api_group.as_str())
    } else {
        ("", "")
    };
    let qualified = if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    };
    let message = match (
        qualified.is_empty(),
        a.name.is_empty() || !a.resource_request,
    ) {
        (true, _) => format!("forbidden: {what}"),
        (false, true) => format!("{qualified} is forbidden: {what}"),
        (false, false) => format!("{qualified} {:?} is forbidden: {what}", a.name),
    };
    let mut details = Map::new();
    if a.resource_request && !a.name.is_empty() {
        details.insert("name".into(), json!(a.name));
    }
    if !group.is_empty() {
        details.insert("group".into(), json!(group));
    }
    if !resource.is_empty() {
        details.insert("kind".into(), json!(resource));
    }
    status(
        StatusCode::FORBIDDEN,
        "Forbidden",
        &message,
        Some(Value::Object(details)),
    )
}

fn status(code: StatusCode, reason: &str, message: &str, details: Option<Value>) -> Response {
    let mut body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code.as_u16(),
    });
    if let Some(d) = details {
        body["details"] = d;
    }
    (code, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(method: Method, path: &str, query: Option<&str>) -> Attributes {
        attributes(&method, path, query)
    }

    #[test]
    fn requests_read_as_kube_apiserver_reads_them() {
        let a = read(Method::POST, "/api/v1/namespaces/default/pods", None);
        assert!(a.resource_request);
        assert_eq!(
            (a.verb.as_str(), a.api_group.as_str(), a.resource.as_str()),
            ("create", "", "pods")
        );
        assert_eq!((a.namespace.as_str(), a.name.as_str()), ("default", ""));
        let a = read(
            Method::GET,
            "/apis/apps/v1/deployments",
            Some("watch=true&x=1"),
        );
        assert_eq!((a.verb.as_str(), a.api_group.as_str()), ("watch", "apps"));
        let a = read(Method::GET, "/api/v1/namespaces/ns/pods", Some("watch=0"));
        assert_eq!(a.verb, "list");
        let a = read(
            Method::GET,
            "/api/v1/namespaces/ns/configmaps",
            Some("fieldSelector=metadata.name%3Dsettings&watch=1"),
        );
        assert_eq!((a.verb.as_str(), a.name.as_str()), ("watch", "settings"));
        let a = read(Method::GET, "/api/v1/watch/namespaces/ns/pods/p", None);
        assert_eq!((a.verb.as_str(), a.resource.as_str()), ("watch", "pods"));
        assert_eq!((a.namespace.as_str(), a.name.as_str()), ("ns", "p"));
        let a = read(Method::GET, "/api/v1/namespaces/ns/pods/p/log", None);
        assert_eq!((a.name.as_str(), a.subresource.as_str()), ("p", "log"));
        let a = read(
            Method::PUT,
            "/apis/apps/v1/namespaces/ns/deployments/web/scale",
            None,
        );
        assert_eq!(
            (a.verb.as_str(), a.subresource.as_str()),
            ("update", "scale")
        );
        // A namespace is itself in its namespace; its status is its subresource.
        let a = read(Method::GET, "/api/v1/namespaces/team", None);
        assert_eq!(
            (a.resource.as_str(), a.name.as_str(), a.namespace.as_str()),
            ("namespaces", "team", "team")
        );
        let a = read(Method::PUT, "/api/v1/namespaces/team/status", None);
        assert_eq!(
            (a.resource.as_str(), a.subresource.as_str()),
            ("namespaces", "status")
        );
        let a = read(Method::DELETE, "/api/v1/namespaces/ns/configmaps", None);
        assert_eq!(a.verb, "deletecollection");
        for p in [
            "/api",
            "/api/v1",
            "/apis",
            "/apis/apps/v1",
            "/version",
            "/openapi/v3",
        ] {
            let a = read(Method::GET, p, None);
            assert!(!a.resource_request, "{p}");
            assert_eq!((a.verb.as_str(), a.path.as_str()), ("get", p));
        }
    }

    #[test]
    fn refusals_are_worded_as_kube_apiserver_words_them() {
        let ann = Identity {
            user: "ann@example.com".into(),
            groups: vec![],
        };
        let body = |r: Response| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let b = rt
                .block_on(axum::body::to_bytes(r.into_body(), 1 << 16))
                .unwrap();
            serde_json::from_slice::<Value>(&b).unwrap()
        };
        let a = read(Method::POST, "/api/v1/namespaces/default/pods", None);
        let s = body(forbidden(&ann, &a, ""));
        assert_eq!(s["message"], "pods is forbidden: User \"ann@example.com\" cannot create resource \"pods\" in API group \"\" in the namespace \"default\"");
        assert_eq!(s["reason"], "Forbidden");
        assert_eq!(s["code"], 403);
        assert_eq!(s["details"], json!({"kind": "pods"}));
        let a = read(
            Method::GET,
            "/apis/apps/v1/namespaces/ns/deployments/web",
            None,
        );
        let s = body(forbidden(&ann, &a, ""));
        assert_eq!(s["message"], "deployments.apps \"web\" is forbidden: User \"ann@example.com\" cannot get resource \"deployments\" in API group \"apps\" in the namespace \"ns\"");
        assert_eq!(
            s["details"],
            json!({"name": "web", "group": "apps", "kind": "deployments"})
        );
        let a = read(Method::GET, "/api/v1/nodes", None);
        let s = body(forbidden(&ann, &a, "RBAC: x"));
        assert_eq!(s["message"], "nodes is forbidden: User \"ann@example.com\" cannot list resource \"nodes\" in API group \"\" at the cluster scope: RBAC: x");
        let a = read(Method::GET, "/api/v1/namespaces/ns/pods/p/log", None);
        let s = body(forbidden(&ann, &a, ""));
        assert!(s["message"]
            .as_str()
            .unwrap()
            .contains("cannot get resource \"pods/log\" in API group \"\""));
        let a = read(Method::GET, "/metrics", None);
        let s = body(forbidden(&ann, &a, ""));
        assert_eq!(
            s["message"],
            "forbidden: User \"ann@example.com\" cannot get path \"/metrics\""
        );
    }
}
