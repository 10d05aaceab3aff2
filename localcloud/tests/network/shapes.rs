//! Neutron's bodies checked against the published samples.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::*;
use crate::{get, id, post};

#[tokio::test]
async fn bodies_in_the_shape_of_neutrons_samples() {
    let cloud = Cloud::start().await;
    let token = cloud.token().await;
    let (status, net) = post(
        &cloud,
        &token,
        "/networks",
        json!({"network": {"name": "net1", "admin_state_up": true, "tags": ["tag1"]}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_shape(&sample("neutron/network-create-response.json"), &net, "");
    let net_id = id(&net, "network");
    let (_, shown) = get(&cloud, &token, &format!("/networks/{net_id}")).await;
    // Sample quirk: the show sample has `"pvlan": "false"` (a string) where the create
    // and list samples have a boolean.
    let mut show_sample = sample("neutron/network-show-response.json");
    show_sample["network"]["pvlan"] = json!(false);
    assert_shape(&show_sample, &shown, "");
    let (status, sub) = post(
        &cloud,
        &token,
        "/subnets",
        json!({"subnet": {"network_id": net_id, "ip_version": 4, "cidr": "127.168.199.0/24", "tags": ["t"]}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{sub}");
    assert_shape(&sample("neutron/subnet-create-response.json"), &sub, "");
    assert_eq!(sub["subnet"]["gateway_ip"], "127.168.199.1");
    assert_eq!(
        sub["subnet"]["allocation_pools"],
        json!([{"start": "127.168.199.2", "end": "127.168.199.254"}])
    );
    let (status, port) = post(
        &cloud,
        &token,
        "/ports",
        json!({"port": {"network_id": net_id, "name": "private-port", "admin_state_up": true, "tags": ["t"]}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{port}");
    assert_shape(&sample("neutron/port-create-response.json"), &port, "");
    let (status, sg) = post(
        &cloud,
        &token,
        "/security-groups",
        sample("neutron/security-group-create-request.json"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{sg}");
    // Sample quirk: the first rule in the sample has a stray key `revisio[n_number`.
    let mut sg_sample = sample("neutron/security-group-create-response.json");
    sg_sample["security_group"]["security_group_rules"][0]
        .as_object_mut()
        .unwrap()
        .remove("revisio[n_number");
    assert_shape(&sg_sample, &sg, "");
    let sg_id = id(&sg, "security_group");
    let (status, rule) = post(
        &cloud,
        &token,
        "/security-group-rules",
        json!({"security_group_rule": {
            "direction": "ingress", "port_range_min": "80", "ethertype": "IPv4",
            "port_range_max": "80", "protocol": "tcp", "remote_group_id": sg_id,
            "security_group_id": sg_id,
        }}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{rule}");
    assert_shape(
        &sample("neutron/security-group-rule-create-response.json"),
        &rule,
        "",
    );
    assert_eq!(rule["security_group_rule"]["port_range_min"], 80);
    for (path, file) in [
        ("/networks", "networks-list-response.json"),
        ("/subnets", "subnets-list-response.json"),
        ("/ports", "ports-list-response.json"),
    ] {
        let (status, list) = get(&cloud, &token, path).await;
        assert_eq!(status, StatusCode::OK);
        assert_shape(&sample(&format!("neutron/{file}")), &list, "");
    }
    // Version discovery, with or without the trailing slash.
    for path in ["/network", "/network/"] {
        let (status, versions) = cloud.get(path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(versions["versions"][0]["id"], "v2.0");
    }
    cloud.running.stop();
}
