//! Plan before apply: what a cluster create will make, whether the cloud's hosts can
//! take it (from the cloud's own hypervisor figures), and how long it should take (the
//! longest chain of the step graph under the cloud's usual latencies).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use super::ClusterSpec;
use crate::cloud::{Cloud, Flavor, HostUsage};
use crate::quotas::{Quota, Usage};
use crate::{Error, Result};
use model::PlanId;

/// What a change would make or remove, whether the cloud and the quota have room for
/// it, and how long it should take; `plan_id` names it (apply with it to get exactly
/// this, see [`check_unchanged`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Plan {
    pub resources: Vec<PlannedResource>,
    /// What it adds up to: servers, vcpus, ram_mib, volume_gib, load_balancers (a
    /// deletion: volumes; a node group change: servers_added, servers_removed).
    pub totals: BTreeMap<String, i64>,
    pub capacity: Capacity,
    /// The project's quota around it (changes that add to usage).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<QuotaSection>,
    /// The longest chain of its steps under the cloud's usual latencies.
    pub expected_seconds: f64,
    pub plan_id: PlanId,
}

/// One cloud resource a plan makes or removes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlannedResource {
    /// create or delete.
    pub action: &'static str,
    /// server, volume, load_balancer or server_group.
    pub kind: &'static str,
    pub name: String,
    pub detail: String,
    /// The cloud's id, for what exists already.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl PlannedResource {
    fn new(
        action: &'static str,
        kind: &'static str,
        name: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        PlannedResource {
            action,
            kind,
            name: name.into(),
            detail: detail.into(),
            id: None,
        }
    }

    fn with_id(self, id: &str) -> Self {
        PlannedResource {
            id: Some(id.to_string()),
            ..self
        }
    }
}

/// Whether the cloud's hosts can take it, from their own figures (`fits` is `null` when
/// the cloud does not show them; `unknown` says why).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Capacity {
    pub fits: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosts: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub free_vcpus: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub free_ram_mib: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
}

impl Capacity {
    fn fits(fits: bool) -> Self {
        Capacity {
            fits: Some(fits),
            hosts: None,
            free_vcpus: None,
            free_ram_mib: None,
            unknown: None,
        }
    }
}

/// The quota around a plan: the limits, what the project uses, what this plan adds, and
/// what is left after it (negative: over).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuotaSection {
    pub limits: Quota,
    pub used: Usage,
    pub this_plan: Usage,
    pub left_after: Usage,
    pub fits: bool,
}

fn totals<const N: usize>(pairs: [(&str, i64); N]) -> BTreeMap<String, i64> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Typical latencies of a cloud, in seconds, for the duration estimate.
pub const SERVER_SECS: f64 = 20.0;
pub const VOLUME_SECS: f64 = 5.0;
pub const LB_SECS: f64 = 30.0;
pub const LB_CHANGE_SECS: f64 = 2.0;

/// The longest chain of a create: masters (after their group) then the etcd attach;
/// the load balancer, then its listener, pool, monitor and one member per master, one
/// change at a time (Octavia serialises them), each member also waiting for its master.
/// Workers and volumes run beside them.
pub fn create_seconds(spec: &ClusterSpec) -> f64 {
    let masters = SERVER_SECS.max(VOLUME_SECS) + 1.0;
    let mut lb = LB_SECS + 3.0 * LB_CHANGE_SECS;
    for _ in 0..spec.master_count {
        lb = lb.max(SERVER_SECS) + LB_CHANGE_SECS;
    }
    let workers = if spec.node_groups.iter().any(|n| n.node_count > 0) {
        SERVER_SECS
    } else {
        0.0
    };
    masters.max(lb).max(workers)
}

