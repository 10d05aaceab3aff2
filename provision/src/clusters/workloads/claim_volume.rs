//! The cloud side of a PersistentVolumeClaim, as the Cinder CSI driver's external
//! provisioner makes it: a block volume named `pvc-<claim uid>` with the claim's
//! metadata, and a PersistentVolume of the same name bound to the claim (the cluster's
//! binder finishes the binding). Three operations: `volume.ensure` (provision),
//! `volume.expand` (grow the volume and the PV) and `volume.remove` (reclaim: the
//! volume, once detached, then the PV).

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::super::outputs::{MadeVolume, Removed};
use super::super::saga_shared::{cluster_metadata, Settings};
use crate::cloud::*;
use crate::kube::KubeClient;
use crate::ops::{record, OperationRow, SagaKind, Step, StepContext, StepDef, StepError};
use crate::{Error, Result, Store};

pub const VOLUME_ENSURE: &str = "volume.ensure";
pub const VOLUME_EXPAND: &str = "volume.expand";
pub const VOLUME_REMOVE: &str = "volume.remove";

/// The provisioner name StorageClasses name (Cinder CSI's).
pub const PROVISIONER: &str = "cinder.csi.openstack.org";
/// The finalizer that keeps a provisioned PV until its volume is gone.
pub const PV_FINALIZER: &str = "external-provisioner.volume.kubernetes.io/finalizer";

/// Which claim, by namespace, name and uid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRef {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl ClaimRef {
    /// The volume's and the PV's name.
    pub fn volume_name(&self) -> String {
        format!("pvc-{}", self.uid)
    }

    fn path(&self) -> String {
        format!(
            "/api/v1/namespaces/{}/persistentvolumeclaims/{}",
            self.namespace, self.name
        )
    }
}

/// What `volume.ensure` provisions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnsureParams {
    pub cluster_id: String,
    pub claim: ClaimRef,
    pub size_gib: u64,
    pub volume_type: Option<String>,
    pub storage_class: String,
    pub access_modes: Vec<String>,
    pub reclaim_policy: String,
}

/// What `volume.expand` grows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpandParams {
    pub cluster_id: String,
    pub claim: ClaimRef,
    pub size_gib: u64,
}

/// What `volume.remove` reclaims: the PV `pv` and its volume.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveParams {
    pub cluster_id: String,
    pub pv: String,
    /// The claim it was made for (the ledger row's id).
    pub claim_uid: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum What {
    Ensure,
    Expand,
    Remove,
}

/// The volume operations by name.
pub fn kinds(
    store: &Store,
    cloud: Arc<dyn Cloud>,
    settings: Arc<Settings>,
) -> Vec<(&'static str, Arc<dyn SagaKind>)> {
    let saga = |what: What| -> Arc<dyn SagaKind> {
        Arc::new(VolumeSaga {
            what,
            s: Shared {
                store: store.clone(),
                cloud: cloud.clone(),
                settings: settings.clone(),
            },
        })
    };
    vec![
        (VOLUME_ENSURE, saga(What::Ensure)),
        (VOLUME_EXPAND, saga(What::Expand)),
        (VOLUME_REMOVE, saga(What::Remove)),
    ]
}

struct VolumeSaga {
    what: What,
    s: Shared,
}

#[derive(Clone)]
struct Shared {
    store: Store,
    cloud: Arc<dyn Cloud>,
    settings: Arc<Settings>,
}

impl Shared {
    async fn find(
        &self,
        cluster_id: &str,
        name: &str,
    ) -> std::result::Result<Option<Volume>, StepError> {
        Ok(self
            .cloud
            .volume_list(&cluster_metadata(cluster_id))
            .await?
            .into_iter()
            .find(|v| v.name == name))
    }

    async fn kube(&self, cluster_id: &str) -> std::result::Result<KubeClient, StepError> {
        super::kube_for(&self.store, &self.settings, cluster_id).await
    }
}

fn parse<T: for<'de> Deserialize<'de>>(spec: &Value) -> Result<Arc<T>> {
    Ok(Arc::new(
        serde_json::from_value(spec.clone()).map_err(Error::internal)?,
    ))
}

