//! What discovery says of the self reviews (created, never read back), and the OpenAPI
//! v2 document kubectl 1.20 reads, through the router in-process.

mod common;

use axum::http::{Method, StatusCode};
use common::app::{app, call, json_of, who};
use kubesim::protobuf::{fields, Field};
use serde_json::json;

#[tokio::test]
async fn the_reviews_are_in_discovery_with_create_alone() {
    let (app, _) = app();
    let root = || who("kim", &["system:masters"]);
    for (gv, resources) in [
        (
            "authorization.k8s.io/v1",
            vec!["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
        ),
        ("authentication.k8s.io/v1", vec!["selfsubjectreviews"]),
    ] {
        let (status, _, body) = call(
            &app,
            Method::GET,
            &format!("/apis/{gv}"),
            root(),
            &[],
            vec![],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let list = json_of(&body);
        let names: Vec<&str> = list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, resources, "{list}");
        assert!(list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["verbs"] == json!(["create"])));
    }
    let aggregated =
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
    let (_, content_type, body) = call(
        &app,
        Method::GET,
        "/apis",
        root(),
        &[("accept", aggregated)],
        vec![],
    )
    .await;
    assert!(
        content_type.contains("apidiscovery.k8s.io"),
        "{content_type}"
    );
    let all = json_of(&body);
    let group = |name: &str| {
        all["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["metadata"]["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name}: {all}"))
    };
    let authz = group("authorization.k8s.io");
    let resources = authz["versions"][0]["resources"].as_array().unwrap();
    assert_eq!(resources.len(), 2);
    assert!(resources
        .iter()
        .all(|r| r["verbs"] == json!(["create"]) && r["scope"] == "Cluster"));
    assert_eq!(
        group("authentication.k8s.io")["versions"][0]["resources"][0]["resource"],
        "selfsubjectreviews"
    );
    let (_, _, body) = call(&app, Method::GET, "/apis", root(), &[], vec![]).await;
    let groups: Vec<String> = json_of(&body)["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        groups.contains(&"authorization.k8s.io".to_string())
            && groups.contains(&"authentication.k8s.io".to_string()),
        "{groups:?}"
    );
    // Created, never read back.
    let (status, _, _) = call(
        &app,
        Method::GET,
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        root(),
        &[],
        vec![],
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn openapi_v2_says_which_kinds_take_a_dry_run_as_protobuf_and_json() {
    let (app, _) = app();
    let nobody = || who("nobody", &[]);
    let accept = (
        "accept",
        "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
    );
    let (status, content_type, body) = call(
        &app,
        Method::GET,
        "/openapi/v2",
        nobody(),
        &[accept],
        vec![],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, kubesim::protobuf::OPENAPI_V2);
    let doc = fields(&body).unwrap();
    assert!(matches!(doc[0], (1, Field::Bytes(b"2.0"))));
    let Some((_, Field::Bytes(paths))) = doc.iter().find(|(n, _)| *n == 8) else {
        panic!("no paths")
    };
    // Paths{path: NamedPathItem{name, value: PathItem{patch: Operation}}}
    let deployments = "/apis/apps/v1/namespaces/{namespace}/deployments/{name}";
    let found = fields(paths).unwrap().into_iter().any(|(_, named)| {
        let Field::Bytes(named) = named else {
            return false;
        };
        let named = fields(named).unwrap();
        let name_is = matches!(named[0], (1, Field::Bytes(n)) if n == deployments.as_bytes());
        let text = String::from_utf8_lossy(match &named[1] {
            (2, Field::Bytes(item)) => item,
            _ => return false,
        })
        .into_owned();
        name_is
            && text.contains("dryRun")
            && text.contains("kind: Deployment")
            && text.contains("x-kubernetes-group-version-kind")
    });
    assert!(found, "no PATCH of deployments taking dryRun");
    let (status, _, body) = call(
        &app,
        Method::GET,
        "/openapi/v2",
        nobody(),
        &[("accept", "application/json")],
        vec![],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let doc = json_of(&body);
    assert_eq!(doc["swagger"], "2.0");
    let patch = &doc["paths"][deployments]["patch"];
    assert_eq!(
        patch["x-kubernetes-group-version-kind"],
        json!({"group": "apps", "version": "v1", "kind": "Deployment"})
    );
    assert!(
        patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "dryRun"),
        "{patch}"
    );
    assert_eq!(doc["definitions"], json!({}));
}

#[tokio::test]
async fn the_status_subresources_are_in_discovery() {
    let (app, _) = app();
    let root = || who("kim", &["system:masters"]);
    let (_, _, body) = call(&app, Method::GET, "/api/v1", root(), &[], vec![]).await;
    let list = json_of(&body);
    for name in [
        "services/status",
        "persistentvolumeclaims/status",
        "persistentvolumes/status",
    ] {
        let r = list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name}: {list}"));
        assert_eq!(r["verbs"], json!(["get", "patch", "update"]));
    }
    let aggregated =
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
    let (_, _, body) = call(
        &app,
        Method::GET,
        "/api",
        root(),
        &[("accept", aggregated)],
        vec![],
    )
    .await;
    let all = json_of(&body);
    let services = all["items"][0]["versions"][0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == "services")
        .cloned()
        .unwrap();
    assert_eq!(
        services["subresources"][0]["subresource"], "status",
        "{services}"
    );
}
