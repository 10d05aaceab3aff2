//! The PENDING_* state machine and its 409s.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;
use crate::{octavia_error, subnet, wait_for, LBAAS};

#[tokio::test]
async fn pending_states_refuse_changes_with_409() {
    let cloud = Cloud::start_with(|c| {
        c.lb_delay = Duration::from_millis(1500);
        c.lb_update_delay = Duration::from_millis(1500);
    })
    .await;
    let token = cloud.token().await;
    let subnet = subnet(&cloud, &token).await;
    let (s, lb) = cloud
        .send(
            Method::POST,
            &format!("{LBAAS}/loadbalancers"),
            &token,
            Some(json!({"loadbalancer": {"name": "slow", "vip_subnet_id": subnet}})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(lb["loadbalancer"]["provisioning_status"], "PENDING_CREATE");
    assert_eq!(lb["loadbalancer"]["operating_status"], "OFFLINE");
    let id = lb["loadbalancer"]["id"].as_str().unwrap().to_string();
    let listener =
        json!({"listener": {"protocol": "TCP", "protocol_port": 8443, "loadbalancer_id": id}});
    let (s, body) = cloud
        .send(
            Method::POST,
            &format!("{LBAAS}/listeners"),
            &token,
            Some(listener.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    octavia_error(&body);
    let (s, _) = cloud
        .send(
            Method::DELETE,
            &format!("{LBAAS}/loadbalancers/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "no delete while PENDING_CREATE");

    wait_for(
        &cloud,
        &token,
        &format!("{LBAAS}/loadbalancers/{id}"),
        "loadbalancer",
        "provisioning_status",
        "ACTIVE",
    )
    .await;
    let (s, l) = cloud
        .send(
            Method::POST,
            &format!("{LBAAS}/listeners"),
            &token,
            Some(listener),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{l}");
    assert_eq!(l["listener"]["provisioning_status"], "PENDING_CREATE");
    let (_, body) = cloud
        .send(
            Method::GET,
            &format!("{LBAAS}/loadbalancers/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(
        body["loadbalancer"]["provisioning_status"],
        "PENDING_UPDATE"
    );
    let (s, body) = cloud
        .send(
            Method::PUT,
            &format!("{LBAAS}/loadbalancers/{id}"),
            &token,
            Some(json!({"loadbalancer": {"name": "renamed"}})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    wait_for(
        &cloud,
        &token,
        &format!("{LBAAS}/loadbalancers/{id}"),
        "loadbalancer",
        "provisioning_status",
        "ACTIVE",
    )
    .await;
    let (s, body) = cloud
        .send(
            Method::PUT,
            &format!("{LBAAS}/loadbalancers/{id}"),
            &token,
            Some(json!({"loadbalancer": {"name": "renamed"}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["loadbalancer"]["name"], "renamed");
    assert_eq!(
        body["loadbalancer"]["provisioning_status"],
        "PENDING_UPDATE"
    );
    wait_for(
        &cloud,
        &token,
        &format!("{LBAAS}/loadbalancers/{id}"),
        "loadbalancer",
        "provisioning_status",
        "ACTIVE",
    )
    .await;

    // With children, delete needs cascade; then PENDING_DELETE, then gone.
    let (s, body) = cloud
        .send(
            Method::DELETE,
            &format!("{LBAAS}/loadbalancers/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    octavia_error(&body);
    let (s, _) = cloud
        .send(
            Method::DELETE,
            &format!("{LBAAS}/loadbalancers/{id}?cascade=true"),
            &token,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, body) = cloud
        .send(
            Method::GET,
            &format!("{LBAAS}/loadbalancers/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(
        body["loadbalancer"]["provisioning_status"],
        "PENDING_DELETE"
    );
    let mut gone = false;
    for _ in 0..100 {
        let (s, _) = cloud
            .send(
                Method::GET,
                &format!("{LBAAS}/loadbalancers/{id}"),
                &token,
                None,
            )
            .await;
        if s == StatusCode::NOT_FOUND {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone);
    cloud.running.stop();
}