/// Places `(vcpus, ram)` demands on hosts: masters on distinct hosts (anti-affinity),
/// workers anywhere, best fit. True when everything fits.
fn fits(hosts: &[HostUsage], masters: &[(u64, u64)], workers: &[(u64, u64)]) -> bool {
    let mut free: Vec<(u64, u64)> = hosts
        .iter()
        .map(|h| {
            (
                h.vcpus.saturating_sub(h.vcpus_used),
                h.ram_mib.saturating_sub(h.ram_used_mib),
            )
        })
        .collect();
    let mut used_by_master = vec![false; free.len()];
    let mut place = |(c, r): (u64, u64), distinct: bool, free: &mut Vec<(u64, u64)>| -> bool {
        let best = free
            .iter()
            .enumerate()
            .filter(|(i, f)| f.0 >= c && f.1 >= r && !(distinct && used_by_master[*i]))
            .min_by_key(|(_, f)| (f.0 - c, f.1 - r))
            .map(|(i, _)| i);
        match best {
            Some(i) => {
                free[i].0 -= c;
                free[i].1 -= r;
                if distinct {
                    used_by_master[i] = true;
                }
                true
            }
            None => false,
        }
    };
    masters.iter().all(|m| place(*m, true, &mut free))
        && workers.iter().all(|w| place(*w, false, &mut free))
}

/// The plan of a create, as shown before the user confirms; `flavors` are the cloud's
/// (the caller has them already, for validation).
pub async fn create_plan(
    spec: &ClusterSpec,
    flavors: &[Flavor],
    cloud: &dyn Cloud,
) -> Result<Plan> {
    let size = |name: &str| {
        flavors
            .iter()
            .find(|f| f.name == name)
            .map(|f| (f.vcpus as u64, f.ram_mib))
            .ok_or_else(|| Error::invalid("flavor", format!("Flavor '{name}' is not on offer.")))
    };
    let mut resources = vec![PlannedResource::new(
        "create",
        "server_group",
        "masters",
        "anti-affinity",
    )];
    let master = size(&spec.master_flavor)?;
    let mut masters = Vec::new();
    for i in 0..spec.master_count {
        masters.push(master);
        resources.push(PlannedResource::new(
            "create",
            "server",
            format!("master-{i}"),
            spec.master_flavor.clone(),
        ));
        resources.push(PlannedResource::new(
            "create",
            "volume",
            format!("etcd-{i}"),
            "10 GiB, attached to its master",
        ));
    }
    resources.push(PlannedResource::new(
        "create",
        "load_balancer",
        "api",
        "TCP 6443 → masters, TCP health monitor",
    ));
    let mut workers = Vec::new();
    let (mut vcpus, mut ram, mut gib) = (
        master.0 * spec.master_count as u64,
        master.1 * spec.master_count as u64,
        10 * spec.master_count as u64,
    );
    for ng in &spec.node_groups {
        let w = size(&ng.flavor)?;
        for j in 0..ng.node_count {
            workers.push(w);
            resources.push(PlannedResource::new(
                "create",
                "server",
                format!("{}-{j}", ng.name),
                format!("{}, {} GiB boot volume", ng.flavor, ng.boot_volume_gib),
            ));
            vcpus += w.0;
            ram += w.1;
            gib += ng.boot_volume_gib;
        }
    }
    let capacity = capacity(cloud, &masters, &workers).await;
    Ok(Plan {
        resources,
        totals: totals([
            ("servers", (masters.len() + workers.len()) as i64),
            ("vcpus", vcpus as i64),
            ("ram_mib", ram as i64),
            ("volume_gib", gib as i64),
            ("load_balancers", 1),
        ]),
        capacity,
        quota: None,
        expected_seconds: create_seconds(spec),
        plan_id: PlanId::default(),
    })
}

// ---- plans of the other changes, and "apply this plan" -------------------------------

/// What identifies a plan: the resources it touches and whether it fits, hashed. Apply
/// with `plan_id` recomputes the plan and refuses when the id differs: the world changed
/// in between, and the user should read the new plan rather than get something else.
pub fn plan_id(plan: &Plan) -> PlanId {
    use sha2::{Digest, Sha256};
    let basis = json!({
        "resources": plan.resources,
        "fits": plan.capacity.fits,
        "quota_fits": plan.quota.as_ref().map(|q| q.fits),
    });
    let digest = Sha256::digest(basis.to_string().as_bytes());
    PlanId::from(hex::encode(&digest[..12]))
}

/// Sets the plan's `plan_id`.
pub fn seal(mut plan: Plan) -> Plan {
    plan.plan_id = plan_id(&plan);
    plan
}

