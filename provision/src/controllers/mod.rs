//! Shipyard's controllers of its clusters, run as clients of each cluster's API (what
//! the OpenStack cloud controller manager, the Cinder CSI provisioner, the
//! cluster-autoscaler and a MachineHealthCheck do on a real cluster): Services of type
//! LoadBalancer get cloud load balancers, claims of a Cinder-backed class get volumes,
//! autoscaled node groups follow their pods ([`autoscale`]), broken workers are
//! replaced ([`repair`]). Each cluster that serves its API has one task: its
//! [`cache`]s follow Services, Nodes, Pods, claims, PersistentVolumes and
//! StorageClasses by watches, and every change wakes a pass that works out what the
//! cloud must do ([`decide`]) and starts it as an ordinary operation (a saga with its
//! steps, resumed after a crash, one at a time per cluster). Nothing is polled; a pass
//! also runs every [`RESYNC`], and soon again while work is waiting; auto-repair reads
//! the cluster's servers from the cloud every 30 s.

pub mod autoscale;
mod autoscaler;
pub mod cache;
pub mod decide;
pub mod repair;
mod repairing;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::storage::v1::StorageClass;
use serde_json::json;
use tokio::sync::Notify;

use crate::cloud::Cloud;
use crate::clusters::workloads::{self, claim_volume, service_lb};
use crate::kube::KubeClient;
use crate::ops::{Engine, NewOperation};
use crate::pki::SecretKey;
use crate::{Error, Result, Store};
pub use autoscaler::Autoscaler;
use cache::Cache;
use decide::{Action, Snapshot};

/// Who the controllers' operations are requested by.
pub const CONTROLLER: &str = "system:cloud-controller";
/// How often a quiet cluster is looked at anyway (the cloud may have drifted).
pub const RESYNC: Duration = Duration::from_secs(300);
/// How soon a pass runs again when it left work waiting (another operation ran).
const RETRY: Duration = Duration::from_secs(3);
/// How long a pass waits for more changes before it runs (a burst is one pass).
const SETTLE: Duration = Duration::from_millis(50);
/// How often the set of clusters is read again.
const CLUSTERS_EVERY: Duration = Duration::from_secs(5);
/// How long Shipyard's certificate for one cluster's watches is used before a new one.
const CLIENT_EVERY: Duration = Duration::from_secs(30 * 60);

/// The controllers of every cluster.
#[derive(Clone)]
pub struct Controllers {
    pub store: Store,
    pub engine: Engine,
    pub cloud: Arc<dyn Cloud>,
    pub key: Arc<SecretKey>,
    /// Auto-repair's timeouts and bounds ([`repair`]).
    pub repair: repair::RepairSettings,
    /// The node group autoscaler ([`autoscale`]), with its settings.
    pub autoscaler: Autoscaler,
}

impl Controllers {
    /// Runs until the returned task is aborted (or the database closes): one task per
    /// cluster serving its API, started and stopped as clusters come and go.
    pub fn install(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut running: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
            loop {
                if self.store.pool().is_closed() {
                    for (_, t) in running.drain() {
                        t.abort();
                    }
                    return;
                }
                match self.store.clusters_serving().await {
                    Ok(clusters) => {
                        let ids: Vec<String> = clusters.into_iter().map(|c| c.id).collect();
                        running.retain(|id, task| {
                            let keep = ids.contains(id) && !task.is_finished();
                            if !keep {
                                task.abort();
                            }
                            keep
                        });
                        for id in ids {
                            if let std::collections::hash_map::Entry::Vacant(slot) =
                                running.entry(id)
                            {
                                let me = self.clone();
                                let cid = slot.key().clone();
                                slot.insert(tokio::spawn(async move { me.cluster(cid).await }));
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "controllers cannot list clusters"),
                }
                tokio::time::sleep(CLUSTERS_EVERY).await;
            }
        })
    }

