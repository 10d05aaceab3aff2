//! What a user asks for: a cluster or node group as a spec, checked with the same rules
//! for the console and the API.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ApiEndpoint {
    Public,
    Private,
}

impl ApiEndpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiEndpoint::Public => "public",
            ApiEndpoint::Private => "private",
        }
    }
}

fn default_masters() -> u32 {
    1
}
fn default_master_flavor() -> String {
    "m1.medium".into()
}
fn default_pod_cidr() -> String {
    "10.244.0.0/16".into()
}
fn default_service_cidr() -> String {
    "10.96.0.0/12".into()
}
fn default_endpoint() -> ApiEndpoint {
    ApiEndpoint::Public
}
fn default_boot_gib() -> u64 {
    20
}

/// A cluster as asked for. Omitted fields take the defaults a console would suggest;
/// an omitted version means the newest one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    pub name: String,
    #[serde(default)]
    pub kubernetes_version: Option<String>,
    #[serde(default = "default_masters")]
    pub master_count: u32,
    #[serde(default = "default_master_flavor")]
    pub master_flavor: String,
    #[serde(default = "default_pod_cidr")]
    pub pod_cidr: String,
    #[serde(default = "default_service_cidr")]
    pub service_cidr: String,
    #[serde(default = "default_endpoint")]
    pub api_endpoint: ApiEndpoint,
    #[serde(default)]
    pub node_groups: Vec<NodeGroupSpec>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NodeGroupSpec {
    pub name: String,
    #[serde(default = "default_master_flavor")]
    pub flavor: String,
    pub node_count: u32,
    #[serde(default)]
    pub min_node_count: Option<u32>,
    #[serde(default)]
    pub max_node_count: Option<u32>,
    #[serde(default = "default_boot_gib")]
    pub boot_volume_gib: u64,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub taints: Vec<String>,
}

/// Largest node group.
pub const MAX_NODES: u32 = 100;

/// A DNS label: lowercase letters, digits and `-`, starting with a letter, not ending
/// with `-`, at most `max` characters.
pub fn check_dns_label(field: &'static str, what: &str, name: &str, max: usize) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= max
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("{what} must be 1–{max} lowercase letters, digits or '-', start with a letter and not end with '-'."),
        ))
    }
}

/// An IPv4 CIDR: (network, prefix).
fn parse_cidr(field: &'static str, s: &str) -> Result<(u32, u8)> {
    let bad = || {
        Error::invalid(
            field,
            format!("'{s}' is not an IPv4 CIDR like 10.244.0.0/16."),
        )
    };
    let (ip, len) = s.split_once('/').ok_or_else(bad)?;
    let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
    let len: u8 = len.parse().map_err(|_| bad())?;
    if len > 32 {
        return Err(bad());
    }
    let n = u32::from(ip);
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    if n & !mask != 0 {
        return Err(Error::invalid(
            field,
            format!(
                "'{s}' has host bits set; the network is {}/{len}.",
                Ipv4Addr::from(n & mask)
            ),
        ));
    }
    if ip.is_link_local()
        || ip.is_loopback()
        || ip.is_multicast()
        || ip.is_unspecified()
        || ip.is_broadcast()
    {
        return Err(Error::invalid(
            field,
            format!("'{s}' is not a usable private range."),
        ));
    }
    Ok((n, len))
}

fn overlaps((a, la): (u32, u8), (b, lb): (u32, u8)) -> bool {
    let l = la.min(lb);
    let mask = if l == 0 { 0 } else { u32::MAX << (32 - l) };
    a & mask == b & mask
}

impl NodeGroupSpec {
    /// (min, max) with defaults: min 1 (0 allowed), max at least the count.
    pub fn bounds(&self) -> (u32, u32) {
        let min = self.min_node_count.unwrap_or(self.node_count.min(1));
        let max = self.max_node_count.unwrap_or(self.node_count.max(min));
        (min, max)
    }

    pub fn validate(&self, flavors: &[String]) -> Result<()> {
        check_dns_label("node_group_name", "A node group name", &self.name, 30)?;
        if !flavors.contains(&self.flavor) {
            return Err(Error::invalid(
                "node_group_flavor",
                format!("Flavor '{}' is not on offer.", self.flavor),
            ));
        }
        let (min, max) = self.bounds();
        if max > MAX_NODES {
            return Err(Error::invalid(
                "max_node_count",
                format!("A node group has at most {MAX_NODES} nodes."),
            ));
        }
        if min > max {
            return Err(Error::invalid(
                "min_node_count",
                "The minimum node count is above the maximum.",
            ));
        }
        if self.node_count < min || self.node_count > max {
            return Err(Error::invalid(
                "node_count",
                format!(
                    "The node count must be between the minimum ({min}) and the maximum ({max})."
                ),
            ));
        }
        if !(10..=2048).contains(&self.boot_volume_gib) {
            return Err(Error::invalid(
                "boot_volume_gib",
                "Boot volumes are 10 to 2048 GiB.",
            ));
        }
        for (k, v) in &self.labels {
            if !qualified_name(k) || !label_value(v) {
                return Err(Error::invalid(
                    "labels",
                    format!(
                        "Label '{k}={v}' is not a Kubernetes label: a key is [prefix/]name, the \
                         name (and a value) at most 63 letters, digits, '-', '_' or '.', \
                         beginning and ending with a letter or digit."
                    ),
                ));
            }
            if reserved(k) {
                return Err(Error::invalid(
                    "labels",
                    format!("Label '{k}' is Kubernetes' or Shipyard's own: choose another key."),
                ));
            }
        }
        for t in &self.taints {
            match parse_taint(t).map(|(k, _, _)| k) {
                None => return Err(Error::invalid("taints", format!("Taint '{t}' must look like key=value:NoSchedule (or PreferNoSchedule, NoExecute)."))),
                Some(k) if reserved(k) => return Err(Error::invalid("taints", format!("Taint '{t}' uses a key of Kubernetes' own: choose another key."))),
                Some(_) => {}
            }
        }
        Ok(())
    }
}

