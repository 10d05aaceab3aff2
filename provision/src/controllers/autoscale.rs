//! What the node group autoscaler does, worked out from the caches alone (no I/O, so it
//! is tested as a function), with cluster-autoscaler's semantics:
//!
//! - **Up**: pods the scheduler left Pending (`PodScheduled=False`, reason
//!   `Unschedulable`) that neither the free room of the Ready nodes nor the nodes still
//!   joining would take, and that a new node of an autoscaled group would (requests
//!   against the allocatable the simulated kubelet reports: the flavor's vCPUs and RAM,
//!   110 pods), grow the group whose new nodes leave the least unused CPU and memory
//!   (least-waste), by as many nodes as they need, never above its maximum. A group
//!   below its minimum grows to it first.
//! - **Down**: a Ready node of an autoscaled group above its minimum whose pods' requests
//!   stay under [`Settings::utilization`] of its allocatable (CPU or memory, whichever is
//!   higher) for [`Settings::unneeded`], whose pods all have a controller and fit on the
//!   other nodes, is removed (one at a time; empty nodes of one group together, up to
//!   [`MAX_EMPTY_BULK`], as `--max-empty-bulk-delete`), no sooner than
//!   [`Settings::delay_after_add`] after a scale-up. A group above its maximum loses its
//!   emptiest node at once.
//! - After a failed change nothing is changed for [`Settings::backoff`].
//!
//! Times are Unix milliseconds.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};

use super::decide::quantity_bytes;
use crate::clusters::bootstrap::NODE_GROUP_LABEL;

/// The pods a simulated kubelet takes (kubesim's `MAX_PODS`, the kubelet's default).
pub const MAX_PODS: i64 = 110;
/// Empty nodes removed in one change (cluster-autoscaler's `--max-empty-bulk-delete`).
pub const MAX_EMPTY_BULK: usize = 10;

/// The autoscaler's timings and threshold (cluster-autoscaler's flags in brackets).
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// How long a node must stay unneeded before it goes [`--scale-down-unneeded-time`].
    pub unneeded: Duration,
    /// No scale-down this long after a scale-up [`--scale-down-delay-after-add`].
    pub delay_after_add: Duration,
    /// Nothing is changed this long after a failed change
    /// [`--scale-down-delay-after-failure`, and the node groups' backoff].
    pub backoff: Duration,
    /// A node whose requests stay under this share of its allocatable is unneeded
    /// [`--scale-down-utilization-threshold`].
    pub utilization: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            unneeded: Duration::from_secs(600),
            delay_after_add: Duration::from_secs(600),
            backoff: Duration::from_secs(180),
            utilization: 0.5,
        }
    }
}

/// A node group as the autoscaler sees it: its count and bounds, and what one of its
/// nodes offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub autoscale: bool,
    pub node_count: u32,
    pub min: u32,
    pub max: u32,
    /// A node's allocatable CPU, millicores (the flavor's vCPUs).
    pub cpu: i64,
    /// A node's allocatable memory, bytes (the flavor's RAM).
    pub memory: i64,
    /// The labels and taints its nodes register with (beside the group's own label).
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<String>,
}

/// What the autoscaler remembers between passes of one cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    /// Nodes found unneeded, since when.
    pub unneeded_since: BTreeMap<String, i64>,
    /// When the last scale-up was started.
    pub last_up: Option<i64>,
    /// When the last change failed.
    pub last_failure: Option<i64>,
    /// Nodes being removed (left out until their Node is gone).
    pub removing: BTreeSet<String>,
}

/// One change to a node group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Grow `group` to `to` nodes.
    Up { group: String, to: u32, why: String },
    /// Drain `nodes`, then shrink `group` to `to` without them (one node, or several
    /// empty ones).
    Down {
        group: String,
        nodes: Vec<String>,
        to: u32,
        why: String,
    },
}

/// A pass's answer: at most one change, and whether a timer runs (pass again soon).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub decision: Option<Decision>,
    pub waiting: bool,
}

