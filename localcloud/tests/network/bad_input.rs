//! Bad input is refused in Neutron's error shape and changes nothing.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::*;
use crate::{everything, id, network_with_subnet, post, NET};

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let cloud = Cloud::start().await;
    let token = cloud.token().await;
    let (net, sub) = network_with_subnet(&cloud, &token, "n", "127.168.5.0/24").await;
    let (_, sg) = post(
        &cloud,
        &token,
        "/security-groups",
        json!({"security_group": {"name": "g"}}),
    )
    .await;
    let sg = id(&sg, "security_group");
    let (_, port) = post(
        &cloud,
        &token,
        "/ports",
        json!({"port": {"network_id": net}}),
    )
    .await;
    let port = id(&port, "port");
    let before = everything(&cloud, &token).await;
    let long = "x".repeat(256);
    let requests: Vec<(Method, String, Value)> = vec![
        (
            Method::POST,
            "/networks".into(),
            json!({"network": {"name": long}}),
        ),
        (
            Method::POST,
            "/networks".into(),
            json!({"network": {"name": 7}}),
        ),
        (
            Method::POST,
            "/networks".into(),
            json!({"network": {"tags": ["a,b"]}}),
        ),
        (
            Method::POST,
            "/networks".into(),
            json!({"network": {"tags": ["x".repeat(61)]}}),
        ),
        (
            Method::POST,
            "/networks".into(),
            json!({"network": {"admin_state_up": "yes"}}),
        ),
        (
            Method::POST,
            "/networks".into(),
            json!({"network": {"mtu": 10}}),
        ),
        (Method::POST, "/networks".into(), json!({"networks": {}})),
        (Method::POST, "/networks".into(), json!([1, 2])),
        (
            Method::POST,
            "/subnets".into(),
            json!({"subnet": {"network_id": net, "cidr": "127.168.6.0/24", "name": long}}),
        ),
        (
            Method::POST,
            "/subnets".into(),
            json!({"subnet": {"network_id": net, "cidr": "300.1.1.0/24"}}),
        ),
        (
            Method::POST,
            "/subnets".into(),
            json!({"subnet": {"network_id": net, "cidr": "127.168.5.0/25"}}),
        ),
        (
            Method::POST,
            "/subnets".into(),
            json!({"subnet": {"network_id": net}}),
        ),
        (
            Method::POST,
            "/subnets".into(),
            json!({"subnet": {"network_id": net, "cidr": "127.168.7.0/24", "ip_version": 6}}),
        ),
        (
            Method::POST,
            "/subnets".into(),
            json!({"subnet": {"network_id": net, "cidr": "127.168.7.0/24", "gateway_ip": "127.168.8.1"}}),
        ),
        (
            Method::POST,
            "/subnets".into(),
            json!({"subnet": {"network_id": net, "cidr": "127.168.7.0/24", "allocation_pools": [{"start": "127.168.7.9", "end": "127.168.7.3"}]}}),
        ),
        (
            Method::POST,
            "/subnets".into(),
            json!({"subnet": {"network_id": "nope", "cidr": "127.168.7.0/24"}}),
        ),
        (
            Method::POST,
            "/subnets".into(),
            json!({"subnet": {"cidr": "127.168.7.0/24"}}),
        ),
        (
            Method::POST,
            "/ports".into(),
            json!({"port": {"network_id": "nope"}}),
        ),
        (
            Method::POST,
            "/ports".into(),
            json!({"port": {"network_id": net, "name": long}}),
        ),
        (
            Method::POST,
            "/ports".into(),
            json!({"port": {"network_id": net, "fixed_ips": [{"subnet_id": "nope"}]}}),
        ),
        (
            Method::POST,
            "/ports".into(),
            json!({"port": {"network_id": net, "fixed_ips": [{}]}}),
        ),
        (
            Method::POST,
            "/ports".into(),
            json!({"port": {"network_id": net, "fixed_ips": "10.0.0.1"}}),
        ),
        (
            Method::POST,
            "/ports".into(),
            json!({"port": {"network_id": net, "security_groups": ["nope"]}}),
        ),
        (
            Method::POST,
            "/security-groups".into(),
            json!({"security_group": {"name": long}}),
        ),
        (
            Method::POST,
            "/security-groups".into(),
            json!({"security_group": {"description": long}}),
        ),
        (
            Method::POST,
            "/security-group-rules".into(),
            json!({"security_group_rule": {"security_group_id": sg, "direction": "ingress", "protocol": "tcp", "port_range_min": 1, "port_range_max": 65536}}),
        ),
        (
            Method::POST,
            "/security-group-rules".into(),
            json!({"security_group_rule": {"security_group_id": sg, "direction": "ingress", "protocol": "tcp", "port_range_min": 443, "port_range_max": 80}}),
        ),
        (
            Method::POST,
            "/security-group-rules".into(),
            json!({"security_group_rule": {"security_group_id": sg, "direction": "ingress", "remote_ip_prefix": "nope"}}),
        ),
        (
            Method::PUT,
            format!("/networks/{net}"),
            json!({"network": {"name": long}}),
        ),
        (
            Method::PUT,
            format!("/subnets/{sub}"),
            json!({"subnet": {"name": 1}}),
        ),
        (
            Method::PUT,
            format!("/ports/{port}"),
            json!({"port": {"security_groups": ["nope"]}}),
        ),
        (
            Method::PUT,
            format!("/networks/{net}/tags"),
            json!({"tags": [""]}),
        ),
        (
            Method::PUT,
            format!("/networks/{net}/tags"),
            json!({"tags": "a"}),
        ),
        (Method::GET, "/networks/nope".into(), Value::Null),
        (Method::GET, "/ports?marker=nope".into(), Value::Null),
        (Method::DELETE, "/ports/nope".into(), Value::Null),
    ];
    for (method, path, body) in requests {
        let body = (!body.is_null()).then_some(body);
        let (status, answer) = cloud
            .send(
                method.clone(),
                &format!("{NET}{path}"),
                &token,
                body.clone(),
            )
            .await;
        assert!(
            status.is_client_error(),
            "{method} {path} {body:?}: {status} {answer}"
        );
        assert!(
            answer["NeutronError"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{method} {path}: {answer}"
        );
    }
    // Bodies that are not JSON, or not UTF-8.
    for raw in [
        &b"{\"network\": "[..],
        b"not json",
        b"{\"network\": {\"name\": \"\xff\xfe\"}}",
        b"\xc3\x28",
    ] {
        for path in [
            "/networks",
            "/subnets",
            "/ports",
            "/security-groups",
            "/security-group-rules",
        ] {
            let res = cloud
                .http
                .post(format!("{}{NET}{path}", cloud.running.url))
                .header("x-auth-token", &token)
                .header("content-type", "application/json")
                .body(raw.to_vec())
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path}");
            let body: Value = res.json().await.unwrap();
            assert!(body["NeutronError"]["message"].is_string());
        }
    }
    // Without a token: 401.
    let (status, _) = cloud.get(&format!("{NET}/networks"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(everything(&cloud, &token).await, before);
    cloud.running.stop();
}
