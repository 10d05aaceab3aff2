//! The SQL of the clusters' certificate authorities ([`crate::pki`]): the
//! `cluster_cas` rows (one per generation, the key sealed) and the record of the
//! kubeconfigs issued (`kubeconfigs_issued`). Making keys, sealing and signing stay in
//! `pki`; this file only reads and writes the rows.

use sqlx::Row;

use crate::pki::{CaInfo, IssuedKubeconfig};
use crate::{Error, Result, Store};

const CA_COLUMNS: &str = "cluster_id, generation, common_name, cert_pem, created_at, not_after";

fn ca_row(r: &sqlx::any::AnyRow) -> Result<CaInfo> {
    Ok(CaInfo {
        cluster_id: r.try_get("cluster_id")?,
        generation: r.try_get("generation")?,
        common_name: r.try_get("common_name")?,
        cert_pem: r.try_get("cert_pem")?,
        created_at: r.try_get("created_at")?,
        not_after: r.try_get("not_after")?,
    })
}

impl Store {
    /// The cluster's active CA, if it has one.
    pub async fn ca_get(&self, cluster_id: &str) -> Result<Option<CaInfo>> {
        let row = sqlx::query(&format!(
            "SELECT {CA_COLUMNS} FROM cluster_cas WHERE cluster_id = $1 AND retired_at IS NULL"
        ))
        .bind(cluster_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(ca_row).transpose()
    }

    /// The cluster's active CA with its sealed key; none is a conflict (nothing to
    /// sign with yet).
    pub(crate) async fn ca_get_sealed(&self, cluster_id: &str) -> Result<(CaInfo, String)> {
        let row = sqlx::query(&format!(
            "SELECT {CA_COLUMNS}, key_sealed FROM cluster_cas WHERE cluster_id = $1 AND retired_at IS NULL"
        ))
        .bind(cluster_id)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| Error::Conflict("The cluster has no certificate authority yet.".into()))?;
        Ok((ca_row(&row)?, row.try_get("key_sealed")?))
    }

    /// The cluster's latest CA generation, active or retired.
    pub(crate) async fn ca_last_generation(&self, cluster_id: &str) -> Result<Option<i64>> {
        Ok(
            sqlx::query("SELECT MAX(generation) AS g FROM cluster_cas WHERE cluster_id = $1")
                .bind(cluster_id)
                .fetch_one(self.pool())
                .await?
                .try_get("g")?,
        )
    }

    /// In one transaction: retires the active CA (at `ca.created_at`) and records `ca`
    /// with its sealed key. Another process that recorded this generation first makes
    /// it a conflict.
    pub(crate) async fn ca_replace(&self, ca: &CaInfo, key_sealed: &str) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "UPDATE cluster_cas SET retired_at = $1 WHERE cluster_id = $2 AND retired_at IS NULL",
        )
        .bind(ca.created_at)
        .bind(&ca.cluster_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO cluster_cas (cluster_id, generation, common_name, cert_pem, key_sealed, created_at, not_after) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&ca.cluster_id)
        .bind(ca.generation)
        .bind(&ca.common_name)
        .bind(&ca.cert_pem)
        .bind(key_sealed)
        .bind(ca.created_at)
        .bind(ca.not_after)
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                Error::Conflict("The cluster's CA changed meanwhile; try again.".into())
            }
            _ => Error::from(e),
        })?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes every CA of the cluster and the record of its kubeconfigs, in one
    /// transaction.
    pub async fn ca_remove(&self, cluster_id: &str) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        for table in ["kubeconfigs_issued", "cluster_cas"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE cluster_id = $1"))
                .bind(cluster_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records a kubeconfig issued for `cluster_id` (`current` is not stored).
    pub(crate) async fn kubeconfig_record(
        &self,
        cluster_id: &str,
        issued: &IssuedKubeconfig,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO kubeconfigs_issued (serial, cluster_id, ca_generation, user_id, subject, groups, issued_at, not_after) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&issued.serial)
        .bind(cluster_id)
        .bind(issued.ca_generation)
        .bind(&issued.user_id)
        .bind(&issued.subject)
        .bind(&issued.groups)
        .bind(issued.issued_at)
        .bind(issued.not_after)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The kubeconfigs issued for a cluster, newest first (optionally one user's, at
    /// most 200); those of generation `active` are `current`.
    pub(crate) async fn kubeconfig_list(
        &self,
        cluster_id: &str,
        user_id: Option<&str>,
        active: Option<i64>,
    ) -> Result<Vec<IssuedKubeconfig>> {
        let rows = sqlx::query(
            "SELECT serial, user_id, subject, groups, issued_at, not_after, ca_generation FROM kubeconfigs_issued \
             WHERE cluster_id = $1 AND ($2 = '' OR user_id = $2) ORDER BY issued_at DESC, serial LIMIT 200",
        )
        .bind(cluster_id)
        .bind(user_id.unwrap_or(""))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let generation: i64 = r.try_get("ca_generation")?;
                Ok(IssuedKubeconfig {
                    serial: r.try_get("serial")?,
                    user_id: r.try_get("user_id")?,
                    subject: r.try_get("subject")?,
                    groups: r.try_get("groups")?,
                    issued_at: r.try_get("issued_at")?,
                    not_after: r.try_get("not_after")?,
                    ca_generation: generation,
                    current: Some(generation) == active,
                })
            })
            .collect()
    }

    /// How many kubeconfigs signed by CA `generation` of the cluster are still within
    /// their validity at `now`.
    pub(crate) async fn kubeconfig_count_valid(
        &self,
        cluster_id: &str,
        generation: i64,
        now: i64,
    ) -> Result<i64> {
        Ok(sqlx::query(
            "SELECT COUNT(*) AS n FROM kubeconfigs_issued \
             WHERE cluster_id = $1 AND ca_generation = $2 AND not_after > $3",
        )
        .bind(cluster_id)
        .bind(generation)
        .bind(now)
        .fetch_one(self.pool())
        .await?
        .try_get("n")?)
    }
}
