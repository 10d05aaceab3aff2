//! Server functions of a cluster's services and volumes page.

use leptos::prelude::*;

use crate::dto::*;
use crate::error::AppError;

/// A cluster's services and persistent volumes (the store alone, no cloud reads).
#[server(endpoint = "cluster_workloads")]
pub async fn get_cluster_workloads(id: String) -> Result<ClusterWorkloads, AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        let st = state()?;
        let v = provision::clusters::workloads(&st.store, &actor, &id).await?;
        Ok(ClusterWorkloads {
            id: v.cluster.id,
            name: v.cluster.name,
            status: v.cluster.status,
            status_reason: v.cluster.status_reason,
            services: v
                .services
                .iter()
                .map(|x| ServiceDto {
                    name: x.name.clone(),
                    ports: x
                        .ports
                        .iter()
                        .map(|p| format!("{}→{}", p.port, p.node_port.unwrap_or_default()))
                        .collect::<Vec<_>>()
                        .join(", "),
                    status: x.status.clone(),
                    status_reason: x.status_reason.clone(),
                    vip: x.vip.clone(),
                })
                .collect(),
            persistent_volumes: v
                .persistent_volumes
                .iter()
                .map(|x| PersistentVolumeDto {
                    name: x.name.clone(),
                    size_gib: x.size_gib,
                    status: x.status.clone(),
                    status_reason: x.status_reason.clone(),
                })
                .collect(),
            can_edit: v.role.allows(provision::authz::Action::Mutate),
            busy: v.busy,
        })
    })
    .await
}

/// Exposes a service on a load balancer: one port, the node port picked when blank.
#[server(endpoint = "service_expose")]
pub async fn expose_service(
    id: String,
    name: String,
    port: String,
    node_port: String,
) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        let st = state()?;
        let port: u16 = port.trim().parse().map_err(|_| {
            provision::Error::invalid("ports", "The port is a number from 1 to 65535.")
        })?;
        let node_port = match node_port.trim() {
            "" => None,
            n => Some(n.parse::<u16>().map_err(|_| {
                provision::Error::invalid("ports", "The node port is a number from 30000 to 32767.")
            })?),
        };
        provision::clusters::workloads::service_create(
            &st.store,
            &st.engine,
            st.cloud.as_ref(),
            &actor,
            &id,
            provision::clusters::workloads::ServiceSpec {
                name: name.trim().to_string(),
                ports: vec![provision::clusters::workloads::ServicePort { port, node_port }],
            },
        )
        .await?;
        leptos_axum::redirect(&format!("/clusters/{id}/workloads"));
        Ok(())
    })
    .await
}

/// Creates a persistent volume.
#[server(endpoint = "volume_create")]
pub async fn create_volume(id: String, name: String, size_gib: String) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        let st = state()?;
        let size_gib: u64 = size_gib.trim().parse().map_err(|_| {
            provision::Error::invalid("size_gib", "The size is a whole number of GiB.")
        })?;
        provision::clusters::workloads::volume_create(
            &st.store,
            &st.engine,
            st.cloud.as_ref(),
            &actor,
            &id,
            provision::clusters::workloads::VolumeRequest {
                name: name.trim().to_string(),
                size_gib,
                volume_type: None,
            },
        )
        .await?;
        leptos_axum::redirect(&format!("/clusters/{id}/workloads"));
        Ok(())
    })
    .await
}

/// Removes a service (`what` = service) or a persistent volume (`what` = volume).
#[server(endpoint = "workload_delete")]
pub async fn delete_workload(id: String, what: String, name: String) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        let st = state()?;
        match what.as_str() {
            "service" => {
                provision::clusters::workloads::service_delete(
                    &st.store, &st.engine, &actor, &id, &name,
                )
                .await?
            }
            "volume" => {
                provision::clusters::workloads::volume_delete(
                    &st.store, &st.engine, &actor, &id, &name,
                )
                .await?
            }
            _ => {
                return Err(
                    provision::Error::invalid("what", "Delete a service or a volume.").into(),
                )
            }
        };
        leptos_axum::redirect(&format!("/clusters/{id}/workloads"));
        Ok(())
    })
    .await
}