    /// One cluster's caches and passes, for as long as it serves its API.
    async fn cluster(self, cluster_id: String) {
        let caches = Caches::default();
        let changed = Arc::new(Notify::new());
        let mut tried = Tried::default();
        let mut repairs = repairing::Repairs::default();
        loop {
            let kube = match KubeClient::for_cluster(&self.store, &self.key, &cluster_id).await {
                Ok(k) => Arc::new(k),
                Err(e) => {
                    tracing::debug!(cluster = %cluster_id, error = %e, "no client yet");
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            };
            let mut watches = caches.follow(&kube, &changed);
            let until = tokio::time::Instant::now() + CLIENT_EVERY;
            let mut next = RESYNC;
            loop {
                tokio::select! {
                    _ = changed.notified() => tokio::time::sleep(SETTLE).await,
                    _ = tokio::time::sleep(next) => {}
                    _ = tokio::time::sleep_until(until) => break,
                    // A cache gave up on this client (the API is down, or the CA was
                    // rotated): a new one. Auto-repair goes on meanwhile: a broken
                    // master may be why.
                    _ = watches.join_next() => {
                        self.repair_pass(&cluster_id, caches.nodes.snapshot(), &mut repairs).await;
                        break;
                    }
                }
                next = match caches.snapshot() {
                    Some(snap) => match self.pass(&kube, &cluster_id, &snap, &mut tried).await {
                        Ok(true) => RETRY,
                        Ok(false) => RESYNC,
                        Err(e) => {
                            tracing::warn!(cluster = %cluster_id, error = %e, "controller pass failed");
                            RETRY * 5
                        }
                    },
                    None => RETRY,
                };
                next = next.min(
                    self.repair_pass(&cluster_id, caches.nodes.snapshot(), &mut repairs)
                        .await,
                );
            }
            watches.abort_all();
        }
    }

    /// Does what the cluster's objects ask; `true` when something is left for later.
    async fn pass(
        &self,
        kube: &KubeClient,
        cluster_id: &str,
        snap: &Snapshot,
        tried: &mut Tried,
    ) -> Result<bool> {
        let autoscaling = self.autoscaler.pass(self, kube, cluster_id, snap).await;
        let mut actions = decide::services(cluster_id, snap);
        actions.extend(decide::volumes(cluster_id, snap));
        tried.keep_only(&actions);
        if actions.is_empty() {
            return Ok(autoscaling);
        }
        let cluster = self.store.cluster_by_id(cluster_id).await?;
        if !cluster.status.serves_api() {
            return Ok(true);
        }
        for action in actions {
            // The cleanup finalizer goes on before the load balancer is made.
            if let Action::AddFinalizer(r) = &action {
                kube.add_finalizer(&r.path(), &r.uid, service_lb::CLEANUP_FINALIZER)
                    .await?;
                continue;
            }
            // One operation at a time per cluster: once one runs, the rest wait.
            if self.active(cluster_id).await? {
                return Ok(true);
            }
            // The same change asked again: the last one failed; wait longer each time.
            if !tried.may_start(&action) {
                continue;
            }
            match self.start(&cluster.project_id, &action).await {
                Ok(()) => return Ok(true),
                Err(Error::Conflict(_)) => return Ok(true),
                // Refused (the project's quota, say): the object says why, and the
                // change is tried again later; the others go on.
                Err(e) => warn(kube, &action, &e.to_string()).await,
            }
        }
        Ok(true)
    }

    async fn active(&self, cluster_id: &str) -> Result<bool> {
        Ok(self.store.op_active_for(cluster_id).await?.is_some())
    }

    /// Records the ledger row (with its quota claim) the first time, and starts the
    /// operation.
    async fn start(&self, project_id: &str, action: &Action) -> Result<()> {
        let (kind, cluster_id, spec) = match action {
            Action::EnsureLb(p) => {
                self.service_ledger(project_id, p).await?;
                (service_lb::SERVICE_ENSURE, &p.cluster_id, json!(p))
            }
            Action::RemoveLb(p) => {
                self.store
                    .workload_set("cluster_services", &p.service.uid, "DELETING", None, None)
                    .await?;
                (service_lb::SERVICE_REMOVE, &p.cluster_id, json!(p))
            }
            Action::Provision(p) => {
                self.volume_ledger(project_id, p).await?;
                (claim_volume::VOLUME_ENSURE, &p.cluster_id, json!(p))
            }
            Action::Expand(p) => (claim_volume::VOLUME_EXPAND, &p.cluster_id, json!(p)),
            Action::Reclaim(p) => {
                self.store
                    .workload_set("cluster_volumes", &p.claim_uid, "DELETING", None, None)
                    .await?;
                (claim_volume::VOLUME_REMOVE, &p.cluster_id, json!(p))
            }
            Action::AddFinalizer(_) => return Ok(()),
        };
        self.engine
            .submit(NewOperation {
                project_id: project_id.to_string(),
                kind: kind.into(),
                target_id: cluster_id.clone(),
                requested_by: CONTROLLER.into(),
                spec,
            })
            .await?;
        Ok(())
    }

    async fn service_ledger(&self, project_id: &str, p: &service_lb::EnsureParams) -> Result<()> {
        let ports: Vec<workloads::ServicePort> = p
            .ports
            .iter()
            .map(|l| workloads::ServicePort {
                port: l.port,
                node_port: Some(l.node_port),
            })
            .collect();
        let known = self
            .store
            .services_of(&p.cluster_id)
            .await?
            .into_iter()
            .any(|s| s.id == p.service.uid);
        if known {
            return self.store.service_set_ports(&p.service.uid, &ports).await;
        }
        let row = workloads::Service {
            id: p.service.uid.clone(),
            cluster_id: p.cluster_id.clone(),
            name: workloads::display_name(&p.service.namespace, &p.service.name),
            ports,
            status: "CREATING".into(),
            status_reason: None,
            vip: None,
            created_by: CONTROLLER.into(),
            created_at: crate::now_ms(),
        };
        let one = crate::quotas::Usage {
            load_balancers: 1,
            ..Default::default()
        };
        let flavors = crate::clusters::flavors::of_cloud(self.cloud.as_ref()).await?;
        self.store
            .service_insert_within_quota(project_id, &row, &workloads::claim(&flavors, one))
            .await
    }

    async fn volume_ledger(&self, project_id: &str, p: &claim_volume::EnsureParams) -> Result<()> {
        let known = self
            .store
            .volumes_of(&p.cluster_id)
            .await?
            .into_iter()
            .any(|v| v.id == p.claim.uid);
        if known {
            return Ok(());
        }
        let row = workloads::PersistentVolume {
            id: p.claim.uid.clone(),
            cluster_id: p.cluster_id.clone(),
            name: workloads::display_name(&p.claim.namespace, &p.claim.name),
            size_gib: p.size_gib as i64,
            volume_type: p.volume_type.clone(),
            status: "CREATING".into(),
            status_reason: None,
            volume_id: None,
            created_by: CONTROLLER.into(),
            created_at: crate::now_ms(),
        };
        let size = crate::quotas::Usage {
            volume_gib: p.size_gib as i64,
            ..Default::default()
        };
        let flavors = crate::clusters::flavors::of_cloud(self.cloud.as_ref()).await?;
        self.store
            .volume_insert_within_quota(project_id, &row, &workloads::claim(&flavors, size))
            .await
    }
}

/// When each change was last started, and how often in a row: a change still asked
/// for after its operation finished has failed, and waits 10 s, 20 s, … up to
/// [`RESYNC`] before it is tried again.
#[derive(Default)]
struct Tried(HashMap<String, (u32, tokio::time::Instant)>);

impl Tried {
    /// Forgets the changes no longer asked for: they were done, and the same change
    /// asked again later (a Service retyped back, say) starts at once.
    fn keep_only(&mut self, asked: &[Action]) {
        let asked: std::collections::HashSet<String> =
            asked.iter().map(|a| format!("{a:?}")).collect();
        self.0.retain(|key, _| asked.contains(key));
    }

