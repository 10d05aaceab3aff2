//! Repairing a master (`master.repair`, requested by auto-repair while the other
//! masters keep etcd's quorum, [`crate::controllers::repair`]), as Cluster API's
//! control plane remediation does it: a new master is made first, exactly as a create
//! makes one (the masters' server group, a fresh etcd volume attached to it, a serving
//! certificate for its own name in its bootstrap) under the masters' next index; once
//! its API answers on its own address with the cluster's objects (it has joined), it
//! goes into the API load balancer's pool, the broken master comes out of it, and the
//! broken master's server and etcd volume are deleted. A failure before the broken
//! master leaves the pool undoes the new one; after, the new one stays.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cluster_steps::{ClusterStep, Res, Shared};
use super::node_group_sagas::RemoveWorker;
use super::outputs::{Made, MadeLoadBalancer, MadeServer, Removed};
use super::saga_shared::*;
use super::ClusterSpec;
use crate::cloud::*;
use crate::kube::KubeClient;
use crate::ops::{record, SagaKind, Step, StepContext, StepDef, StepError};
use crate::{Error, Result, Store};
use model::ClusterId;

pub const MASTER_REPAIR: &str = "master.repair";

/// What a master's repair starts from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MasterRepairParams {
    pub cluster_id: ClusterId,
    /// The cluster's spec (the masters' flavor and the version).
    pub spec: ClusterSpec,
    pub image: String,
    /// The master replaced: its server's name and id.
    pub replaces: String,
    pub server_id: String,
    /// The index in its replacement's name (`sy-…-master-<index>`).
    pub index: u32,
    /// Why, in words ("master … is ERROR in the cloud").
    pub reason: String,
}

impl MasterRepairParams {
    /// The replacement's name.
    pub fn replacement(&self) -> String {
        format!("{}-master-{}", prefix(&self.cluster_id), self.index)
    }

    /// The broken master's etcd volume (`sy-…-etcd-<i>` beside `sy-…-master-<i>`).
    fn old_etcd(&self) -> String {
        let i = index_of(&self.cluster_id, "master", &self.replaces);
        format!(
            "{}-etcd-{}",
            prefix(&self.cluster_id),
            i.unwrap_or_default()
        )
    }
}

/// The `<i>` of a master's or an etcd volume's name (`sy-…-<kind>-<i>`).
fn index_of(cluster_id: &str, kind: &str, name: &str) -> Option<u32> {
    name.strip_prefix(&format!("{}-{kind}-", prefix(cluster_id)))?
        .parse()
        .ok()
}

/// The parameters of replacing the master `replaces` (server `server_id`), with the
/// masters' next index after every master and etcd volume the cloud lists.
pub(crate) async fn master_repair_params(
    store: &Store,
    cloud: &dyn Cloud,
    servers: &[Server],
    cluster_id: &str,
    replaces: (&str, &str),
    reason: &str,
) -> Result<MasterRepairParams> {
    let cluster = store.cluster_by_id(cluster_id).await?;
    let volumes = cloud
        .volume_list(&cluster_metadata(cluster_id))
        .await
        .map_err(|e| Error::internal(format!("listing the cluster's volumes: {e}")))?;
    let index = servers
        .iter()
        .filter_map(|s| index_of(cluster_id, "master", &s.name))
        .chain(
            volumes
                .iter()
                .filter_map(|v| index_of(cluster_id, "etcd", &v.name)),
        )
        .max()
        .map_or(0, |m| m + 1);
    Ok(MasterRepairParams {
        cluster_id: cluster.id.clone().into(),
        spec: super::node_groups::spec_with_groups(&cluster, Vec::new()),
        image: super::versions::image_of(store, &cluster.kubernetes_version).await?,
        replaces: replaces.0.to_string(),
        server_id: replaces.1.to_string(),
        index,
        reason: reason.to_string(),
    })
}

pub(super) struct RepairMaster {
    pub(super) store: Store,
    pub(super) cloud: Arc<dyn Cloud>,
    pub(super) settings: Arc<Settings>,
}

/// What a create's step recorded and a repair reads back from the cloud: the masters'
/// server group, the API load balancer (with its VIP) and its pool.
enum Existing {
    Group,
    Lb,
    Pool,
}

struct Find {
    what: Existing,
    cluster_id: String,
    cloud: Arc<dyn Cloud>,
}