#[async_trait]
impl SagaKind for VolumeSaga {
    fn steps(&self, spec: &Value) -> Result<Vec<StepDef>> {
        let s = self.s.clone();
        Ok(match self.what {
            What::Ensure => {
                let p: Arc<EnsureParams> = parse(spec)?;
                vec![
                    StepDef::new(
                        "volume",
                        &[],
                        Arc::new(MakeVolume {
                            p: p.clone(),
                            s: s.clone(),
                        }),
                    ),
                    StepDef::new("persistent-volume", &["volume"], Arc::new(MakePv { p, s })),
                ]
            }
            What::Expand => {
                let p: Arc<ExpandParams> = parse(spec)?;
                vec![
                    StepDef::new(
                        "volume",
                        &[],
                        Arc::new(Grow {
                            p: p.clone(),
                            s: s.clone(),
                        }),
                    ),
                    StepDef::new("persistent-volume", &["volume"], Arc::new(GrowPv { p, s })),
                ]
            }
            What::Remove => {
                let p: Arc<RemoveParams> = parse(spec)?;
                vec![
                    StepDef::new(
                        "volume",
                        &[],
                        Arc::new(Reclaim {
                            p: p.clone(),
                            s: s.clone(),
                        }),
                    ),
                    StepDef::new("persistent-volume", &["volume"], Arc::new(DropPv { p, s })),
                ]
            }
        })
    }

    /// A failed operation stops as failed and the controller tries again later; the
    /// volume it made is found by name then (and swept by the cluster's delete).
    fn unwinds(&self) -> bool {
        false
    }

    async fn succeeded(&self, op: &OperationRow) -> Result<()> {
        let store = &self.s.store;
        match self.what {
            What::Ensure => {
                let p: Arc<EnsureParams> = parse(&op.spec)?;
                let steps = store.op_steps(&op.id).await?;
                let id = steps
                    .iter()
                    .find(|s| s.step == "volume")
                    .and_then(|s| crate::ops::recorded::<MadeVolume>(s.output.as_ref()))
                    .map(|v| v.id);
                store
                    .workload_set(
                        "cluster_volumes",
                        &p.claim.uid,
                        "ACTIVE",
                        None,
                        id.as_deref().map(|v| ("volume_id", v)),
                    )
                    .await
            }
            What::Expand => {
                let p: Arc<ExpandParams> = parse(&op.spec)?;
                store.volume_set_size(&p.claim.uid, p.size_gib as i64).await
            }
            What::Remove => {
                let p: Arc<RemoveParams> = parse(&op.spec)?;
                store
                    .workload_mark_deleted("cluster_volumes", &p.claim_uid)
                    .await
            }
        }
    }

    async fn unwound(&self, op: &OperationRow) -> Result<()> {
        let reason = op.error.as_deref().unwrap_or("unknown error");
        let (id, status) = match self.what {
            What::Ensure => (parse::<EnsureParams>(&op.spec)?.claim.uid.clone(), "FAILED"),
            What::Expand => (parse::<ExpandParams>(&op.spec)?.claim.uid.clone(), "ACTIVE"),
            What::Remove => (
                parse::<RemoveParams>(&op.spec)?.claim_uid.clone(),
                "DELETING",
            ),
        };
        self.s
            .store
            .workload_set("cluster_volumes", &id, status, Some(reason), None)
            .await
    }
}

struct MakeVolume {
    p: Arc<EnsureParams>,
    s: Shared,
}

#[async_trait]
impl Step for MakeVolume {
    async fn run(&self, cx: &StepContext) -> std::result::Result<Value, StepError> {
        let (p, claim) = (&self.p, &self.p.claim);
        let name = claim.volume_name();
        let v = match self.s.find(&p.cluster_id, &name).await? {
            Some(v) => v,
            None => {
                let mut metadata = cluster_metadata(&p.cluster_id);
                metadata.insert("shipyard-operation".into(), cx.operation_id.clone());
                metadata.insert("shipyard-role".into(), "persistent-volume".into());
                metadata.insert(
                    "cinder.csi.openstack.org/cluster".into(),
                    p.cluster_id.clone(),
                );
                metadata.insert("csi.storage.k8s.io/pvc/name".into(), claim.name.clone());
                metadata.insert(
                    "csi.storage.k8s.io/pvc/namespace".into(),
                    claim.namespace.clone(),
                );
                metadata.insert("csi.storage.k8s.io/pv/name".into(), name.clone());
                self.s
                    .cloud
                    .volume_create(&VolumeSpec {
                        name,
                        size_gib: p.size_gib,
                        volume_type: p.volume_type.clone(),
                        metadata,
                    })
                    .await?
            }
        };
        let v = self
            .s
            .cloud
            .wait_volume_available(&v.id, &self.s.settings.wait)
            .await?;
        record(&MadeVolume {
            id: v.id,
            size_gib: v.size_gib,
        })
    }
}

/// What a PV step wrote.
#[derive(Serialize, Deserialize)]
struct WrotePv {
    name: String,
}

struct MakePv {
    p: Arc<EnsureParams>,
    s: Shared,
}