    fn may_start(&mut self, action: &Action) -> bool {
        let key = format!("{action:?}");
        let now = tokio::time::Instant::now();
        self.0
            .retain(|_, (_, at)| now.duration_since(*at) < RESYNC * 2);
        match self.0.get_mut(&key) {
            Some((n, at)) => {
                let wait = (Duration::from_secs(10) * 2u32.saturating_pow(n.saturating_sub(1)))
                    .min(RESYNC);
                if now.duration_since(*at) < wait {
                    return false;
                }
                *n += 1;
                *at = now;
                true
            }
            None => {
                self.0.insert(key, (1, now));
                true
            }
        }
    }
}

/// Records a Warning Event on the object an action is for, as a controller does
/// (`kubectl describe` shows it); best effort.
async fn warn(kube: &KubeClient, action: &Action, message: &str) {
    let (kind, namespace, name, uid, reason) = match action {
        Action::EnsureLb(p) => (
            "Service",
            &p.service.namespace,
            &p.service.name,
            &p.service.uid,
            "SyncLoadBalancerFailed",
        ),
        Action::Provision(p) => (
            "PersistentVolumeClaim",
            &p.claim.namespace,
            &p.claim.name,
            &p.claim.uid,
            "ProvisioningFailed",
        ),
        _ => return,
    };
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let event = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": format!("{name}.{}", &crate::new_id()[..12]), "namespace": namespace},
        "involvedObject": {"apiVersion": "v1", "kind": kind, "namespace": namespace, "name": name, "uid": uid},
        "reason": reason,
        "message": message,
        "type": "Warning",
        "source": {"component": "shipyard-cloud-controller"},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    });
    let _ = kube
        .create(&format!("/api/v1/namespaces/{namespace}/events"), &event)
        .await;
    tracing::info!(object = %name, reason, message, "controller change refused");
}

