//! Node group operations: adding a group, scaling one up (new workers) or down
//! (removing named workers), and deleting a group with everything it has; each keeps the
//! cluster's service load balancers' members in step with its workers.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::cluster_steps::{ClusterStep, Res, Shared};
use super::outputs::{Removed, WorkerRemoved};
use super::saga_shared::*;
use crate::cloud::*;
use crate::ops::{record, OperationRow, SagaKind, Step, StepContext, StepDef, StepError};
use crate::{Error, Result, Store};
use model::ClusterStatus;

/// Scale a node group: add workers (new, higher indices) or remove the named ones. An
/// add that fails unwinds (the new workers go); a removal is not undone.
pub(super) struct ScaleNodeGroup {
    pub(super) store: Store,
    pub(super) cloud: Arc<dyn Cloud>,
    pub(super) settings: Arc<Settings>,
    pub(super) mode: ScaleMode,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum ScaleMode {
    Grow,
    Shrink,
    /// A new node group: its row goes when the create unwinds.
    Create,
}

/// Removes one worker by name (gone already counts as removed).
pub(super) struct RemoveWorker {
    pub(super) name: String,
    pub(super) cluster_id: String,
    pub(super) cloud: Arc<dyn Cloud>,
}

#[async_trait]
impl Step for RemoveWorker {
    async fn run(&self, _cx: &StepContext) -> std::result::Result<Value, StepError> {
        let found = self
            .cloud
            .server_list(&cluster_metadata(&self.cluster_id))
            .await?
            .into_iter()
            .find(|s| s.name == self.name);
        if let Some(s) = &found {
            self.cloud.server_delete(&s.id).await?;
        }
        record(&WorkerRemoved {
            removed: self.name.clone(),
            was_there: found.is_some(),
        })
    }
}

#[async_trait]
impl SagaKind for ScaleNodeGroup {
    fn unwinds(&self) -> bool {
        self.mode != ScaleMode::Shrink
    }

    fn steps(&self, spec: &Value) -> Result<Vec<StepDef>> {
        let NodeGroupParams {
            cluster_id,
            spec: cluster,
            image,
            add,
            remove,
            ..
        } = params(spec)?;
        let ng = cluster
            .node_groups
            .first()
            .ok_or_else(|| Error::internal("scale without a node group"))?
            .name
            .clone();
        let shared = Arc::new(Shared {
            store: self.store.clone(),
            cloud: self.cloud.clone(),
            settings: self.settings.clone(),
            cluster_id: cluster_id.to_string(),
            spec: cluster,
            image,
        });
        let mut steps = Vec::new();
        for j in add {
            steps.push(StepDef::new(
                format!("worker-{ng}-{j}"),
                &[],
                Arc::new(ClusterStep {
                    res: Res::Worker { group: 0, index: j },
                    shared: shared.clone(),
                }),
            ));
        }
        for name in remove {
            steps.push(StepDef::new(
                format!("remove-{name}"),
                &[],
                Arc::new(RemoveWorker {
                    name,
                    cluster_id: cluster_id.to_string(),
                    cloud: self.cloud.clone(),
                }),
            ));
        }
        Ok(steps)
    }

    async fn succeeded(&self, op: &OperationRow) -> Result<()> {
        let p: NodeGroupParams = params(&op.spec)?;
        self.store
            .node_group_set_count(&p.node_group_id, p.target as i64)
            .await?;
        self.store
            .cluster_set_status(&op.target_id, ClusterStatus::Active, None)
            .await
    }

    async fn unwound(&self, op: &OperationRow) -> Result<()> {
        let error = op.error.as_deref().unwrap_or("unknown error");
        let ng = params::<NodeGroupParams>(&op.spec)?.node_group_id;
        let reason = match self.mode {
            ScaleMode::Create => {
                self.store.node_group_remove(&ng).await?;
                format!("Adding a node group failed and was undone: {error}")
            }
            ScaleMode::Grow => {
                self.store.node_group_set_claim(&ng, None).await?;
                format!("Scaling failed and was undone: {error}")
            }
            ScaleMode::Shrink => format!("Removing nodes failed (retry carries on): {error}"),
        };
        self.store
            .cluster_set_status(&op.target_id, ClusterStatus::Active, Some(&reason))
            .await
    }
}

/// Delete a node group: its workers one by one, then a sweep for any the group still
/// has (by the `shipyard-node-group` mark), then the row. Not undone: a failure stops
/// as `failed` and a retry carries on.
pub(super) struct DeleteNodeGroup {
    pub(super) store: Store,
    pub(super) cloud: Arc<dyn Cloud>,
}

/// Removes whatever servers of the node group remain.
struct SweepNodeGroup {
    group: String,
    cluster_id: String,
    cloud: Arc<dyn Cloud>,
}

#[async_trait]
impl Step for SweepNodeGroup {
    async fn run(&self, _cx: &StepContext) -> std::result::Result<Value, StepError> {
        let mut mark = cluster_metadata(&self.cluster_id);
        mark.insert("shipyard-node-group".into(), self.group.clone());
        let left = self.cloud.server_list(&mark).await?;
        for s in &left {
            self.cloud.server_delete(&s.id).await?;
        }
        if !self.cloud.server_list(&mark).await?.is_empty() {
            return Err(StepError::retryable("workers are still being deleted"));
        }
        record(&Removed {
            removed: left.iter().map(|s| &s.name).collect::<Vec<_>>(),
        })
    }
}

#[async_trait]
impl SagaKind for DeleteNodeGroup {
    fn steps(&self, spec: &Value) -> Result<Vec<StepDef>> {
        let NodeGroupDeleteParams {
            cluster_id,
            node_group: group,
            remove,
            ..
        } = params(spec)?;
        let mut steps = Vec::new();
        let mut keys = Vec::new();
        for name in remove {
            let key = format!("remove-{name}");
            steps.push(StepDef::new(
                &key,
                &[],
                Arc::new(RemoveWorker {
                    name,
                    cluster_id: cluster_id.to_string(),
                    cloud: self.cloud.clone(),
                }),
            ));
            keys.push(key);
        }
        let after: Vec<&str> = keys.iter().map(String::as_str).collect();
        steps.push(StepDef::new(
            "sweep",
            &after,
            Arc::new(SweepNodeGroup {
                group,
                cluster_id: cluster_id.to_string(),
                cloud: self.cloud.clone(),
            }),
        ));
        Ok(steps)
    }

    fn unwinds(&self) -> bool {
        false
    }

    async fn succeeded(&self, op: &OperationRow) -> Result<()> {
        let p: NodeGroupDeleteParams = params(&op.spec)?;
        self.store.node_group_remove(&p.node_group_id).await?;
        self.store
            .cluster_set_status(&op.target_id, ClusterStatus::Active, None)
            .await
    }

    async fn unwound(&self, op: &OperationRow) -> Result<()> {
        let reason = format!(
            "Deleting a node group failed (retry carries on): {}",
            op.error.as_deref().unwrap_or("unknown error")
        );
        self.store
            .cluster_set_status(&op.target_id, ClusterStatus::Active, Some(&reason))
            .await
    }
}
