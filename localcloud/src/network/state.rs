//! Neutron's objects as the cloud keeps them in one versioned document: networks,
//! subnets, ports, security groups and rules, the ids of the shared `private` network,
//! and who may see what.

use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::common::errors::{ApiError, NEUTRON};
use crate::identity::Token;
use crate::{stable_id, Cloud};

use super::errors::*;

pub use crate::addresses::Cidr;

pub const NETWORK_NAME: &str = "private";
pub const NAME_MAX: usize = 255;
/// Neutron's longest tag.
pub(crate) const TAG_MAX: usize = 60;
/// Nova's ports: made with a server, deleted with it.
pub const COMPUTE_OWNER: &str = "compute:nova";
/// Octavia's VIP ports.
pub const LB_OWNER: &str = "Octavia";

/// Ids of the private network and its subnet (UUID form, stable across restarts).
pub fn network_id() -> String {
    uuid_form(&stable_id("network", NETWORK_NAME))
}

/// The id of the port behind a load balancer's VIP.
pub fn port_id_for(owner: &str) -> String {
    uuid_form(&stable_id("port", owner))
}

pub fn subnet_id() -> String {
    uuid_form(&stable_id("subnet", NETWORK_NAME))
}

pub(crate) fn uuid_form(h: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Neutron's time format: seconds and `Z`.
pub(crate) fn now() -> String {
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::now_utc()
        .format(&f)
        .unwrap_or_default()
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Network {
    pub id: String,
    pub name: String,
    pub description: String,
    pub project_id: String,
    pub admin_state_up: bool,
    pub shared: bool,
    pub mtu: u32,
    pub tags: Vec<String>,
    pub created: String,
    pub updated: String,
    pub revision: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    pub start: Ipv4Addr,
    pub end: Ipv4Addr,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Subnet {
    pub id: String,
    pub name: String,
    pub description: String,
    pub project_id: String,
    pub network_id: String,
    pub cidr: Cidr,
    pub gateway_ip: Option<Ipv4Addr>,
    pub allocation_pools: Vec<Pool>,
    pub enable_dhcp: bool,
    pub dns_nameservers: Vec<String>,
    pub tags: Vec<String>,
    pub created: String,
    pub updated: String,
    pub revision: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedIp {
    pub subnet_id: String,
    pub ip_address: Ipv4Addr,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Port {
    pub id: String,
    pub name: String,
    pub description: String,
    pub project_id: String,
    pub network_id: String,
    pub fixed_ips: Vec<FixedIp>,
    pub mac_address: String,
    pub device_owner: String,
    pub device_id: String,
    pub security_groups: Vec<String>,
    pub admin_state_up: bool,
    pub tags: Vec<String>,
    pub created: String,
    pub updated: String,
    pub revision: u64,
    /// Made by Nova for a server (deleted with it), not handed to Nova by the user
    /// (which is only unbound when the server goes).
    #[serde(default)]
    pub nova_made: bool,
}

/// The saved form of network state (see [`crate::common::persist`]).
#[derive(Default, Serialize, Deserialize)]
pub struct NetState {
    pub networks: BTreeMap<String, Network>,
    pub subnets: BTreeMap<String, Subnet>,
    pub ports: BTreeMap<String, Port>,
    pub groups: BTreeMap<String, SecurityGroup>,
    pub rules: BTreeMap<String, Rule>,
    version: u64,
}

impl NetState {
    pub(crate) fn changed(&mut self) -> (u64, String) {
        self.version += 1;
        crate::common::persist::snapshot(self, self.version)
    }

    /// The private network and its subnet `cidr`, owned by `owner`, when missing.
    pub(crate) fn ensure_private(&mut self, owner: &str, cidr: Cidr) {
        let t = "2026-01-01T00:00:00Z".to_string();
        self.networks
            .entry(network_id())
            .or_insert_with(|| Network {
                id: network_id(),
                name: NETWORK_NAME.into(),
                description: String::new(),
                project_id: owner.into(),
                admin_state_up: true,
                shared: true,
                mtu: 1500,
                tags: Vec::new(),
                created: t.clone(),
                updated: t.clone(),
                revision: 1,
            });
        self.subnets.entry(subnet_id()).or_insert_with(|| Subnet {
            id: subnet_id(),
            name: format!("{NETWORK_NAME}-subnet"),
            description: String::new(),
            project_id: owner.into(),
            network_id: network_id(),
            cidr,
            gateway_ip: Some(Ipv4Addr::from(cidr.first() + 1)),
            allocation_pools: vec![Pool {
                start: Ipv4Addr::from(cidr.first() + 2),
                end: Ipv4Addr::from(cidr.last() - 1),
            }],
            enable_dhcp: true,
            dns_nameservers: Vec::new(),
            tags: Vec::new(),
            created: t.clone(),
            updated: t,
            revision: 1,
        });
    }

    /// A free address of `subnet` from its pools, lowest first.
    pub(crate) fn free_address(&self, subnet: &Subnet) -> Option<Ipv4Addr> {
        self.free_addresses(subnet, &[]).next()
    }

    pub(crate) fn used_in(&self, subnet_id: &str) -> HashSet<Ipv4Addr> {
        self.ports
            .values()
            .flat_map(|p| &p.fixed_ips)
            .filter(|f| f.subnet_id == subnet_id)
            .map(|f| f.ip_address)
            .collect()
    }

    pub(crate) fn subnets_of<'a>(
        &'a self,
        network_id: &'a str,
    ) -> impl Iterator<Item = &'a Subnet> + 'a {
        self.subnets
            .values()
            .filter(move |s| s.network_id == network_id)
    }
}

/// Who asks: their project, and whether they may see every project's objects.
#[derive(Clone, Debug)]
pub struct Who {
    pub project: String,
    pub admin: bool,
}

impl Who {
    pub fn of(t: &Token) -> Who {
        Who {
            project: t.project_id.clone(),
            admin: t.admin,
        }
    }

    /// Owns (or, as admin, may act on) an object of `project`.
    pub fn owns(&self, project: &str) -> bool {
        self.admin || self.project == project
    }

    pub(crate) fn sees_network(&self, n: &Network) -> bool {
        n.shared || self.owns(&n.project_id)
    }

    /// The project a new object belongs to: the caller's, or (admins only) the one asked for.
    pub(crate) fn project_for(&self, asked: Option<String>) -> Result<String, ApiError> {
        match asked {
            Some(p) if p != self.project && !self.admin => Err(NEUTRON
                .err(
                    StatusCode::FORBIDDEN,
                    "Only admins may create objects in another project.",
                )
                .kind("PolicyNotAuthorized")),
            Some(p) if !p.is_empty() => Ok(p),
            _ => Ok(self.project.clone()),
        }
    }
}

/// What a new server plugs into.
#[derive(Clone, Debug)]
pub enum Wanted {
    Network(String, Option<Ipv4Addr>),
    Port(String),
}

pub(crate) async fn save(cloud: &Cloud, (version, body): (u64, String)) {
    cloud.persist.save("network", version, &body).await;
}

/// A MAC in OpenStack's `fa:16:3e` range, derived from the port id.
pub(crate) fn mac_for(id: &str) -> String {
    let h = stable_id("mac", id);
    format!("fa:16:3e:{}:{}:{}", &h[0..2], &h[2..4], &h[4..6])
}

pub(crate) fn sees_subnet(st: &NetState, who: &Who, s: &Subnet) -> bool {
    who.owns(&s.project_id)
        || st
            .networks
            .get(&s.network_id)
            .is_some_and(|n| who.sees_network(n))
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    pub description: String,
    pub project_id: String,
    pub stateful: bool,
    pub tags: Vec<String>,
    pub created: String,
    pub updated: String,
    pub revision: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    pub security_group_id: String,
    pub project_id: String,
    pub direction: String,
    pub ethertype: String,
    pub protocol: Option<String>,
    pub port_range_min: Option<u32>,
    pub port_range_max: Option<u32>,
    pub remote_ip_prefix: Option<String>,
    pub remote_group_id: Option<String>,
    pub description: String,
    pub created: String,
}

impl Rule {
    /// What makes two rules the same rule (a prefix of everything counts as none).
    pub(crate) fn key(&self) -> impl PartialEq + '_ {
        let prefix = self
            .remote_ip_prefix
            .as_deref()
            .filter(|p| *p != "0.0.0.0/0" && *p != "::/0");
        (
            &self.security_group_id,
            &self.direction,
            &self.ethertype,
            &self.protocol,
            self.port_range_min,
            self.port_range_max,
            prefix,
            &self.remote_group_id,
        )
    }
}

/// A rule of group `group` letting everything of `ethertype` go `direction` (from
/// members of `remote_group` when given).
pub(crate) fn open_rule(
    group: &SecurityGroup,
    direction: &str,
    ethertype: &str,
    remote_group: Option<&str>,
) -> Rule {
    Rule {
        id: uuid::Uuid::new_v4().to_string(),
        security_group_id: group.id.clone(),
        project_id: group.project_id.clone(),
        direction: direction.into(),
        ethertype: ethertype.into(),
        protocol: None,
        port_range_min: None,
        port_range_max: None,
        remote_ip_prefix: None,
        remote_group_id: remote_group.map(String::from),
        description: String::new(),
        created: group.created.clone(),
    }
}

pub(crate) fn insert_group(st: &mut NetState, g: SecurityGroup, default: bool) {
    let mut rules = vec![
        open_rule(&g, "egress", "IPv4", None),
        open_rule(&g, "egress", "IPv6", None),
    ];
    if default {
        // Neutron's default group also lets its members reach each other.
        rules.push(open_rule(&g, "ingress", "IPv4", Some(&g.id)));
        rules.push(open_rule(&g, "ingress", "IPv6", Some(&g.id)));
    }
    for r in rules {
        st.rules.insert(r.id.clone(), r);
    }
    st.groups.insert(g.id.clone(), g);
}

/// The id of `project`'s `default` group, made (with a stable id) on first use.
pub(crate) fn ensure_default(st: &mut NetState, project: &str) -> String {
    let id = uuid_form(&stable_id("default-security-group", project));
    if !st.groups.contains_key(&id) {
        let t = now();
        let g = SecurityGroup {
            id: id.clone(),
            name: "default".into(),
            description: "Default security group".into(),
            project_id: project.into(),
            stateful: true,
            tags: Vec::new(),
            created: t.clone(),
            updated: t,
            revision: 1,
        };
        insert_group(st, g, true);
    }
    id
}

pub(crate) fn is_default(g: &SecurityGroup) -> bool {
    g.id == uuid_form(&stable_id("default-security-group", &g.project_id))
}

pub(crate) fn visible_network<'a>(
    st: &'a NetState,
    who: &Who,
    id: &str,
) -> Result<&'a Network, ApiError> {
    st.networks
        .get(id)
        .filter(|n| who.sees_network(n))
        .ok_or_else(|| not_found("NetworkNotFound", "Network", id))
}
