//! Plan before apply: what a cluster create will make, whether the cloud's hosts can
//! take it (from the cloud's own hypervisor figures), and how long it should take (the
//! longest chain of the step graph under the cloud's usual latencies).

use serde_json::{json, Value};

use super::ClusterSpec;
use crate::cloud::{Cloud, Flavor, HostUsage};
use crate::{Error, Result};

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
) -> Result<Value> {
    let size = |name: &str| {
        flavors
            .iter()
            .find(|f| f.name == name)
            .map(|f| (f.vcpus as u64, f.ram_mib))
            .ok_or_else(|| Error::invalid("flavor", format!("Flavor '{name}' is not on offer.")))
    };
    let mut resources = vec![
        json!({"action": "create", "kind": "server_group", "name": "masters", "detail": "anti-affinity"}),
    ];
    let master = size(&spec.master_flavor)?;
    let mut masters = Vec::new();
    for i in 0..spec.master_count {
        masters.push(master);
        resources.push(json!({"action": "create", "kind": "server", "name": format!("master-{i}"), "detail": spec.master_flavor}));
        resources.push(json!({"action": "create", "kind": "volume", "name": format!("etcd-{i}"), "detail": "10 GiB, attached to its master"}));
    }
    resources.push(json!({"action": "create", "kind": "load_balancer", "name": "api", "detail": "TCP 6443 → masters, TCP health monitor"}));
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
            resources.push(json!({"action": "create", "kind": "server", "name": format!("{}-{j}", ng.name), "detail": format!("{}, {} GiB boot volume", ng.flavor, ng.boot_volume_gib)}));
            vcpus += w.0;
            ram += w.1;
            gib += ng.boot_volume_gib;
        }
    }
    let capacity = match cloud.host_usage().await {
        Ok(hosts) => json!({
            "fits": fits(&hosts, &masters, &workers),
            "hosts": hosts.len(),
            "free_vcpus": hosts.iter().map(|h| h.vcpus.saturating_sub(h.vcpus_used)).sum::<u64>(),
            "free_ram_mib": hosts.iter().map(|h| h.ram_mib.saturating_sub(h.ram_used_mib)).sum::<u64>(),
        }),
        Err(e) => {
            json!({"fits": null, "unknown": format!("The cloud does not show host usage: {e}")})
        }
    };
    Ok(json!({
        "resources": resources,
        "totals": {"servers": masters.len() + workers.len(), "vcpus": vcpus, "ram_mib": ram, "volume_gib": gib, "load_balancers": 1},
        "capacity": capacity,
        "expected_seconds": create_seconds(spec),
    }))
}

// ---- plans of the other changes, and "apply this plan" -------------------------------

/// What identifies a plan: the resources it touches and whether it fits, hashed. Apply
/// with `plan_id` recomputes the plan and refuses when the id differs: the world changed
/// in between, and the user should read the new plan rather than get something else.
pub fn plan_id(plan: &Value) -> String {
    use sha2::{Digest, Sha256};
    let basis = json!({
        "resources": plan["resources"],
        "fits": plan["capacity"]["fits"],
        "quota_fits": plan["quota"]["fits"],
    });
    let digest = Sha256::digest(basis.to_string().as_bytes());
    hex::encode(&digest[..12])
}

/// Sets the plan's `plan_id`.
pub fn seal(mut plan: Value) -> Value {
    plan["plan_id"] = json!(plan_id(&plan));
    plan
}