/// CPU in millicores (`500m`, `2`, `0.5`).
pub fn millicores(q: &str) -> Option<i64> {
    let q = q.trim();
    if let Some(m) = q.strip_suffix('m') {
        return m.parse().ok();
    }
    q.parse::<f64>().ok().map(|c| (c * 1000.0).round() as i64)
}

/// What a pod asks for: (millicores, bytes), summed over its containers.
pub fn requests(pod: &Pod) -> (i64, i64) {
    let containers = pod
        .spec
        .as_ref()
        .map(|s| s.containers.as_slice())
        .unwrap_or(&[]);
    containers.iter().fold((0, 0), |(c, m), ctr| {
        let r = ctr.resources.as_ref().and_then(|r| r.requests.as_ref());
        let get = |k: &str| r.and_then(|r| r.get(k)).map(|q| q.0.as_str());
        (
            c + get("cpu").and_then(millicores).unwrap_or(0),
            m + get("memory").and_then(quantity_bytes).unwrap_or(0.0) as i64,
        )
    })
}

/// Pending because no node would take it (`PodScheduled=False`, `Unschedulable`).
pub fn unschedulable(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && node_of(pod).is_none()
        && pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| {
                c.iter().any(|c| {
                    c.type_ == "PodScheduled"
                        && c.status == "False"
                        && c.reason.as_deref() == Some("Unschedulable")
                })
            })
}

fn node_of(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()?
        .node_name
        .as_deref()
        .filter(|n| !n.is_empty())
}

/// Holds a node's resources: bound, and not finished.
fn running_on(pod: &Pod) -> Option<&str> {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if matches!(phase, Some("Succeeded" | "Failed")) {
        return None;
    }
    node_of(pod)
}

fn ready(n: &Node) -> bool {
    n.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn cordoned(n: &Node) -> bool {
    n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true)
}

fn name(n: &Node) -> &str {
    n.metadata.name.as_deref().unwrap_or("")
}

fn labels(n: &Node) -> BTreeMap<String, String> {
    n.metadata.labels.clone().unwrap_or_default()
}

/// The node group a Node belongs to (its label).
pub fn group_of(n: &Node) -> Option<&str> {
    n.metadata
        .labels
        .as_ref()?
        .get(NODE_GROUP_LABEL)
        .map(String::as_str)
}

/// Room on a node, real or imagined.
#[derive(Clone, Debug)]
struct Room {
    name: String,
    labels: BTreeMap<String, String>,
    /// Taints that keep pods off (NoSchedule, NoExecute).
    taints: Vec<(String, String, String)>,
    cpu: i64,
    memory: i64,
    pods: i64,
}

impl Room {
    fn of_node(n: &Node) -> Room {
        let a = n.status.as_ref().and_then(|s| s.allocatable.as_ref());
        let get = |k: &str| a.and_then(|a| a.get(k)).map(|q| q.0.as_str());
        Room {
            name: name(n).to_string(),
            labels: labels(n),
            taints: n
                .spec
                .as_ref()
                .and_then(|s| s.taints.as_ref())
                .into_iter()
                .flatten()
                .filter(|t| t.effect != "PreferNoSchedule")
                .map(|t| {
                    (
                        t.key.clone(),
                        t.value.clone().unwrap_or_default(),
                        t.effect.clone(),
                    )
                })
                .collect(),
            cpu: get("cpu").and_then(millicores).unwrap_or(0),
            memory: get("memory").and_then(quantity_bytes).unwrap_or(0.0) as i64,
            pods: get("pods").and_then(|p| p.parse().ok()).unwrap_or(MAX_PODS),
        }
    }

