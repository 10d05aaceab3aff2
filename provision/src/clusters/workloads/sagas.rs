//! The four workload operations: make or remove a service's load balancer, make or
//! remove a persistent volume, each step with its undo.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::super::outputs::{Made, MadeLoadBalancer, MadeVolume, Removed};
use super::super::saga_shared::{cluster_metadata, cluster_tag, prefix, Settings};
use super::*;
use crate::cloud::*;
use crate::ops::{record, recorded, OperationRow, SagaKind, Step, StepContext, StepDef, StepError};
use crate::{Error, Result, Store};

/// The four workload operation kinds by name.
pub fn kinds(
    store: &Store,
    cloud: Arc<dyn Cloud>,
    settings: Arc<Settings>,
) -> Vec<(&'static str, Arc<dyn SagaKind>)> {
    let kind = |what: Kind| -> Arc<dyn SagaKind> {
        Arc::new(WorkloadSaga {
            what,
            store: store.clone(),
            cloud: cloud.clone(),
            settings: settings.clone(),
        })
    };
    vec![
        (SERVICE_CREATE, kind(Kind::ServiceCreate)),
        (SERVICE_DELETE, kind(Kind::ServiceDelete)),
        (VOLUME_CREATE, kind(Kind::VolumeCreate)),
        (VOLUME_DELETE, kind(Kind::VolumeDelete)),
    ]
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    ServiceCreate,
    ServiceDelete,
    VolumeCreate,
    VolumeDelete,
}

struct WorkloadSaga {
    what: Kind,
    store: Store,
    cloud: Arc<dyn Cloud>,
    settings: Arc<Settings>,
}

fn service_lb_name(cluster_id: &str, service: &str) -> String {
    format!("{}-svc-{service}", prefix(cluster_id))
}

fn volume_name(cluster_id: &str, volume: &str) -> String {
    format!("{}-pv-{volume}", prefix(cluster_id))
}

fn service_tags(cluster_id: &str, service: &str) -> Vec<String> {
    vec![
        "shipyard".into(),
        cluster_tag(cluster_id),
        "shipyard-role=service".into(),
        format!("shipyard-service={service}"),
    ]
}

fn text(spec: &Value, key: &str) -> Result<String> {
    spec[key]
        .as_str()
        .map(String::from)
        .ok_or_else(|| Error::internal(format!("workload operation without {key}")))
}

/// One step of a workload operation.
enum Res {
    Lb,
    Listener {
        port: u16,
    },
    Pool {
        port: u16,
    },
    Monitor {
        port: u16,
    },
    Member {
        port: u16,
        node_port: u16,
        name: String,
        address: String,
    },
    ServiceGone,
    Volume,
    VolumeGone,
}

struct WorkloadStep {
    res: Res,
    cluster_id: String,
    /// The service's or volume's name.
    name: String,
    volume: Option<VolumeRequest>,
    cloud: Arc<dyn Cloud>,
    settings: Arc<Settings>,
}

/// The id of what step `key` made.
fn out(cx: &StepContext, key: &str) -> std::result::Result<String, StepError> {
    Ok(cx.output_as::<Made>(key)?.id)
}

impl WorkloadStep {
    fn cloud(&self) -> &dyn Cloud {
        self.cloud.as_ref()
    }

    async fn find_lb(&self) -> std::result::Result<Option<LoadBalancer>, StepError> {
        let name = service_lb_name(&self.cluster_id, &self.name);
        Ok(self
            .cloud()
            .load_balancer_list(&service_tags(&self.cluster_id, &self.name))
            .await?
            .into_iter()
            .find(|l| l.name == name))
    }

    async fn find_volume(&self) -> std::result::Result<Option<Volume>, StepError> {
        let name = volume_name(&self.cluster_id, &self.name);
        Ok(self
            .cloud()
            .volume_list(&cluster_metadata(&self.cluster_id))
            .await?
            .into_iter()
            .find(|v| v.name == name))
    }

