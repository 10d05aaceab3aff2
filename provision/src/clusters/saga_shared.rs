//! What every cluster saga shares: the operation kinds' names, the marks that tie a
//! cloud resource to its cluster, how clusters are laid out on the cloud, and each
//! saga's typed parameters as an operation stores them.
//!
//! Every resource is named `sy-<first 8 of the cluster id>-…` and carries
//! `shipyard-cluster=<cluster id>` (servers and volumes in metadata, load balancers in
//! tags), so a delete finds everything of the cluster in the cloud whatever the
//! database says, and so does anyone with the cloud's own client.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ClusterSpec;
use crate::cloud::*;
use crate::pki::SecretKey;
use crate::{Error, Result};
use model::{ClusterId, NodeGroupId};

pub const CREATE: &str = "cluster.create";
pub const DELETE: &str = "cluster.delete";
pub const SCALE: &str = "nodegroup.scale";
/// Removing workers: not undone (a failure stops as `failed`; a retry carries on).
pub const SHRINK: &str = "nodegroup.shrink";
pub const NODE_GROUP_CREATE: &str = "nodegroup.create";
pub const NODE_GROUP_DELETE: &str = "nodegroup.delete";

/// The metadata key and tag prefix that mark a cluster's resources.
pub const CLUSTER_KEY: &str = "shipyard-cluster";

/// Each master's etcd volume, GiB: what the create makes, and what quotas and plans
/// count (the one source of that size).
pub const ETCD_GIB: u64 = 10;

/// How clusters are laid out on the cloud.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The network servers and load balancer VIPs go on.
    pub network: String,
    pub wait: WaitPolicy,
    /// Seals each cluster CA's private key.
    pub secret_key: Arc<SecretKey>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            network: "private".into(),
            wait: WaitPolicy::default(),
            // Ephemeral: a server passes the key it keeps (see `pki::SecretKey`).
            secret_key: Arc::new(SecretKey::generate()),
        }
    }
}

/// The tag every load balancer of the cluster carries.
pub fn cluster_tag(cluster_id: &str) -> String {
    format!("{CLUSTER_KEY}={cluster_id}")
}

pub fn cluster_metadata(cluster_id: &str) -> Metadata {
    BTreeMap::from([(CLUSTER_KEY.to_string(), cluster_id.to_string())])
}

pub(crate) fn prefix(cluster_id: &str) -> String {
    format!("sy-{}", &cluster_id[..cluster_id.len().min(8)])
}

/// What a cluster create starts from (also a node group's add, grow and shrink, with
/// [`NodeGroupParams`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct CreateParams {
    pub cluster_id: ClusterId,
    pub spec: ClusterSpec,
    pub image: String,
}

/// What a cluster delete starts from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct DeleteParams {
    pub cluster_id: ClusterId,
}

/// What a CA rotation starts from: the image every server boots again.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct RotateParams {
    pub cluster_id: ClusterId,
    pub image: String,
}

/// What a node group's add, grow or shrink starts from: the cluster's spec with that
/// one group (at its new count), the worker indices to add and the names to remove.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct NodeGroupParams {
    pub cluster_id: ClusterId,
    pub node_group_id: NodeGroupId,
    pub spec: ClusterSpec,
    pub image: String,
    pub add: Vec<u32>,
    pub remove: Vec<String>,
    pub target: u32,
}

/// What a node group's delete starts from: its workers as the cloud had them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct NodeGroupDeleteParams {
    pub cluster_id: ClusterId,
    pub node_group_id: NodeGroupId,
    pub node_group: String,
    pub remove: Vec<String>,
}

/// An operation's parameters as the saga reads them.
pub(super) fn params<T: DeserializeOwned>(spec: &Value) -> Result<T> {
    serde_json::from_value(spec.clone())
        .map_err(|e| Error::internal(format!("an operation's parameters do not parse: {e}")))
}

/// Parameters as the operation stores them.
pub(super) fn stored<T: Serialize>(params: &T) -> Result<Value> {
    serde_json::to_value(params).map_err(Error::internal)
}