    /// A new node of `g`, labelled and tainted as its kubelet registers it.
    fn template(g: &Group, index: usize) -> Room {
        let mut labels = g.labels.clone();
        labels.extend([
            (NODE_GROUP_LABEL.to_string(), g.name.clone()),
            ("kubernetes.io/os".into(), "linux".into()),
            ("kubernetes.io/arch".into(), "amd64".into()),
        ]);
        Room {
            name: format!("{}-new-{index}", g.name),
            labels,
            taints: g
                .taints
                .iter()
                .filter_map(|t| crate::clusters::spec::parse_taint(t))
                .filter(|(_, _, effect)| *effect != "PreferNoSchedule")
                .map(|(k, v, e)| (k.to_string(), v.to_string(), e.to_string()))
                .collect(),
            cpu: g.cpu,
            memory: g.memory,
            pods: MAX_PODS,
        }
    }

    fn takes(&self, pod: &Pod, (c, m): (i64, i64)) -> bool {
        if self.cpu < c || self.memory < m || self.pods < 1 {
            return false;
        }
        let spec = pod.spec.as_ref();
        let selector_ok = spec
            .and_then(|s| s.node_selector.as_ref())
            .into_iter()
            .flatten()
            .all(|(k, v)| {
                k == "kubernetes.io/hostname" && *v == self.name || self.labels.get(k) == Some(v)
            });
        let tolerations = spec.and_then(|s| s.tolerations.as_deref()).unwrap_or(&[]);
        let taints_ok = self.taints.iter().all(|(key, value, effect)| {
            tolerations.iter().any(|t| {
                let key_ok = match t.operator.as_deref() {
                    Some("Exists") => t.key.as_deref().is_none_or(|k| k.is_empty() || k == key),
                    _ => t.key.as_deref() == Some(key) && t.value.as_deref().unwrap_or("") == value,
                };
                key_ok
                    && t.effect
                        .as_deref()
                        .is_none_or(|e| e.is_empty() || e == effect)
            })
        });
        selector_ok && taints_ok
    }

    fn take(&mut self, (c, m): (i64, i64)) {
        (self.cpu, self.memory, self.pods) = (self.cpu - c, self.memory - m, self.pods - 1);
    }
}

/// Puts each pod on the first room that takes it; answers the pods left over.
fn first_fit<'a>(rooms: &mut [Room], pods: Vec<&'a Pod>) -> Vec<&'a Pod> {
    let mut left = Vec::new();
    for p in pods {
        let r = requests(p);
        match rooms.iter_mut().find(|room| room.takes(p, r)) {
            Some(room) => room.take(r),
            None => left.push(p),
        }
    }
    left
}

/// Biggest first (CPU, then memory), as bin packing likes them.
fn biggest_first(mut pods: Vec<&Pod>) -> Vec<&Pod> {
    pods.sort_by_key(|p| std::cmp::Reverse(requests(p)));
    pods
}

/// What growing `g` by new nodes would do for `pods`: (nodes, pods helped, waste).
fn try_group(g: &Group, pods: &[&Pod]) -> Option<(u32, usize, f64)> {
    let room = g.max.saturating_sub(g.node_count) as usize;
    let mut bins: Vec<Room> = Vec::new();
    let mut helped = 0;
    let (mut cpu, mut memory) = (0i64, 0i64);
    for p in pods {
        let r = requests(p);
        if !Room::template(g, 0).takes(p, r) {
            continue;
        }
        let bin = match bins.iter().position(|b| b.takes(p, r)) {
            Some(i) => i,
            None if bins.len() < room => {
                bins.push(Room::template(g, bins.len()));
                bins.len() - 1
            }
            None => continue,
        };
        bins[bin].take(r);
        helped += 1;
        (cpu, memory) = (cpu + r.0, memory + r.1);
    }
    if bins.is_empty() {
        return None;
    }
    let n = bins.len() as f64;
    let share = |used: i64, per: i64| {
        if per <= 0 {
            0.0
        } else {
            (n * per as f64 - used as f64) / (n * per as f64)
        }
    };
    let waste = share(cpu, g.cpu) + share(memory, g.memory);
    Some((bins.len() as u32, helped, waste))
}