/// Refuses to apply when the plan the user read (`expected`) is no longer the plan.
pub fn check_unchanged(plan: &Plan, expected: Option<&PlanId>) -> Result<()> {
    match expected {
        Some(e) if *e != plan_id(plan) => {
            let what: Vec<String> = plan
                .resources
                .iter()
                .map(|x| format!("{} {} {}", x.action, x.kind, x.name))
                .collect();
            Err(Error::Conflict(format!(
                "The world changed since this plan was made (plan {e}, now {}): it would now {}. Nothing was done; review the new plan.",
                plan_id(plan),
                if what.is_empty() { "do nothing".to_string() } else { what.join(", ") }
            )))
        }
        _ => Ok(()),
    }
}

/// Quota headroom after a change: limits, used, this plan, what is left, and whether
/// it fits.
pub async fn quota_section(
    store: &crate::Store,
    project_id: &str,
    flavors: &[Flavor],
    more: &Usage,
) -> Result<QuotaSection> {
    let etcd = super::saga_shared::ETCD_GIB as i64;
    let quota = crate::quotas::get(store, project_id).await?;
    let used = crate::quotas::usage(store, project_id, flavors, etcd).await?;
    let left_after = Usage {
        clusters: quota.clusters - used.clusters - more.clusters,
        vcpus: quota.vcpus - used.vcpus - more.vcpus,
        ram_mib: quota.ram_mib - used.ram_mib - more.ram_mib,
        volume_gib: quota.volume_gib - used.volume_gib - more.volume_gib,
        load_balancers: quota.load_balancers - used.load_balancers - more.load_balancers,
    };
    Ok(QuotaSection {
        fits: crate::quotas::check(&quota, &used, more).is_ok(),
        limits: quota,
        used,
        this_plan: *more,
        left_after,
    })
}

/// Whether the cloud's hosts take `masters` (each on its own host) and `workers`.
async fn capacity(cloud: &dyn Cloud, masters: &[(u64, u64)], workers: &[(u64, u64)]) -> Capacity {
    match cloud.host_usage().await {
        Ok(hosts) => Capacity {
            fits: Some(fits(&hosts, masters, workers)),
            hosts: Some(hosts.len() as u64),
            free_vcpus: Some(
                hosts
                    .iter()
                    .map(|h| h.vcpus.saturating_sub(h.vcpus_used))
                    .sum::<u64>(),
            ),
            free_ram_mib: Some(
                hosts
                    .iter()
                    .map(|h| h.ram_mib.saturating_sub(h.ram_used_mib))
                    .sum::<u64>(),
            ),
            unknown: None,
        },
        Err(e) => Capacity {
            fits: None,
            hosts: None,
            free_vcpus: None,
            free_ram_mib: None,
            unknown: Some(format!("The cloud does not show host usage: {e}")),
        },
    }
}

/// The whole create plan: resources, capacity, quota headroom, duration, id.
pub async fn create_plan_full(
    store: &crate::Store,
    project_id: &str,
    spec: &ClusterSpec,
    flavors: &[Flavor],
    cloud: &dyn Cloud,
) -> Result<Plan> {
    let mut plan = create_plan(spec, flavors, cloud).await?;
    let etcd = super::saga_shared::ETCD_GIB as i64;
    let more = crate::quotas::cluster_usage(spec, flavors, etcd);
    plan.quota = Some(quota_section(store, project_id, flavors, &more).await?);
    Ok(seal(plan))
}

