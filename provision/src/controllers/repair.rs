//! Auto-repair's decision (Cluster API's MachineHealthCheck, GKE's and EKS's node
//! repair), worked out from what the controllers know alone (no I/O, so it is tested as
//! a function): the cluster's Nodes from the watch cache, its servers as the cloud last
//! listed them, and the repairs of the last hour from the operations table.
//!
//! A worker is replaced when its server is ERROR in the cloud, when its Node has not
//! been Ready for [`RepairSettings::not_ready_for`], or when it never registered a Node
//! within [`RepairSettings::unregistered_for`] of being ACTIVE. It is held back, and the
//! hold said in words, while more than [`RepairSettings::max_unready_percent`] of the
//! cluster's nodes are unready (the cloud is sick, not the node) and once its node group
//! had its share of repairs in the window.
//!
//! Masters are not Nodes here. A master is broken when its server is ERROR, or when the
//! API load balancer's health check has found its API down for
//! [`RepairSettings::not_ready_for`]; it is replaced (Cluster API's control plane
//! remediation) only while the masters left keep etcd's quorum ([`master_quorum`]):
//! a new member cannot join an etcd that has lost it, and the data would be the
//! broken master's alone. Otherwise the hold says so.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, NodeCondition};

use crate::cloud::Server;

/// The metadata keys that say a server's role and node group.
const ROLE_KEY: &str = "shipyard-role";
const GROUP_KEY: &str = "shipyard-node-group";

/// How auto-repair judges and paces itself.
#[derive(Clone, Debug)]
pub struct RepairSettings {
    /// Whether workers are repaired at all.
    pub enabled: bool,
    /// How long a Node may be NotReady (or Unknown) before its worker is replaced (5 min).
    pub not_ready_for: Duration,
    /// How long an ACTIVE worker may go without registering its Node (10 min).
    pub unregistered_for: Duration,
    /// How often the cluster's servers are read from the cloud and judged (30 s).
    pub every: Duration,
    /// The rolling window repairs are counted in (1 h).
    pub window: Duration,
    /// Repairs per node group per window: this share of its size, at least one (10 %).
    pub per_window_percent: u32,
    /// Above this share of unready nodes, nothing is repaired (40 %).
    pub max_unready_percent: u32,
}

impl Default for RepairSettings {
    fn default() -> Self {
        RepairSettings {
            enabled: true,
            not_ready_for: Duration::from_secs(5 * 60),
            unregistered_for: Duration::from_secs(10 * 60),
            every: Duration::from_secs(30),
            window: Duration::from_secs(3600),
            per_window_percent: 10,
            max_unready_percent: 40,
        }
    }
}

/// What the decision reads.
pub struct Observed<'a> {
    pub now_ms: i64,
    pub nodes: &'a [Node],
    /// The cluster's servers (masters and workers), as the cloud listed them.
    pub servers: &'a [Server],
    /// When each server was first seen ACTIVE (Unix ms), by server id.
    pub active_since: &'a HashMap<String, i64>,
    /// The node groups of the repairs started within the window ([`MASTERS`] for a
    /// master's).
    pub recent: &'a [String],
    /// Since when each master's API has failed the load balancer's health check (Unix
    /// ms), by server name.
    pub api_down_since: &'a HashMap<String, i64>,
}

/// What `recent` says for a master's repair (no node group is named so: not a DNS label).
pub const MASTERS: &str = ":masters";

/// What a repair replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Worker,
    Master,
}

/// A worker or a master to replace, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unhealthy {
    pub role: Role,
    pub server_id: String,
    pub name: String,
    /// Its node group ([`MASTERS`] for a master).
    pub group: String,
    pub reason: String,
}

/// Why something is not repaired now; `key` names the hold (it is said once while it
/// lasts), `reason` says it to a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    pub key: String,
    pub reason: String,
}

/// The worker or master to replace now (at most one: one operation at a time per
/// cluster; a master first), and what is held back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    pub repair: Option<Unhealthy>,
    pub holds: Vec<Hold>,
}