    async fn ready(&self, cx: &StepContext) -> std::result::Result<(), StepError> {
        let lb = out(cx, "lb")?;
        self.cloud()
            .wait_load_balancer_active(&lb, &self.settings.wait)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl Step for WorkloadStep {
    async fn run(&self, cx: &StepContext) -> std::result::Result<Value, StepError> {
        let tags = service_tags(&self.cluster_id, &self.name);
        let lb_name = service_lb_name(&self.cluster_id, &self.name);
        match &self.res {
            Res::Lb => {
                let network = self.cloud().network_id(&self.settings.network).await?;
                let lb = self
                    .cloud()
                    .load_balancer_create(&LoadBalancerSpec {
                        name: lb_name,
                        tags,
                        vip_network_id: Some(network),
                        vip_subnet_id: None,
                    })
                    .await?;
                let lb = self
                    .cloud()
                    .wait_load_balancer_active(&lb.id, &self.settings.wait)
                    .await?;
                record(&MadeLoadBalancer {
                    id: lb.id,
                    vip: lb.vip_address,
                })
            }
            Res::Listener { port } => {
                let l = self
                    .cloud()
                    .listener_create(&ListenerSpec {
                        name: format!("{lb_name}-{port}"),
                        load_balancer_id: out(cx, "lb")?,
                        port: *port,
                        tags,
                    })
                    .await?;
                self.ready(cx).await?;
                record(&Made { id: l.id })
            }
            Res::Pool { port } => {
                let p = self
                    .cloud()
                    .pool_create(&PoolSpec {
                        name: format!("{lb_name}-{port}"),
                        listener_id: out(cx, &format!("listener-{port}"))?,
                        tags,
                    })
                    .await?;
                self.ready(cx).await?;
                record(&Made { id: p.id })
            }
            Res::Monitor { port } => {
                let m = self
                    .cloud()
                    .health_monitor_create(&HealthMonitorSpec {
                        name: format!("{lb_name}-{port}"),
                        pool_id: out(cx, &format!("pool-{port}"))?,
                        delay_secs: 5,
                        timeout_secs: 3,
                        max_retries: 3,
                    })
                    .await?;
                self.ready(cx).await?;
                record(&Made { id: m.id })
            }
            Res::Member {
                port,
                node_port,
                name,
                address,
            } => {
                let m = self
                    .cloud()
                    .member_add(
                        &out(cx, &format!("pool-{port}"))?,
                        &MemberSpec {
                            name: name.clone(),
                            address: address.clone(),
                            port: *node_port,
                        },
                    )
                    .await?;
                self.ready(cx).await?;
                record(&Made { id: m.id })
            }
            Res::ServiceGone => {
                let found = self.find_lb().await?;
                if let Some(lb) = &found {
                    self.cloud().load_balancer_delete(&lb.id).await?;
                    if self.find_lb().await?.is_some() {
                        return Err(StepError::retryable(
                            "the load balancer is still being deleted",
                        ));
                    }
                }
                record(&Removed {
                    removed: found.map(|l| l.name),
                })
            }
            Res::Volume => {
                let req = self
                    .volume
                    .as_ref()
                    .ok_or_else(|| StepError::permanent("volume step without a volume"))?;
                let mut metadata = cluster_metadata(&self.cluster_id);
                metadata.insert("shipyard-operation".into(), cx.operation_id.clone());
                metadata.insert("shipyard-role".into(), "persistent-volume".into());
                metadata.insert("shipyard-volume".into(), req.name.clone());
                let v = self
                    .cloud()
                    .volume_create(&VolumeSpec {
                        name: volume_name(&self.cluster_id, &req.name),
                        size_gib: req.size_gib,
                        volume_type: req.volume_type.clone(),
                        metadata,
                    })
                    .await?;
                self.cloud()
                    .wait_volume_available(&v.id, &self.settings.wait)
                    .await?;
                record(&MadeVolume {
                    id: v.id,
                    size_gib: v.size_gib,
                })
            }
            Res::VolumeGone => {
                let found = self.find_volume().await?;
                if let Some(v) = &found {
                    for s in &v.attached_to {
                        self.cloud().volume_detach(s, &v.id).await?;
                    }
                    self.cloud().volume_delete(&v.id).await?;
                    if self.find_volume().await?.is_some() {
                        return Err(StepError::retryable("the volume is still being deleted"));
                    }
                }
                record(&Removed {
                    removed: found.map(|v| v.name),
                })
            }
        }
    }

    async fn undo(
        &self,
        _cx: &StepContext,
        output: Option<&Value>,
    ) -> std::result::Result<(), StepError> {
        match &self.res {
            // Cascade: listeners, pools, monitors and members go with it (undone last).
            Res::Lb => {
                let id = match recorded::<Made>(output) {
                    Some(made) => Some(made.id),
                    None => self.find_lb().await?.map(|l| l.id),
                };
                if let Some(id) = id {
                    self.cloud().load_balancer_delete(&id).await?;
                }
                Ok(())
            }
            Res::Volume => {
                let id = match recorded::<Made>(output) {
                    Some(made) => Some(made.id),
                    None => self.find_volume().await?.map(|v| v.id),
                };
                if let Some(id) = id {
                    self.cloud().volume_delete(&id).await?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl SagaKind for WorkloadSaga {
    fn steps(&self, spec: &Value) -> Result<Vec<StepDef>> {
        let cluster_id = text(spec, "cluster_id")?;
        let step = |res: Res, name: &str, volume: Option<VolumeRequest>| -> Arc<dyn Step> {
            Arc::new(WorkloadStep {
                res,
                cluster_id: cluster_id.clone(),
                name: name.to_string(),
                volume,
                cloud: self.cloud.clone(),
                settings: self.settings.clone(),
            })
        };
        Ok(match self.what {
            Kind::ServiceCreate => {
                let svc: ServiceSpec =
                    serde_json::from_value(spec["spec"].clone()).map_err(Error::internal)?;
                let workers: Vec<(String, String)> = spec["workers"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|w| {
                                Some((
                                    w["name"].as_str()?.to_string(),
                                    w["address"].as_str()?.to_string(),
                                ))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let n = svc.name.as_str();
                let mut steps = vec![StepDef::new("lb", &[], step(Res::Lb, n, None))];
                // Octavia takes one change at a time per load balancer: one chain.
                let mut last = "lb".to_string();
                for p in &svc.ports {
                    let port = p.port;
                    let node_port = p
                        .node_port
                        .ok_or_else(|| Error::internal("node port not picked"))?;
                    let (l, pl, m) = (
                        format!("listener-{port}"),
                        format!("pool-{port}"),
                        format!("monitor-{port}"),
                    );
                    steps.push(StepDef::new(
                        &l,
                        &["lb", &last],
                        step(Res::Listener { port }, n, None),
                    ));
                    steps.push(StepDef::new(
                        &pl,
                        &["lb", &l],
                        step(Res::Pool { port }, n, None),
                    ));
                    steps.push(StepDef::new(
                        &m,
                        &["lb", &pl],
                        step(Res::Monitor { port }, n, None),
                    ));
                    last = m;
                    for (name, address) in &workers {
                        let key = format!("member-{port}-{name}");
                        steps.push(StepDef::new(
                            &key,
                            &["lb", &pl, &last],
                            step(
                                Res::Member {
                                    port,
                                    node_port,
                                    name: name.clone(),
                                    address: address.clone(),
                                },
                                n,
                                None,
                            ),
                        ));
                        last = key;
                    }
                }
                steps
            }
            Kind::ServiceDelete => {
                vec![StepDef::new(
                    "load-balancer",
                    &[],
                    step(Res::ServiceGone, &text(spec, "name")?, None),
                )]
            }
            Kind::VolumeCreate => {
                let req: VolumeRequest =
                    serde_json::from_value(spec["spec"].clone()).map_err(Error::internal)?;
                let name = req.name.clone();
                vec![StepDef::new(
                    "volume",
                    &[],
                    step(Res::Volume, &name, Some(req)),
                )]
            }
            Kind::VolumeDelete => {
                vec![StepDef::new(
                    "volume",
                    &[],
                    step(Res::VolumeGone, &text(spec, "name")?, None),
                )]
            }
        })
    }

    fn unwinds(&self) -> bool {
        matches!(self.what, Kind::ServiceCreate | Kind::VolumeCreate)
    }

    async fn succeeded(&self, op: &OperationRow) -> Result<()> {
        let steps = self.store.op_steps(&op.id).await?;
        let output = |key: &str| {
            steps
                .iter()
                .find(|s| s.step == key)
                .and_then(|s| s.output.clone())
        };
        match self.what {
            Kind::ServiceCreate => {
                let id = text(&op.spec, "service_id")?;
                let vip = recorded::<MadeLoadBalancer>(output("lb").as_ref()).and_then(|l| l.vip);
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
            Kind::VolumeCreate => {
                let id = text(&op.spec, "volume_id")?;
                let vid = recorded::<Made>(output("volume").as_ref()).map(|v| v.id);
                self.store
                    .workload_set(
                        "cluster_volumes",
                        &id,
                        "ACTIVE",
                        None,
                        vid.as_deref().map(|v| ("volume_id", v)),
                    )
                    .await
            }
            Kind::ServiceDelete => {
                self.store
                    .workload_mark_deleted("cluster_services", &text(&op.spec, "service_id")?)
                    .await
            }
            Kind::VolumeDelete => {
                self.store
                    .workload_mark_deleted("cluster_volumes", &text(&op.spec, "volume_id")?)
                    .await
            }
        }
    }

    async fn unwound(&self, op: &OperationRow) -> Result<()> {
        let reason = op.error.as_deref().unwrap_or("unknown error");
        match self.what {
            Kind::ServiceCreate => {
                self.store
                    .workload_set(
                        "cluster_services",
                        &text(&op.spec, "service_id")?,
                        "FAILED",
                        Some(reason),
                        None,
                    )
                    .await
            }
            Kind::VolumeCreate => {
                self.store
                    .workload_set(
                        "cluster_volumes",
                        &text(&op.spec, "volume_id")?,
                        "FAILED",
                        Some(reason),
                        None,
                    )
                    .await
            }
            // A failed delete stops as `failed` (retry carries on): still there.
            Kind::ServiceDelete => {
                self.store
                    .workload_set(
                        "cluster_services",
                        &text(&op.spec, "service_id")?,
                        "DELETING",
                        Some(reason),
                        None,
                    )
                    .await
            }
            Kind::VolumeDelete => {
                self.store
                    .workload_set(
                        "cluster_volumes",
                        &text(&op.spec, "volume_id")?,
                        "DELETING",
                        Some(reason),
                        None,
                    )
                    .await
            }
        }
    }
}
