//! Access to a cluster follows Shipyard membership. A kubeconfig names its user
//! (CN = email) and grants nothing by itself: Shipyard keeps three ClusterRoleBindings in
//! each cluster — `shipyard:owners` → `cluster-admin`, `shipyard:members` → `edit`,
//! `shipyard:viewers` → `view` — whose subjects are the project's members by role
//! (disabled users left out). They are written when a cluster's create finishes, again
//! at once whenever the project's members change ([`Store::access_changed`] runs
//! [`ClusterAccess::sync_projects`]), and every minute for clusters whose API was
//! unreachable then. A removed member's next request is refused by the cluster.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::domain::Role;
use crate::kube::KubeClient;
use crate::pki::SecretKey;
use crate::{Result, Store};

/// The bindings Shipyard owns, by project role.
pub const BINDINGS: [(Role, &str, &str); 3] = [
    (Role::Owner, "shipyard:owners", "cluster-admin"),
    (Role::Member, "shipyard:members", "edit"),
    (Role::Viewer, "shipyard:viewers", "view"),
];

const BINDINGS_PATH: &str = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings";
/// How long a membership change waits for one cluster's bindings.
const SYNC_WAIT: Duration = Duration::from_secs(5);
/// How often every cluster's bindings are written again.
pub const RESYNC: Duration = Duration::from_secs(60);

/// The bindings for a project's members (emails by role).
pub fn bindings(members: &[(String, Role)]) -> Vec<Value> {
    BINDINGS
        .iter()
        .map(|(role, name, cluster_role)| {
            let subjects: Vec<Value> = members
                .iter()
                .filter(|(_, r)| r == role)
                .map(|(email, _)| {
                    json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": email})
                })
                .collect();
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {
                    "name": name,
                    "labels": {"app.kubernetes.io/managed-by": "shipyard"},
                    "annotations": {"shipyard.io/project-role": role.as_str()},
                },
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role},
                "subjects": subjects,
            })
        })
        .collect()
}

const CLASSES_PATH: &str = "/apis/storage.k8s.io/v1/storageclasses";

/// The StorageClass every cluster starts with: Cinder volumes, made as soon as a claim
/// asks (`Immediate`: a claim is Bound before any pod uses it, so `kubectl get pvc`
/// shows the volume at once), deleted with their claim, and growable.
pub fn default_storage_class() -> Value {
    json!({
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": "standard",
            "labels": {"app.kubernetes.io/managed-by": "shipyard"},
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": super::workloads::claim_volume::PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
        "allowVolumeExpansion": true,
    })
}

/// Writes clusters' bindings from the database.
#[derive(Clone)]
pub struct ClusterAccess {
    store: Store,
    key: Arc<SecretKey>,
}

impl ClusterAccess {
    pub fn new(store: Store, key: Arc<SecretKey>) -> ClusterAccess {
        ClusterAccess { store, key }
    }

    /// The members who may use the project's clusters, by email and role.
    async fn members(&self, project_id: &str) -> Result<Vec<(String, Role)>> {
        let disabled = self.store.disabled_members(project_id).await?;
        Ok(self
            .store
            .member_list(project_id)
            .await?
            .into_iter()
            .filter(|m| !disabled.contains(&m.user_id))
            .map(|m| (m.email, m.role))
            .collect())
    }

    /// Writes one cluster's bindings through its API.
    pub async fn sync_cluster(
        &self,
        cluster_id: &str,
        project_id: &str,
        api_address: &str,
    ) -> Result<()> {
        let members = self.members(project_id).await?;
        let client = KubeClient::connect(&self.store, &self.key, cluster_id, api_address).await?;
        for binding in bindings(&members) {
            let name = binding["metadata"]["name"].as_str().unwrap_or_default();
            client.replace(BINDINGS_PATH, name, &binding).await?;
        }
        // The managed service's default class; made once, then the cluster's own.
        match client.create(CLASSES_PATH, &default_storage_class()).await {
            Ok(_) | Err(crate::kube::KubeError::Status(409, _)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Waits until the cluster's API answers (up to `deadline`), then writes its
    /// bindings: the last step of a create.
    pub async fn sync_when_ready(
        &self,
        cluster_id: &str,
        project_id: &str,
        api_address: &str,
        deadline: Duration,
    ) -> std::result::Result<(), String> {
        let end = tokio::time::Instant::now() + deadline;
        let mut wait = Duration::from_millis(100);
        loop {
            match self.sync_cluster(cluster_id, project_id, api_address).await {
                Ok(()) => return Ok(()),
                Err(e) if tokio::time::Instant::now() + wait > end => return Err(e.to_string()),
                Err(_) => {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Writes the bindings of every reachable cluster of these projects. A cluster whose
    /// API does not answer is left to the next resync (and logged).
    pub async fn sync_projects(&self, project_ids: &[String]) {
        for project in project_ids {
            let clusters = match self.store.cluster_list(project).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(project, error = %e, "cannot list clusters to sync access");
                    continue;
                }
            };
            for c in clusters {
                let Some(api) = c.api_address.as_deref() else {
                    continue;
                };
                if !c.status.serves_api() {
                    continue;
                }
                // A cluster that does not answer holds up the change by this much at most.
                match tokio::time::timeout(SYNC_WAIT, self.sync_cluster(&c.id, project, api)).await
                {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(cluster = %c.id, error = %e, "cluster access not synced; retried at the next resync")
                    }
                    Err(_) => {
                        tracing::warn!(cluster = %c.id, "cluster access not synced in time; retried at the next resync")
                    }
                }
            }
        }
    }

    /// Every project's clusters, now.
    pub async fn sync_all(&self) {
        match self.store.project_ids().await {
            Ok(ids) => self.sync_projects(&ids).await,
            Err(e) => tracing::warn!(error = %e, "cannot list projects to sync access"),
        }
    }

    /// Makes [`Store::access_changed`] sync at once, and resyncs every [`RESYNC`].
    pub fn install(self) -> tokio::task::JoinHandle<()> {
        let hook = self.clone();
        self.store
            .set_access_hook(Arc::new(move |projects: Vec<String>| {
                let hook = hook.clone();
                Box::pin(async move { hook.sync_projects(&projects).await })
            }));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RESYNC).await;
                if self.store.pool().is_closed() {
                    return;
                }
                self.sync_all().await;
            }
        })
    }
}