#[async_trait]
impl Step for MakePv {
    async fn run(&self, cx: &StepContext) -> std::result::Result<Value, StepError> {
        let volume = cx.output_as::<MadeVolume>("volume")?;
        let (p, claim) = (&self.p, &self.p.claim);
        let name = claim.volume_name();
        let pv = json!({
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {
                "name": name,
                "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER},
                "finalizers": [PV_FINALIZER],
            },
            "spec": {
                "capacity": {"storage": format!("{}Gi", volume.size_gib)},
                "accessModes": p.access_modes,
                "persistentVolumeReclaimPolicy": p.reclaim_policy,
                "storageClassName": p.storage_class,
                "volumeMode": "Filesystem",
                "claimRef": {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "namespace": claim.namespace,
                    "name": claim.name,
                    "uid": claim.uid,
                },
                "csi": {"driver": PROVISIONER, "volumeHandle": volume.id, "fsType": "ext4"},
            },
        });
        let kube = self.s.kube(&p.cluster_id).await?;
        match kube.create("/api/v1/persistentvolumes", &pv).await {
            Ok(_) | Err(crate::kube::KubeError::Status(409, _)) => {}
            Err(e) => return Err(e.into()),
        }
        record(&WrotePv { name })
    }
}

struct Grow {
    p: Arc<ExpandParams>,
    s: Shared,
}

#[async_trait]
impl Step for Grow {
    async fn run(&self, _cx: &StepContext) -> std::result::Result<Value, StepError> {
        let name = self.p.claim.volume_name();
        let Some(v) = self.s.find(&self.p.cluster_id, &name).await? else {
            return Err(StepError::permanent(format!(
                "the volume {name} is not there"
            )));
        };
        if v.size_gib < self.p.size_gib {
            self.s.cloud.volume_extend(&v.id, self.p.size_gib).await?;
        }
        record(&MadeVolume {
            id: v.id,
            size_gib: self.p.size_gib.max(v.size_gib),
        })
    }
}

struct GrowPv {
    p: Arc<ExpandParams>,
    s: Shared,
}

#[async_trait]
impl Step for GrowPv {
    /// The PV's capacity, then the claim's status: the claim shows the new size.
    async fn run(&self, cx: &StepContext) -> std::result::Result<Value, StepError> {
        let size = format!("{}Gi", cx.output_as::<MadeVolume>("volume")?.size_gib);
        let kube = self.s.kube(&self.p.cluster_id).await?;
        let name = self.p.claim.volume_name();
        kube.merge_patch(
            &format!("/api/v1/persistentvolumes/{name}"),
            &json!({"spec": {"capacity": {"storage": size}}}),
        )
        .await?;
        match kube
            .merge_patch(
                &format!("{}/status", self.p.claim.path()),
                &json!({"status": {"capacity": {"storage": size}}}),
            )
            .await
        {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        record(&WrotePv { name })
    }
}

struct Reclaim {
    p: Arc<RemoveParams>,
    s: Shared,
}

#[async_trait]
impl Step for Reclaim {
    /// Deletes the volume once nothing has it attached (until then it tries again).
    async fn run(&self, _cx: &StepContext) -> std::result::Result<Value, StepError> {
        let found = self.s.find(&self.p.cluster_id, &self.p.pv).await?;
        if let Some(v) = &found {
            if let Some(server) = v.attached_to.first() {
                return Err(StepError::retryable(format!(
                    "the volume {} is still attached to server {server}",
                    v.name
                )));
            }
            self.s.cloud.volume_delete(&v.id).await?;
            if self.s.find(&self.p.cluster_id, &self.p.pv).await?.is_some() {
                return Err(StepError::retryable("the volume is still being deleted"));
            }
        }
        record(&Removed {
            removed: found.map(|v| v.name),
        })
    }
}

struct DropPv {
    p: Arc<RemoveParams>,
    s: Shared,
}

#[async_trait]
impl Step for DropPv {
    /// The PV loses the provisioner's finalizer and goes.
    async fn run(&self, _cx: &StepContext) -> std::result::Result<Value, StepError> {
        let kube = self.s.kube(&self.p.cluster_id).await?;
        let path = format!("/api/v1/persistentvolumes/{}", self.p.pv);
        let pv = match kube.get::<Value>(&path).await {
            Ok(pv) => pv,
            Err(e) if e.is_not_found() => {
                return record(&Removed::<Option<String>> { removed: None })
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(meta) = crate::kube::without_finalizer(&pv, PV_FINALIZER) {
            match kube.merge_patch(&path, &json!({ "metadata": meta })).await {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
        kube.delete(&path).await?;
        record(&Removed {
            removed: Some(self.p.pv.clone()),
        })
    }
}
