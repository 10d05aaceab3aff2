//! Neutron in localcloud: networks, subnets with address allocation, ports (servers' and
//! load balancers' too), security groups and rules, in the published samples' shapes;
//! in-use deletes refused, projects kept apart, bad input refused without changing
//! anything, and everything kept across a restart.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[path = "../common/mod.rs"]
mod common;
use common::*;

mod bad_input;
mod networks;
mod persistence;
mod ports;
mod projects;
mod security_groups;
mod shapes;
mod tags;

const NET: &str = "/network/v2.0";

async fn post(cloud: &Cloud, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    cloud
        .send(Method::POST, &format!("{NET}{path}"), token, Some(body))
        .await
}

async fn get(cloud: &Cloud, token: &str, path: &str) -> (StatusCode, Value) {
    cloud
        .send(Method::GET, &format!("{NET}{path}"), token, None)
        .await
}

async fn delete(cloud: &Cloud, token: &str, path: &str) -> StatusCode {
    cloud
        .send(Method::DELETE, &format!("{NET}{path}"), token, None)
        .await
        .0
}

fn id(v: &Value, kind: &str) -> String {
    v[kind]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no {kind} id in {v}"))
        .to_string()
}

fn error_type(v: &Value) -> &str {
    v["NeutronError"]["type"].as_str().unwrap_or("")
}

fn ids(v: &Value, collection: &str) -> Vec<String> {
    v[collection]
        .as_array()
        .unwrap_or_else(|| panic!("no {collection} in {v}"))
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect()
}

/// A network with one subnet of `cidr`: `(network id, subnet id)`.
async fn network_with_subnet(
    cloud: &Cloud,
    token: &str,
    name: &str,
    cidr: &str,
) -> (String, String) {
    let (status, net) = post(
        cloud,
        token,
        "/networks",
        json!({"network": {"name": name}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{net}");
    let net = id(&net, "network");
    let (status, sub) = post(
        cloud,
        token,
        "/subnets",
        json!({"subnet": {"network_id": net, "cidr": cidr, "ip_version": 4, "name": format!("{name}-subnet")}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{sub}");
    (net, id(&sub, "subnet"))
}

async fn create_server(
    cloud: &Cloud,
    token: &str,
    name: &str,
    networks: Value,
) -> (StatusCode, Value) {
    let req = json!({"server": {
        "name": name, "flavorRef": "1", "imageRef": "ubuntu-22.04-k8s-v1.31", "networks": networks,
    }});
    cloud
        .send(Method::POST, "/compute/v2.1/servers", token, Some(req))
        .await
}

async fn sg_rule_id(cloud: &Cloud, token: &str, sg: &str) -> String {
    let (status, rule) = post(
        cloud,
        token,
        "/security-group-rules",
        json!({"security_group_rule": {"security_group_id": sg, "direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    id(&rule, "security_group_rule")
}

/// Every list, for comparing before and after.
async fn everything(cloud: &Cloud, token: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for path in [
        "/networks",
        "/subnets",
        "/ports",
        "/security-groups",
        "/security-group-rules",
    ] {
        out.push(get(cloud, token, path).await.1);
    }
    out
}
