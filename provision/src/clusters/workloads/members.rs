//! Keeping every service load balancer of a cluster pointed at the workers it has now.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::super::outputs::{MadeServer, MembersSynced};
use super::super::saga_shared::{cluster_metadata, cluster_tag, Settings};
use crate::cloud::*;
use crate::ops::{record, recorded, Step, StepContext, StepError};
use crate::Store;

/// Makes every service load balancer of the cluster forward to the workers the cluster
/// has now: members added for new workers, removed for gone ones (what the cloud
/// controller manager does when nodes come and go). The last step of every node group
/// operation; undone by removing the members of the workers its operation added.
pub struct SyncServiceMembers {
    pub cluster_id: String,
    pub store: Store,
    pub cloud: Arc<dyn Cloud>,
    pub settings: Arc<Settings>,
}

impl SyncServiceMembers {
    /// (pool, its load balancer's id, node port) for every service port of the cluster.
    async fn pools(&self) -> std::result::Result<Vec<(Pool, String, u16)>, StepError> {
        let tags = vec![
            cluster_tag(&self.cluster_id),
            "shipyard-role=service".to_string(),
        ];
        let lbs = self.cloud.load_balancer_list(&tags).await?;
        let services = self.store.services_of(&self.cluster_id).await?;
        let mut out = Vec::new();
        for pool in self.cloud.pool_list(&tags).await? {
            let Some(lb) = lbs
                .iter()
                .find(|l| pool.name.starts_with(&format!("{}-", l.name)))
            else {
                continue;
            };
            let service = pool
                .tags
                .iter()
                .find_map(|t| t.strip_prefix("shipyard-service="))
                .and_then(|n| services.iter().find(|s| s.name == n));
            let port: Option<u16> = pool.name.rsplit('-').next().and_then(|p| p.parse().ok());
            let node_port = service
                .zip(port)
                .and_then(|(s, port)| s.ports.iter().find(|p| p.port == port))
                .and_then(|p| p.node_port);
            if let Some(node_port) = node_port {
                out.push((pool, lb.id.clone(), node_port));
            }
        }
        Ok(out)
    }

    async fn settle(&self, lb: &str) -> std::result::Result<(), StepError> {
        self.cloud
            .wait_load_balancer_active(lb, &self.settings.wait)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl Step for SyncServiceMembers {
    async fn run(&self, _cx: &StepContext) -> std::result::Result<Value, StepError> {
        let workers: Vec<(String, String)> = self
            .cloud
            .server_list(&cluster_metadata(&self.cluster_id))
            .await?
            .into_iter()
            .filter(|s| s.metadata.get("shipyard-role").map(String::as_str) == Some("worker"))
            .filter_map(|s| Some((s.name, s.addresses.first()?.clone())))
            .collect();
        let (mut added, mut removed) = (0, 0);
        for (pool, lb, node_port) in self.pools().await? {
            let members = self.cloud.member_list(&pool.id).await?;
            for (name, address) in &workers {
                if !members
                    .iter()
                    .any(|m| &m.address == address && m.port == node_port)
                {
                    self.cloud
                        .member_add(
                            &pool.id,
                            &MemberSpec {
                                name: name.clone(),
                                address: address.clone(),
                                port: node_port,
                            },
                        )
                        .await?;
                    self.settle(&lb).await?;
                    added += 1;
                }
            }
            for m in &members {
                if !workers.iter().any(|(_, a)| a == &m.address) {
                    self.cloud.member_remove(&pool.id, &m.id).await?;
                    self.settle(&lb).await?;
                    removed += 1;
                }
            }
        }
        record(&MembersSynced { added, removed })
    }

    async fn undo(
        &self,
        cx: &StepContext,
        _output: Option<&Value>,
    ) -> std::result::Result<(), StepError> {
        // The workers this operation made are about to be undone: stop sending to them.
        let made: Vec<String> = cx
            .outputs
            .iter()
            .filter(|(k, _)| k.starts_with("worker-"))
            .filter_map(|(_, v)| recorded::<MadeServer>(Some(v)).and_then(|s| s.address))
            .collect();
        for (pool, lb, _) in self.pools().await? {
            for m in self.cloud.member_list(&pool.id).await? {
                if made.contains(&m.address) {
                    self.cloud.member_remove(&pool.id, &m.id).await?;
                    self.settle(&lb).await?;
                }
            }
        }
        Ok(())
    }
}
