//! Quotas per project (clusters, vCPUs, RAM, volume GiB, load balancers), checked
//! before any cloud call, so that a create the project cannot afford is refused with
//! the numbers instead of failing half-way in the cloud.

use std::collections::BTreeMap;

use serde::Serialize;

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
    pub(crate) fn plus(self, o: Usage) -> Usage {
        Usage {
            clusters: self.clusters + o.clusters,
            vcpus: self.vcpus + o.vcpus,
            ram_mib: self.ram_mib + o.ram_mib,
            volume_gib: self.volume_gib + o.volume_gib,
            load_balancers: self.load_balancers + o.load_balancers,
        }
    }
}

pub(crate) fn flavor_size(flavors: &[Flavor], name: &str) -> (i64, i64) {
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

/// The project's quota (the default when it has none of its own).
pub async fn get(store: &Store, project_id: &str) -> Result<Quota> {
    store.quota_get(project_id).await
}

/// What an insert asks of the quota: `more`, with the flavors and etcd size that turn
/// recorded clusters into usage. The store checks it with [`check`] inside the
/// insert's transaction (`Store::cluster_insert_within_quota` and the like).
pub struct Claim<'a> {
    pub flavors: &'a [Flavor],
    pub etcd_gib: i64,
    pub more: Usage,
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
    store.quota_set(project_id, q, now_ms()).await
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
    store
        .quota_usage_by_project(project_id, flavors, etcd_gib)
        .await
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
