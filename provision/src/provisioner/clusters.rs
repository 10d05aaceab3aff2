//! Clusters through the door: create and delete (planned or applied), read, issue a
//! kubeconfig, rotate the CA.

use super::{planned, Intent, Outcome, Provisioner};
use crate::authz::{authorize, Action};
use crate::clusters::{self, plan, Cluster, ClusterSpec, ClusterView, Started};
use crate::domain::{Actor, Role};
use crate::ops::OperationRow;
use crate::pki::{Kubeconfig, Rotation};
use crate::Result;
use model::{ClusterId, ProjectId};

impl Provisioner {
    /// A cluster the actor may `action`, with the actor's role ("not found" to anyone
    /// outside its project).
    pub async fn cluster(
        &self,
        actor: &Actor,
        id: &ClusterId,
        action: Action,
    ) -> Result<(Cluster, Role)> {
        clusters::cluster_for(&self.store, actor, id, action).await
    }

    /// A project's clusters.
    pub async fn cluster_list(&self, actor: &Actor, project: &ProjectId) -> Result<Vec<Cluster>> {
        authorize(&self.store, actor, project, Action::View).await?;
        self.store.cluster_list(project).await
    }

    /// The cluster's page: its record and what the cloud holds of it.
    pub async fn cluster_view(&self, actor: &Actor, id: &ClusterId) -> Result<ClusterView> {
        clusters::view(&self.store, self.cloud.as_ref(), actor, id).await
    }

    /// Creates a cluster in `project` (its plan with [`Intent::Plan`]; reading a plan
    /// needs only to see the project).
    pub async fn cluster_create(
        &self,
        actor: &Actor,
        project: &ProjectId,
        mut spec: ClusterSpec,
        intent: Intent,
    ) -> Result<Outcome<Started>> {
        let flavors = self.flavors().await?;
        if intent != Intent::Apply {
            authorize(&self.store, actor, project, Action::View).await?;
            clusters::prepare(&self.store, &mut spec, &flavors).await?;
        }
        let plan =
            plan::create_plan_full(&self.store, project, &spec, &flavors, self.cloud.as_ref());
        let apply = clusters::create(
            &self.store,
            &self.engine,
            actor,
            project,
            spec.clone(),
            &flavors,
        );
        planned(intent, plan, apply).await
    }

    /// Deletes a cluster and everything it has in the cloud (its plan: what the cloud
    /// holds of it now).
    pub async fn cluster_delete(
        &self,
        actor: &Actor,
        id: &ClusterId,
        intent: Intent,
    ) -> Result<Outcome<Started>> {
        let (cluster, _) = self.cluster(actor, id, Action::View).await?;
        let plan = plan::delete_plan(self.cloud.as_ref(), &cluster.id);
        let apply = clusters::delete(
            &self.store,
            &self.engine,
            actor,
            &cluster.project_id,
            &cluster.id,
        );
        planned(intent, plan, apply).await
    }

    /// A fresh kubeconfig for the actor (24 h unless `validity_hours`).
    pub async fn kubeconfig(
        &self,
        actor: &Actor,
        id: &ClusterId,
        validity_hours: Option<u32>,
    ) -> Result<Kubeconfig> {
        clusters::kubeconfig(&self.store, &self.secret_key, actor, id, validity_hours).await
    }

    /// Replaces the cluster's CA and starts rebuilding its servers with it.
    pub async fn rotate_ca(
        &self,
        actor: &Actor,
        id: &ClusterId,
    ) -> Result<(Rotation, OperationRow)> {
        clusters::rotate_ca(&self.store, &self.engine, &self.secret_key, actor, id).await
    }
}
