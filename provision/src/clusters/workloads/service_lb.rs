//! The cloud side of a Service of type LoadBalancer, as the OpenStack cloud controller
//! manager makes it: a load balancer named `kube_service_<cluster>_<namespace>_<name>`
//! (tagged with that name and the cluster's mark), one listener, pool and TCP health
//! monitor per port, the Ready nodes on the port's NodePort as members, and the VIP
//! written back into the Service's `status.loadBalancer.ingress`. Two operations:
//! `service.ensure` (create or converge) and `service.remove` (delete the load
//! balancer, then release the Service: its cleanup finalizer or its status).

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::super::outputs::{MadeLoadBalancer, Removed};
use super::super::saga_shared::{cluster_tag, Settings};
use crate::cloud::*;
use crate::kube::KubeClient;
use crate::ops::{record, OperationRow, SagaKind, Step, StepContext, StepDef, StepError};
use crate::{Error, Result, Store};

pub const SERVICE_ENSURE: &str = "service.ensure";
pub const SERVICE_REMOVE: &str = "service.remove";

/// The finalizer that holds a Service's delete until its load balancer is gone (the
/// one the upstream service controller uses).
pub const CLEANUP_FINALIZER: &str = "service.kubernetes.io/load-balancer-cleanup";
/// What the load balancer was last made from (ports and members, hashed).
pub const APPLIED_ANNOTATION: &str = "shipyard.io/load-balancer-applied";
/// The load balancer's id, as the OpenStack cloud controller records it.
pub const LB_ID_ANNOTATION: &str = "loadbalancer.openstack.org/load-balancer-id";

/// Which Service, by namespace, name and uid (a Service made again under the same
/// name is another one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRef {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl ServiceRef {
    pub fn path(&self) -> String {
        format!(
            "/api/v1/namespaces/{}/services/{}",
            self.namespace, self.name
        )
    }
}

/// One port of the load balancer: `port` forwards to every member's `node_port`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LbPort {
    pub port: u16,
    pub node_port: u16,
}

/// A node the load balancer sends to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LbMember {
    pub name: String,
    pub address: String,
}

/// What `service.ensure` makes the cloud match.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnsureParams {
    pub cluster_id: String,
    pub service: ServiceRef,
    pub ports: Vec<LbPort>,
    pub members: Vec<LbMember>,
    /// [`fingerprint`] of ports and members: written on the Service when done.
    pub applied: String,
}

/// What `service.remove` removes, and whether the Service itself is being deleted
/// (then its finalizer goes) or only stopped being a LoadBalancer (its status goes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveParams {
    pub cluster_id: String,
    pub service: ServiceRef,
    pub deleting: bool,
}

/// The load balancer's name: the OpenStack cloud controller's, with the cluster's id
/// as the cluster name.
pub fn lb_name(cluster_id: &str, service: &ServiceRef) -> String {
    let mut name = format!(
        "kube_service_{cluster_id}_{}_{}",
        service.namespace, service.name
    );
    name.truncate(255);
    name
}

/// The tags of the load balancer and of its listeners and pools.
pub fn lb_tags(cluster_id: &str, service: &ServiceRef) -> Vec<String> {
    vec![
        "shipyard".into(),
        cluster_tag(cluster_id),
        "shipyard-role=service".into(),
        lb_name(cluster_id, service),
    ]
}

/// A short, stable hash of what the load balancer is made from.
pub fn fingerprint(ports: &[LbPort], members: &[LbMember]) -> String {
    use sha2::Digest;
    let (mut ports, mut members) = (ports.to_vec(), members.to_vec());
    ports.sort();
    members.sort();
    let text = serde_json::to_string(&(ports, members)).unwrap_or_default();
    hex::encode(&sha2::Sha256::digest(text.as_bytes())[..8])
}

/// The service operations by name.
pub fn kinds(
    store: &Store,
    cloud: Arc<dyn Cloud>,
    settings: Arc<Settings>,
) -> Vec<(&'static str, Arc<dyn SagaKind>)> {
    let saga = |remove: bool| -> Arc<dyn SagaKind> {
        Arc::new(ServiceSaga {
            remove,
            store: store.clone(),
            cloud: cloud.clone(),
            settings: settings.clone(),
        })
    };
    vec![(SERVICE_ENSURE, saga(false)), (SERVICE_REMOVE, saga(true))]
}

