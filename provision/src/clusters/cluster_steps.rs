//! The steps that make (and undo) one resource of a cluster: its CA, the masters' server
//! group, each master with its etcd volume and attachment, the API load balancer with
//! its listener, pool, monitor and members, the API's access, and each worker (with its
//! bootstrap). The create saga runs all of them; node group sagas run workers.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::outputs::{Attached, Made, MadeCa, MadeLoadBalancer, MadeServer, MadeVolume, Synced};
use super::saga_shared::*;
use super::ClusterSpec;
use crate::cloud::*;
use crate::ops::{record, recorded, Step, StepContext, StepError};
use crate::Store;

/// One resource of a cluster being created.
pub(super) enum Res {
    /// The cluster's certificate authority (in the database, not the cloud).
    Ca,
    Group,
    Master(u32),
    Etcd(u32),
    Attach(u32),
    Lb,
    Listener,
    Pool,
    Monitor,
    Member(u32),
    /// Waits for the cluster's API through the VIP and writes its access bindings.
    Access,
    Worker {
        group: usize,
        index: u32,
    },
}

pub(super) struct Shared {
    pub(super) store: Store,
    pub(super) cloud: Arc<dyn Cloud>,
    pub(super) settings: Arc<Settings>,
    pub(super) cluster_id: String,
    pub(super) spec: ClusterSpec,
    /// The image nodes boot from (the version's, when the operation was asked for).
    pub(super) image: String,
}

pub(super) struct ClusterStep {
    pub(super) res: Res,
    pub(super) shared: Arc<Shared>,
}

impl ClusterStep {
    fn name(&self) -> String {
        let p = prefix(&self.shared.cluster_id);
        match &self.res {
            Res::Ca => format!("{p}-ca"),
            Res::Group => format!("{p}-masters"),
            Res::Master(i) => format!("{p}-master-{i}"),
            Res::Etcd(i) => format!("{p}-etcd-{i}"),
            Res::Attach(i) => format!("{p}-etcd-{i}-attach"),
            Res::Lb => format!("{p}-api"),
            Res::Listener => format!("{p}-api-6443"),
            Res::Pool => format!("{p}-api-masters"),
            Res::Monitor => format!("{p}-api-health"),
            Res::Member(i) => format!("{p}-master-{i}"),
            Res::Access => format!("{p}-access"),
            Res::Worker { group, index } => {
                format!("{p}-{}-{index}", self.shared.spec.node_groups[*group].name)
            }
        }
    }

    fn metadata(&self, cx: &StepContext, role: &str) -> Metadata {
        let mut m = cluster_metadata(&self.shared.cluster_id);
        m.insert("shipyard-operation".into(), cx.operation_id.clone());
        m.insert("shipyard-role".into(), role.into());
        m
    }

    fn tags(&self) -> Vec<String> {
        vec![
            "shipyard".into(),
            cluster_tag(&self.shared.cluster_id),
            "shipyard-role=api".into(),
        ]
    }

    fn cloud(&self) -> &dyn Cloud {
        self.shared.cloud.as_ref()
    }

    fn wait(&self) -> &WaitPolicy {
        &self.shared.settings.wait
    }

    async fn server(
        &self,
        cx: &StepContext,
        role: &str,
        flavor: &str,
        group: Option<String>,
        boot: Option<u64>,
    ) -> std::result::Result<Value, StepError> {
        let image = self.shared.image.clone();
        let mut metadata = self.metadata(cx, role);
        let mut node_group = None;
        let none = Default::default();
        let (mut labels, mut taints) = (&none, &[][..]);
        if let Res::Worker { group, .. } = &self.res {
            let ng = &self.shared.spec.node_groups[*group];
            metadata.insert("shipyard-node-group".into(), ng.name.clone());
            node_group = Some(ng.name.clone());
            (labels, taints) = (&ng.labels, &ng.taints[..]);
        }
        let vip = self.vip(cx).await?;
        let name = self.name();
        let node = super::bootstrap::Node {
            role: if role == "master" {
                super::bootstrap::Role::Master
            } else {
                super::bootstrap::Role::Worker
            },
            cluster_id: &self.shared.cluster_id,
            kubernetes_version: self.shared.spec.version(),
            vip: &vip,
            name: &name,
            node_group: node_group.as_deref(),
            labels,
            taints,
        };
        let user_data = super::bootstrap::user_data(
            &self.shared.store,
            &self.shared.settings.secret_key,
            &node,
        )
        .await?;
        let server = self
            .cloud()
            .server_create(&ServerSpec {
                name: self.name(),
                flavor: flavor.to_string(),
                image: image.to_string(),
                metadata,
                group,
                network: Some(self.shared.settings.network.clone()),
                boot_volume_gib: boot,
                user_data: Some(user_data),
            })
            .await?;
        let server = self
            .cloud()
            .wait_server_active(&server.id, self.wait())
            .await?;
        record(&MadeServer {
            address: server.addresses.first().cloned(),
            id: server.id,
            name: server.name,
            host: server.host,
        })
    }

