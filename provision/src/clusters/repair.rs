//! Repairing a worker (`node.repair`, requested by auto-repair,
//! [`crate::controllers::repair`]): a new server in the same node group, made exactly as
//! a scale-up makes one (flavor, boot volume, labels, bootstrap) under the group's next
//! name; once its Node is Ready, the old server is deleted and so is its Node (through
//! the API, as the cloud controller's node lifecycle does), and the service load
//! balancers follow. A failure before the old server goes deletes the new one; after,
//! the new one stays.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cluster_steps::{ClusterStep, Res, Shared};
use super::node_group_sagas::RemoveWorker;
use super::outputs::{NodeReady, Removed, WorkerRemoved};
use super::saga_shared::*;
use super::ClusterSpec;
use crate::cloud::*;
use crate::kube::KubeClient;
use crate::ops::{record, SagaKind, Step, StepContext, StepDef, StepError};
use crate::{Error, Result, Store};
use model::{ClusterId, NodeGroupId};

pub const NODE_REPAIR: &str = "node.repair";

/// What a repair starts from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RepairParams {
    pub cluster_id: ClusterId,
    pub node_group_id: NodeGroupId,
    pub node_group: String,
    /// The cluster's spec with the worker's node group, as a scale-up makes workers.
    pub spec: ClusterSpec,
    pub image: String,
    /// The worker replaced: its server's name (its Node's) and id.
    pub replaces: String,
    pub server_id: String,
    /// The index in its replacement's name (`sy-…-<group>-<index>`).
    pub index: u32,
    /// Why, in words ("worker … was NotReady for 5m (last heartbeat …)").
    pub reason: String,
}

impl RepairParams {
    /// The replacement's name.
    pub fn replacement(&self) -> String {
        format!(
            "{}-{}-{}",
            prefix(&self.cluster_id),
            self.node_group,
            self.index
        )
    }
}

/// The parameters of replacing `replaces` (server `server_id`) of `node_group`, with
/// the group's next index after the `servers` the cloud lists.
pub(crate) async fn repair_params(
    store: &Store,
    servers: &[Server],
    cluster_id: &str,
    node_group: &str,
    replaces: (&str, &str),
    reason: &str,
) -> Result<RepairParams> {
    let cluster = store.cluster_by_id(cluster_id).await?;
    let ng = store
        .node_groups_of(cluster_id)
        .await?
        .into_iter()
        .find(|n| n.name == node_group)
        .ok_or_else(|| Error::NotFound(format!("Node group {node_group} not found.")))?;
    let index = servers
        .iter()
        .filter(|s| s.metadata.get("shipyard-node-group").map(String::as_str) == Some(node_group))
        .filter_map(|s| super::node_groups::worker_index(&s.name))
        .max()
        .map_or(0, |m| m + 1);
    Ok(RepairParams {
        cluster_id: cluster.id.clone().into(),
        node_group_id: ng.id.clone().into(),
        node_group: ng.name.clone(),
        spec: super::node_groups::spec_with_group(&cluster, ng.spec()),
        image: super::versions::image_of(store, &cluster.kubernetes_version).await?,
        replaces: replaces.0.to_string(),
        server_id: replaces.1.to_string(),
        index,
        reason: reason.to_string(),
    })
}

pub(super) struct RepairNode {
    pub(super) store: Store,
    pub(super) cloud: Arc<dyn Cloud>,
    pub(super) settings: Arc<Settings>,
}

/// The new worker; undone (deleted) only while the old one is still there.
struct NewWorker {
    make: ClusterStep,
    removal: String,
}

#[async_trait]
impl Step for NewWorker {
    async fn run(&self, cx: &StepContext) -> std::result::Result<Value, StepError> {
        self.make.run(cx).await
    }

    async fn undo(
        &self,
        cx: &StepContext,
        output: Option<&Value>,
    ) -> std::result::Result<(), StepError> {
        if cx.output_if::<WorkerRemoved>(&self.removal).is_some() {
            return Ok(());
        }
        self.make.undo(cx, output).await
    }
}

/// Waits until the node `name` is registered and Ready.
struct NodeIsReady {
    name: String,
    cluster_id: String,
    store: Store,
    settings: Arc<Settings>,
}

