//! The cluster operations as sagas over the [`Cloud`] driver.
//!
//! Create: a server group (anti-affinity) for the masters, the masters, an etcd volume
//! per master attached to it, the API load balancer (listener 6443 → masters, TCP
//! health monitor) and each node group's workers (boot volumes). Masters, volumes, the
//! load balancer and the workers do not wait for each other.
//!
//! Every resource is named `sy-<first 8 of the cluster id>-…` and carries
//! `shipyard-cluster=<cluster id>` (servers and volumes in metadata, load balancers in
//! tags), so a delete finds everything of the cluster in the cloud whatever the
//! database says, and so does anyone with the cloud's own client.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{json, Value};

use super::ClusterSpec;
use crate::cloud::*;
use crate::ops::{OperationRow, SagaKind, Step, StepContext, StepDef, StepError};
use crate::pki::SecretKey;
use crate::{Error, Result, Store};

pub const CREATE: &str = "cluster.create";
pub const DELETE: &str = "cluster.delete";
pub const SCALE: &str = "nodegroup.scale";
/// Removing workers: not undone (a failure stops as `failed`; a retry carries on).
pub const SHRINK: &str = "nodegroup.shrink";
pub const NODE_GROUP_CREATE: &str = "nodegroup.create";
pub const NODE_GROUP_DELETE: &str = "nodegroup.delete";

/// The metadata key and tag prefix that mark a cluster's resources.
pub const CLUSTER_KEY: &str = "shipyard-cluster";

/// Each master's etcd volume, GiB (what quotas and plans count).
pub const ETCD_GIB: u64 = 10;

/// How clusters are laid out on the cloud.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The network servers and load balancer VIPs go on.
    pub network: String,
    pub etcd_gib: u64,
    pub wait: WaitPolicy,
    /// Seals each cluster CA's private key.
    pub secret_key: Arc<SecretKey>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            network: "private".into(),
            etcd_gib: ETCD_GIB,
            wait: WaitPolicy::default(),
            // Ephemeral: a server passes the key it keeps (see `pki::SecretKey`).
            secret_key: Arc::new(SecretKey::generate()),
        }
    }
}

/// The tag every load balancer of the cluster carries.
pub fn cluster_tag(cluster_id: &str) -> String {
    format!("{CLUSTER_KEY}={cluster_id}")
}

pub fn cluster_metadata(cluster_id: &str) -> Metadata {
    BTreeMap::from([(CLUSTER_KEY.to_string(), cluster_id.to_string())])
}

pub(crate) fn prefix(cluster_id: &str) -> String {
    format!("sy-{}", &cluster_id[..cluster_id.len().min(8)])
}

/// Registers every cluster operation (clusters, node groups, services, volumes) with
/// an engine builder.
pub fn register(
    builder: crate::ops::EngineBuilder,
    store: &Store,
    cloud: Arc<dyn Cloud>,
    settings: Settings,
) -> crate::ops::EngineBuilder {
    kinds(store, cloud, settings)
        .into_iter()
        .fold(builder, |b, (name, kind)| b.kind(name, kind))
}

/// Every cluster operation kind by name (tests wrap them to inject faults).
pub fn kinds(
    store: &Store,
    cloud: Arc<dyn Cloud>,
    settings: Settings,
) -> Vec<(&'static str, Arc<dyn SagaKind>)> {
    let settings = Arc::new(settings);
    let scale = |mode: ScaleMode| -> Arc<dyn SagaKind> {
        Arc::new(ScaleNodeGroup {
            store: store.clone(),
            cloud: cloud.clone(),
            settings: settings.clone(),
            mode,
        })
    };
    let mut kinds: Vec<(&'static str, Arc<dyn SagaKind>)> = vec![
        (
            CREATE,
            Arc::new(CreateCluster {
                store: store.clone(),
                cloud: cloud.clone(),
                settings: settings.clone(),
            }),
        ),
        (
            DELETE,
            Arc::new(DeleteCluster {
                store: store.clone(),
                cloud: cloud.clone(),
            }),
        ),
        (SCALE, scale(ScaleMode::Grow)),
        (SHRINK, scale(ScaleMode::Shrink)),
        (NODE_GROUP_CREATE, scale(ScaleMode::Create)),
        (
            NODE_GROUP_DELETE,
            Arc::new(DeleteNodeGroup {
                store: store.clone(),
                cloud: cloud.clone(),
                settings: settings.clone(),
            }),
        ),
    ];
    kinds.push((
        super::rotate::ROTATE_CA,
        Arc::new(super::rotate::RotateCa {
            store: store.clone(),
            cloud: cloud.clone(),
            settings: settings.clone(),
        }),
    ));
    kinds.extend(super::workloads::kinds(store, cloud, settings));
    kinds
}