/// `5m`, `1m30s`, `42s`, `2h5m`.
pub fn words(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

fn ms(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

fn since(now_ms: i64, at_ms: i64) -> Duration {
    Duration::from_millis(now_ms.saturating_sub(at_ms).max(0) as u64)
}

fn ready_condition(node: &Node) -> Option<&NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

fn is_ready(node: &Node) -> bool {
    ready_condition(node).is_some_and(|c| c.status == "True")
}

/// Since when the Node has not been Ready (its Ready condition's last transition, else
/// its creation), and its last heartbeat, Unix ms.
fn not_ready_since(node: &Node) -> (Option<i64>, Option<i64>) {
    let c = ready_condition(node);
    let transition = c
        .and_then(|c| c.last_transition_time.as_ref())
        .or(node.metadata.creation_timestamp.as_ref())
        .map(|t| t.0.as_millisecond());
    let heartbeat = c
        .and_then(|c| c.last_heartbeat_time.as_ref())
        .map(|t| t.0.as_millisecond());
    (transition, heartbeat)
}

fn heard(ms: Option<i64>) -> String {
    match ms.and_then(|m| k8s_openapi::jiff::Timestamp::from_millisecond(m).ok()) {
        Some(t) => format!("last heartbeat {}", t.strftime("%Y-%m-%dT%H:%M:%SZ")),
        None => "no heartbeat recorded".into(),
    }
}

/// Whether etcd keeps its quorum with `healthy` of `total` masters (more than half).
/// A master may be replaced only while it does.
pub fn master_quorum(total: usize, healthy: usize) -> bool {
    healthy * 2 > total
}

/// What one worker's state comes to: `None` when Ready; `Some(None)` when unready but
/// not yet for long enough; `Some(Some(reason))` when it is to be replaced.
fn judge(
    s: &RepairSettings,
    o: &Observed<'_>,
    server: &Server,
    nodes: &BTreeMap<&str, &Node>,
) -> Option<Option<String>> {
    let name = &server.name;
    if server.status == "ERROR" {
        let fault = server
            .fault
            .as_deref()
            .map(|f| format!(": {f}"))
            .unwrap_or_default();
        return Some(Some(format!("worker {name} is ERROR in the cloud{fault}")));
    }
    match nodes.get(name.as_str()) {
        Some(node) if is_ready(node) => None,
        Some(node) => {
            if !matches!(server.status.as_str(), "ACTIVE" | "SHUTOFF") {
                return Some(None);
            }
            let (at, heartbeat) = not_ready_since(node);
            let Some(at) = at else { return Some(None) };
            let for_ = since(o.now_ms, at);
            let status = ready_condition(node).map_or("Unknown", |c| c.status.as_str());
            let state = if status == "Unknown" {
                "NotReady (Unknown)"
            } else {
                "NotReady"
            };
            (for_ >= s.not_ready_for)
                .then(|| {
                    format!(
                        "worker {name} was {state} for {} ({})",
                        words(for_),
                        heard(heartbeat)
                    )
                })
                .map_or(Some(None), |r| Some(Some(r)))
        }
        None => {
            if server.status != "ACTIVE" {
                return Some(None);
            }
            let Some(at) = o.active_since.get(&server.id) else {
                return Some(None);
            };
            let for_ = since(o.now_ms, *at);
            if for_ >= s.unregistered_for {
                Some(Some(format!(
                    "worker {name} registered no Node in the {} since its server was seen ACTIVE",
                    words(for_)
                )))
            } else {
                Some(None)
            }
        }
    }
}

/// What to repair now, and what is held back.
pub fn decide(s: &RepairSettings, o: &Observed<'_>) -> Decision {
    let mut out = Decision::default();
    let nodes: BTreeMap<&str, &Node> = o
        .nodes
        .iter()
        .filter_map(|n| Some((n.metadata.name.as_deref()?, n)))
        .collect();
    let mut workers: Vec<&Server> = o
        .servers
        .iter()
        .filter(|s| s.metadata.get(ROLE_KEY).map(String::as_str) == Some("worker"))
        .filter(|s| s.metadata.contains_key(GROUP_KEY))
        .collect();
    workers.sort_by(|a, b| a.name.cmp(&b.name));
    let mut unready = Vec::new();
    let (mut candidates, holds, master_count) = masters(s, o);
    out.holds.extend(holds);
    let mut sizes: BTreeMap<&str, usize> = BTreeMap::from([(MASTERS, master_count)]);
    for w in &workers {
        let group = w.metadata[GROUP_KEY].as_str();
        *sizes.entry(group).or_default() += 1;
        if let Some(verdict) = judge(s, o, w, &nodes) {
            unready.push(w.name.as_str());
            if let Some(reason) = verdict {
                candidates.push(Unhealthy {
                    role: Role::Worker,
                    server_id: w.id.clone(),
                    name: w.name.clone(),
                    group: group.to_string(),
                    reason,
                });
            }
        }
    }
    if !s.enabled || candidates.is_empty() {
        return out;
    }
    let total = workers.len();
    if unready.len() * 100 > total * s.max_unready_percent as usize {
        out.holds.push(Hold {
            key: "unready".into(),
            reason: format!(
                "{} of {total} nodes are unready ({}), more than {} %: the cloud looks sick, not the nodes; \
                 no node is repaired until fewer are ({} would be: {})",
                unready.len(),
                unready.join(", "),
                s.max_unready_percent,
                candidates.len(),
                candidates
                    .iter()
                    .map(|c| c.reason.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        });
        return out;
    }
    for c in candidates {
        let size = sizes.get(c.group.as_str()).copied().unwrap_or(1);
        let allowed = (size * s.per_window_percent as usize / 100).max(1);
        let used = o.recent.iter().filter(|g| **g == c.group).count();
        if used < allowed {
            if out.repair.is_none() {
                out.repair = Some(c);
            }
            continue;
        }
        let who = match c.role {
            Role::Master => "the masters".to_string(),
            Role::Worker => format!("node group {}", c.group),
        };
        out.holds.push(Hold {
            key: format!("budget:{}", c.group),
            reason: format!(
                "{}; not repaired: {who} had {used} repair(s) in the last {} \
                 (at most {allowed} for its {size} node(s))",
                c.reason,
                words(s.window)
            ),
        });
    }
    out
}

/// The broken masters that may be replaced (while the others keep etcd's quorum),
/// the holds of those that may not, and how many masters there are.
fn masters(s: &RepairSettings, o: &Observed<'_>) -> (Vec<Unhealthy>, Vec<Hold>, usize) {
    let mut masters: Vec<&Server> = o
        .servers
        .iter()
        .filter(|s| s.metadata.get(ROLE_KEY).map(String::as_str) == Some("master"))
        .collect();
    masters.sort_by(|a, b| a.name.cmp(&b.name));
    let total = masters.len();
    let api_down = |m: &Server| o.api_down_since.get(&m.name).copied();
    let healthy = masters
        .iter()
        .filter(|m| m.status == "ACTIVE" && api_down(m).is_none())
        .count();
    let broken: Vec<Unhealthy> = masters
        .iter()
        .filter_map(|m| {
            let reason = if m.status == "ERROR" {
                let fault = m
                    .fault
                    .as_deref()
                    .map(|f| format!(": {f}"))
                    .unwrap_or_default();
                format!("master {} is ERROR in the cloud{fault}", m.name)
            } else {
                let for_ = since(o.now_ms, api_down(m)?);
                if m.status != "ACTIVE" || for_ < s.not_ready_for {
                    return None;
                }
                format!(
                    "master {}'s API has failed the load balancer's health check for {}",
                    m.name,
                    words(for_)
                )
            };
            Some(Unhealthy {
                role: Role::Master,
                server_id: m.id.clone(),
                name: m.name.clone(),
                group: MASTERS.into(),
                reason,
            })
        })
        .collect();
    if master_quorum(total, healthy) {
        return (broken, Vec::new(), total);
    }
    let holds = broken
        .into_iter()
        .map(|b| Hold {
            key: format!("master:{}", b.name),
            reason: format!(
                "{}; etcd has lost its quorum ({healthy} of {total} masters healthy): a new \
                 member cannot join it, so no master is replaced (restore one by hand)",
                b.reason
            ),
        })
        .collect();
    (Vec::new(), holds, total)
}

/// The window's start for `now_ms`.
pub fn window_start(s: &RepairSettings, now_ms: i64) -> i64 {
    now_ms - ms(s.window)
}

#[cfg(test)]
mod tests;
