//! Members must be the cloud's own addresses.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::*;
use crate::{ask, balanced, octavia_error, wait_for, Backend, LBAAS};

/// Members are the cloud's own addresses: anything else is Octavia's 400 and nothing is
/// stored; a member whose subnet went from under it is ERROR, says why, and is never
/// dialled, so its listener closes connections instead of forwarding them.
#[tokio::test]
async fn members_outside_the_clouds_subnets_are_refused_and_never_dialled() {
    let cloud = Cloud::start_with(|c| {
        c.lb_delay = Duration::ZERO;
        c.lb_update_delay = Duration::ZERO;
    })
    .await;
    let token = cloud.token().await;
    let backend = Backend::start(&cloud, &token, "inside").await;
    let (lb, vip, pool) = balanced(&cloud, &token, 8443, &[backend.addr]).await;
    let members = format!("{LBAAS}/pools/{pool}/members");
    wait_for(
        &cloud,
        &token,
        &format!("{LBAAS}/loadbalancers/{lb}"),
        "loadbalancer",
        "provisioning_status",
        "ACTIVE",
    )
    .await;
    let subnet = cloud.running.cloud.config.subnet;
    // A host of the private subnet that no port holds is still the cloud's own.
    let spare = std::net::Ipv4Addr::from(subnet.last() - 1);
    for (address, why) in [
        ("10.0.0.5", "not on loopback"),
        ("192.168.1.10", "not on loopback"),
        ("8.8.8.8", "not on loopback"),
        ("127.0.0.1", "none of this cloud's subnets"),
        (vip.as_str(), "none of this cloud's subnets"),
        ("127.255.255.254", "none of this cloud's subnets"),
    ] {
        let (s, body) = cloud
            .send(
                Method::POST,
                &members,
                &token,
                Some(json!({"member": {"address": address, "protocol_port": 5432}})),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{address}: {body}");
        octavia_error(&body);
        let msg = body["faultstring"].as_str().unwrap();
        assert!(
            msg.contains("subnets") || msg.contains(why),
            "{address}: {msg}"
        );
    }
    let (s, body) = cloud
        .send(Method::POST, &members, &token, Some(json!({"member": {"address": spare.to_string(), "protocol_port": 80, "monitor_address": "127.0.0.1", "monitor_port": 5432}})))
        .await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "a monitor address outside: {body}"
    );
    let (_, listed) = cloud.send(Method::GET, &members, &token, None).await;
    assert_eq!(
        listed["members"].as_array().unwrap().len(),
        1,
        "nothing stored: {listed}"
    );

    // A subnet of the tenant's own network holds members too, until it is deleted.
    let (s, net) = cloud
        .send(
            Method::POST,
            "/network/v2.0/networks",
            &token,
            Some(json!({"network": {"name": "gone"}})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let net = net["network"]["id"].as_str().unwrap();
    let other = localcloud::addresses::random_subnet();
    let (s, sub) = cloud
        .send(
            Method::POST,
            "/network/v2.0/subnets",
            &token,
            Some(json!({"subnet": {"network_id": net, "cidr": other.to_string()}})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{sub}");
    let sub = sub["subnet"]["id"].as_str().unwrap().to_string();
    let held = std::net::Ipv4Addr::from(other.first() + 9);
    wait_for(
        &cloud,
        &token,
        &format!("{LBAAS}/loadbalancers/{lb}"),
        "loadbalancer",
        "provisioning_status",
        "ACTIVE",
    )
    .await;
    let (s, m) = cloud
        .send(Method::POST, &members, &token, Some(json!({"member": {"address": held.to_string(), "protocol_port": 8080, "subnet_id": sub}})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let member = m["member"]["id"].as_str().unwrap().to_string();
    assert_eq!(m["member"]["operating_status_reason"], Value::Null);
    let (s, _) = cloud
        .send(
            Method::DELETE,
            &format!("/network/v2.0/subnets/{sub}"),
            &token,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, shown) = cloud
        .send(Method::GET, &format!("{members}/{member}"), &token, None)
        .await;
    assert_eq!(shown["member"]["operating_status"], "ERROR", "{shown}");
    let reason = shown["member"]["operating_status_reason"].as_str().unwrap();
    assert!(
        reason.contains("will not connect") && reason.contains(&held.to_string()),
        "{reason}"
    );
    // The member that is inside still answers; the refused one is never dialled (a
    // listener on its address would say so).
    let trap = tokio::net::TcpListener::bind((held, 8080)).await.unwrap();
    let mut answers = Vec::new();
    for _ in 0..40 {
        answers.push(ask(&vip, 8443).await);
    }
    assert!(answers.iter().any(|a| a == "inside"), "{answers:?}");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), trap.accept())
            .await
            .is_err(),
        "the refused member was dialled"
    );
    cloud.running.stop();
    backend.kill();
}
