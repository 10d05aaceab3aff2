//! Rotating a cluster's CA, as an operation: the new CA is made (and the old one
//! retired) when the rotation is asked for; then every server of the cluster is rebuilt
//! with a bootstrap from the new CA (masters a serving certificate, workers a kubelet
//! certificate), and the operation ends when the API answers through the VIP with the
//! access bindings written again. Until the masters boot again the API is down; after,
//! only certificates of the new CA are accepted, so every kubeconfig of the old one is
//! locked out. Not undone: a failure stops as `failed`, and a retry carries on.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::bootstrap::{Node, Role};
use super::outputs::{Rebuilt, Synced};
use super::saga_shared::{cluster_metadata, params, RotateParams, Settings};
use crate::cloud::Cloud;
use crate::ops::{record, OperationRow, SagaKind, Step, StepContext, StepDef, StepError};
use crate::{Result, Store};
use model::ClusterStatus;

pub const ROTATE_CA: &str = "cluster.rotate_ca";

pub struct RotateCa {
    pub store: Store,
    pub cloud: Arc<dyn Cloud>,
    pub settings: Arc<Settings>,
}

struct Target {
    store: Store,
    cloud: Arc<dyn Cloud>,
    settings: Arc<Settings>,
    cluster_id: String,
    image: String,
}

/// Rebuilds each of the cluster's servers with a fresh bootstrap and waits for them.
struct RebuildServers(Arc<Target>);

/// Waits for the API through the VIP and writes the access bindings.
struct ApiAccess(Arc<Target>);

#[async_trait]
impl Step for RebuildServers {
    async fn run(&self, _cx: &StepContext) -> std::result::Result<Value, StepError> {
        let t = &self.0;
        let cluster = t.store.cluster_by_id(&t.cluster_id).await?;
        let vip = cluster
            .api_address
            .as_deref()
            .and_then(|a| a.rsplit_once(':').map(|(h, _)| h.to_string()))
            .ok_or_else(|| StepError::permanent("the cluster has no API address"))?;
        let servers = t
            .cloud
            .server_list(&cluster_metadata(&t.cluster_id))
            .await?;
        // Workers come back with their group's labels and taints.
        let groups: std::collections::HashMap<String, super::NodeGroupSpec> = t
            .store
            .node_groups_of(&t.cluster_id)
            .await?
            .into_iter()
            .map(|g| (g.name.clone(), g.spec()))
            .collect();
        let no_labels = Default::default();
        let mut rebuilt = Vec::new();
        for s in &servers {
            let role = match s.metadata.get("shipyard-role").map(String::as_str) {
                Some("master") => Role::Master,
                Some("worker") => Role::Worker,
                _ => continue,
            };
            let node_group = s.metadata.get("shipyard-node-group").map(String::as_str);
            let group = node_group.and_then(|g| groups.get(g));
            let node = Node {
                role,
                cluster_id: &t.cluster_id,
                kubernetes_version: &cluster.kubernetes_version,
                vip: &vip,
                name: &s.name,
                node_group,
                labels: group.map_or(&no_labels, |g| &g.labels),
                taints: group.map_or(&[][..], |g| &g.taints),
            };
            let data = super::bootstrap::user_data(&t.store, &t.settings.secret_key, &node).await?;
            t.cloud.server_rebuild(&s.id, &t.image, &data).await?;
            rebuilt.push(s.id.clone());
        }
        for id in &rebuilt {
            t.cloud.wait_server_active(id, &t.settings.wait).await?;
        }
        record(&Rebuilt {
            rebuilt: rebuilt.len(),
        })
    }
}

#[async_trait]
impl Step for ApiAccess {
    async fn run(&self, _cx: &StepContext) -> std::result::Result<Value, StepError> {
        let t = &self.0;
        let cluster = t.store.cluster_by_id(&t.cluster_id).await?;
        let api = cluster
            .api_address
            .ok_or_else(|| StepError::permanent("the cluster has no API address"))?;
        super::access::ClusterAccess::new(t.store.clone(), t.settings.secret_key.clone())
            .sync_when_ready(
                &cluster.id,
                &cluster.project_id,
                &api,
                t.settings.wait.deadline,
            )
            .await
            .map_err(StepError::retryable)?;
        record(&Synced {
            bindings: super::access::BINDINGS.len(),
        })
    }
}

#[async_trait]
impl SagaKind for RotateCa {
    fn unwinds(&self) -> bool {
        false
    }

    fn steps(&self, spec: &Value) -> Result<Vec<StepDef>> {
        let p: RotateParams = params(spec)?;
        let target = Arc::new(Target {
            store: self.store.clone(),
            cloud: self.cloud.clone(),
            settings: self.settings.clone(),
            cluster_id: p.cluster_id.into(),
            image: p.image,
        });
        Ok(vec![
            StepDef::new(
                "rebuild-servers",
                &[],
                Arc::new(RebuildServers(target.clone())),
            ),
            StepDef::new(
                "api-access",
                &["rebuild-servers"],
                Arc::new(ApiAccess(target)),
            ),
        ])
    }

    async fn succeeded(&self, op: &OperationRow) -> Result<()> {
        self.store
            .cluster_set_status(&op.target_id, ClusterStatus::Active, None)
            .await
    }

    async fn unwound(&self, op: &OperationRow) -> Result<()> {
        let reason = format!(
            "Rotating the CA stopped (retry carries on): {}",
            op.error.as_deref().unwrap_or("unknown error")
        );
        self.store
            .cluster_set_status(&op.target_id, ClusterStatus::Active, Some(&reason))
            .await
    }
}
