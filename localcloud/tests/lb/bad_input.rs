//! Bad load balancer requests are refused in Octavia's error shape and change nothing.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;
use crate::{octavia_error, subnet, LBAAS};

#[tokio::test]
async fn bad_load_balancer_requests_change_nothing() {
    let cloud = Cloud::start_with(|c| {
        c.lb_delay = Duration::ZERO;
        c.lb_update_delay = Duration::ZERO;
    })
    .await;
    let token = cloud.token().await;
    let subnet = subnet(&cloud, &token).await;
    let url = format!("{}{LBAAS}/loadbalancers", cloud.running.url);
    for raw in [
        &b"{not json"[..],
        b"\xff\xfe",
        b"[]",
        b"{}",
        br#"{"loadbalancer": {"name": 5}}"#,
    ] {
        let res = cloud
            .http
            .post(&url)
            .header("x-auth-token", &token)
            .body(raw.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        octavia_error(&res.json().await.unwrap());
    }
    let long = "x".repeat(256);
    for body in [
        json!({"loadbalancer": {"name": "no-vip"}}),
        json!({"loadbalancer": {"name": long, "vip_subnet_id": subnet}}),
        json!({"loadbalancer": {"vip_subnet_id": "no-such-subnet"}}),
        json!({"loadbalancer": {"vip_subnet_id": subnet, "vip_address": "10.1.2.3"}}),
        json!({"loadbalancer": {"vip_subnet_id": subnet, "tags": [""]}}),
    ] {
        let (s, b) = cloud
            .send(
                Method::POST,
                &format!("{LBAAS}/loadbalancers"),
                &token,
                Some(body.clone()),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body} → {b}");
        octavia_error(&b);
    }
    let (_, list) = cloud
        .send(Method::GET, &format!("{LBAAS}/loadbalancers"), &token, None)
        .await;
    assert_eq!(list["loadbalancers"], json!([]), "nothing was made");

    let (_, lb) = cloud
        .send(
            Method::POST,
            &format!("{LBAAS}/loadbalancers"),
            &token,
            Some(json!({"loadbalancer": {"vip_subnet_id": subnet}})),
        )
        .await;
    let id = lb["loadbalancer"]["id"].as_str().unwrap();
    for (port, proto) in [
        (json!(0), "TCP"),
        (json!(70000), "TCP"),
        (json!("x"), "TCP"),
        (json!(80), "SCTP"),
    ] {
        let (s, b) = cloud
            .send(Method::POST, &format!("{LBAAS}/listeners"), &token, Some(json!({"listener": {"protocol": proto, "protocol_port": port, "loadbalancer_id": id}})))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{port} {proto} → {b}");
    }
    let (s, _) = cloud
        .send(Method::POST, &format!("{LBAAS}/listeners"), &token, Some(json!({"listener": {"protocol": "TCP", "protocol_port": 80, "loadbalancer_id": "nope"}})))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = cloud
        .send(
            Method::POST,
            &format!("{LBAAS}/pools/nope/members"),
            &token,
            Some(json!({"member": {"address": "127.0.0.1", "protocol_port": 80}})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = cloud
        .send(Method::POST, &format!("{LBAAS}/pools"), &token, Some(json!({"pool": {"protocol": "TCP", "lb_algorithm": "RANDOM", "loadbalancer_id": id}})))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (_, p) = cloud
        .send(Method::POST, &format!("{LBAAS}/pools"), &token, Some(json!({"pool": {"protocol": "TCP", "lb_algorithm": "ROUND_ROBIN", "loadbalancer_id": id}})))
        .await;
    let pool = p["pool"]["id"].as_str().unwrap();
    for member in [
        json!({"address": "not-an-ip", "protocol_port": 80}),
        json!({"address": "127.0.0.1", "protocol_port": -1}),
        json!({"address": "127.0.0.1", "protocol_port": 80, "weight": 1000}),
    ] {
        let (s, b) = cloud
            .send(
                Method::POST,
                &format!("{LBAAS}/pools/{pool}/members"),
                &token,
                Some(json!({"member": member})),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    }
    let (s, _) = cloud
        .send(Method::POST, &format!("{LBAAS}/healthmonitors"), &token, Some(json!({"healthmonitor": {"pool_id": pool, "type": "TCP", "delay": 1, "timeout": 5, "max_retries": 1}})))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "timeout longer than delay");
    let (_, members) = cloud
        .send(
            Method::GET,
            &format!("{LBAAS}/pools/{pool}/members"),
            &token,
            None,
        )
        .await;
    assert_eq!(members["members"], json!([]));
    let (_, l) = cloud
        .send(Method::GET, &format!("{LBAAS}/listeners"), &token, None)
        .await;
    assert_eq!(l["listeners"], json!([]));
    // No token: 401 in Octavia's shape.
    let res = cloud.http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    octavia_error(&res.json().await.unwrap());
    cloud.running.stop();
}
