//! The SQL of clusters ([`crate::clusters`]): the `clusters` and `node_groups`
//! tables, the rows read from them, and the inserts and scale-ups that claim from the
//! project's quota in the same transaction. What a change may do stays in `clusters`.

use sqlx::any::AnyRow;
use sqlx::Row;

use model::ClusterStatus;

use super::quotas::claim_in_txn;
use crate::clusters::spec::{ClusterSpec, NodeGroupSpec};
use crate::quotas::Claim;
use crate::{now_ms, Error, Result, Store};

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Cluster {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub status: ClusterStatus,
    pub status_reason: Option<String>,
    pub kubernetes_version: String,
    pub master_count: i64,
    pub master_flavor: String,
    pub pod_cidr: String,
    pub service_cidr: String,
    pub api_endpoint: String,
    /// `vip:6443` once the API load balancer exists.
    pub api_address: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeGroup {
    pub id: String,
    pub cluster_id: String,
    pub name: String,
    pub flavor: String,
    pub node_count: i64,
    pub min_node_count: i64,
    pub max_node_count: i64,
    pub boot_volume_gib: i64,
    pub labels: String,
    pub taints: String,
    /// The autoscaler keeps the group between its bounds; manual resizes are refused.
    pub autoscale: bool,
}

const CLUSTER_COLUMNS: &str = "id, project_id, name, status, status_reason, kubernetes_version, master_count, master_flavor, pod_cidr, service_cidr, api_endpoint, api_address, created_by, created_at, updated_at";

/// A stored status.
fn status_of(s: &str) -> Result<ClusterStatus> {
    ClusterStatus::parse(s).ok_or_else(|| Error::internal(format!("a cluster's status is '{s}'")))
}

fn cluster_row(r: &AnyRow) -> Result<Cluster> {
    Ok(Cluster {
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        name: r.try_get("name")?,
        status: status_of(&r.try_get::<String, _>("status")?)?,
        status_reason: r.try_get("status_reason")?,
        kubernetes_version: r.try_get("kubernetes_version")?,
        master_count: r.try_get("master_count")?,
        master_flavor: r.try_get("master_flavor")?,
        pod_cidr: r.try_get("pod_cidr")?,
        service_cidr: r.try_get("service_cidr")?,
        api_endpoint: r.try_get("api_endpoint")?,
        api_address: r.try_get("api_address")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl Store {
    /// Records a new cluster (CREATING) with its node groups; a live cluster of the
    /// same name in the project is a conflict. No quota is checked: for seeding (a
    /// tenant's create goes through [`Store::cluster_insert_within_quota`]).
    pub async fn cluster_insert(
        &self,
        project_id: &str,
        user_id: &str,
        spec: &ClusterSpec,
    ) -> Result<Cluster> {
        self.cluster_insert_claimed(project_id, user_id, spec, None)
            .await
    }

    /// [`Store::cluster_insert`] after claiming from the project's quota (see
    /// [`crate::quotas::Claim`]) in the same transaction: the quota check and the
    /// insert are one step.
    pub async fn cluster_insert_within_quota(
        &self,
        project_id: &str,
        user_id: &str,
        spec: &ClusterSpec,
        claim: &Claim<'_>,
    ) -> Result<Cluster> {
        self.cluster_insert_claimed(project_id, user_id, spec, Some(claim))
            .await
    }

    async fn cluster_insert_claimed(
        &self,
        project_id: &str,
        user_id: &str,
        spec: &ClusterSpec,
        claim: Option<&Claim<'_>>,
    ) -> Result<Cluster> {
        let now = now_ms();
        let id = crate::new_id();
        let exists = sqlx::query(
            "SELECT id FROM clusters WHERE project_id = $1 AND name = $2 AND deleted_at IS NULL",
        )
        .bind(project_id)
        .bind(&spec.name)
        .fetch_optional(self.pool())
        .await?;
        let taken = || {
            Error::Conflict(format!(
                "A cluster named '{}' already exists in this project.",
                spec.name
            ))
        };
        if exists.is_some() {
            return Err(taken());
        }
        let mut tx = self.pool().begin().await?;
        if let Some(c) = claim {
            claim_in_txn(&mut tx, project_id, c).await?;
        }
        sqlx::query(
            "INSERT INTO clusters (id, project_id, name, status, kubernetes_version, master_count, master_flavor, pod_cidr, service_cidr, api_endpoint, created_by, created_at, updated_at)
             VALUES ($1, $2, $3, 'CREATING', $4, $5, $6, $7, $8, $9, $10, $11, $11)",
        )
        .bind(&id)
        .bind(project_id)
        .bind(&spec.name)
        .bind(spec.version())
        .bind(spec.master_count as i64)
        .bind(&spec.master_flavor)
        .bind(&spec.pod_cidr)
        .bind(&spec.service_cidr)
        .bind(spec.api_endpoint.as_str())
        .bind(user_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|_| taken())?;
        for ng in &spec.node_groups {
            node_group_insert(&mut tx, &id, ng, now).await?;
        }
        tx.commit().await?;
        self.cluster_get(project_id, &id).await
    }

    /// Adds a node group to a cluster of `project_id` after claiming its workers from
    /// the project's quota, in one transaction; a group of the same name is refused.
    pub async fn node_group_insert_within_quota(
        &self,
        project_id: &str,
        cluster_id: &str,
        ng: &NodeGroupSpec,
        claim: &Claim<'_>,
    ) -> Result<NodeGroup> {
        let mut tx = self.pool().begin().await?;
        claim_in_txn(&mut tx, project_id, claim).await?;
        node_group_insert(&mut tx, cluster_id, ng, now_ms())
            .await
            .map_err(|_| {
                Error::invalid(
                    "node_group_name",
                    format!("This cluster already has a node group named '{}'.", ng.name),
                )
            })?;
        tx.commit().await?;
        self.node_groups_of(cluster_id)
            .await?
            .into_iter()
            .find(|n| n.name == ng.name)
            .ok_or_else(|| Error::internal("node group vanished"))
    }

    /// Removes a node group's row (its workers are gone).
    pub async fn node_group_remove(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM node_groups WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

async fn node_group_insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    cluster_id: &str,
    ng: &NodeGroupSpec,
    now: i64,
) -> Result<()> {
    let (min, max) = ng.bounds();
    sqlx::query(
                "INSERT INTO node_groups (id, cluster_id, name, flavor, node_count, min_node_count, max_node_count, boot_volume_gib, labels, taints, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
            )
            .bind(crate::new_id())
            .bind(cluster_id)
            .bind(&ng.name)
            .bind(&ng.flavor)
            .bind(ng.node_count as i64)
            .bind(min as i64)
            .bind(max as i64)
            .bind(ng.boot_volume_gib as i64)
            .bind(serde_json::to_string(&ng.labels).map_err(Error::internal)?)
            .bind(serde_json::to_string(&ng.taints).map_err(Error::internal)?)
            .bind(now)
            .execute(&mut **tx)
            .await?;
    Ok(())
}

impl Store {
    /// A live cluster of the project; anything else is "not found".
    pub async fn cluster_get(&self, project_id: &str, id: &str) -> Result<Cluster> {
        let row = sqlx::query(&format!(
            "SELECT {CLUSTER_COLUMNS} FROM clusters WHERE id = $1 AND project_id = $2 AND deleted_at IS NULL"
        ))
        .bind(id)
        .bind(project_id)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| Error::NotFound(format!("Cluster {id} not found.")))?;
        cluster_row(&row)
    }

    /// A cluster by id alone, deleted or not (operations and admins).
    pub async fn cluster_by_id(&self, id: &str) -> Result<Cluster> {
        let row = sqlx::query(&format!(
            "SELECT {CLUSTER_COLUMNS} FROM clusters WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| Error::NotFound(format!("Cluster {id} not found.")))?;
        cluster_row(&row)
    }

    /// Every live cluster whose Kubernetes API serves (ACTIVE or UPDATING): what the
    /// controllers watch.
    pub async fn clusters_serving(&self) -> Result<Vec<Cluster>> {
        let rows = sqlx::query(&format!(
            "SELECT {CLUSTER_COLUMNS} FROM clusters WHERE deleted_at IS NULL AND status IN ('ACTIVE', 'UPDATING') AND api_address IS NOT NULL ORDER BY id"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(cluster_row).collect()
    }

    /// The project's live clusters, newest first.
    pub async fn cluster_list(&self, project_id: &str) -> Result<Vec<Cluster>> {
        let rows = sqlx::query(&format!(
            "SELECT {CLUSTER_COLUMNS} FROM clusters WHERE project_id = $1 AND deleted_at IS NULL ORDER BY created_at DESC, id"
        ))
        .bind(project_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(cluster_row).collect()
    }

    pub async fn cluster_set_status(
        &self,
        id: &str,
        status: ClusterStatus,
        reason: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE clusters SET status = $1, status_reason = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(status.as_str())
        .bind(reason)
        .bind(now_ms())
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Sets the status reason of an ACTIVE cluster (a controller's note, such as why
    /// auto-repair holds back) without touching its status; `None` clears a note that
    /// starts with `prefix` (and no one else's reason). Nothing if the cluster is not
    /// ACTIVE: an operation's own status and reason come first.
    pub async fn cluster_note(&self, id: &str, prefix: &str, note: Option<&str>) -> Result<()> {
        match note {
            Some(note) => {
                sqlx::query(
                    "UPDATE clusters SET status_reason = $1, updated_at = $2 WHERE id = $3 AND status = 'ACTIVE'",
                )
                .bind(note)
                .bind(now_ms())
                .bind(id)
                .execute(self.pool())
                .await?;
            }
            None => {
                sqlx::query(
                    "UPDATE clusters SET status_reason = NULL, updated_at = $1 WHERE id = $2 AND status = 'ACTIVE' AND status_reason LIKE $3",
                )
                .bind(now_ms())
                .bind(id)
                .bind(format!("{prefix}%"))
                .execute(self.pool())
                .await?;
            }
        }
        Ok(())
    }

    pub async fn cluster_set_api_address(&self, id: &str, address: &str) -> Result<()> {
        sqlx::query("UPDATE clusters SET api_address = $1, updated_at = $2 WHERE id = $3")
            .bind(address)
            .bind(now_ms())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// A finished delete: the cluster answers 404 from now on.
    pub async fn cluster_mark_deleted(&self, id: &str) -> Result<()> {
        let now = now_ms();
        sqlx::query("UPDATE clusters SET status = 'DELETED', deleted_at = $1, updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Records a group's count once its operation is done; a scale-up's claim ends.
    pub async fn node_group_set_count(&self, id: &str, count: i64) -> Result<()> {
        sqlx::query("UPDATE node_groups SET node_count = $1, claimed_count = NULL, updated_at = $2 WHERE id = $3")
            .bind(count)
            .bind(now_ms())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Claims a scale-up of group `id` to `target` workers from the project's quota, in
    /// one transaction, and answers the claim it replaced (to put back if the operation
    /// is refused). Usage counts `target` until [`Store::node_group_set_claim`] or
    /// [`Store::node_group_set_count`] ends the claim.
    pub async fn node_group_claim(
        &self,
        project_id: &str,
        id: &str,
        target: i64,
        claim: &Claim<'_>,
    ) -> Result<Option<i64>> {
        let mut tx = self.pool().begin().await?;
        claim_in_txn(&mut tx, project_id, claim).await?;
        let before: Option<i64> =
            sqlx::query_scalar("SELECT claimed_count FROM node_groups WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .flatten();
        sqlx::query("UPDATE node_groups SET claimed_count = $1 WHERE id = $2")
            .bind(target)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(before)
    }

    /// Sets (or with `None` ends) a group's scale-up claim.
    pub async fn node_group_set_claim(&self, id: &str, claimed: Option<i64>) -> Result<()> {
        sqlx::query("UPDATE node_groups SET claimed_count = $1 WHERE id = $2")
            .bind(claimed)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn node_group_set_bounds(&self, id: &str, min: i64, max: i64) -> Result<()> {
        sqlx::query("UPDATE node_groups SET min_node_count = $1, max_node_count = $2, updated_at = $3 WHERE id = $4")
            .bind(min)
            .bind(max)
            .bind(now_ms())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Turns autoscaling on or off, with the bounds it keeps to, in one write.
    pub async fn node_group_set_autoscale(
        &self,
        id: &str,
        on: bool,
        min: i64,
        max: i64,
    ) -> Result<()> {
        sqlx::query("UPDATE node_groups SET autoscale = $1, min_node_count = $2, max_node_count = $3, updated_at = $4 WHERE id = $5")
            .bind(i64::from(on))
            .bind(min)
            .bind(max)
            .bind(now_ms())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn node_groups_of(&self, cluster_id: &str) -> Result<Vec<NodeGroup>> {
        let rows = sqlx::query(
            "SELECT id, cluster_id, name, flavor, node_count, min_node_count, max_node_count, boot_volume_gib, labels, taints, autoscale FROM node_groups WHERE cluster_id = $1 ORDER BY created_at, name",
        )
        .bind(cluster_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(NodeGroup {
                    id: r.try_get("id")?,
                    cluster_id: r.try_get("cluster_id")?,
                    name: r.try_get("name")?,
                    flavor: r.try_get("flavor")?,
                    node_count: r.try_get("node_count")?,
                    min_node_count: r.try_get("min_node_count")?,
                    max_node_count: r.try_get("max_node_count")?,
                    boot_volume_gib: r.try_get("boot_volume_gib")?,
                    labels: r.try_get("labels")?,
                    taints: r.try_get("taints")?,
                    autoscale: r.try_get::<i64, _>("autoscale")? != 0,
                })
            })
            .collect()
    }
}

/// A cluster as the list shows it: what its row needs, with its node count (summed over
/// its groups) and its creator's email. Read from a JSON array, in this field order.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct ClusterSummary {
    pub id: String,
    pub name: String,
    pub status: ClusterStatus,
    pub status_reason: Option<String>,
    pub kubernetes_version: String,
    pub master_count: i64,
    pub created_at: i64,
    pub nodes: i64,
    pub created_by_email: String,
}

/// What the list is narrowed to: a name fragment, a status, a page.
#[derive(Clone, Debug, Default)]
pub struct ClusterFilter {
    pub name: Option<String>,
    pub status: Option<ClusterStatus>,
    pub limit: i64,
    pub offset: i64,
}

impl Store {
    /// One page of the project's live clusters (newest first) and how many match in all.
    pub async fn cluster_search(
        &self,
        project_id: &str,
        f: &ClusterFilter,
    ) -> Result<(Vec<ClusterSummary>, i64)> {
        // `instr` on SQLite and `strpos` on PostgreSQL: LIKE would treat % and _ in the
        // fragment as wildcards.
        let contains = match self.backend() {
            crate::Backend::Sqlite => "instr(c.name, $2) > 0",
            crate::Backend::Postgres => "strpos(c.name, $2) > 0",
        };
        let filter = format!(
            "c.project_id = $1 AND c.deleted_at IS NULL AND ($2 = '' OR {contains}) AND ($3 = '' OR c.status = $3)"
        );
        let name = f.name.clone().unwrap_or_default();
        let status = f.status.map_or("", ClusterStatus::as_str);
        // One row whatever the page: the page's clusters as one JSON array of arrays (the
        // fields of `ClusterSummary`, in order), and the total. A row per cluster would
        // cross from the database's worker thread one by one (and be converted value by
        // value); this is the list page's hot query, and one row is much cheaper. Only
        // what the list shows is read (JSON is most of the query's cost), the node sums
        // and creators for the page's rows only. The page comes off the index
        // `clusters_live_list` in order; the array is sorted here, not by the aggregate
        // (an ordered aggregate builds a temporary table on SQLite).
        let (array_agg, array, cast_text) = match self.backend() {
            crate::Backend::Sqlite => ("json_group_array", "json_array", ""),
            crate::Backend::Postgres => ("json_agg", "json_build_array", "::text"),
        };
        let mut reader = self.reader().await?;
        let row = sqlx::query(&format!(
            "SELECT COALESCE({array_agg}({array}(c.id, c.name, c.status, c.status_reason, \
                 c.kubernetes_version, c.master_count, c.created_at, \
                 CAST(COALESCE((SELECT SUM(n.node_count) FROM node_groups n WHERE n.cluster_id = c.id), 0) AS BIGINT), \
                 COALESCE(u.email, ''))){cast_text}, '[]') AS items, \
               CAST((SELECT COUNT(*) FROM clusters c WHERE {filter}) AS BIGINT) AS total \
             FROM (SELECT c.id, c.name, c.status, c.status_reason, c.kubernetes_version, \
                          c.master_count, c.created_at, c.created_by \
                   FROM clusters c WHERE {filter} \
                   ORDER BY c.created_at DESC, c.id LIMIT $4 OFFSET $5) c \
             LEFT JOIN users u ON u.id = c.created_by"
        ))
        .bind(project_id)
        .bind(&name)
        .bind(status)
        .bind(f.limit.clamp(1, 200))
        .bind(f.offset.max(0))
        .fetch_one(reader.conn())
        .await?;
        reader.done();
        let mut items: Vec<ClusterSummary> =
            serde_json::from_str(&row.try_get::<String, _>("items")?)
                .map_err(|e| Error::internal(format!("the cluster list's JSON: {e}")))?;
        items.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        let total: i64 = row.try_get("total")?;
        Ok((items, total))
    }
}
