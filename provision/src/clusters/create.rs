//! Creating a cluster: the CA, the masters' server group and the API load balancer
//! first (a bootstrap names the VIP), then the masters with their etcd volumes, the load
//! balancer's listener, pool, monitor and members, the API's access, and each node
//! group's workers. Undone when a step fails.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::cluster_steps::{ClusterStep, Res, Shared};
use super::outputs::MadeLoadBalancer;
use super::saga_shared::*;
use crate::cloud::*;
use crate::ops::{recorded, OperationRow, SagaKind, Step, StepDef};
use crate::{Result, Store};
use model::ClusterStatus;

pub(super) struct CreateCluster {
    pub(super) store: Store,
    pub(super) cloud: Arc<dyn Cloud>,
    pub(super) settings: Arc<Settings>,
}

#[async_trait]
impl SagaKind for CreateCluster {
    fn steps(&self, spec: &Value) -> Result<Vec<StepDef>> {
        let p: CreateParams = params(spec)?;
        let shared = Arc::new(Shared {
            store: self.store.clone(),
            cloud: self.cloud.clone(),
            settings: self.settings.clone(),
            cluster_id: p.cluster_id.into(),
            spec: p.spec,
            image: p.image,
        });
        let step = |res: Res| -> Arc<dyn Step> {
            Arc::new(ClusterStep {
                res,
                shared: shared.clone(),
            })
        };
        let masters = shared.spec.master_count;
        let mut steps = vec![
            StepDef::new("ca", &[], step(Res::Ca)),
            StepDef::new("server-group", &[], step(Res::Group)),
            StepDef::new("api-lb", &[], step(Res::Lb)),
        ];
        for i in 0..masters {
            steps.push(StepDef::new(format!("etcd-{i}"), &[], step(Res::Etcd(i))));
        }
        for i in 0..masters {
            // Its bootstrap needs the CA and the API's VIP.
            steps.push(StepDef::new(
                format!("master-{i}"),
                &["server-group", "ca", "api-lb"],
                step(Res::Master(i)),
            ));
        }
        for i in 0..masters {
            let (m, e) = (format!("master-{i}"), format!("etcd-{i}"));
            steps.push(StepDef::new(
                format!("etcd-attach-{i}"),
                &[&m, &e],
                step(Res::Attach(i)),
            ));
        }
        steps.push(StepDef::new(
            "api-listener",
            &["api-lb"],
            step(Res::Listener),
        ));
        steps.push(StepDef::new(
            "api-pool",
            &["api-lb", "api-listener"],
            step(Res::Pool),
        ));
        steps.push(StepDef::new(
            "api-monitor",
            &["api-lb", "api-pool"],
            step(Res::Monitor),
        ));
        // Octavia takes one change at a time per load balancer (409 while PENDING_UPDATE),
        // so its members are added one after another, each also waiting for its master.
        for i in 0..masters {
            let m = format!("master-{i}");
            let before = if i == 0 {
                "api-monitor".to_string()
            } else {
                format!("api-member-{}", i - 1)
            };
            steps.push(StepDef::new(
                format!("api-member-{i}"),
                &["api-lb", "api-pool", &m, &before],
                step(Res::Member(i)),
            ));
        }
        // The cluster is ready when its API answers through the VIP and knows who may
        // use it.
        let last_member = format!("api-member-{}", masters.saturating_sub(1));
        steps.push(StepDef::new(
            "api-access",
            &["api-lb", &last_member],
            step(Res::Access),
        ));
        for (g, ng) in shared.spec.node_groups.iter().enumerate() {
            for j in 0..ng.node_count {
                steps.push(StepDef::new(
                    format!("worker-{}-{j}", ng.name),
                    &["ca", "api-lb"],
                    step(Res::Worker { group: g, index: j }),
                ));
            }
        }
        Ok(steps)
    }

    async fn succeeded(&self, op: &OperationRow) -> Result<()> {
        let vip = self
            .store
            .op_steps(&op.id)
            .await?
            .into_iter()
            .find(|s| s.step == "api-lb")
            .and_then(|s| s.output)
            .and_then(|o| recorded::<MadeLoadBalancer>(Some(&o)))
            .and_then(|lb| lb.vip);
        if let Some(vip) = vip {
            self.store
                .cluster_set_api_address(&op.target_id, &format!("{vip}:6443"))
                .await?;
        }
        self.store
            .cluster_set_status(&op.target_id, ClusterStatus::Active, None)
            .await
    }

    async fn unwound(&self, op: &OperationRow) -> Result<()> {
        self.store
            .cluster_set_status(&op.target_id, ClusterStatus::Failed, op.error.as_deref())
            .await
    }
}
