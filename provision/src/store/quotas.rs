//! The SQL of project quotas ([`crate::quotas`]): the `project_quotas` rows, what the
//! live clusters, services and volumes use (summed in a few grouped queries), and the
//! claim that checks a request against both inside the transaction of the write that
//! takes it. The limits' rules (what a cluster takes, when a request is over) stay in
//! `quotas`.

use std::collections::BTreeMap;

use sqlx::Row;

use crate::cloud::Flavor;
use crate::quotas::{check, flavor_size, Claim, Quota, Usage};
use crate::{Result, Store};

impl Store {
    /// The project's quota (the default when it has none of its own).
    pub async fn quota_get(&self, project_id: &str) -> Result<Quota> {
        quota_get_on(&mut *self.pool().acquire().await?, project_id).await
    }

    /// Sets a project's quota, at `now`. An upsert: concurrent changes of one
    /// project's quota both succeed (last wins).
    pub(crate) async fn quota_set(&self, project_id: &str, q: &Quota, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO project_quotas (project_id, clusters, vcpus, ram_mib, volume_gib, load_balancers, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (project_id) DO UPDATE SET clusters = excluded.clusters, vcpus = excluded.vcpus, \
             ram_mib = excluded.ram_mib, volume_gib = excluded.volume_gib, \
             load_balancers = excluded.load_balancers, updated_at = excluded.updated_at",
        )
        .bind(project_id)
        .bind(q.clusters)
        .bind(q.vcpus)
        .bind(q.ram_mib)
        .bind(q.volume_gib)
        .bind(q.load_balancers)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// What the live clusters of one project (`Some`) or of every project (`None`)
    /// take, by project (node group counts as recorded; flavors as the cloud sizes
    /// them).
    pub async fn quota_usage_by_project(
        &self,
        project_id: Option<&str>,
        flavors: &[Flavor],
        etcd_gib: i64,
    ) -> Result<BTreeMap<String, Usage>> {
        usage_by_project_on(
            &mut *self.pool().acquire().await?,
            project_id,
            flavors,
            etcd_gib,
        )
        .await
    }
}

pub(super) async fn quota_get_on(
    conn: &mut sqlx::AnyConnection,
    project_id: &str,
) -> Result<Quota> {
    let row = sqlx::query(&format!(
        "SELECT {QUOTA_COLUMNS} FROM project_quotas q WHERE q.project_id = $1"
    ))
    .bind(project_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map_or(Ok(Quota::default()), |r| quota_from_row(&r))
}

/// Checks `more` against the project's quota and what it uses, inside `tx`, after
/// taking the project's row for writing: concurrent claims on one project (in this
/// process or another replica, on SQLite or PostgreSQL) wait for each other, so the
/// check and the insert that follows in the same transaction are one step. Twenty
/// parallel creates against a quota of one give one cluster.
pub(super) async fn claim_in_txn(
    tx: &mut sqlx::AnyConnection,
    project_id: &str,
    claim: &Claim<'_>,
) -> Result<()> {
    sqlx::query("UPDATE projects SET name = name WHERE id = $1")
        .bind(project_id)
        .execute(&mut *tx)
        .await?;
    let quota = quota_get_on(tx, project_id).await?;
    let used = usage_by_project_on(tx, Some(project_id), claim.flavors, claim.etcd_gib)
        .await?
        .remove(project_id)
        .unwrap_or_default();
    check(&quota, &used, &claim.more)
}

/// [`claim_in_txn`] and then `write` (the insert or update that takes what was
/// claimed) in one transaction. The outer error is the claim's (over quota, database);
/// the inner one is the write's own, for the caller to explain (a taken name).
pub(super) async fn claim_then<'q>(
    store: &Store,
    project_id: &str,
    claim: &Claim<'_>,
    write: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
) -> Result<std::result::Result<(), sqlx::Error>> {
    let mut tx = store.pool().begin().await?;
    claim_in_txn(&mut tx, project_id, claim).await?;
    if let Err(e) = write.execute(&mut *tx).await {
        return Ok(Err(e));
    }
    tx.commit().await?;
    Ok(Ok(()))
}

/// The columns [`quota_from_row`] reads, from `project_quotas q` (may be a LEFT JOIN).
pub(super) const QUOTA_COLUMNS: &str =
    "q.clusters, q.vcpus, q.ram_mib, q.volume_gib, q.load_balancers";

/// A quota from a row with [`QUOTA_COLUMNS`]; no quota row (NULLs) is the default.
pub(super) fn quota_from_row(r: &sqlx::any::AnyRow) -> Result<Quota> {
    let Some(clusters) = r.try_get::<Option<i64>, _>("clusters")? else {
        return Ok(Quota::default());
    };
    Ok(Quota {
        clusters,
        vcpus: r.try_get("vcpus")?,
        ram_mib: r.try_get("ram_mib")?,
        volume_gib: r.try_get("volume_gib")?,
        load_balancers: r.try_get("load_balancers")?,
    })
}

/// A group's workers as quota counts them: a scale-up's claim while it runs.
const NODES: &str =
    "CASE WHEN n.claimed_count > n.node_count THEN n.claimed_count ELSE n.node_count END";

/// What the live clusters of one project (`Some`) or of every project (`None`) take,
/// by project, in four grouped queries whatever the number of projects and clusters:
/// masters and their etcd volumes and API load balancers, workers and their boot
/// volumes, services (one load balancer each), persistent volumes.
pub(super) async fn usage_by_project_on(
    conn: &mut sqlx::AnyConnection,
    project_id: Option<&str>,
    flavors: &[Flavor],
    etcd_gib: i64,
) -> Result<BTreeMap<String, Usage>> {
    let live = "c.deleted_at IS NULL AND ($1 IS NULL OR c.project_id = $1)";
    let mut out: BTreeMap<String, Usage> = BTreeMap::new();
    let mut add = |project: String, u: Usage| {
        let e = out.entry(project).or_default();
        *e = e.plus(u);
    };
    let masters = sqlx::query(&format!(
        "SELECT c.project_id, c.master_flavor AS flavor, CAST(COUNT(*) AS BIGINT) AS clusters, \
         CAST(SUM(c.master_count) AS BIGINT) AS masters FROM clusters c WHERE {live} \
         GROUP BY c.project_id, c.master_flavor"
    ))
    .bind(project_id)
    .fetch_all(&mut *conn)
    .await?;
    for r in &masters {
        let (cpu, ram) = flavor_size(flavors, &r.try_get::<String, _>("flavor")?);
        let (clusters, n): (i64, i64) = (r.try_get("clusters")?, r.try_get("masters")?);
        add(
            r.try_get("project_id")?,
            Usage {
                clusters,
                vcpus: cpu * n,
                ram_mib: ram * n,
                volume_gib: etcd_gib * n,
                load_balancers: clusters,
            },
        );
    }
    let workers = sqlx::query(&format!(
        "SELECT c.project_id, n.flavor, CAST(SUM({NODES}) AS BIGINT) AS nodes, \
         CAST(SUM({NODES} * n.boot_volume_gib) AS BIGINT) AS gib \
         FROM node_groups n JOIN clusters c ON c.id = n.cluster_id WHERE {live} \
         GROUP BY c.project_id, n.flavor"
    ))
    .bind(project_id)
    .fetch_all(&mut *conn)
    .await?;
    for r in &workers {
        let (cpu, ram) = flavor_size(flavors, &r.try_get::<String, _>("flavor")?);
        let n: i64 = r.try_get("nodes")?;
        add(
            r.try_get("project_id")?,
            Usage {
                vcpus: cpu * n,
                ram_mib: ram * n,
                volume_gib: r.try_get("gib")?,
                ..Usage::default()
            },
        );
    }
    for (table, what) in [
        ("cluster_services", "CAST(COUNT(*) AS BIGINT)"),
        ("cluster_volumes", "CAST(SUM(w.size_gib) AS BIGINT)"),
    ] {
        let rows = sqlx::query(&format!(
            "SELECT c.project_id, {what} AS n FROM {table} w JOIN clusters c ON c.id = w.cluster_id \
             WHERE w.deleted_at IS NULL AND {live} GROUP BY c.project_id"
        ))
        .bind(project_id)
        .fetch_all(&mut *conn)
        .await?;
        for r in &rows {
            let n: i64 = r.try_get::<Option<i64>, _>("n")?.unwrap_or(0);
            let u = if table == "cluster_services" {
                Usage {
                    load_balancers: n,
                    ..Usage::default()
                }
            } else {
                Usage {
                    volume_gib: n,
                    ..Usage::default()
                }
            };
            add(r.try_get("project_id")?, u);
        }
    }
    Ok(out)
}
