//! What the steps of the cluster, node group and workload operations record when they
//! succeed, one type per shape. The engine keeps them as JSON (`ops::record`); later
//! steps, undos and the views read them back typed (`StepContext::output_as`,
//! `ops::recorded`). Every shape that names a cloud resource carries its `id`, so
//! [`Made`] reads from any of them.

use serde::{Deserialize, Serialize};

/// A cloud resource a step made: a server group, listener, pool, monitor or member.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Made {
    pub id: String,
}

/// A server a step booted (a master or a worker), as the cloud answered once ACTIVE.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MadeServer {
    pub id: String,
    pub name: String,
    /// Its first fixed address.
    pub address: Option<String>,
    pub host: Option<String>,
}

/// A load balancer a step made, with its VIP once ACTIVE.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MadeLoadBalancer {
    pub id: String,
    pub vip: Option<String>,
}

/// A block volume a step made.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MadeVolume {
    pub id: String,
    pub size_gib: u64,
}

/// An etcd volume attached to its master.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Attached {
    pub server: String,
    pub volume: String,
}

/// The cluster CA a create made.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MadeCa {
    pub generation: i64,
    pub common_name: String,
}

/// The role bindings written into the cluster's API.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Synced {
    pub bindings: usize,
}

/// A worker a shrink removed (`was_there`: false when an earlier try had).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WorkerRemoved {
    pub removed: String,
    pub was_there: bool,
}

/// A node registered and Ready (a repair's replacement).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeReady {
    pub node: String,
}

/// The servers a CA rotation rebuilt.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Rebuilt {
    pub rebuilt: usize,
}

/// What a removing step found and removed (by name; `None`: it was already gone).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Removed<T> {
    pub removed: T,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn outputs_recorded_before_the_types_read_back() {
        // What the steps wrote as `json!` before these types: operations in flight
        // across an upgrade resume with them.
        let server = json!({"id": "s1", "name": "sy-x-master-0", "address": null, "host": "h"});
        let s: MadeServer = serde_json::from_value(server.clone()).unwrap();
        assert_eq!(s.address, None);
        assert_eq!(serde_json::to_value(&s).unwrap(), server);
        let lb: MadeLoadBalancer =
            serde_json::from_value(json!({"id": "l", "vip": "127.0.0.9"})).unwrap();
        assert_eq!(lb.vip.as_deref(), Some("127.0.0.9"));
        let any: Made = serde_json::from_value(json!({"id": "v", "size_gib": 10})).unwrap();
        assert_eq!(any.id, "v");
    }
}
