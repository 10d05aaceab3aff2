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