/// One pass of the autoscaler over a cluster's groups, Nodes and pods.
pub fn decide(
    groups: &[Group],
    nodes: &[Node],
    pods: &[Pod],
    memory: &mut Memory,
    now: i64,
    s: &Settings,
) -> Outcome {
    let live: BTreeSet<&str> = nodes.iter().map(name).collect();
    memory.removing.retain(|n| live.contains(n.as_str()));
    let removing = memory.removing.clone();
    let nodes: Vec<&Node> = nodes
        .iter()
        .filter(|n| !removing.contains(name(n)))
        .collect();
    let autoscaled: Vec<&Group> = groups.iter().filter(|g| g.autoscale).collect();
    if autoscaled.is_empty() {
        memory.unneeded_since.clear();
        return Outcome::default();
    }
    let since = |t: Option<i64>, d: Duration| t.is_some_and(|t| now - t < d.as_millis() as i64);
    if since(memory.last_failure, s.backoff) {
        return Outcome {
            decision: None,
            waiting: true,
        };
    }
    // Below the minimum: grow to it first.
    if let Some(g) = autoscaled.iter().find(|g| g.node_count < g.min) {
        return up(g, g.min, format!("below its minimum of {}", g.min));
    }
    let mut rooms: Vec<Room> = nodes
        .iter()
        .filter(|n| ready(n) && !cordoned(n))
        .map(|n| Room::of_node(n))
        .collect();
    for p in pods {
        if let Some(room) = running_on(p).and_then(|n| rooms.iter_mut().find(|r| r.name == n)) {
            room.take(requests(p));
        }
    }
    // Nodes asked for and not yet Ready, of every group, are counted as empty.
    for g in groups {
        let ready_now = nodes
            .iter()
            .filter(|n| group_of(n) == Some(g.name.as_str()) && ready(n))
            .count();
        for i in ready_now..g.node_count as usize {
            rooms.push(Room::template(g, i));
        }
    }
    let waiting_pods: Vec<&Pod> = pods.iter().filter(|p| unschedulable(p)).collect();
    let left = first_fit(&mut rooms, biggest_first(waiting_pods));
    if !left.is_empty() {
        let best = autoscaled
            .iter()
            .filter_map(|g| try_group(g, &left).map(|t| (g, t)))
            .min_by(|(a, (_, ha, wa)), (b, (_, hb, wb))| {
                wa.total_cmp(wb).then(hb.cmp(ha)).then(a.name.cmp(&b.name))
            });
        if let Some((g, (n, helped, _))) = best {
            return up(
                g,
                g.node_count + n,
                format!(
                    "{helped} unschedulable pod(s) of {} fit on {n} new node(s)",
                    left.len()
                ),
            );
        }
    }
    scale_down(
        &autoscaled,
        &nodes,
        pods,
        memory,
        now,
        s,
        since(memory.last_up, s.delay_after_add),
    )
}

fn up(g: &Group, to: u32, why: String) -> Outcome {
    Outcome {
        decision: Some(Decision::Up {
            group: g.name.clone(),
            to: to.min(g.max),
            why,
        }),
        waiting: true,
    }
}

