//! A cluster's services and persistent volumes through the door.

use super::Provisioner;
use crate::clusters::workloads::{self, PersistentVolume, Service, ServiceSpec, VolumeRequest};
use crate::clusters::{self, WorkloadsView};
use crate::domain::Actor;
use crate::ops::OperationRow;
use crate::Result;
use model::ClusterId;

impl Provisioner {
    /// The cluster's services and volumes as the store holds them.
    pub async fn workloads(&self, actor: &Actor, cluster: &ClusterId) -> Result<WorkloadsView> {
        clusters::workloads(&self.store, actor, cluster).await
    }

    /// Exposes a service on a cloud load balancer.
    pub async fn service_create(
        &self,
        actor: &Actor,
        cluster: &ClusterId,
        spec: ServiceSpec,
    ) -> Result<(Service, OperationRow)> {
        workloads::service_create(
            &self.store,
            &self.engine,
            self.cloud.as_ref(),
            actor,
            cluster,
            spec,
        )
        .await
    }

    /// Removes a service and its load balancer.
    pub async fn service_delete(
        &self,
        actor: &Actor,
        cluster: &ClusterId,
        service: &str,
    ) -> Result<OperationRow> {
        workloads::service_delete(&self.store, &self.engine, actor, cluster, service).await
    }

    /// Makes a persistent volume on block storage.
    pub async fn volume_create(
        &self,
        actor: &Actor,
        cluster: &ClusterId,
        req: VolumeRequest,
    ) -> Result<(PersistentVolume, OperationRow)> {
        workloads::volume_create(
            &self.store,
            &self.engine,
            self.cloud.as_ref(),
            actor,
            cluster,
            req,
        )
        .await
    }

    /// Removes a persistent volume.
    pub async fn volume_delete(
        &self,
        actor: &Actor,
        cluster: &ClusterId,
        volume: &str,
    ) -> Result<OperationRow> {
        workloads::volume_delete(&self.store, &self.engine, actor, cluster, volume).await
    }
}
