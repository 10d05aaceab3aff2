//! Octavia's objects as the cloud keeps them (saved, restored, read by the data plane
//! in [`crate::lbnet`]), and the VIP range they take addresses from.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::Ipv4Addr;
use std::sync::{Mutex, OnceLock};

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::common::errors::{ApiError, OCTAVIA};

/// What a pending object is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Pending {
    Create,
    Update,
    Delete,
}

/// A pending state and when it ends.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Busy {
    pub kind: Pending,
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
}

/// `PENDING_*` while `busy` lasts, then ACTIVE.
pub(super) fn provisioning(busy: &Option<Busy>, now: OffsetDateTime) -> &'static str {
    match busy {
        Some(b) if now < b.until => match b.kind {
            Pending::Create => "PENDING_CREATE",
            Pending::Update => "PENDING_UPDATE",
            Pending::Delete => "PENDING_DELETE",
        },
        _ => "ACTIVE",
    }
}

/// What every Octavia object carries.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Common {
    pub id: String,
    pub name: String,
    pub description: String,
    pub project_id: String,
    pub admin_state_up: bool,
    pub tags: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated: OffsetDateTime,
    pub busy: Option<Busy>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoadBalancer {
    #[serde(flatten)]
    pub c: Common,
    pub vip_address: Ipv4Addr,
    pub vip_subnet_id: String,
    pub vip_network_id: String,
    pub vip_port_id: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Listener {
    #[serde(flatten)]
    pub c: Common,
    pub loadbalancer_id: String,
    pub protocol: String,
    pub protocol_port: u16,
    pub connection_limit: i64,
    pub default_pool_id: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pool {
    #[serde(flatten)]
    pub c: Common,
    pub loadbalancer_id: String,
    pub listener_id: Option<String>,
    pub protocol: String,
    pub lb_algorithm: String,
    pub healthmonitor_id: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Member {
    #[serde(flatten)]
    pub c: Common,
    pub pool_id: String,
    pub address: Ipv4Addr,
    pub protocol_port: u16,
    pub weight: u32,
    pub backup: bool,
    pub subnet_id: Option<String>,
    pub monitor_address: Option<Ipv4Addr>,
    pub monitor_port: Option<u16>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HealthMonitor {
    #[serde(flatten)]
    pub c: Common,
    pub pool_id: String,
    pub kind: String,
    /// Seconds between probes.
    pub delay: u64,
    /// Seconds a probe may take.
    pub timeout: u64,
    pub max_retries: u32,
    pub max_retries_down: u32,
}

/// The saved form of load balancer state (see [`crate::common::persist`]).
#[derive(Default, Serialize, Deserialize)]
pub struct LbState {
    pub loadbalancers: BTreeMap<String, LoadBalancer>,
    pub listeners: BTreeMap<String, Listener>,
    pub pools: BTreeMap<String, Pool>,
    pub members: BTreeMap<String, Member>,
    pub monitors: BTreeMap<String, HealthMonitor>,
    version: u64,
}

impl LbState {
    pub(crate) fn changed(&mut self) -> (u64, String) {
        self.version += 1;
        crate::common::persist::snapshot(self, self.version)
    }

    /// Removes load balancers whose deletion has finished, with everything under them.
    /// True when anything went.
    pub(crate) fn sweep(&mut self, now: OffsetDateTime) -> bool {
        let gone: Vec<String> = self
            .loadbalancers
            .values()
            .filter(|lb| {
                lb.c.busy
                    .as_ref()
                    .is_some_and(|b| b.kind == Pending::Delete && now >= b.until)
            })
            .map(|lb| lb.c.id.clone())
            .collect();
        for id in &gone {
            self.remove_tree(id);
        }
        !gone.is_empty()
    }

    pub(crate) fn remove_tree(&mut self, lb_id: &str) {
        if let Some(lb) = self.loadbalancers.remove(lb_id) {
            release_vip(lb.vip_address);
        }
        self.listeners.retain(|_, l| l.loadbalancer_id != lb_id);
        let pools: BTreeSet<String> = self
            .pools
            .values()
            .filter(|p| p.loadbalancer_id == lb_id)
            .map(|p| p.c.id.clone())
            .collect();
        self.pools.retain(|id, _| !pools.contains(id));
        self.members.retain(|_, m| !pools.contains(&m.pool_id));
        self.monitors.retain(|_, h| !pools.contains(&h.pool_id));
    }

    pub fn members_of<'a>(&'a self, pool_id: &'a str) -> impl Iterator<Item = &'a Member> + 'a {
        self.members.values().filter(move |m| m.pool_id == pool_id)
    }

    pub fn monitor_of(&self, pool_id: &str) -> Option<&HealthMonitor> {
        self.monitors.values().find(|h| h.pool_id == pool_id)
    }
}

/// Load balancer state and the VIP range (the network side, bound listeners and member
/// health, is [`crate::lbnet::Net`]).
pub struct LoadBalancers {
    pub(crate) state: Mutex<LbState>,
    vip_base: u32,
    vip_size: u32,
}

impl LoadBalancers {
    pub fn new(config: &crate::Config) -> LoadBalancers {
        let (base, prefix) = config.vip_range;
        let size = 1u32 << (32 - prefix.clamp(8, 30));
        LoadBalancers {
            state: Mutex::new(LbState::default()),
            vip_base: u32::from(base) & !(size - 1),
            vip_size: size,
        }
    }

    pub fn restore(&self, saved: LbState) {
        for lb in saved.loadbalancers.values() {
            claim_vip(lb.vip_address);
        }
        if let Ok(mut state) = self.state.lock() {
            *state = saved;
        }
    }

    pub(crate) fn lock(&self) -> Result<std::sync::MutexGuard<'_, LbState>, ApiError> {
        self.state.lock().map_err(|_| {
            OCTAVIA.err(
                StatusCode::INTERNAL_SERVER_ERROR,
                "load balancer state poisoned",
            )
        })
    }

    /// The first free address of the VIP range (not its first or last address), claimed
    /// process-wide so that two clouds in one process never share one.
    pub(crate) fn allocate_vip(&self) -> Option<Ipv4Addr> {
        (1..self.vip_size.saturating_sub(1))
            .map(|i| Ipv4Addr::from(self.vip_base + i))
            .find(|ip| claim_vip(*ip))
    }

    pub(crate) fn in_range(&self, ip: Ipv4Addr) -> bool {
        let n = u32::from(ip);
        n > self.vip_base && n < self.vip_base + self.vip_size - 1
    }

    /// Load balancer counts per project, for quotas.
    pub fn count(&self, project_id: &str) -> usize {
        self.state
            .lock()
            .map(|s| {
                s.loadbalancers
                    .values()
                    .filter(|l| l.c.project_id == project_id)
                    .count()
            })
            .unwrap_or(0)
    }
}

/// VIPs in use by any cloud of this process.
fn vips() -> &'static Mutex<HashSet<Ipv4Addr>> {
    static VIPS: OnceLock<Mutex<HashSet<Ipv4Addr>>> = OnceLock::new();
    VIPS.get_or_init(Default::default)
}

/// Claims a VIP for this process; false when another load balancer has it.
pub fn claim_vip(ip: Ipv4Addr) -> bool {
    vips().lock().map(|mut v| v.insert(ip)).unwrap_or(false)
}

pub fn release_vip(ip: Ipv4Addr) {
    if let Ok(mut v) = vips().lock() {
        v.remove(&ip);
    }
}