/// Refuses to apply when the plan the user read (`expected`) is no longer the plan.
pub fn check_unchanged(plan: &Value, expected: Option<&str>) -> Result<()> {
    match expected {
        Some(e) if e != plan_id(plan) => {
            let what: Vec<String> = plan["resources"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .map(|x| {
                            format!(
                                "{} {} {}",
                                x["action"].as_str().unwrap_or(""),
                                x["kind"].as_str().unwrap_or(""),
                                x["name"].as_str().unwrap_or("")
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
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
    more: &crate::quotas::Usage,
) -> Result<Value> {
    let etcd = super::saga::ETCD_GIB as i64;
    let quota = crate::quotas::get(store, project_id).await?;
    let used = crate::quotas::usage(store, project_id, flavors, etcd).await?;
    let left = json!({
        "clusters": quota.clusters - used.clusters - more.clusters,
        "vcpus": quota.vcpus - used.vcpus - more.vcpus,
        "ram_mib": quota.ram_mib - used.ram_mib - more.ram_mib,
        "volume_gib": quota.volume_gib - used.volume_gib - more.volume_gib,
        "load_balancers": quota.load_balancers - used.load_balancers - more.load_balancers,
    });
    Ok(json!({
        "limits": quota,
        "used": used,
        "this_plan": more,
        "left_after": left,
        "fits": crate::quotas::check(&quota, &used, more).is_ok(),
    }))
}

async fn capacity(cloud: &dyn Cloud, workers: &[(u64, u64)]) -> Value {
    match cloud.host_usage().await {
        Ok(hosts) => json!({
            "fits": fits(&hosts, &[], workers),
            "hosts": hosts.len(),
            "free_vcpus": hosts.iter().map(|h| h.vcpus.saturating_sub(h.vcpus_used)).sum::<u64>(),
            "free_ram_mib": hosts.iter().map(|h| h.ram_mib.saturating_sub(h.ram_used_mib)).sum::<u64>(),
        }),
        Err(e) => {
            json!({"fits": null, "unknown": format!("The cloud does not show host usage: {e}")})
        }
    }
}

/// The whole create plan: resources, capacity, quota headroom, duration, id.
pub async fn create_plan_full(
    store: &crate::Store,
    project_id: &str,
    spec: &ClusterSpec,
    flavors: &[Flavor],
    cloud: &dyn Cloud,
) -> Result<Value> {
    let mut plan = create_plan(spec, flavors, cloud).await?;
    let etcd = super::saga::ETCD_GIB as i64;
    let more = crate::quotas::cluster_usage(spec, flavors, etcd);
    plan["quota"] = quota_section(store, project_id, flavors, &more).await?;
    Ok(seal(plan))
}

/// What deleting the cluster removes: everything of it the cloud holds (by its mark,
/// whatever the database says), service load balancers and persistent volumes included.
pub async fn delete_plan(cloud: &dyn Cloud, cluster_id: &str) -> Result<Value> {
    let fail = |e: crate::cloud::CloudError| {
        Error::internal(format!("listing the cluster's resources: {e}"))
    };
    let mark = super::saga::cluster_metadata(cluster_id);
    let mut resources = Vec::new();
    let mut servers = cloud.server_list(&mark).await.map_err(fail)?;
    servers.sort_by(|a, b| a.name.cmp(&b.name));
    for s in &servers {
        let role = s.metadata.get("shipyard-role").cloned().unwrap_or_default();
        let detail = match s.metadata.get("shipyard-node-group") {
            Some(g) => format!("{role} of node group {g}"),
            None => role,
        };
        resources.push(json!({"action": "delete", "kind": "server", "name": s.name, "detail": detail, "id": s.id}));
    }
    let mut lbs = cloud
        .load_balancer_list(&[super::saga::cluster_tag(cluster_id)])
        .await
        .map_err(fail)?;
    lbs.sort_by(|a, b| a.name.cmp(&b.name));
    for l in &lbs {
        let detail = if l.tags.iter().any(|t| t == "shipyard-role=service") {
            "service load balancer"
        } else {
            "API load balancer"
        };
        resources.push(json!({"action": "delete", "kind": "load_balancer", "name": l.name,
            "detail": format!("{detail}, VIP {}", l.vip_address.as_deref().unwrap_or("-")), "id": l.id}));
    }
    let mut volumes = cloud.volume_list(&mark).await.map_err(fail)?;
    volumes.sort_by(|a, b| a.name.cmp(&b.name));
    for v in &volumes {
        let role = v.metadata.get("shipyard-role").cloned().unwrap_or_default();
        resources.push(json!({"action": "delete", "kind": "volume", "name": v.name,
            "detail": format!("{} GiB {role}", v.size_gib), "id": v.id}));
    }
    let group = format!("{}-masters", super::saga::prefix(cluster_id));
    if let Some(g) = cloud.server_group_find(&group).await.map_err(fail)? {
        resources.push(json!({"action": "delete", "kind": "server_group", "name": g.name, "detail": "anti-affinity", "id": g.id}));
    }
    let seconds = if servers.is_empty() {
        0.0
    } else {
        SERVER_SECS / 2.0
    } + if volumes.is_empty() { 0.0 } else { VOLUME_SECS };
    let seconds = seconds.max(if lbs.is_empty() { 0.0 } else { LB_SECS / 2.0 });
    Ok(seal(json!({
        "resources": resources,
        "totals": {"servers": servers.len(), "load_balancers": lbs.len(), "volumes": volumes.len(),
            "volume_gib": volumes.iter().map(|v| v.size_gib).sum::<u64>()},
        "capacity": {"fits": true},
        "expected_seconds": seconds,
    })))
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
) -> Result<Value> {
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
        resources.push(json!({"action": "create", "kind": "server", "name": n,
            "detail": format!("{}, {} GiB boot volume", group.flavor, group.boot_volume_gib)}));
    }
    for n in remove {
        resources.push(json!({"action": "delete", "kind": "server", "name": n, "detail": format!("worker of node group {}", group.name)}));
    }
    let k = add.len() as i64;
    let more = crate::quotas::Usage {
        vcpus: f.vcpus as i64 * k,
        ram_mib: f.ram_mib as i64 * k,
        volume_gib: group.boot_volume_gib as i64 * k,
        ..Default::default()
    };
    let workers = vec![(f.vcpus as u64, f.ram_mib); add.len()];
    Ok(seal(json!({
        "resources": resources,
        "totals": {"servers_added": add.len(), "servers_removed": remove.len(),
            "vcpus": more.vcpus, "ram_mib": more.ram_mib, "volume_gib": more.volume_gib},
        "capacity": capacity(cloud, &workers).await,
        "quota": quota_section(store, project_id, flavors, &more).await?,
        "expected_seconds": if add.is_empty() && remove.is_empty() { 0.0 } else { SERVER_SECS },
    })))
}