/// The collections a cluster's controllers follow.
#[derive(Default)]
struct Caches {
    services: Arc<Cache<Service>>,
    nodes: Arc<Cache<Node>>,
    claims: Arc<Cache<PersistentVolumeClaim>>,
    volumes: Arc<Cache<PersistentVolume>>,
    classes: Arc<Cache<StorageClass>>,
    pods: Arc<Cache<Pod>>,
}

impl Caches {
    fn follow(&self, kube: &Arc<KubeClient>, changed: &Arc<Notify>) -> tokio::task::JoinSet<()> {
        let mut set = tokio::task::JoinSet::new();
        let k = || kube.clone();
        let c = || changed.clone();
        set.spawn(
            self.services
                .clone()
                .follow(k(), "/api/v1/services".into(), c()),
        );
        set.spawn(self.nodes.clone().follow(k(), "/api/v1/nodes".into(), c()));
        set.spawn(
            self.claims
                .clone()
                .follow(k(), "/api/v1/persistentvolumeclaims".into(), c()),
        );
        set.spawn(
            self.volumes
                .clone()
                .follow(k(), "/api/v1/persistentvolumes".into(), c()),
        );
        set.spawn(self.pods.clone().follow(k(), "/api/v1/pods".into(), c()));
        set.spawn(self.classes.clone().follow(
            k(),
            "/apis/storage.k8s.io/v1/storageclasses".into(),
            c(),
        ));
        set
    }

    fn snapshot(&self) -> Option<Snapshot> {
        Some(Snapshot {
            services: self.services.snapshot()?,
            nodes: self.nodes.snapshot()?,
            claims: self.claims.snapshot()?,
            volumes: self.volumes.snapshot()?,
            classes: self.classes.snapshot()?,
            pods: self.pods.snapshot()?,
        })
    }
}
