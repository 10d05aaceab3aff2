//! The gate in front of every handler, through the router in-process: who may pass, the
//! Status a refusal is, protobuf bodies read into JSON or refused with 415.

mod common;

use axum::http::{Method, StatusCode};
use common::app::{app, call, json_of, who};
use kubesim::protobuf::put;
use kubesim::store::Key;
use serde_json::json;

fn varint(out: &mut Vec<u8>, n: u32, mut v: u64) {
    let mut key = u64::from(n) << 3;
    loop {
        let b = (key & 0x7f) as u8;
        key >>= 7;
        out.push(if key == 0 { b } else { b | 0x80 });
        if key == 0 {
            break;
        }
    }
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        out.push(if v == 0 { b } else { b | 0x80 });
        if v == 0 {
            break;
        }
    }
}

fn message(parts: &[(u32, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, b) in parts {
        put(&mut out, *n, b);
    }
    out
}

/// `raw` wrapped as kubectl sends it: `k8s\0` and a runtime.Unknown.
fn wrapped(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let type_meta = message(&[(1, api_version.as_bytes()), (2, kind.as_bytes())]);
    let unknown = message(&[(1, &type_meta), (2, raw), (3, b""), (4, b"")]);
    [b"k8s\0".as_slice(), &unknown].concat()
}

/// ObjectMeta as Go writes it: every plain field, empty ones too.
fn meta(name: &str) -> Vec<u8> {
    let mut m = message(&[(1, name.as_bytes()), (2, b""), (3, b""), (6, b"")]);
    varint(&mut m, 7, 0);
    put(&mut m, 8, b"");
    m
}

const PROTOBUF: (&str, &str) = ("content-type", "application/vnd.kubernetes.protobuf");

#[tokio::test]
async fn protobuf_bodies_are_read_into_json_or_refused_with_415() {
    let (app, store) = app();
    let root = || who("kim", &["system:masters"]);
    let entry = |k: &str, v: &str| message(&[(1, k.as_bytes()), (2, v.as_bytes())]);
    // A ConfigMap: its data map (an empty value kept), no immutable.
    let cm = message(&[
        (1, &meta("settings")),
        (2, &entry("mode", "fast")),
        (2, &entry("empty", "")),
    ]);
    let (status, _, body) = call(
        &app,
        Method::POST,
        "/api/v1/namespaces/default/configmaps",
        root(),
        &[PROTOBUF],
        wrapped("v1", "ConfigMap", &cm),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let stored = store
        .get(&Key::new("configmaps", Some("default"), "settings"))
        .unwrap();
    assert_eq!(stored["data"], json!({"mode": "fast", "empty": ""}));
    assert!(stored.get("immutable").is_none(), "{stored}");
    assert!(stored["metadata"].get("creationTimestamp").is_some());

    // A Deployment scaled to 0 stays at 0 (a pointer in Go); its status is not read.
    let mut spec = Vec::new();
    varint(&mut spec, 1, 0);
    let mut status_msg = Vec::new();
    varint(&mut status_msg, 2, 5);
    let d = message(&[(1, &meta("web")), (2, &spec), (3, &status_msg)]);
    let (status, _, body) = call(
        &app,
        Method::POST,
        "/apis/apps/v1/namespaces/default/deployments",
        root(),
        &[PROTOBUF],
        wrapped("apps/v1", "Deployment", &d),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let made = json_of(&body);
    assert_eq!(made["spec"]["replicas"], 0, "{made}");
    assert!(
        made.get("status")
            .is_none_or(|s| s.get("replicas").is_none()),
        "{made}"
    );

    // A ClusterRole's core group is the empty string, and is kept.
    let rule = message(&[(1, b"get"), (2, b""), (3, b"pods")]);
    let role = message(&[(1, &meta("reader")), (2, &rule)]);
    let (status, _, body) = call(
        &app,
        Method::POST,
        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        root(),
        &[PROTOBUF],
        wrapped("rbac.authorization.k8s.io/v1", "ClusterRole", &role),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        json_of(&body)["rules"],
        json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}])
    );

    // A kind not read from protobuf, a field not read, a body that is not protobuf.
    for (path, body, code, says) in [
        (
            "/api/v1/nodes",
            wrapped("v1", "Node", &meta("n")),
            415,
            "v1 Node is not read from protobuf",
        ),
        (
            "/api/v1/namespaces/default/configmaps",
            wrapped("v1", "ConfigMap", &message(&[(1, &meta("x")), (9, b"?")])),
            415,
            "field 9 of ConfigMap is not read from protobuf",
        ),
        (
            "/api/v1/namespaces/default/configmaps",
            b"{}".to_vec(),
            400,
            "does not start with k8s",
        ),
    ] {
        let (status, _, body) = call(&app, Method::POST, path, root(), &[PROTOBUF], body).await;
        let s = json_of(&body);
        assert_eq!(status.as_u16(), code, "{s}");
        assert_eq!(s["code"], code);
        assert!(s["message"].as_str().unwrap().contains(says), "{s}");
        if code == 415 {
            assert_eq!(s["reason"], "UnsupportedMediaType");
        }
    }
    // What is not served is not found, whatever the body.
    let (status, _, _) = call(
        &app,
        Method::POST,
        "/apis/batch/v1/namespaces/default/jobs",
        root(),
        &[PROTOBUF],
        wrapped("batch/v1", "Job", &meta("j")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A SelfSubjectAccessReview, as kubectl ≥ 1.32 sends it.
    let attributes = message(&[
        (1, b"default"),
        (2, b"create"),
        (3, b"apps"),
        (5, b"deployments"),
    ]);
    let spec = message(&[(1, &attributes)]);
    let review = message(&[(1, &meta("")), (2, &spec)]);
    for (user, allowed) in [(root(), true), (who("nobody", &[]), false)] {
        let (status, content_type, body) = call(
            &app,
            Method::POST,
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            user,
            &[
                PROTOBUF,
                ("accept", "application/vnd.kubernetes.protobuf, */*"),
            ],
            wrapped(
                "authorization.k8s.io/v1",
                "SelfSubjectAccessReview",
                &review,
            ),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        let r = json_of(&body);
        assert_eq!(r["status"]["allowed"], allowed, "{r}");
        assert_eq!(r["spec"]["resourceAttributes"]["resource"], "deployments");
    }
}

#[tokio::test]
async fn callers_are_refused_as_kube_apiserver_refuses_them() {
    let (app, _) = app();
    let (status, _, _) = call(&app, Method::GET, "/api/v1/namespaces", None, &[], vec![]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let nobody = || who("nobody@example.com", &["team"]);
    let (status, _, body) = call(
        &app,
        Method::GET,
        "/api/v1/namespaces/default/pods/web",
        nobody(),
        &[],
        vec![],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        json_of(&body),
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "pods \"web\" is forbidden: User \"nobody@example.com\" cannot get resource \"pods\" in API group \"\" in the namespace \"default\"",
            "reason": "Forbidden", "details": {"name": "web", "kind": "pods"}, "code": 403,
        })
    );
    // Paths nobody serves are authorized too: refused before they are not found.
    let (status, _, body) = call(&app, Method::GET, "/no/such/thing", nobody(), &[], vec![]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        json_of(&body)["message"],
        "forbidden: User \"nobody@example.com\" cannot get path \"/no/such/thing\""
    );
    let root = who("kim", &["system:masters"]);
    let (status, _, _) = call(&app, Method::GET, "/no/such/thing", root, &[], vec![]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Discovery and the self reviews are everyone's.
    for path in [
        "/version",
        "/api",
        "/apis",
        "/api/v1",
        "/apis/apps/v1",
        "/openapi/v3",
    ] {
        let (status, _, _) = call(&app, Method::GET, path, nobody(), &[], vec![]).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    let (status, _, body) = call(
        &app,
        Method::POST,
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        nobody(),
        &[("content-type", "application/json")],
        br#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#.to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        json_of(&body)["status"]["userInfo"],
        json!({"username": "nobody@example.com", "groups": ["team", "system:authenticated"]})
    );
    // An access review must say what it asks about.
    let (status, _, body) = call(
        &app,
        Method::POST,
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        nobody(),
        &[("content-type", "application/json")],
        br#"{"spec":{}}"#.to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json_of(&body)["reason"], "Invalid");
}
