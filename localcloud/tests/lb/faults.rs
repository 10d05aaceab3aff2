//! Injected faults, in each service's error shape.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;
use crate::LBAAS;

#[tokio::test]
async fn injected_faults_in_each_services_shape() {
    let cloud = Cloud::start_with(|c| {
        c.server_build_delay = Duration::ZERO;
    })
    .await;
    let token = cloud.token().await;
    let project = cloud.project_id().await;
    let (s, b) = cloud
        .send(Method::GET, "/admin/behaviour", &token, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["error_rate"], 0.0);
    for bad in [
        json!({"error_rate": 2.0}),
        json!({"nonsense": 1}),
        json!({"lb_seconds": -1}),
    ] {
        let (s, _) = cloud
            .send(Method::PUT, "/admin/behaviour", &token, Some(bad))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
    }
    let (s, b) = cloud
        .send(
            Method::PUT,
            "/admin/behaviour",
            &token,
            Some(json!({"error_rate": 1.0})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = cloud
        .send(Method::GET, "/compute/v2.1/flavors", &token, None)
        .await;
    assert!(s.is_server_error(), "{s}");
    let fault = b.as_object().unwrap().values().next().unwrap();
    assert!(
        fault["message"].as_str().unwrap().contains("Injected"),
        "{b}"
    );
    let (s, b) = cloud
        .send(Method::GET, &format!("{LBAAS}/loadbalancers"), &token, None)
        .await;
    assert!(s.is_server_error());
    assert_eq!(b["faultcode"], "Server");
    let (s, _) = cloud
        .send(
            Method::GET,
            &format!("/volume/v3/{project}/volumes"),
            &token,
            None,
        )
        .await;
    assert!(s.is_server_error());
    // Keystone is never made flaky, and nothing was created by a refused call.
    assert!(!cloud.token().await.is_empty());
    let (s, _) = cloud.send(Method::POST, "/compute/v2.1/servers", &token, Some(json!({"server": {"name": "x", "flavorRef": "1", "imageRef": "ubuntu-22.04-k8s-v1.31"}}))).await;
    assert!(s.is_server_error());
    let (s, _) = cloud.send(Method::PUT, "/admin/behaviour", &token, Some(json!({"error_rate": 0.0, "server_error_rate": 1.0, "server_error_after_seconds": 0.2}))).await;
    assert_eq!(s, StatusCode::OK);
    let (_, list) = cloud
        .send(Method::GET, "/compute/v2.1/servers", &token, None)
        .await;
    assert_eq!(
        list["servers"],
        json!([]),
        "the refused create made nothing"
    );

    // A server that turns ERROR after a while, with a fault in Nova's shape.
    let (s, b) = cloud.send(Method::POST, "/compute/v2.1/servers", &token, Some(json!({"server": {"name": "doomed", "flavorRef": "1", "imageRef": "ubuntu-22.04-k8s-v1.31"}}))).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let id = b["server"]["id"].as_str().unwrap();
    let (_, shown) = cloud
        .send(
            Method::GET,
            &format!("/compute/v2.1/servers/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(shown["server"]["status"], "ACTIVE");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, shown) = cloud
        .send(
            Method::GET,
            &format!("/compute/v2.1/servers/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(shown["server"]["status"], "ERROR");
    assert!(shown["server"]["fault"]["message"]
        .as_str()
        .unwrap()
        .contains("Injected"));
    cloud.running.stop();
}
