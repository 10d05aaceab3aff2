//! localcloud over real TCP: identity and compute flavors, checked against the
//! published OpenStack API samples in ../shared (read from there, never copied).

use serde_json::{json, Value};

#[path = "../common/mod.rs"]
mod common;

mod compute;
mod identity;
mod network;
mod persistence;
mod volumes;

fn server_req(name: &str, group: Option<&str>) -> Value {
    let mut body = json!({"server": {
        "name": name, "flavorRef": "3", "imageRef": "ubuntu-22.04-k8s-v1.31",
        "metadata": {"shipyard-cluster": "c1", "shipyard-role": "master"}, "networks": "auto"
    }});
    if let Some(g) = group {
        body["OS-SCH-HNT:scheduler_hints"] = json!({"group": g});
    }
    body
}
