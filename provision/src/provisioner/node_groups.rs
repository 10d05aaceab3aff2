//! Node groups through the door: add, scale and delete, planned or applied; autoscaling
//! on or off.

use super::{planned, Intent, Outcome, Provisioner};
use crate::clusters::{self, Autoscaling, NodeGroup, NodeGroupChange, NodeGroupSpec};
use crate::domain::Actor;
use crate::ops::OperationRow;
use crate::Result;
use model::{ClusterId, NodeGroupId};

impl Provisioner {
    /// Adds a node group to an ACTIVE cluster.
    pub async fn node_group_create(
        &self,
        actor: &Actor,
        cluster: &ClusterId,
        spec: NodeGroupSpec,
        intent: Intent,
    ) -> Result<Outcome<(NodeGroup, OperationRow)>> {
        let flavors = self.flavors().await?;
        let (store, cloud) = (&self.store, self.cloud.as_ref());
        let plan = clusters::node_group_create_plan(store, cloud, actor, cluster, &spec, &flavors);
        let apply = clusters::node_group_create(
            store,
            &self.engine,
            actor,
            cluster,
            spec.clone(),
            &flavors,
        );
        planned(intent, plan, apply).await
    }

    /// Scales a node group or sets its bounds (`None`: only the bounds changed).
    pub async fn node_group_scale(
        &self,
        actor: &Actor,
        cluster: &ClusterId,
        group: &NodeGroupId,
        change: NodeGroupChange,
        intent: Intent,
    ) -> Result<Outcome<Option<OperationRow>>> {
        let (store, cloud) = (&self.store, self.cloud.as_ref());
        let plan = clusters::scale_plan(store, cloud, actor, cluster, group, &change);
        let apply = clusters::scale(
            store,
            &self.engine,
            cloud,
            actor,
            cluster,
            group,
            change.clone(),
        );
        planned(intent, plan, apply).await
    }

    /// Removes a node group and its workers.
    pub async fn node_group_delete(
        &self,
        actor: &Actor,
        cluster: &ClusterId,
        group: &NodeGroupId,
        intent: Intent,
    ) -> Result<Outcome<OperationRow>> {
        let (store, cloud) = (&self.store, self.cloud.as_ref());
        let plan = clusters::node_group_delete_plan(store, cloud, actor, cluster, group);
        let apply = clusters::node_group_delete(store, &self.engine, cloud, actor, cluster, group);
        planned(intent, plan, apply).await
    }

    /// Turns autoscaling of a node group on or off, with the bounds it keeps to (the
    /// autoscaler brings a group outside new bounds back in). While it is on, a manual
    /// resize is refused ([`clusters::RESIZE_REFUSED`]).
    pub async fn node_group_autoscale(
        &self,
        actor: &Actor,
        cluster: &ClusterId,
        group: &NodeGroupId,
        asked: &Autoscaling,
    ) -> Result<NodeGroup> {
        clusters::node_group_autoscale(&self.store, actor, cluster, group, asked).await
    }
}