    /// The API's VIP: from this create's load balancer step, or as the cluster records it.
    async fn vip(&self, cx: &StepContext) -> std::result::Result<String, StepError> {
        if let Some(vip) = cx
            .output_if::<MadeLoadBalancer>("api-lb")
            .and_then(|lb| lb.vip)
        {
            return Ok(vip);
        }
        let cluster = self
            .shared
            .store
            .cluster_by_id(&self.shared.cluster_id)
            .await?;
        cluster
            .api_address
            .as_deref()
            .and_then(|a| a.rsplit_once(':').map(|(host, _)| host.to_string()))
            .ok_or_else(|| StepError::permanent("the cluster has no API address yet"))
    }

    /// The id of this step's server: from its output, or found by name and owner.
    async fn find_server(
        &self,
        output: Option<&Value>,
    ) -> std::result::Result<Option<String>, StepError> {
        if let Some(made) = recorded::<Made>(output) {
            return Ok(Some(made.id));
        }
        let name = self.name();
        let found = self
            .cloud()
            .server_list(&cluster_metadata(&self.shared.cluster_id))
            .await?;
        Ok(found.into_iter().find(|s| s.name == name).map(|s| s.id))
    }

    async fn lb_ready(&self, lb_id: &str) -> std::result::Result<(), StepError> {
        self.cloud()
            .wait_load_balancer_active(lb_id, self.wait())
            .await?;
        Ok(())
    }
}

#[async_trait]
impl Step for ClusterStep {
    async fn run(&self, cx: &StepContext) -> std::result::Result<Value, StepError> {
        let spec = &self.shared.spec;
        match &self.res {
            Res::Ca => {
                let ca = crate::pki::ca_create(
                    &self.shared.store,
                    &self.shared.settings.secret_key,
                    &self.shared.cluster_id,
                )
                .await?;
                record(&MadeCa {
                    generation: ca.generation,
                    common_name: ca.common_name,
                })
            }
            Res::Group => {
                let g = self
                    .cloud()
                    .server_group_create(&self.name(), GroupPolicy::AntiAffinity)
                    .await?;
                record(&Made { id: g.id })
            }
            Res::Master(_) => {
                let group = cx.output_as::<Made>("server-group")?.id;
                self.server(cx, "master", &spec.master_flavor, Some(group), None)
                    .await
            }
            Res::Worker { group, .. } => {
                let ng = &spec.node_groups[*group];
                self.server(cx, "worker", &ng.flavor, None, Some(ng.boot_volume_gib))
                    .await
            }
            Res::Etcd(_) => {
                let v = self
                    .cloud()
                    .volume_create(&VolumeSpec {
                        name: self.name(),
                        size_gib: ETCD_GIB,
                        volume_type: None,
                        metadata: self.metadata(cx, "etcd"),
                    })
                    .await?;
                self.cloud()
                    .wait_volume_available(&v.id, self.wait())
                    .await?;
                record(&MadeVolume {
                    id: v.id,
                    size_gib: v.size_gib,
                })
            }
            Res::Attach(i) => {
                let server = cx.output_as::<Made>(&format!("master-{i}"))?.id;
                let volume = cx.output_as::<Made>(&format!("etcd-{i}"))?.id;
                let current = self.cloud().volume_get(&volume).await?;
                if !current.attached_to.contains(&server) {
                    self.cloud().volume_attach(&server, &volume).await?;
                }
                record(&Attached { server, volume })
            }
            Res::Lb => {
                let network = self
                    .cloud()
                    .network_id(&self.shared.settings.network)
                    .await?;
                let lb = self
                    .cloud()
                    .load_balancer_create(&LoadBalancerSpec {
                        name: self.name(),
                        tags: self.tags(),
                        vip_network_id: Some(network),
                        vip_subnet_id: None,
                    })
                    .await?;
                let lb = self
                    .cloud()
                    .wait_load_balancer_active(&lb.id, self.wait())
                    .await?;
                record(&MadeLoadBalancer {
                    id: lb.id,
                    vip: lb.vip_address,
                })
            }
            Res::Listener => {
                let lb = cx.output_as::<Made>("api-lb")?.id;
                let l = self
                    .cloud()
                    .listener_create(&ListenerSpec {
                        name: self.name(),
                        load_balancer_id: lb.clone(),
                        port: 6443,
                        tags: self.tags(),
                    })
                    .await?;
                self.lb_ready(&lb).await?;
                record(&Made { id: l.id })
            }
            Res::Pool => {
                let lb = cx.output_as::<Made>("api-lb")?.id;
                let listener = cx.output_as::<Made>("api-listener")?.id;
                let p = self
                    .cloud()
                    .pool_create(&PoolSpec {
                        name: self.name(),
                        listener_id: listener,
                        tags: self.tags(),
                    })
                    .await?;
                self.lb_ready(&lb).await?;
                record(&Made { id: p.id })
            }
            Res::Monitor => {
                let lb = cx.output_as::<Made>("api-lb")?.id;
                let pool = cx.output_as::<Made>("api-pool")?.id;
                let m = self
                    .cloud()
                    .health_monitor_create(&HealthMonitorSpec {
                        name: self.name(),
                        pool_id: pool,
                        delay_secs: 5,
                        timeout_secs: 3,
                        max_retries: 3,
                    })
                    .await?;
                self.lb_ready(&lb).await?;
                record(&Made { id: m.id })
            }
            Res::Access => {
                let vip = self.vip(cx).await?;
                let cluster = self
                    .shared
                    .store
                    .cluster_by_id(&self.shared.cluster_id)
                    .await?;
                super::access::ClusterAccess::new(
                    self.shared.store.clone(),
                    self.shared.settings.secret_key.clone(),
                )
                .sync_when_ready(
                    &cluster.id,
                    &cluster.project_id,
                    &format!("{vip}:6443"),
                    self.wait().deadline,
                )
                .await
                .map_err(StepError::retryable)?;
                record(&Synced {
                    bindings: super::access::BINDINGS.len(),
                })
            }
            Res::Member(i) => {
                let lb = cx.output_as::<Made>("api-lb")?.id;
                let pool = cx.output_as::<Made>("api-pool")?.id;
                let master = cx.output_as::<MadeServer>(&format!("master-{i}"))?;
                let address = master.address.ok_or_else(|| {
                    StepError::permanent(format!("master-{i} recorded no address"))
                })?;
                let m = self
                    .cloud()
                    .member_add(
                        &pool,
                        &MemberSpec {
                            name: self.name(),
                            address,
                            port: 6443,
                        },
                    )
                    .await?;
                self.lb_ready(&lb).await?;
                record(&Made { id: m.id })
            }
        }
    }