struct ServiceSaga {
    remove: bool,
    store: Store,
    cloud: Arc<dyn Cloud>,
    settings: Arc<Settings>,
}

/// The ledger row's id: the Service's uid.
fn uid_of(spec: &Value) -> Result<String> {
    spec["service"]["uid"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| Error::internal("a service operation without the service's uid"))
}

#[async_trait]
impl SagaKind for ServiceSaga {
    fn steps(&self, spec: &Value) -> Result<Vec<StepDef>> {
        let shared = Shared {
            store: self.store.clone(),
            cloud: self.cloud.clone(),
            settings: self.settings.clone(),
        };
        if self.remove {
            let p: RemoveParams = serde_json::from_value(spec.clone()).map_err(Error::internal)?;
            let p = Arc::new(p);
            Ok(vec![
                StepDef::new(
                    "load-balancer",
                    &[],
                    Arc::new(RemoveLb {
                        p: p.clone(),
                        s: shared.clone(),
                    }),
                ),
                StepDef::new(
                    "release",
                    &["load-balancer"],
                    Arc::new(Release { p, s: shared }),
                ),
            ])
        } else {
            let p: EnsureParams = serde_json::from_value(spec.clone()).map_err(Error::internal)?;
            let p = Arc::new(p);
            Ok(vec![
                StepDef::new(
                    "load-balancer",
                    &[],
                    Arc::new(MakeLb {
                        p: p.clone(),
                        s: shared.clone(),
                    }),
                ),
                StepDef::new(
                    "listeners",
                    &["load-balancer"],
                    Arc::new(SyncListeners {
                        p: p.clone(),
                        s: shared.clone(),
                    }),
                ),
                StepDef::new(
                    "publish",
                    &["listeners"],
                    Arc::new(Publish { p, s: shared }),
                ),
            ])
        }
    }

    /// A failed ensure stops as failed and the controller tries again later; what it
    /// made is found by name then (and swept by the cluster's delete meanwhile).
    fn unwinds(&self) -> bool {
        false
    }

    async fn succeeded(&self, op: &OperationRow) -> Result<()> {
        let id = uid_of(&op.spec)?;
        if self.remove {
            return self
                .store
                .workload_mark_deleted("cluster_services", &id)
                .await;
        }
        let steps = self.store.op_steps(&op.id).await?;
        let vip = steps
            .iter()
            .find(|s| s.step == "load-balancer")
            .and_then(|s| crate::ops::recorded::<MadeLoadBalancer>(s.output.as_ref()))
            .and_then(|l| l.vip);
        self.store
            .workload_set(
                "cluster_services",
                &id,
                "ACTIVE",
                None,
                vip.as_deref().map(|v| ("vip", v)),
            )
            .await
    }

    async fn unwound(&self, op: &OperationRow) -> Result<()> {
        let reason = op.error.as_deref().unwrap_or("unknown error");
        let status = if self.remove { "DELETING" } else { "FAILED" };
        self.store
            .workload_set(
                "cluster_services",
                &uid_of(&op.spec)?,
                status,
                Some(reason),
                None,
            )
            .await
    }
}

#[derive(Clone)]
struct Shared {
    store: Store,
    cloud: Arc<dyn Cloud>,
    settings: Arc<Settings>,
}

impl Shared {
    async fn find_lb(
        &self,
        cluster_id: &str,
        service: &ServiceRef,
    ) -> std::result::Result<Option<LoadBalancer>, StepError> {
        let name = lb_name(cluster_id, service);
        Ok(self
            .cloud
            .load_balancer_list(&[cluster_tag(cluster_id), name.clone()])
            .await?
            .into_iter()
            .find(|l| l.name == name))
    }

    async fn settle(&self, lb: &str) -> std::result::Result<(), StepError> {
        self.cloud
            .wait_load_balancer_active(lb, &self.settings.wait)
            .await?;
        Ok(())
    }

    async fn kube(&self, cluster_id: &str) -> std::result::Result<KubeClient, StepError> {
        super::kube_for(&self.store, &self.settings, cluster_id).await
    }

