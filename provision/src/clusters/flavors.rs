//! The flavors on offer: the cloud's flavors minus those an admin disabled. A disabled
//! flavor takes no new clusters or node groups; node groups already on it keep it and
//! still scale (like a disabled Kubernetes version).

use std::collections::HashSet;

use serde::Serialize;
use sqlx::Row;

use crate::accounts::{audit, require_admin};
use crate::cloud::{Cloud, Flavor};
use crate::domain::{Actor, Outcome};
use crate::{now_ms, Error, Result, Store};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FlavorOffer {
    pub name: String,
    pub vcpus: u32,
    pub ram_mib: u64,
    pub enabled: bool,
}

/// The names an admin has disabled.
pub async fn disabled(store: &Store) -> Result<HashSet<String>> {
    let rows = sqlx::query("SELECT name FROM flavor_offers WHERE enabled = 0")
        .fetch_all(store.pool())
        .await?;
    rows.iter()
        .map(|r| Ok(r.try_get::<String, _>("name")?))
        .collect()
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
    let flavors = cloud
        .flavor_list()
        .await
        .map_err(|e| Error::internal(format!("listing flavors: {e}")))?;
    if !flavors.iter().any(|f| f.name == name) {
        return Err(Error::NotFound(format!(
            "The cloud has no flavor named '{name}'."
        )));
    }
    // An upsert: two admins changing the same flavor at once both succeed (last wins).
    sqlx::query(
        "INSERT INTO flavor_offers (name, enabled, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at",
    )
    .bind(name)
    .bind(enabled as i64)
    .bind(now_ms())
    .execute(store.pool())
    .await?;
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
