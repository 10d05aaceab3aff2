//! Helpers shared by this suite's modules: service and volume requests, an ACTIVE
//! cluster, a step's recorded output.

use provision::clusters::workloads::{ServicePort, ServiceSpec, VolumeRequest};

use crate::common::*;

pub fn service(name: &str, ports: &[(u16, Option<u16>)]) -> ServiceSpec {
    ServiceSpec {
        name: name.into(),
        ports: ports
            .iter()
            .map(|(port, node_port)| ServicePort {
                port: *port,
                node_port: *node_port,
            })
            .collect(),
    }
}

pub fn volume(name: &str, size_gib: u64, volume_type: Option<&str>) -> VolumeRequest {
    VolumeRequest {
        name: name.into(),
        size_gib,
        volume_type: volume_type.map(String::from),
    }
}

pub async fn step_output(e: &Env, op: &str, key: &str) -> serde_json::Value {
    e.store
        .op_steps(op)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.step == key)
        .and_then(|s| s.output)
        .unwrap_or_else(|| panic!("step {key} has no output"))
}

/// The engine working in the background and the controllers watching the clusters.
pub fn run_controllers(e: &Env) -> (tokio::task::JoinHandle<()>, tokio::task::JoinHandle<()>) {
    let engine = e.engine.spawn();
    let controllers = provision::controllers::Controllers {
        store: e.store.clone(),
        engine: e.engine.clone(),
        cloud: e.cloud.clone(),
        key: std::sync::Arc::new(e.key.clone()),
        autoscaler: Default::default(),
        repair: Default::default(),
    }
    .install();
    (engine, controllers)
}
