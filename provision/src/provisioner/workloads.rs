//! A cluster's services and persistent volumes through the door: Kubernetes objects in
//! the cluster, which the controllers give their cloud side.

use super::Provisioner;
use crate::clusters::workloads::{self, PersistentVolume, Service, ServiceSpec, VolumeRequest};
use crate::clusters::{self, WorkloadsView};
use crate::domain::Actor;
use crate::Result;
use model::ClusterId;

impl Provisioner {
    /// The cluster's services and volumes: its objects with what the cloud has of them.
    pub async fn workloads(&self, actor: &Actor, cluster: &ClusterId) -> Result<WorkloadsView> {
        clusters::workloads(&self.store, &self.secret_key, actor, cluster).await
    }

    /// Exposes a service: a Service of type LoadBalancer in the cluster.
    pub async fn service_create(
        &self,
        actor: &Actor,
        cluster: &ClusterId,
        spec: ServiceSpec,
    ) -> Result<Service> {
        workloads::service_create(
            &self.store,
            &self.secret_key,
            self.cloud.as_ref(),
            actor,
            cluster,
            spec,
        )
        .await
    }

    /// Deletes a Service (its load balancer goes first).
    pub async fn service_delete(
        &self,
        actor: &Actor,
        cluster: &ClusterId,
        service: &str,
    ) -> Result<()> {
        workloads::service_delete(&self.store, &self.secret_key, actor, cluster, service).await
    }

    /// Asks for a persistent volume: a PersistentVolumeClaim in the cluster.
    pub async fn volume_create(
        &self,
        actor: &Actor,
        cluster: &ClusterId,
        req: VolumeRequest,
    ) -> Result<PersistentVolume> {
        workloads::volume_create(
            &self.store,
            &self.secret_key,
            self.cloud.as_ref(),
            actor,
            cluster,
            req,
        )
        .await
    }

    /// Deletes a PersistentVolumeClaim (its volume is reclaimed once it goes).
    pub async fn volume_delete(
        &self,
        actor: &Actor,
        cluster: &ClusterId,
        volume: &str,
    ) -> Result<()> {
        workloads::volume_delete(&self.store, &self.secret_key, actor, cluster, volume).await
    }
}
