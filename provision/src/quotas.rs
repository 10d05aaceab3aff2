//! Quotas per project (clusters, vCPUs, RAM, volume GiB, load balancers), checked
//! before any cloud call, so that a create the project cannot afford is refused with
//! the numbers instead of failing half-way in the cloud.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;

use crate::cloud::Flavor;
use crate::clusters::ClusterSpec;
use crate::{now_ms, Error, Result, Store};

/// A project's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Quota {
    pub clusters: i64,
    pub vcpus: i64,
    pub ram_mib: i64,
    pub volume_gib: i64,
    pub load_balancers: i64,
}

impl Default for Quota {
    fn default() -> Quota {
        Quota {
            clusters: 10,
            vcpus: 128,
            ram_mib: 512 * 1024,
            volume_gib: 4000,
            load_balancers: 20,
        }
    }
}

/// What a project uses (or a plan would add).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Usage {
    pub clusters: i64,
    pub vcpus: i64,
    pub ram_mib: i64,
    pub volume_gib: i64,
    pub load_balancers: i64,
}

impl Usage {
    fn plus(self, o: Usage) -> Usage {
        Usage {
            clusters: self.clusters + o.clusters,
            vcpus: self.vcpus + o.vcpus,
            ram_mib: self.ram_mib + o.ram_mib,
            volume_gib: self.volume_gib + o.volume_gib,
            load_balancers: self.load_balancers + o.load_balancers,
        }
    }
}

fn flavor_size(flavors: &[Flavor], name: &str) -> (i64, i64) {
    flavors
        .iter()
        .find(|f| f.name == name)
        .map(|f| (f.vcpus as i64, f.ram_mib as i64))
        .unwrap_or((0, 0))
}

/// What a new cluster takes: its masters and workers, etcd and boot volumes, the API
/// load balancer.
pub fn cluster_usage(spec: &ClusterSpec, flavors: &[Flavor], etcd_gib: i64) -> Usage {
    let (mc, mr) = flavor_size(flavors, &spec.master_flavor);
    let masters = spec.master_count as i64;
    let mut u = Usage {
        clusters: 1,
        vcpus: mc * masters,
        ram_mib: mr * masters,
        volume_gib: etcd_gib * masters,
        load_balancers: 1,
    };
    for ng in &spec.node_groups {
        let (c, r) = flavor_size(flavors, &ng.flavor);
        let n = ng.node_count as i64;
        u.vcpus += c * n;
        u.ram_mib += r * n;
        u.volume_gib += ng.boot_volume_gib as i64 * n;
    }
    u
}

pub async fn get(store: &Store, project_id: &str) -> Result<Quota> {
    get_on(&mut *store.pool().acquire().await?, project_id).await
}

async fn get_on(conn: &mut sqlx::AnyConnection, project_id: &str) -> Result<Quota> {
    let row = sqlx::query(&format!(
        "SELECT {QUOTA_COLUMNS} FROM project_quotas q WHERE q.project_id = $1"
    ))
    .bind(project_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map_or(Ok(Quota::default()), |r| from_row(&r))
}

/// Checks `more` against the project's quota and what it uses, inside `tx`, after
/// taking the project's row for writing: concurrent claims on one project (in this
/// process or another replica, on SQLite or PostgreSQL) wait for each other, so the
/// check and the insert that follows in the same transaction are one step. Twenty
/// parallel creates against a quota of one give one cluster.
pub async fn claim_in_txn(
    tx: &mut sqlx::AnyConnection,
    project_id: &str,
    claim: &Claim<'_>,
) -> Result<()> {
    sqlx::query("UPDATE projects SET name = name WHERE id = $1")
        .bind(project_id)
        .execute(&mut *tx)
        .await?;
    let quota = get_on(tx, project_id).await?;
    let used = usage_by_project_on(tx, Some(project_id), claim.flavors, claim.etcd_gib)
        .await?
        .remove(project_id)
        .unwrap_or_default();
    check(&quota, &used, &claim.more)
}

/// [`claim_in_txn`] and then `write` (the insert or update that takes what was
/// claimed) in one transaction. The outer error is the claim's (over quota, database);
/// the inner one is the write's own, for the caller to explain (a taken name).
pub async fn claim_then<'q>(
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

/// What an insert asks of the quota: `more`, with the flavors and etcd size that turn
/// recorded clusters into usage.
pub struct Claim<'a> {
    pub flavors: &'a [Flavor],
    pub etcd_gib: i64,
    pub more: Usage,
}