#[async_trait]
impl Step for Find {
    async fn run(&self, _cx: &StepContext) -> std::result::Result<Value, StepError> {
        let p = prefix(&self.cluster_id);
        let tags = [cluster_tag(&self.cluster_id)];
        let missing = |what: &str| StepError::permanent(format!("the cluster has no {what}"));
        match self.what {
            Existing::Group => {
                let name = format!("{p}-masters");
                let g = self.cloud.server_group_find(&name).await?;
                record(&Made {
                    id: g
                        .ok_or_else(|| missing(&format!("server group {name}")))?
                        .id,
                })
            }
            Existing::Lb => {
                let name = format!("{p}-api");
                let lb = self
                    .cloud
                    .load_balancer_list(&tags)
                    .await?
                    .into_iter()
                    .find(|l| l.name == name)
                    .ok_or_else(|| missing(&format!("API load balancer {name}")))?;
                record(&MadeLoadBalancer {
                    id: lb.id,
                    vip: lb.vip_address,
                })
            }
            Existing::Pool => {
                let name = format!("{p}-api-masters");
                let pool = self
                    .cloud
                    .pool_list(&tags)
                    .await?
                    .into_iter()
                    .find(|l| l.name == name)
                    .ok_or_else(|| missing(&format!("API pool {name}")))?;
                record(&Made { id: pool.id })
            }
        }
    }
}

/// A step of the new master; undone only while the broken master is still in the pool
/// (after, the new one is the cluster's).
struct NewPart {
    make: ClusterStep,
    /// The step that takes the broken master out of the pool.
    swap: String,
    /// For the pool member: its name, removed on undo (a create's member goes with its
    /// load balancer, a repair's must go by itself).
    member: Option<String>,
}

#[async_trait]
impl Step for NewPart {
    async fn run(&self, cx: &StepContext) -> std::result::Result<Value, StepError> {
        self.make.run(cx).await
    }

    async fn undo(
        &self,
        cx: &StepContext,
        output: Option<&Value>,
    ) -> std::result::Result<(), StepError> {
        if cx
            .output_if::<Removed<Option<String>>>(&self.swap)
            .is_some()
        {
            return Ok(());
        }
        if let Some(name) = &self.member {
            let pool = cx.output_as::<Made>("api-pool")?.id;
            let lb = cx.output_as::<Made>("api-lb")?.id;
            let shared = &self.make.shared;
            remove_member(
                shared.cloud.as_ref(),
                &shared.settings.wait,
                &lb,
                &pool,
                name,
            )
            .await?;
            return Ok(());
        }
        self.make.undo(cx, output).await
    }
}

/// Takes the member `name` out of the pool (gone already counts); `Some(name)` when it
/// was there.
async fn remove_member(
    cloud: &dyn Cloud,
    wait: &WaitPolicy,
    lb: &str,
    pool: &str,
    name: &str,
) -> std::result::Result<Option<String>, StepError> {
    let found = cloud
        .member_list(pool)
        .await?
        .into_iter()
        .find(|m| m.name == name);
    if let Some(m) = &found {
        cloud.member_remove(pool, &m.id).await?;
        cloud.wait_load_balancer_active(lb, wait).await?;
    }
    Ok(found.map(|m| m.name))
}

/// Waits until the new master serves the cluster's API on its own address, under its
/// own name's certificate, with the cluster's objects (it has joined the others).
struct Serves {
    step: String,
    cluster_id: String,
    store: Store,
    settings: Arc<Settings>,
}

#[async_trait]
impl Step for Serves {
    async fn run(&self, cx: &StepContext) -> std::result::Result<Value, StepError> {
        let master = cx.output_as::<MadeServer>(&self.step)?;
        let address = master
            .address
            .clone()
            .ok_or_else(|| StepError::permanent(format!("{} recorded no address", master.name)))?;
        let kube = KubeClient::connect_named(
            &self.store,
            &self.settings.secret_key,
            &self.cluster_id,
            &master.name,
            &address,
        )
        .await?;
        let wait = &self.settings.wait;
        let deadline = tokio::time::Instant::now() + wait.deadline;
        let mut pause = wait.initial;
        loop {
            match kube.get::<Value>("/api/v1/namespaces/kube-system").await {
                Ok(_) => return record(&Made { id: master.id }),
                Err(e) if e.is_transient() => {
                    if tokio::time::Instant::now() + pause > deadline {
                        return Err(StepError::permanent(format!(
                            "{} does not serve the cluster's API on {address}:6443 after {}s ({e})",
                            master.name,
                            wait.deadline.as_secs()
                        )));
                    }
                }
                Err(e) => return Err(e.into()),
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2)
                .min(wait.max_interval)
                .max(Duration::from_millis(10));
        }
    }
}

/// Takes the broken master out of the API pool.
struct Swap {
    name: String,
    cloud: Arc<dyn Cloud>,
    wait: WaitPolicy,
}

#[async_trait]
impl Step for Swap {
    async fn run(&self, cx: &StepContext) -> std::result::Result<Value, StepError> {
        let pool = cx.output_as::<Made>("api-pool")?.id;
        let lb = cx.output_as::<Made>("api-lb")?.id;
        let removed =
            remove_member(self.cloud.as_ref(), &self.wait, &lb, &pool, &self.name).await?;
        record(&Removed { removed })
    }
}

