//! The SQL of what tenants may choose from: the flavors an admin disabled
//! (`flavor_offers`) and the Kubernetes versions on offer (`kubernetes_versions`).
//! Which flavor or version a cluster may take, sorting and auditing stay in
//! [`crate::clusters::flavors`] and [`crate::clusters::versions`].

use std::collections::HashSet;

use sqlx::Row;

use crate::clusters::versions::KubeVersion;
use crate::{Error, Result, Store};

impl Store {
    /// The flavor names an admin has disabled.
    pub(crate) async fn flavor_disabled(&self) -> Result<HashSet<String>> {
        let rows = sqlx::query("SELECT name FROM flavor_offers WHERE enabled = 0")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>("name")?))
            .collect()
    }

    /// Puts a flavor on offer or takes it off, at `now`. An upsert: two admins
    /// changing the same flavor at once both succeed (last wins).
    pub(crate) async fn flavor_set(&self, name: &str, enabled: bool, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO flavor_offers (name, enabled, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at",
        )
        .bind(name)
        .bind(enabled as i64)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Every Kubernetes version, in no particular order.
    pub(crate) async fn version_list(&self) -> Result<Vec<KubeVersion>> {
        let rows = sqlx::query("SELECT version, image, enabled FROM kubernetes_versions")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(KubeVersion {
                    version: r.try_get("version")?,
                    image: r.try_get("image")?,
                    enabled: r.try_get::<i64, _>("enabled")? != 0,
                })
            })
            .collect()
    }

    /// The image a version boots from; an unknown version is a conflict.
    pub(crate) async fn version_image(&self, version: &str) -> Result<String> {
        sqlx::query("SELECT image FROM kubernetes_versions WHERE version = $1")
            .bind(version)
            .fetch_optional(self.pool())
            .await?
            .map(|r| r.try_get("image"))
            .transpose()?
            .ok_or_else(|| Error::Conflict(format!("Kubernetes {version} is no longer known.")))
    }

    /// Records a new version, at `now`.
    pub(crate) async fn version_insert(&self, v: &KubeVersion, now: i64) -> Result<()> {
        sqlx::query("INSERT INTO kubernetes_versions (version, image, enabled, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)")
            .bind(&v.version)
            .bind(&v.image)
            .bind(v.enabled as i64)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Changes a version's image and whether it is on offer, at `now`.
    pub(crate) async fn version_update(&self, v: &KubeVersion, now: i64) -> Result<()> {
        sqlx::query("UPDATE kubernetes_versions SET image = $1, enabled = $2, updated_at = $3 WHERE version = $4")
            .bind(&v.image)
            .bind(v.enabled as i64)
            .bind(now)
            .bind(&v.version)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