#[async_trait]
impl Step for NodeIsReady {
    async fn run(&self, _cx: &StepContext) -> std::result::Result<Value, StepError> {
        let kube =
            KubeClient::for_cluster(&self.store, &self.settings.secret_key, &self.cluster_id)
                .await?;
        let wait = &self.settings.wait;
        let deadline = tokio::time::Instant::now() + wait.deadline;
        let mut pause = wait.initial;
        let mut last = "not registered".to_string();
        loop {
            match kube
                .get::<Value>(&format!("/api/v1/nodes/{}", self.name))
                .await
            {
                Ok(node) => {
                    let ready = node["status"]["conditions"]
                        .as_array()
                        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"));
                    if ready.is_some_and(|c| c["status"] == "True") {
                        return record(&NodeReady {
                            node: self.name.clone(),
                        });
                    }
                    last = format!(
                        "registered, Ready is {}",
                        ready
                            .and_then(|c| c["status"].as_str())
                            .unwrap_or("missing")
                    );
                }
                Err(e) if e.is_not_found() || e.is_transient() => {}
                Err(e) => return Err(e.into()),
            }
            // The whole wait has passed: trying again would only wait as long again.
            if tokio::time::Instant::now() + pause > deadline {
                return Err(StepError::permanent(format!(
                    "the node {} is not Ready after {}s ({last})",
                    self.name,
                    wait.deadline.as_secs()
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2)
                .min(wait.max_interval)
                .max(Duration::from_millis(10));
        }
    }
}

/// Deletes the old worker's Node through the API (gone already counts as deleted).
struct DeleteNode {
    name: String,
    cluster_id: String,
    store: Store,
    settings: Arc<Settings>,
}

#[async_trait]
impl Step for DeleteNode {
    async fn run(&self, _cx: &StepContext) -> std::result::Result<Value, StepError> {
        let kube =
            KubeClient::for_cluster(&self.store, &self.settings.secret_key, &self.cluster_id)
                .await?;
        kube.delete(&format!("/api/v1/nodes/{}", self.name)).await?;
        record(&Removed {
            removed: self.name.clone(),
        })
    }
}

#[async_trait]
impl SagaKind for RepairNode {
    fn steps(&self, spec: &Value) -> Result<Vec<StepDef>> {
        let p: RepairParams = params(spec)?;
        let new = p.replacement();
        let shared = Arc::new(Shared {
            store: self.store.clone(),
            cloud: self.cloud.clone(),
            settings: self.settings.clone(),
            cluster_id: p.cluster_id.to_string(),
            spec: p.spec.clone(),
            image: p.image.clone(),
        });
        let worker = format!("worker-{}-{}", p.node_group, p.index);
        let ready = format!("ready-{new}");
        let removal = format!("remove-{}", p.replaces);
        let node = format!("node-{}", p.replaces);
        let steps = vec![
            StepDef::new(
                &worker,
                &[],
                Arc::new(NewWorker {
                    make: ClusterStep {
                        res: Res::Worker {
                            group: 0,
                            index: p.index,
                        },
                        shared,
                    },
                    removal: removal.clone(),
                }),
            ),
            StepDef::new(
                &ready,
                &[&worker],
                Arc::new(NodeIsReady {
                    name: new,
                    cluster_id: p.cluster_id.to_string(),
                    store: self.store.clone(),
                    settings: self.settings.clone(),
                }),
            ),
            StepDef::new(
                &removal,
                &[&ready],
                Arc::new(RemoveWorker {
                    name: p.replaces.clone(),
                    cluster_id: p.cluster_id.to_string(),
                    cloud: self.cloud.clone(),
                }),
            ),
            StepDef::new(
                &node,
                &[&removal],
                Arc::new(DeleteNode {
                    name: p.replaces.clone(),
                    cluster_id: p.cluster_id.to_string(),
                    store: self.store.clone(),
                    settings: self.settings.clone(),
                }),
            ),
        ];
        Ok(steps)
    }

    fn summary(&self, spec: &Value) -> Option<String> {
        let p: RepairParams = params(spec).ok()?;
        Some(format!(
            "{}; replacing it with {}",
            p.reason,
            p.replacement()
        ))
    }
}