/// The columns [`from_row`] reads, from `project_quotas q` (may be a LEFT JOIN).
pub(crate) const QUOTA_COLUMNS: &str =
    "q.clusters, q.vcpus, q.ram_mib, q.volume_gib, q.load_balancers";

/// A quota from a row with [`QUOTA_COLUMNS`]; no quota row (NULLs) is the default.
pub(crate) fn from_row(r: &sqlx::any::AnyRow) -> Result<Quota> {
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

/// The largest limit accepted (far beyond any cloud; keeps sums far from overflow).
pub const MAX_LIMIT: i64 = 1_000_000_000_000;

/// Sets a project's quota (see [`crate::admin::set_quota`] for the audited admin call).
pub async fn set(store: &Store, project_id: &str, q: &Quota) -> Result<()> {
    let limits = [
        q.clusters,
        q.vcpus,
        q.ram_mib,
        q.volume_gib,
        q.load_balancers,
    ];
    if limits.iter().any(|v| !(0..=MAX_LIMIT).contains(v)) {
        return Err(Error::invalid(
            "quota",
            format!("Quota limits are whole numbers from 0 to {MAX_LIMIT}."),
        ));
    }
    let now = now_ms();
    // An upsert: concurrent changes of one project's quota both succeed (last wins).
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
    .execute(store.pool())
    .await?;
    Ok(())
}

/// What the project's live clusters take, from the database (node group counts as
/// recorded; flavors as the cloud sizes them).
pub async fn usage(
    store: &Store,
    project_id: &str,
    flavors: &[Flavor],
    etcd_gib: i64,
) -> Result<Usage> {
    Ok(usage_by_project(store, Some(project_id), flavors, etcd_gib)
        .await?
        .remove(project_id)
        .unwrap_or_default())
}

/// [`usage`] of one project (`Some`) or of every project (`None`), in four grouped
/// queries whatever the number of projects and clusters: masters and their etcd
/// volumes and API load balancers, workers and their boot volumes, services (one load
/// balancer each), persistent volumes.
pub async fn usage_by_project(
    store: &Store,
    project_id: Option<&str>,
    flavors: &[Flavor],
    etcd_gib: i64,
) -> Result<BTreeMap<String, Usage>> {
    usage_by_project_on(
        &mut *store.pool().acquire().await?,
        project_id,
        flavors,
        etcd_gib,
    )
    .await
}

/// A group's workers as quota counts them: a scale-up's claim while it runs.
const NODES: &str =
    "CASE WHEN n.claimed_count > n.node_count THEN n.claimed_count ELSE n.node_count END";

async fn usage_by_project_on(
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

/// Refuses `more` when it would take the project over any limit, naming which.
pub fn check(quota: &Quota, used: &Usage, more: &Usage) -> Result<()> {
    let over: Vec<String> = [
        ("clusters", quota.clusters, used.clusters, more.clusters),
        ("vCPUs", quota.vcpus, used.vcpus, more.vcpus),
        ("RAM MiB", quota.ram_mib, used.ram_mib, more.ram_mib),
        (
            "volume GiB",
            quota.volume_gib,
            used.volume_gib,
            more.volume_gib,
        ),
        (
            "load balancers",
            quota.load_balancers,
            used.load_balancers,
            more.load_balancers,
        ),
    ]
    .iter()
    .filter(|(_, limit, used, more)| *more > 0 && used + more > *limit)
    .map(|(what, limit, used, more)| {
        format!("{what}: {used} used + {more} asked > {limit} allowed")
    })
    .collect();
    if over.is_empty() {
        Ok(())
    } else {
        Err(Error::Conflict(format!(
            "Over the project's quota — {}.",
            over.join("; ")
        )))
    }
}