    /// The Service as the cluster has it now, if it is still the same one.
    async fn service(
        &self,
        kube: &KubeClient,
        service: &ServiceRef,
    ) -> std::result::Result<Option<Value>, StepError> {
        match kube.get::<Value>(&service.path()).await {
            Ok(v) if v["metadata"]["uid"] == service.uid.as_str() => Ok(Some(v)),
            Ok(_) => Ok(None),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

struct MakeLb {
    p: Arc<EnsureParams>,
    s: Shared,
}

#[async_trait]
impl Step for MakeLb {
    async fn run(&self, _cx: &StepContext) -> std::result::Result<Value, StepError> {
        let (cluster, service) = (&self.p.cluster_id, &self.p.service);
        let lb = match self.s.find_lb(cluster, service).await? {
            Some(lb) => lb,
            None => {
                let network = self.s.cloud.network_id(&self.s.settings.network).await?;
                self.s
                    .cloud
                    .load_balancer_create(&LoadBalancerSpec {
                        name: lb_name(cluster, service),
                        tags: lb_tags(cluster, service),
                        vip_network_id: Some(network),
                        vip_subnet_id: None,
                    })
                    .await?
            }
        };
        let lb = self
            .s
            .cloud
            .wait_load_balancer_active(&lb.id, &self.s.settings.wait)
            .await?;
        record(&MadeLoadBalancer {
            id: lb.id,
            vip: lb.vip_address,
        })
    }
}

/// What a listeners step changed.
#[derive(Serialize, Deserialize)]
struct ListenersSynced {
    listeners: usize,
    added: usize,
    removed: usize,
}

struct SyncListeners {
    p: Arc<EnsureParams>,
    s: Shared,
}

#[async_trait]
impl Step for SyncListeners {
    /// Converges: a listener, pool and monitor for each port (made when missing),
    /// those of ports no longer asked for removed, and each pool's members made the
    /// nodes on the port's NodePort.
    async fn run(&self, cx: &StepContext) -> std::result::Result<Value, StepError> {
        let lb = cx.output_as::<MadeLoadBalancer>("load-balancer")?.id;
        let (cluster, service) = (&self.p.cluster_id, &self.p.service);
        let name = lb_name(cluster, service);
        let tags = lb_tags(cluster, service);
        let cloud = self.s.cloud.as_ref();
        let only = [name.clone()];
        let listeners: Vec<Listener> = cloud
            .listener_list(&only)
            .await?
            .into_iter()
            .filter(|l| l.load_balancer_ids.contains(&lb))
            .collect();
        let pools = cloud.pool_list(&only).await?;
        let pool_name = |port: u16| format!("pool_{port}_{name}");
        let (mut added, mut removed) = (0, 0);
        // Ports no longer asked for: the pool first, then its listener.
        for l in &listeners {
            if self.p.ports.iter().any(|p| p.port == l.port) {
                continue;
            }
            if let Some(pool) = pools.iter().find(|p| p.name == pool_name(l.port)) {
                cloud.pool_delete(&pool.id).await?;
                self.s.settle(&lb).await?;
            }
            cloud.listener_delete(&l.id).await?;
            self.s.settle(&lb).await?;
        }
        for port in &self.p.ports {
            let listener = match listeners.iter().find(|l| l.port == port.port) {
                Some(l) => l.clone(),
                None => {
                    let l = cloud
                        .listener_create(&ListenerSpec {
                            name: format!("listener_{}_{name}", port.port),
                            load_balancer_id: lb.clone(),
                            port: port.port,
                            tags: tags.clone(),
                        })
                        .await?;
                    self.s.settle(&lb).await?;
                    l
                }
            };
            let pool = match pools.iter().find(|p| p.name == pool_name(port.port)) {
                Some(p) => p.clone(),
                None => {
                    let p = cloud
                        .pool_create(&PoolSpec {
                            name: pool_name(port.port),
                            listener_id: listener.id.clone(),
                            tags: tags.clone(),
                        })
                        .await?;
                    self.s.settle(&lb).await?;
                    p
                }
            };
            if pool.health_monitor_id.is_none() {
                cloud
                    .health_monitor_create(&HealthMonitorSpec {
                        name: format!("monitor_{}_{name}", port.port),
                        pool_id: pool.id.clone(),
                        delay_secs: 5,
                        timeout_secs: 3,
                        max_retries: 3,
                    })
                    .await?;
                self.s.settle(&lb).await?;
            }
            let members = cloud.member_list(&pool.id).await?;
            for m in &members {
                let wanted = self
                    .p
                    .members
                    .iter()
                    .any(|w| w.address == m.address && m.port == port.node_port);
                if !wanted {
                    cloud.member_remove(&pool.id, &m.id).await?;
                    self.s.settle(&lb).await?;
                    removed += 1;
                }
            }
            for w in &self.p.members {
                let there = members
                    .iter()
                    .any(|m| m.address == w.address && m.port == port.node_port);
                if !there {
                    cloud
                        .member_add(
                            &pool.id,
                            &MemberSpec {
                                name: w.name.clone(),
                                address: w.address.clone(),
                                port: port.node_port,
                            },
                        )
                        .await?;
                    self.s.settle(&lb).await?;
                    added += 1;
                }
            }
        }
        record(&ListenersSynced {
            listeners: self.p.ports.len(),
            added,
            removed,
        })
    }
}

/// What a publish step wrote on the Service.
#[derive(Serialize, Deserialize)]
struct Published {
    ingress: Option<String>,
}

struct Publish {
    p: Arc<EnsureParams>,
    s: Shared,
}

#[async_trait]
impl Step for Publish {
    /// Writes the VIP into the Service's status, and on the Service what it was made
    /// from (so the controller sees it done). A Service gone meanwhile is left to
    /// its removal.
    async fn run(&self, cx: &StepContext) -> std::result::Result<Value, StepError> {
        let lb = cx.output_as::<MadeLoadBalancer>("load-balancer")?;
        let kube = self.s.kube(&self.p.cluster_id).await?;
        let service = &self.p.service;
        if self.s.service(&kube, service).await?.is_none() {
            return record(&Published { ingress: None });
        }
        let ingress: Vec<Value> = lb.vip.iter().map(|ip| json!({ "ip": ip })).collect();
        kube.merge_patch(
            &format!("{}/status", service.path()),
            &json!({"status": {"loadBalancer": {"ingress": ingress}}}),
        )
        .await?;
        kube.merge_patch(
            &service.path(),
            &json!({"metadata": {"annotations": {
                APPLIED_ANNOTATION: self.p.applied,
                LB_ID_ANNOTATION: lb.id,
            }}}),
        )
        .await?;
        record(&Published { ingress: lb.vip })
    }
}

struct RemoveLb {
    p: Arc<RemoveParams>,
    s: Shared,
}

#[async_trait]
impl Step for RemoveLb {
    async fn run(&self, _cx: &StepContext) -> std::result::Result<Value, StepError> {
        let (cluster, service) = (&self.p.cluster_id, &self.p.service);
        let found = self.s.find_lb(cluster, service).await?;
        if let Some(lb) = &found {
            self.s.cloud.load_balancer_delete(&lb.id).await?;
            if self.s.find_lb(cluster, service).await?.is_some() {
                return Err(StepError::retryable(
                    "the load balancer is still being deleted",
                ));
            }
        }
        record(&Removed {
            removed: found.map(|l| l.name),
        })
    }
}

struct Release {
    p: Arc<RemoveParams>,
    s: Shared,
}

#[async_trait]
impl Step for Release {
    /// The Service being deleted loses the cleanup finalizer (and goes); one that
    /// stays, as another type, loses its ingress and the load balancer's annotations.
    async fn run(&self, _cx: &StepContext) -> std::result::Result<Value, StepError> {
        let kube = self.s.kube(&self.p.cluster_id).await?;
        let service = &self.p.service;
        let Some(now) = self.s.service(&kube, service).await? else {
            return record(&Removed::<Option<String>> { removed: None });
        };
        let mut meta = crate::kube::without_finalizer(&now, CLEANUP_FINALIZER).unwrap_or_default();
        if !self.p.deleting {
            meta.insert(
                "annotations".into(),
                json!({APPLIED_ANNOTATION: null, LB_ID_ANNOTATION: null}),
            );
        }
        if !meta.is_empty() {
            kube.merge_patch(&service.path(), &json!({ "metadata": meta }))
                .await?;
        }
        if !self.p.deleting {
            kube.merge_patch(
                &format!("{}/status", service.path()),
                &json!({"status": {"loadBalancer": {"ingress": null}}}),
            )
            .await?;
        }
        record(&Removed {
            removed: Some(service.name.clone()),
        })
    }
}