/// One resource of a cluster being created.
enum Res {
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

struct Shared {
    store: Store,
    cloud: Arc<dyn Cloud>,
    settings: Arc<Settings>,
    cluster_id: String,
    spec: ClusterSpec,
    /// The image nodes boot from (the version's, when the operation was asked for).
    image: String,
}

struct ClusterStep {
    res: Res,
    shared: Arc<Shared>,
}

fn field<'a>(v: &'a Value, key: &str) -> std::result::Result<&'a str, StepError> {
    v[key]
        .as_str()
        .ok_or_else(|| StepError::permanent(format!("recorded output has no '{key}'")))
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
        if let Res::Worker { group, .. } = &self.res {
            let name = self.shared.spec.node_groups[*group].name.clone();
            metadata.insert("shipyard-node-group".into(), name.clone());
            node_group = Some(name);
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
        Ok(json!({
            "id": server.id,
            "name": server.name,
            "address": server.addresses.first(),
            "host": server.host,
        }))
    }

    /// The API's VIP: from this create's load balancer step, or as the cluster records it.
    async fn vip(&self, cx: &StepContext) -> std::result::Result<String, StepError> {
        if let Some(vip) = cx.outputs.get("api-lb").and_then(|o| o["vip"].as_str()) {
            return Ok(vip.to_string());
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
        if let Some(id) = output.and_then(|o| o["id"].as_str()) {
            return Ok(Some(id.to_string()));
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
                Ok(json!({ "generation": ca.generation, "common_name": ca.common_name }))
            }
            Res::Group => {
                let g = self
                    .cloud()
                    .server_group_create(&self.name(), GroupPolicy::AntiAffinity)
                    .await?;
                Ok(json!({ "id": g.id }))
            }
            Res::Master(_) => {
                let group = field(cx.output("server-group")?, "id")?.to_string();
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
                        size_gib: self.shared.settings.etcd_gib,
                        volume_type: None,
                        metadata: self.metadata(cx, "etcd"),
                    })
                    .await?;
                self.cloud()
                    .wait_volume_available(&v.id, self.wait())
                    .await?;
                Ok(json!({ "id": v.id, "size_gib": v.size_gib }))
            }
            Res::Attach(i) => {
                let server = field(cx.output(&format!("master-{i}"))?, "id")?;
                let volume = field(cx.output(&format!("etcd-{i}"))?, "id")?;
                let current = self.cloud().volume_get(volume).await?;
                if !current.attached_to.iter().any(|s| s == server) {
                    self.cloud().volume_attach(server, volume).await?;
                }
                Ok(json!({ "server": server, "volume": volume }))
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
                Ok(json!({ "id": lb.id, "vip": lb.vip_address }))
            }
            Res::Listener => {
                let lb = field(cx.output("api-lb")?, "id")?;
                let l = self
                    .cloud()
                    .listener_create(&ListenerSpec {
                        name: self.name(),
                        load_balancer_id: lb.to_string(),
                        port: 6443,
                        tags: self.tags(),
                    })
                    .await?;
                self.lb_ready(lb).await?;
                Ok(json!({ "id": l.id }))
            }
            Res::Pool => {
                let lb = field(cx.output("api-lb")?, "id")?;
                let listener = field(cx.output("api-listener")?, "id")?;
                let p = self
                    .cloud()
                    .pool_create(&PoolSpec {
                        name: self.name(),
                        listener_id: listener.to_string(),
                        tags: self.tags(),
                    })
                    .await?;
                self.lb_ready(lb).await?;
                Ok(json!({ "id": p.id }))
            }
            Res::Monitor => {
                let lb = field(cx.output("api-lb")?, "id")?;
                let pool = field(cx.output("api-pool")?, "id")?;
                let m = self
                    .cloud()
                    .health_monitor_create(&HealthMonitorSpec {
                        name: self.name(),
                        pool_id: pool.to_string(),
                        delay_secs: 5,
                        timeout_secs: 3,
                        max_retries: 3,
                    })
                    .await?;
                self.lb_ready(lb).await?;
                Ok(json!({ "id": m.id }))
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
                Ok(json!({ "bindings": super::access::BINDINGS.len() }))
            }
            Res::Member(i) => {
                let lb = field(cx.output("api-lb")?, "id")?;
                let pool = field(cx.output("api-pool")?, "id")?;
                let address = field(cx.output(&format!("master-{i}"))?, "address")?;
                let m = self
                    .cloud()
                    .member_add(
                        pool,
                        &MemberSpec {
                            name: self.name(),
                            address: address.to_string(),
                            port: 6443,
                        },
                    )
                    .await?;
                self.lb_ready(lb).await?;
                Ok(json!({ "id": m.id }))
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
                let id = match output.and_then(|o| o["id"].as_str()) {
                    Some(id) => Some(id.to_string()),
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
                let id = match output.and_then(|o| o["id"].as_str()) {
                    Some(id) => Some(id.to_string()),
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
                let server = cx
                    .outputs
                    .get(&format!("master-{i}"))
                    .and_then(|o| o["id"].as_str());
                let volume = cx
                    .outputs
                    .get(&format!("etcd-{i}"))
                    .and_then(|o| o["id"].as_str());
                if let (Some(s), Some(v)) = (server, volume) {
                    self.cloud().volume_detach(s, v).await?;
                }
                Ok(())
            }
            Res::Lb => {
                let id = match output.and_then(|o| o["id"].as_str()) {
                    Some(id) => Some(id.to_string()),
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

fn image_in(spec: &Value) -> Result<String> {
    spec["image"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| Error::internal("cluster operation without an image"))
}

fn parse_create(spec: &Value) -> Result<(String, ClusterSpec)> {
    let id = spec["cluster_id"]
        .as_str()
        .ok_or_else(|| Error::internal("cluster operation without cluster_id"))?
        .to_string();
    let cluster: ClusterSpec =
        serde_json::from_value(spec["spec"].clone()).map_err(Error::internal)?;
    Ok((id, cluster))
}

struct CreateCluster {
    store: Store,
    cloud: Arc<dyn Cloud>,
    settings: Arc<Settings>,
}

#[async_trait]
impl SagaKind for CreateCluster {
    fn steps(&self, spec: &Value) -> Result<Vec<StepDef>> {
        let (cluster_id, cluster) = parse_create(spec)?;
        let shared = Arc::new(Shared {
            store: self.store.clone(),
            cloud: self.cloud.clone(),
            settings: self.settings.clone(),
            cluster_id,
            spec: cluster,
            image: image_in(spec)?,
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
            .and_then(|o| o["vip"].as_str().map(String::from));
        if let Some(vip) = vip {
            self.store
                .cluster_set_api_address(&op.target_id, &format!("{vip}:6443"))
                .await?;
        }
        self.store
            .cluster_set_status(&op.target_id, "ACTIVE", None)
            .await
    }

    async fn unwound(&self, op: &OperationRow) -> Result<()> {
        self.store
            .cluster_set_status(&op.target_id, "FAILED", op.error.as_deref())
            .await
    }
}

/// Removes everything that carries the cluster's mark, whatever the database says.
struct DeleteCluster {
    store: Store,
    cloud: Arc<dyn Cloud>,
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
        Ok(json!({ "removed": removed }))
    }

    /// A delete is not undone (its failure stops as `failed`, and a retry carries on).
    async fn undo(
        &self,
        _cx: &StepContext,
        _output: Option<&Value>,
    ) -> std::result::Result<(), StepError> {
        Ok(())
    }
}

#[async_trait]
impl SagaKind for DeleteCluster {
    fn steps(&self, spec: &Value) -> Result<Vec<StepDef>> {
        let cluster_id = spec["cluster_id"]
            .as_str()
            .ok_or_else(|| Error::internal("cluster operation without cluster_id"))?
            .to_string();
        let step = |what: Sweep| -> Arc<dyn Step> {
            Arc::new(SweepStep {
                what,
                cluster_id: cluster_id.clone(),
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
            .cluster_set_status(&op.target_id, "DELETING", op.error.as_deref())
            .await
    }
}

/// Scale a node group: add workers (new, higher indices) or remove the named ones. An
/// add that fails unwinds (the new workers go); a removal is not undone.
struct ScaleNodeGroup {
    store: Store,
    cloud: Arc<dyn Cloud>,
    settings: Arc<Settings>,
    mode: ScaleMode,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ScaleMode {
    Grow,
    Shrink,
    /// A new node group: its row goes when the create unwinds.
    Create,
}

/// Removes one worker by name (gone already counts as removed).
struct RemoveWorker {
    name: String,
    cluster_id: String,
    cloud: Arc<dyn Cloud>,
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
        Ok(json!({ "removed": self.name, "was_there": found.is_some() }))
    }

    async fn undo(
        &self,
        _cx: &StepContext,
        _output: Option<&Value>,
    ) -> std::result::Result<(), StepError> {
        Ok(())
    }
}

#[async_trait]
impl SagaKind for ScaleNodeGroup {
    fn unwinds(&self) -> bool {
        self.mode != ScaleMode::Shrink
    }

    fn steps(&self, spec: &Value) -> Result<Vec<StepDef>> {
        let (cluster_id, cluster) = parse_create(spec)?;
        let add: Vec<u32> = serde_json::from_value(spec["add"].clone()).map_err(Error::internal)?;
        let remove: Vec<String> =
            serde_json::from_value(spec["remove"].clone()).map_err(Error::internal)?;
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
            cluster_id: cluster_id.clone(),
            spec: cluster,
            image: image_in(spec)?,
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
                    cluster_id: cluster_id.clone(),
                    cloud: self.cloud.clone(),
                }),
            ));
        }
        Ok(with_member_sync(
            steps,
            &cluster_id,
            &self.store,
            &self.cloud,
            &self.settings,
        ))
    }

    async fn succeeded(&self, op: &OperationRow) -> Result<()> {
        let ng = op.spec["node_group_id"].as_str().unwrap_or_default();
        let target = op.spec["target"].as_i64().unwrap_or(0);
        self.store.node_group_set_count(ng, target).await?;
        self.store
            .cluster_set_status(&op.target_id, "ACTIVE", None)
            .await
    }

    async fn unwound(&self, op: &OperationRow) -> Result<()> {
        let error = op.error.as_deref().unwrap_or("unknown error");
        let reason = match self.mode {
            ScaleMode::Create => {
                let ng = op.spec["node_group_id"].as_str().unwrap_or_default();
                self.store.node_group_remove(ng).await?;
                format!("Adding a node group failed and was undone: {error}")
            }
            ScaleMode::Grow => {
                let ng = op.spec["node_group_id"].as_str().unwrap_or_default();
                self.store.node_group_set_claim(ng, None).await?;
                format!("Scaling failed and was undone: {error}")
            }
            ScaleMode::Shrink => format!("Removing nodes failed (retry carries on): {error}"),
        };
        self.store
            .cluster_set_status(&op.target_id, "ACTIVE", Some(&reason))
            .await
    }
}

/// Delete a node group: its workers one by one, then a sweep for any the group still
/// has (by the `shipyard-node-group` mark), then the row. Not undone: a failure stops
/// as `failed` and a retry carries on.
struct DeleteNodeGroup {
    store: Store,
    cloud: Arc<dyn Cloud>,
    settings: Arc<Settings>,
}

/// `steps`, then one that makes the service load balancers follow the workers.
fn with_member_sync(
    mut steps: Vec<StepDef>,
    cluster_id: &str,
    store: &Store,
    cloud: &Arc<dyn Cloud>,
    settings: &Arc<Settings>,
) -> Vec<StepDef> {
    let keys: Vec<String> = steps.iter().map(|s| s.key.clone()).collect();
    let after: Vec<&str> = keys.iter().map(String::as_str).collect();
    steps.push(StepDef::new(
        "service-members",
        &after,
        Arc::new(super::workloads::SyncServiceMembers {
            cluster_id: cluster_id.to_string(),
            store: store.clone(),
            cloud: cloud.clone(),
            settings: settings.clone(),
        }),
    ));
    steps
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
        Ok(json!({ "removed": left.iter().map(|s| &s.name).collect::<Vec<_>>() }))
    }

    async fn undo(
        &self,
        _cx: &StepContext,
        _output: Option<&Value>,
    ) -> std::result::Result<(), StepError> {
        Ok(())
    }
}

#[async_trait]
impl SagaKind for DeleteNodeGroup {
    fn steps(&self, spec: &Value) -> Result<Vec<StepDef>> {
        let cluster_id = spec["cluster_id"]
            .as_str()
            .ok_or_else(|| Error::internal("node group operation without cluster_id"))?
            .to_string();
        let group = spec["node_group"]
            .as_str()
            .ok_or_else(|| Error::internal("node group operation without node_group"))?
            .to_string();
        let remove: Vec<String> =
            serde_json::from_value(spec["remove"].clone()).map_err(Error::internal)?;
        let mut steps = Vec::new();
        let mut keys = Vec::new();
        for name in remove {
            let key = format!("remove-{name}");
            steps.push(StepDef::new(
                &key,
                &[],
                Arc::new(RemoveWorker {
                    name,
                    cluster_id: cluster_id.clone(),
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
                cluster_id: cluster_id.clone(),
                cloud: self.cloud.clone(),
            }),
        ));
        Ok(with_member_sync(
            steps,
            &cluster_id,
            &self.store,
            &self.cloud,
            &self.settings,
        ))
    }

    fn unwinds(&self) -> bool {
        false
    }

    async fn succeeded(&self, op: &OperationRow) -> Result<()> {
        let ng = op.spec["node_group_id"].as_str().unwrap_or_default();
        self.store.node_group_remove(ng).await?;
        self.store
            .cluster_set_status(&op.target_id, "ACTIVE", None)
            .await
    }

    async fn unwound(&self, op: &OperationRow) -> Result<()> {
        let reason = format!(
            "Deleting a node group failed (retry carries on): {}",
            op.error.as_deref().unwrap_or("unknown error")
        );
        self.store
            .cluster_set_status(&op.target_id, "ACTIVE", Some(&reason))
            .await
    }
}