impl ClusterSpec {
    /// The version asked for (filled in with the newest by [`versions::resolve`]).
    pub fn version(&self) -> &str {
        self.kubernetes_version.as_deref().unwrap_or("")
    }

    /// The same rules for the console and the API; `flavors` are the cloud's.
    pub fn validate(&self, flavors: &[String]) -> Result<()> {
        check_dns_label("name", "A cluster name", &self.name, 40)?;
        if ![1, 3, 5].contains(&self.master_count) {
            return Err(Error::invalid(
                "master_count",
                "A cluster has 1, 3 or 5 masters (an odd number keeps etcd's quorum).",
            ));
        }
        if !flavors.contains(&self.master_flavor) {
            return Err(Error::invalid(
                "master_flavor",
                format!("Flavor '{}' is not on offer.", self.master_flavor),
            ));
        }
        let pods = parse_cidr("pod_cidr", &self.pod_cidr)?;
        let services = parse_cidr("service_cidr", &self.service_cidr)?;
        if !(8..=22).contains(&pods.1) {
            return Err(Error::invalid(
                "pod_cidr",
                "The pod range must be between /8 and /22 (each node takes a /24).",
            ));
        }
        if !(12..=24).contains(&services.1) {
            return Err(Error::invalid(
                "service_cidr",
                "The service range must be between /12 and /24.",
            ));
        }
        if overlaps(pods, services) {
            return Err(Error::invalid(
                "service_cidr",
                "The pod and service ranges overlap.",
            ));
        }
        if self.node_groups.is_empty() {
            return Err(Error::invalid(
                "node_groups",
                "A cluster needs at least one node group.",
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for ng in &self.node_groups {
            ng.validate(flavors)?;
            if !names.insert(ng.name.as_str()) {
                return Err(Error::invalid(
                    "node_group_name",
                    format!("Two node groups are named '{}'.", ng.name),
                ));
            }
        }
        Ok(())
    }
}

/// A change to a node group: a new count and bounds, and optionally which nodes to
/// remove when shrinking (else the newest go).
#[derive(Clone, Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NodeGroupChange {
    pub node_count: Option<u32>,
    pub min_node_count: Option<u32>,
    pub max_node_count: Option<u32>,
    #[serde(default)]
    pub remove_nodes: Vec<String>,
}

/// A taint as the kubelet's `--register-with-taints` spells it (`key=value:Effect`,
/// `key:Effect`): its key, value and effect.
pub fn parse_taint(t: &str) -> Option<(&str, &str, &str)> {
    let (kv, effect) = t.rsplit_once(':')?;
    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
    let ok = matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute")
        && qualified_name(k)
        && label_value(v);
    ok.then_some((k, v, effect))
}

/// A label's name (or a value): 1–63 letters, digits, `-`, `_`, `.`, alphanumeric at
/// both ends.
fn label_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// A label's value: empty, or as a name.
fn label_value(v: &str) -> bool {
    v.is_empty() || label_part(v)
}

/// A label or taint key: `[prefix/]name`, the prefix a DNS subdomain.
fn qualified_name(k: &str) -> bool {
    match k.split_once('/') {
        Some((prefix, name)) => {
            prefix.len() <= 253
                && prefix.split('.').all(|l| {
                    let b = l.as_bytes();
                    !b.is_empty()
                        && b.len() <= 63
                        && b.iter()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                        && b[0] != b'-'
                        && b[b.len() - 1] != b'-'
                })
                && label_part(name)
        }
        None => label_part(k),
    }
}

/// Keys the kubelet may not set, or Shipyard sets itself.
fn reserved(k: &str) -> bool {
    let prefix = k.split_once('/').map_or("", |(p, _)| p);
    k == crate::clusters::bootstrap::NODE_GROUP_LABEL
        || ["kubernetes.io", "k8s.io"]
            .iter()
            .any(|r| prefix == *r || prefix.ends_with(&format!(".{r}")))
}