/// The node to remove, if one has been unneeded long enough.
fn scale_down(
    autoscaled: &[&Group],
    nodes: &[&Node],
    pods: &[Pod],
    memory: &mut Memory,
    now: i64,
    s: &Settings,
    cooling: bool,
) -> Outcome {
    let on = |n: &str| -> Vec<&Pod> { pods.iter().filter(|p| running_on(p) == Some(n)).collect() };
    // (utilization, node, group) of every Ready node of an autoscaled group.
    let mut used: Vec<(f64, &Node, &Group)> = Vec::new();
    for n in nodes.iter().filter(|n| ready(n)) {
        let Some(g) = autoscaled
            .iter()
            .find(|g| group_of(n) == Some(g.name.as_str()))
        else {
            continue;
        };
        let room = Room::of_node(n);
        let (c, m) = on(name(n)).iter().fold((0, 0), |(c, m), p| {
            let (pc, pm) = requests(p);
            (c + pc, m + pm)
        });
        let share = |u: i64, a: i64| if a > 0 { u as f64 / a as f64 } else { 1.0 };
        used.push((share(c, room.cpu).max(share(m, room.memory)), n, g));
    }
    used.sort_by(|a, b| a.0.total_cmp(&b.0).then(name(a.1).cmp(name(b.1))));
    // Above the maximum: the emptiest node goes at once.
    if let Some((_, n, g)) = used.iter().find(|(_, _, g)| g.node_count > g.max) {
        return down(
            g,
            n,
            g.node_count - 1,
            format!("above its maximum of {}", g.max),
        );
    }
    // Each candidate's pods must fit on the other schedulable nodes.
    let fits_elsewhere = |n: &Node| {
        let mine = on(name(n));
        if mine.iter().any(|p| {
            !p.metadata
                .owner_references
                .as_ref()
                .is_some_and(|o| o.iter().any(|o| o.controller == Some(true)))
        }) {
            return false;
        }
        let mut rooms: Vec<Room> = nodes
            .iter()
            .filter(|o| ready(o) && !cordoned(o) && name(o) != name(n))
            .map(|o| Room::of_node(o))
            .collect();
        for p in pods {
            if let Some(r) = running_on(p).and_then(|x| rooms.iter_mut().find(|r| r.name == x)) {
                r.take(requests(p));
            }
        }
        first_fit(&mut rooms, biggest_first(mine)).is_empty()
    };
    let candidates: Vec<(f64, &Node, &Group)> = used
        .into_iter()
        .filter(|(u, _, g)| *u < s.utilization && g.node_count > g.min)
        .filter(|(_, n, _)| fits_elsewhere(n))
        .collect();
    memory
        .unneeded_since
        .retain(|k, _| candidates.iter().any(|(_, n, _)| name(n) == k));
    for (_, n, _) in &candidates {
        memory
            .unneeded_since
            .entry(name(n).to_string())
            .or_insert(now);
    }

    let is_ripe = |n: &Node| {
        memory
            .unneeded_since
            .get(name(n))
            .is_some_and(|t| now - t >= s.unneeded.as_millis() as i64)
    };
    let empty = |n: &Node| {
        on(name(n)).iter().all(|p| {
            p.metadata
                .owner_references
                .as_ref()
                .is_some_and(|o| o.iter().any(|o| o.kind == "DaemonSet"))
        })
    };
    let ripe = candidates.iter().find(|(_, n, _)| is_ripe(n));
    match ripe {
        // Empty: every empty ripe node of its group goes with it, down to its minimum.
        Some((_, n, g)) if !cooling && empty(n) => {
            let room = (g.node_count - g.min) as usize;
            let mut gone: Vec<String> = candidates
                .iter()
                .filter(|(_, m, h)| h.name == g.name && empty(m) && is_ripe(m))
                .map(|(_, m, _)| name(m).to_string())
                .take(room.min(MAX_EMPTY_BULK))
                .collect();
            gone.sort();
            Outcome {
                decision: Some(Decision::Down {
                    group: g.name.clone(),
                    to: g.node_count - gone.len() as u32,
                    nodes: gone,
                    why: format!("empty for {} s or more", s.unneeded.as_secs()),
                }),
                waiting: true,
            }
        }
        Some((u, n, g)) if !cooling => down(
            g,
            n,
            g.node_count - 1,
            format!(
                "requests at {:.0} % of its allocatable for {} s or more",
                u * 100.0,
                s.unneeded.as_secs()
            ),
        ),
        _ => Outcome {
            decision: None,
            waiting: !candidates.is_empty(),
        },
    }
}

fn down(g: &Group, n: &Node, to: u32, why: String) -> Outcome {
    Outcome {
        decision: Some(Decision::Down {
            group: g.name.clone(),
            nodes: vec![name(n).to_string()],
            to,
            why,
        }),
        waiting: true,
    }
}

#[cfg(test)]
mod tests;
