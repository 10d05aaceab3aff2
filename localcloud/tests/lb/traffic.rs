//! The data plane: listeners forward real TCP round robin to healthy members.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;
use crate::{ask, balanced, octavia_error, Backend, LBAAS};

#[tokio::test]
async fn listeners_forward_tcp_round_robin_to_healthy_members() {
    let cloud = Cloud::start_with(|c| {
        c.lb_delay = Duration::ZERO;
        c.lb_update_delay = Duration::ZERO;
    })
    .await;
    let token = cloud.token().await;
    let a = Backend::start(&cloud, &token, "A").await;
    let b = Backend::start(&cloud, &token, "B").await;
    let (lb, vip, pool) = balanced(&cloud, &token, 6443, &[a.addr, b.addr]).await;
    assert!(vip.starts_with("127."), "{vip}");

    // Both members come ONLINE once probed; connections alternate between them.
    for _ in 0..100 {
        let (_, st) = cloud
            .send(
                Method::GET,
                &format!("{LBAAS}/loadbalancers/{lb}/status"),
                &token,
                None,
            )
            .await;
        let members = &st["statuses"]["loadbalancer"]["listeners"][0]["pools"][0]["members"];
        if members
            .as_array()
            .is_some_and(|m| m.iter().all(|m| m["operating_status"] == "ONLINE"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, st) = cloud
        .send(
            Method::GET,
            &format!("{LBAAS}/loadbalancers/{lb}/status"),
            &token,
            None,
        )
        .await;
    assert_shape(
        &sample("octavia/loadbalancer-status-response.json"),
        &st,
        "",
    );
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(ask(&vip, 6443).await);
    }
    seen.sort();
    assert_eq!(seen, ["A", "A", "B", "B"], "round robin over both members");

    // Shapes of show and list.
    let (_, body) = cloud
        .send(
            Method::GET,
            &format!("{LBAAS}/loadbalancers/{lb}"),
            &token,
            None,
        )
        .await;
    assert_shape(
        &sample("octavia/loadbalancer-show-response.json"),
        &body,
        "",
    );
    assert_eq!(body["loadbalancer"]["provisioning_status"], "ACTIVE");
    for (path, file) in [
        ("loadbalancers", "loadbalancers-list-response.json"),
        ("listeners", "listeners-list-response.json"),
        ("pools", "pools-list-response.json"),
        ("healthmonitors", "healthmonitors-list-response.json"),
    ] {
        let (_, body) = cloud
            .send(Method::GET, &format!("{LBAAS}/{path}"), &token, None)
            .await;
        assert_shape(&sample(&format!("octavia/{file}")), &body, "");
    }
    let (_, body) = cloud
        .send(
            Method::GET,
            &format!("{LBAAS}/pools/{pool}/members"),
            &token,
            None,
        )
        .await;
    assert_shape(&sample("octavia/members-list-response.json"), &body, "");

    // Tag filters: all of `tags`, any of `tags-any`.
    let (_, body) = cloud
        .send(
            Method::GET,
            &format!("{LBAAS}/loadbalancers?tags=shipyard,cluster=c1"),
            &token,
            None,
        )
        .await;
    assert_eq!(body["loadbalancers"].as_array().unwrap().len(), 1);
    let (_, body) = cloud
        .send(
            Method::GET,
            &format!("{LBAAS}/loadbalancers?tags=shipyard,cluster=c2"),
            &token,
            None,
        )
        .await;
    assert_eq!(body["loadbalancers"].as_array().unwrap().len(), 0);
    let (_, body) = cloud
        .send(
            Method::GET,
            &format!("{LBAAS}/loadbalancers?tags-any=cluster=c2,shipyard"),
            &token,
            None,
        )
        .await;
    assert_eq!(body["loadbalancers"].as_array().unwrap().len(), 1);

    // B dies: the monitor marks it ERROR and every connection goes to A.
    b.kill();
    let mut degraded = false;
    for _ in 0..100 {
        let (_, p) = cloud
            .send(Method::GET, &format!("{LBAAS}/pools/{pool}"), &token, None)
            .await;
        if p["pool"]["operating_status"] == "DEGRADED" {
            degraded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        degraded,
        "pool becomes DEGRADED when a member stops answering"
    );
    let (_, body) = cloud
        .send(
            Method::GET,
            &format!("{LBAAS}/loadbalancers/{lb}"),
            &token,
            None,
        )
        .await;
    assert_eq!(body["loadbalancer"]["operating_status"], "DEGRADED");
    for _ in 0..4 {
        assert_eq!(ask(&vip, 6443).await, "A");
    }

    // Cascade delete unbinds the port.
    let (s, _) = cloud
        .send(
            Method::DELETE,
            &format!("{LBAAS}/loadbalancers/{lb}?cascade=true"),
            &token,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, body) = cloud
        .send(
            Method::GET,
            &format!("{LBAAS}/loadbalancers/{lb}"),
            &token,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    octavia_error(&body);
    assert_eq!(ask(&vip, 6443).await, "refused");
    let (_, body) = cloud
        .send(Method::GET, &format!("{LBAAS}/pools"), &token, None)
        .await;
    assert_eq!(body["pools"], json!([]), "children went with it");
    a.kill();
    cloud.running.stop();
}
