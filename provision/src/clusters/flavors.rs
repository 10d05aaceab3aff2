//! The flavors on offer: the cloud's flavors minus those an admin disabled. A disabled
//! flavor takes no new clusters or node groups; node groups already on it keep it and
//! still scale (like a disabled Kubernetes version).

use std::collections::HashSet;

use crate::accounts::{audit, require_admin};
use crate::cloud::{Cloud, Flavor};
use crate::domain::{Actor, Outcome};
use crate::{now_ms, Error, Result, Store};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FlavorOffer {
    pub name: String,
    pub vcpus: u32,
    pub ram_mib: u64,
    pub enabled: bool,
}

/// The cloud's flavors, every one (what plans and the offer are made of); the cloud
/// failing to answer is an internal error of the core.
pub async fn of_cloud(cloud: &dyn Cloud) -> Result<Vec<Flavor>> {
    cloud
        .flavor_list()
        .await
        .map_err(|e| Error::internal(format!("listing flavors: {e}")))
}

/// The names an admin has disabled.
pub async fn disabled(store: &Store) -> Result<HashSet<String>> {
    store.flavor_disabled().await
}

/// Every flavor of the cloud, each with whether it is on offer.
pub async fn list(store: &Store, flavors: &[Flavor]) -> Result<Vec<FlavorOffer>> {
    let off = disabled(store).await?;
    Ok(flavors
        .iter()
        .map(|f| FlavorOffer {
            name: f.name.clone(),
            vcpus: f.vcpus,
            ram_mib: f.ram_mib,
            enabled: !off.contains(&f.name),
        })
        .collect())
}

/// The names tenants may choose for new clusters and node groups.
pub async fn offered(store: &Store, flavors: &[Flavor]) -> Result<Vec<String>> {
    Ok(list(store, flavors)
        .await?
        .into_iter()
        .filter(|f| f.enabled)
        .map(|f| f.name)
        .collect())
}

/// Offers a flavor of the cloud or stops offering it (admins only).
pub async fn set(
    store: &Store,
    cloud: &dyn Cloud,
    actor: &Actor,
    name: &str,
    enabled: bool,
) -> Result<FlavorOffer> {
    require_admin(actor)?;
    let flavors = of_cloud(cloud).await?;
    if !flavors.iter().any(|f| f.name == name) {
        return Err(Error::NotFound(format!(
            "The cloud has no flavor named '{name}'."
        )));
    }
    store.flavor_set(name, enabled, now_ms()).await?;
    audit(
        store,
        actor,
        None,
        "flavor.set",
        name,
        Outcome::Success,
        &format!("enabled={enabled}"),
    )
    .await?;
    list(store, &flavors)
        .await?
        .into_iter()
        .find(|f| f.name == name)
        .ok_or_else(|| Error::internal("flavor vanished"))
}