    async fn undo(
        &self,
        cx: &StepContext,
        output: Option<&Value>,
    ) -> std::result::Result<(), StepError> {
        match &self.res {
            Res::Ca => {
                crate::pki::ca_remove(&self.shared.store, &self.shared.cluster_id).await?;
                Ok(())
            }
            Res::Group => {
                let id = match recorded::<Made>(output) {
                    Some(made) => Some(made.id),
                    None => self
                        .cloud()
                        .server_group_find(&self.name())
                        .await?
                        .map(|g| g.id),
                };
                if let Some(id) = id {
                    self.cloud().server_group_delete(&id).await?;
                }
                Ok(())
            }
            Res::Master(_) | Res::Worker { .. } => {
                if let Some(id) = self.find_server(output).await? {
                    self.cloud().server_delete(&id).await?;
                }
                Ok(())
            }
            Res::Etcd(_) => {
                let id = match recorded::<Made>(output) {
                    Some(made) => Some(made.id),
                    None => {
                        let name = self.name();
                        self.cloud()
                            .volume_list(&cluster_metadata(&self.shared.cluster_id))
                            .await?
                            .into_iter()
                            .find(|v| v.name == name)
                            .map(|v| v.id)
                    }
                };
                if let Some(id) = id {
                    self.cloud().volume_delete(&id).await?;
                }
                Ok(())
            }
            Res::Attach(i) => {
                let server = cx.output_if::<Made>(&format!("master-{i}"));
                let volume = cx.output_if::<Made>(&format!("etcd-{i}"));
                if let (Some(s), Some(v)) = (server, volume) {
                    self.cloud().volume_detach(&s.id, &v.id).await?;
                }
                Ok(())
            }
            Res::Lb => {
                let id = match recorded::<Made>(output) {
                    Some(made) => Some(made.id),
                    None => {
                        let name = self.name();
                        self.cloud()
                            .load_balancer_list(&[cluster_tag(&self.shared.cluster_id)])
                            .await?
                            .into_iter()
                            .find(|l| l.name == name)
                            .map(|l| l.id)
                    }
                };
                if let Some(id) = id {
                    // Cascade: listeners, pools, members and monitors go with it.
                    self.cloud().load_balancer_delete(&id).await?;
                }
                Ok(())
            }
            // Removed with the load balancer (cascade), which is undone after them.
            Res::Listener | Res::Pool | Res::Monitor | Res::Member(_) => Ok(()),
            // What it wrote lives in the cluster, which goes with its servers.
            Res::Access => Ok(()),
        }
    }
}
