//! Server functions of a cluster's services and volumes page.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::{convert, forms};
use crate::dto::*;
use crate::error::AppError;
#[cfg(feature = "ssr")]
use provision::Error;

/// A cluster's services and persistent volumes (the store alone, no cloud reads).
#[server(endpoint = "cluster_workloads")]
pub async fn get_cluster_workloads(id: ClusterId) -> Result<ClusterWorkloads, AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        let v = state()?.workloads(&actor, &id).await?;
        Ok(convert::workloads(v))
    })
    .await
}

/// Exposes a service on a load balancer: one port, the node port picked when blank.
#[server(endpoint = "service_expose")]
pub async fn expose_service(
    id: ClusterId,
    name: String,
    port: String,
    node_port: String,
) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        let spec = forms::service(&name, &port, &node_port)?;
        state()?.service_create(&actor, &id, spec).await?;
        leptos_axum::redirect(&format!("/clusters/{id}/workloads"));
        Ok(())
    })
    .await
}

/// Creates a persistent volume.
#[server(endpoint = "volume_create")]
pub async fn create_volume(id: ClusterId, name: String, size_gib: String) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        let req = forms::volume(&name, &size_gib)?;
        state()?.volume_create(&actor, &id, req).await?;
        leptos_axum::redirect(&format!("/clusters/{id}/workloads"));
        Ok(())
    })
    .await
}

/// Removes a service (`what` = service) or a persistent volume (`what` = volume).
#[server(endpoint = "workload_delete")]
pub async fn delete_workload(id: ClusterId, what: String, name: String) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        let st = state()?;
        match what.as_str() {
            "service" => st.service_delete(&actor, &id, &name).await?,
            "volume" => st.volume_delete(&actor, &id, &name).await?,
            _ => return Err(Error::invalid("what", "Delete a service or a volume.").into()),
        };
        leptos_axum::redirect(&format!("/clusters/{id}/workloads"));
        Ok(())
    })
    .await
}