/// Deletes the broken master's etcd volume, detached from its server first.
struct DropEtcd {
    name: String,
    cluster_id: String,
    cloud: Arc<dyn Cloud>,
    wait: WaitPolicy,
}

#[async_trait]
impl Step for DropEtcd {
    async fn run(&self, _cx: &StepContext) -> std::result::Result<Value, StepError> {
        let found = self
            .cloud
            .volume_list(&cluster_metadata(&self.cluster_id))
            .await?
            .into_iter()
            .find(|v| v.name == self.name);
        if let Some(v) = &found {
            for server in &v.attached_to {
                match self.cloud.volume_detach(server, &v.id).await {
                    Ok(()) => {}
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e.into()),
                }
            }
            if !v.attached_to.is_empty() {
                self.cloud.wait_volume_available(&v.id, &self.wait).await?;
            }
            self.cloud.volume_delete(&v.id).await?;
        }
        record(&Removed {
            removed: found.map(|v| v.name),
        })
    }
}

#[async_trait]
impl SagaKind for RepairMaster {
    fn steps(&self, spec: &Value) -> Result<Vec<StepDef>> {
        let p: MasterRepairParams = params(spec)?;
        let cluster_id = p.cluster_id.to_string();
        let shared = Arc::new(Shared {
            store: self.store.clone(),
            cloud: self.cloud.clone(),
            settings: self.settings.clone(),
            cluster_id: cluster_id.clone(),
            spec: p.spec.clone(),
            image: p.image.clone(),
        });
        let i = p.index;
        let (master, etcd, attach) = (
            format!("master-{i}"),
            format!("etcd-{i}"),
            format!("etcd-attach-{i}"),
        );
        let (serves, member) = (format!("serves-{i}"), format!("api-member-{i}"));
        let swap = format!("out-of-pool-{}", p.replaces);
        let find = |what| -> Arc<dyn Step> {
            Arc::new(Find {
                what,
                cluster_id: cluster_id.clone(),
                cloud: self.cloud.clone(),
            })
        };
        let part = |res, member: Option<String>| -> Arc<dyn Step> {
            Arc::new(NewPart {
                make: ClusterStep {
                    res,
                    shared: shared.clone(),
                },
                swap: swap.clone(),
                member,
            })
        };
        let steps = vec![
            StepDef::new("server-group", &[], find(Existing::Group)),
            StepDef::new("api-lb", &[], find(Existing::Lb)),
            StepDef::new("api-pool", &["api-lb"], find(Existing::Pool)),
            StepDef::new(&etcd, &[], part(Res::Etcd(i), None)),
            StepDef::new(
                &master,
                &["server-group", "api-lb"],
                part(Res::Master(i), None),
            ),
            StepDef::new(&attach, &[&master, &etcd], part(Res::Attach(i), None)),
            StepDef::new(
                &serves,
                &[&attach],
                Arc::new(Serves {
                    step: master.clone(),
                    cluster_id: cluster_id.clone(),
                    store: self.store.clone(),
                    settings: self.settings.clone(),
                }),
            ),
            StepDef::new(
                &member,
                &["api-lb", "api-pool", &master, &serves],
                part(Res::Member(i), Some(p.replacement())),
            ),
            StepDef::new(
                &swap,
                &[&member],
                Arc::new(Swap {
                    name: p.replaces.clone(),
                    cloud: self.cloud.clone(),
                    wait: self.settings.wait,
                }),
            ),
            StepDef::new(
                format!("remove-{}", p.replaces),
                &[&swap],
                Arc::new(RemoveWorker {
                    name: p.replaces.clone(),
                    cluster_id: cluster_id.clone(),
                    cloud: self.cloud.clone(),
                }),
            ),
            StepDef::new(
                format!("etcd-of-{}", p.replaces),
                &[&format!("remove-{}", p.replaces)],
                Arc::new(DropEtcd {
                    name: p.old_etcd(),
                    cluster_id,
                    cloud: self.cloud.clone(),
                    wait: self.settings.wait,
                }),
            ),
        ];
        Ok(steps)
    }

    fn summary(&self, spec: &Value) -> Option<String> {
        let p: MasterRepairParams = params(spec).ok()?;
        Some(format!(
            "{}; replacing it with {} (etcd keeps its quorum meanwhile)",
            p.reason,
            p.replacement()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_a_master_and_its_etcd_volume() {
        let id = "0670bbc5-7af0-489c-8355-84340df640fc";
        let p = prefix(id);
        assert_eq!(index_of(id, "master", &format!("{p}-master-12")), Some(12));
        assert_eq!(index_of(id, "etcd", &format!("{p}-etcd-3")), Some(3));
        assert_eq!(
            index_of(id, "master", &format!("{p}-default-worker-1")),
            None
        );
        assert_eq!(index_of(id, "master", "sy-other-master-1"), None);
    }
}