/// What deleting the cluster removes: everything of it the cloud holds (by its mark,
/// whatever the database says), service load balancers and persistent volumes included.
pub async fn delete_plan(cloud: &dyn Cloud, cluster_id: &str) -> Result<Plan> {
    let fail = |e: crate::cloud::CloudError| {
        Error::internal(format!("listing the cluster's resources: {e}"))
    };
    let mark = super::saga_shared::cluster_metadata(cluster_id);
    let mut resources = Vec::new();
    let mut servers = cloud.server_list(&mark).await.map_err(fail)?;
    servers.sort_by(|a, b| a.name.cmp(&b.name));
    for s in &servers {
        let role = s.metadata.get("shipyard-role").cloned().unwrap_or_default();
        let detail = match s.metadata.get("shipyard-node-group") {
            Some(g) => format!("{role} of node group {g}"),
            None => role,
        };
        resources
            .push(PlannedResource::new("delete", "server", s.name.clone(), detail).with_id(&s.id));
    }
    let mut lbs = cloud
        .load_balancer_list(&[super::saga_shared::cluster_tag(cluster_id)])
        .await
        .map_err(fail)?;
    lbs.sort_by(|a, b| a.name.cmp(&b.name));
    for l in &lbs {
        let detail = if l.tags.iter().any(|t| t == "shipyard-role=service") {
            "service load balancer"
        } else {
            "API load balancer"
        };
        let detail = format!("{detail}, VIP {}", l.vip_address.as_deref().unwrap_or("-"));
        resources.push(
            PlannedResource::new("delete", "load_balancer", l.name.clone(), detail).with_id(&l.id),
        );
    }
    let mut volumes = cloud.volume_list(&mark).await.map_err(fail)?;
    volumes.sort_by(|a, b| a.name.cmp(&b.name));
    for v in &volumes {
        let role = v.metadata.get("shipyard-role").cloned().unwrap_or_default();
        let detail = format!("{} GiB {role}", v.size_gib);
        resources
            .push(PlannedResource::new("delete", "volume", v.name.clone(), detail).with_id(&v.id));
    }
    let group = format!("{}-masters", super::saga_shared::prefix(cluster_id));
    if let Some(g) = cloud.server_group_find(&group).await.map_err(fail)? {
        resources.push(
            PlannedResource::new("delete", "server_group", g.name.clone(), "anti-affinity")
                .with_id(&g.id),
        );
    }
    let seconds = if servers.is_empty() {
        0.0
    } else {
        SERVER_SECS / 2.0
    } + if volumes.is_empty() { 0.0 } else { VOLUME_SECS };
    let seconds = seconds.max(if lbs.is_empty() { 0.0 } else { LB_SECS / 2.0 });
    Ok(seal(Plan {
        resources,
        totals: totals([
            ("servers", servers.len() as i64),
            ("load_balancers", lbs.len() as i64),
            ("volumes", volumes.len() as i64),
            (
                "volume_gib",
                volumes.iter().map(|v| v.size_gib).sum::<u64>() as i64,
            ),
        ]),
        capacity: Capacity::fits(true),
        quota: None,
        expected_seconds: seconds,
        plan_id: PlanId::default(),
    }))
}

/// Adding `names` workers of `group` (all of one flavor) and removing `remove`.
pub async fn workers_plan(
    store: &crate::Store,
    project_id: &str,
    cloud: &dyn Cloud,
    flavors: &[Flavor],
    group: &super::NodeGroupSpec,
    add: &[String],
    remove: &[String],
) -> Result<Plan> {
    let f = flavors
        .iter()
        .find(|f| f.name == group.flavor)
        .ok_or_else(|| {
            Error::invalid(
                "node_group_flavor",
                format!("Flavor '{}' is not on offer.", group.flavor),
            )
        })?;
    let mut resources = Vec::new();
    for n in add {
        let detail = format!(
            "{}, {} GiB boot volume",
            group.flavor, group.boot_volume_gib
        );
        resources.push(PlannedResource::new("create", "server", n.clone(), detail));
    }
    for n in remove {
        let detail = format!("worker of node group {}", group.name);
        resources.push(PlannedResource::new("delete", "server", n.clone(), detail));
    }
    let k = add.len() as i64;
    let more = crate::quotas::Usage {
        vcpus: f.vcpus as i64 * k,
        ram_mib: f.ram_mib as i64 * k,
        volume_gib: group.boot_volume_gib as i64 * k,
        ..Default::default()
    };
    let workers = vec![(f.vcpus as u64, f.ram_mib); add.len()];
    Ok(seal(Plan {
        resources,
        totals: totals([
            ("servers_added", add.len() as i64),
            ("servers_removed", remove.len() as i64),
            ("vcpus", more.vcpus),
            ("ram_mib", more.ram_mib),
            ("volume_gib", more.volume_gib),
        ]),
        capacity: capacity(cloud, &[], &workers).await,
        quota: Some(quota_section(store, project_id, flavors, &more).await?),
        expected_seconds: if add.is_empty() && remove.is_empty() {
            0.0
        } else {
            SERVER_SECS
        },
        plan_id: PlanId::default(),
    }))
}
