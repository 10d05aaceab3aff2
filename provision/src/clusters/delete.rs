//! Deleting a cluster: everything that carries its mark goes, whatever the database
//! says (load balancers, servers, volumes, the server group). Not undone: a failure
//! stops as `failed`, and a retry carries on.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::outputs::Removed;
use super::saga_shared::*;
use crate::cloud::*;
use crate::ops::{record, OperationRow, SagaKind, Step, StepContext, StepDef, StepError};
use crate::{Result, Store};
use model::ClusterStatus;

/// Removes everything that carries the cluster's mark, whatever the database says.
pub(super) struct DeleteCluster {
    pub(super) store: Store,
    pub(super) cloud: Arc<dyn Cloud>,
}

enum Sweep {
    LoadBalancers,
    Servers,
    Volumes,
    Group,
}

struct SweepStep {
    what: Sweep,
    cluster_id: String,
    cloud: Arc<dyn Cloud>,
}

#[async_trait]
impl Step for SweepStep {
    async fn run(&self, _cx: &StepContext) -> std::result::Result<Value, StepError> {
        let cloud = self.cloud.as_ref();
        let mark = cluster_metadata(&self.cluster_id);
        let mut removed = Vec::new();
        match self.what {
            Sweep::LoadBalancers => {
                let tag = [cluster_tag(&self.cluster_id)];
                for lb in cloud.load_balancer_list(&tag).await? {
                    cloud.load_balancer_delete(&lb.id).await?;
                    removed.push(lb.name);
                }
                if !cloud.load_balancer_list(&tag).await?.is_empty() {
                    return Err(StepError::retryable(
                        "load balancers are still being deleted",
                    ));
                }
            }
            Sweep::Servers => {
                for s in cloud.server_list(&mark).await? {
                    cloud.server_delete(&s.id).await?;
                    removed.push(s.name);
                }
                if !cloud.server_list(&mark).await?.is_empty() {
                    return Err(StepError::retryable("servers are still being deleted"));
                }
            }
            Sweep::Volumes => {
                for v in cloud.volume_list(&mark).await? {
                    for s in &v.attached_to {
                        cloud.volume_detach(s, &v.id).await?;
                    }
                    cloud.volume_delete(&v.id).await?;
                    removed.push(v.name);
                }
                if !cloud.volume_list(&mark).await?.is_empty() {
                    return Err(StepError::retryable("volumes are still being deleted"));
                }
            }
            Sweep::Group => {
                let name = format!("{}-masters", prefix(&self.cluster_id));
                if let Some(g) = cloud.server_group_find(&name).await? {
                    cloud.server_group_delete(&g.id).await?;
                    removed.push(g.name);
                }
            }
        }
        record(&Removed { removed })
    }
}

#[async_trait]
impl SagaKind for DeleteCluster {
    fn steps(&self, spec: &Value) -> Result<Vec<StepDef>> {
        let DeleteParams { cluster_id } = params(spec)?;
        let step = |what: Sweep| -> Arc<dyn Step> {
            Arc::new(SweepStep {
                what,
                cluster_id: cluster_id.to_string(),
                cloud: self.cloud.clone(),
            })
        };
        Ok(vec![
            StepDef::new("load-balancers", &[], step(Sweep::LoadBalancers)),
            StepDef::new("servers", &[], step(Sweep::Servers)),
            StepDef::new("volumes", &["servers"], step(Sweep::Volumes)),
            StepDef::new("server-group", &["servers"], step(Sweep::Group)),
        ])
    }

    fn unwinds(&self) -> bool {
        false
    }

    async fn succeeded(&self, op: &OperationRow) -> Result<()> {
        // The CA's key goes with the cluster (the audit log keeps what was issued).
        crate::pki::ca_remove(&self.store, &op.target_id).await?;
        self.store.workloads_mark_deleted(&op.target_id).await?;
        self.store.cluster_mark_deleted(&op.target_id).await
    }

    async fn unwound(&self, op: &OperationRow) -> Result<()> {
        self.store
            .cluster_set_status(&op.target_id, ClusterStatus::Deleting, op.error.as_deref())
            .await
    }
}
