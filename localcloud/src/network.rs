//! Network (Neutron v2): project-owned networks, IPv4 subnets that hand out addresses,
//! ports (servers and load balancer VIPs get theirs too) and security groups with rules
//! (see [`crate::secgroups`]), plus one shared `private` network every project may use,
//! so that a cluster can have its own private network and still boot with `auto`.
//!
//! Requests may carry attributes this cloud does not model (`dns_domain`,
//! `qos_policy_id`, ...): they are accepted and ignored, as clients send them freely.
//! Referenced objects that do not exist (or belong to another project) are Neutron's
//! 404s (`NetworkNotFound`, ...); anything else malformed is a 400 that changes nothing.
//!
//! Everything sits in one versioned document (`network`, see [`crate::persist`]). Lock
//! order: compute or load balancers first, then this state, never the other way round.

use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub use crate::addresses::Cidr;
use crate::addresses::Plan;
use crate::error::{ApiError, Service};
use crate::identity::Token;
use crate::{stable_id, Cloud, Config};

pub const NETWORK_NAME: &str = "private";
pub const NAME_MAX: usize = 255;
/// Neutron's longest tag.
const TAG_MAX: usize = 60;
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

/// The saved form of network state (see [`crate::persist`]).
#[derive(Default, Serialize, Deserialize)]
pub struct NetState {
    pub networks: BTreeMap<String, Network>,
    pub subnets: BTreeMap<String, Subnet>,
    pub ports: BTreeMap<String, Port>,
    pub groups: BTreeMap<String, crate::secgroups::SecurityGroup>,
    pub rules: BTreeMap<String, crate::secgroups::Rule>,
    version: u64,
}

impl NetState {
    pub(crate) fn changed(&mut self) -> (u64, String) {
        self.version += 1;
        crate::persist::snapshot(self, self.version)
    }

    /// The private network and its subnet `cidr`, owned by `owner`, when missing.
    fn ensure_private(&mut self, owner: &str, cidr: Cidr) {
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
    fn free_address(&self, subnet: &Subnet) -> Option<Ipv4Addr> {
        self.free_addresses(subnet, &[]).next()
    }

    fn used_in(&self, subnet_id: &str) -> HashSet<Ipv4Addr> {
        self.ports
            .values()
            .flat_map(|p| &p.fixed_ips)
            .filter(|f| f.subnet_id == subnet_id)
            .map(|f| f.ip_address)
            .collect()
    }

    fn subnets_of<'a>(&'a self, network_id: &'a str) -> impl Iterator<Item = &'a Subnet> + 'a {
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

    fn sees_network(&self, n: &Network) -> bool {
        n.shared || self.owns(&n.project_id)
    }

    /// The project a new object belongs to: the caller's, or (admins only) the one asked for.
    fn project_for(&self, asked: Option<String>) -> Result<String, ApiError> {
        match asked {
            Some(p) if p != self.project && !self.admin => Err(err(
                StatusCode::FORBIDDEN,
                "Only admins may create objects in another project.",
            )
            .kind("PolicyNotAuthorized")),
            Some(p) if !p.is_empty() => Ok(p),
            _ => Ok(self.project.clone()),
        }
    }
}

/// Network state shared by Neutron, Nova (server ports) and Octavia (VIP ports).
pub struct Neutron {
    state: Mutex<NetState>,
    /// Owner of the shared private network: the first admin's project.
    owner: String,
    /// Where subnets may lie.
    plan: Plan,
}

impl Neutron {
    pub fn new(config: &Config, plan: Plan) -> Neutron {
        let owner = config
            .users
            .iter()
            .find(|u| u.admin)
            .map(|u| stable_id("project", &u.project))
            .unwrap_or_default();
        let mut st = NetState::default();
        st.ensure_private(&owner, plan.subnet);
        Neutron {
            state: Mutex::new(st),
            owner,
            plan,
        }
    }

    /// Restores saved state at start (the private network is there whatever was saved).
    /// State whose subnets break the address plan (an older localcloud's `10.0.0.0/16`,
    /// or another `--subnet` than the one it was made with) is refused, never reused:
    /// its servers' addresses would be wrong, or outside this machine.
    pub fn restore(&self, mut saved: NetState) -> Result<(), String> {
        saved.ensure_private(&self.owner, self.plan.subnet);
        for s in saved.subnets.values() {
            if let Err(e) = self.plan.check_subnet(&s.cidr) {
                return Err(format!(
                    "this data directory was written by an older localcloud whose subnet {} \
                     ({}) is not on loopback: {e} Its servers' addresses cannot be kept. \
                     Delete the data directory (with Shipyard's embedded cloud, delete \
                     Shipyard's data directory too: its database describes clusters in this \
                     cloud), or start on a new one",
                    s.name, s.cidr
                ));
            }
        }
        if let Some(private) = saved.subnets.get(&subnet_id()) {
            if private.cidr != self.plan.subnet {
                return Err(format!(
                    "this data directory's private network is {}, but localcloud was asked \
                     for {}: start it with the subnet {} again, or with a new data directory",
                    private.cidr, self.plan.subnet, private.cidr
                ));
            }
        }
        if let Ok(mut st) = self.state.lock() {
            *st = saved;
        }
        Ok(())
    }

    /// Whether localcloud may connect to `addr` (see [`crate::egress`]): the gate's
    /// check against this cloud's subnets as they are now.
    pub fn may_dial(&self, addr: std::net::SocketAddr) -> Result<(), crate::egress::Refused> {
        let st = self
            .state
            .lock()
            .map_err(|_| crate::egress::Refused::NotInSubnet(addr.ip()))?;
        crate::egress::check(st.subnets.values().map(|s| &s.cidr), addr)
    }

    /// The id of a subnet (visible to `who`) that holds `ip`: `subnet` when given (and it
    /// holds it). Octavia's 400 message otherwise.
    pub fn subnet_holding(
        &self,
        who: &Who,
        subnet: Option<&str>,
        ip: Ipv4Addr,
    ) -> Result<String, String> {
        let st = self.state.lock().map_err(|_| "network state poisoned")?;
        let visible = |s: &&Subnet| sees_subnet(&st, who, s);
        match subnet {
            Some(id) => {
                let s = st
                    .subnets
                    .get(id)
                    .filter(visible)
                    .ok_or_else(|| format!("Validation failure: Subnet {id} not found."))?;
                if s.cidr.contains(ip) {
                    Ok(s.id.clone())
                } else {
                    Err(format!(
                        "Validation failure: Member address {ip} is not in subnet {id} ({}).",
                        s.cidr
                    ))
                }
            }
            None => st
                .subnets
                .values()
                .filter(visible)
                .find(|s| s.cidr.contains(ip))
                .map(|s| s.id.clone())
                .ok_or_else(|| {
                    format!(
                        "Validation failure: Member address {ip} is in none of this cloud's \
                         subnets. localcloud forwards only to its own servers' addresses \
                         (the private network is {}).",
                        self.plan.subnet
                    )
                }),
        }
    }

    pub(crate) fn lock(&self) -> Result<MutexGuard<'_, NetState>, ApiError> {
        self.state
            .lock()
            .map_err(|_| err(StatusCode::INTERNAL_SERVER_ERROR, "network state poisoned"))
    }

    /// Nova's `networks` of a new server: which networks (with an optional fixed IP) or
    /// ports it plugs into. `auto` or nothing is the private network; errors are Nova's
    /// 400 messages.
    pub fn wanted(&self, who: &Who, networks: Option<&Value>) -> Result<Vec<Wanted>, String> {
        let st = self.state.lock().map_err(|_| "network state poisoned")?;
        let list = match networks {
            None => return Ok(vec![Wanted::Network(network_id(), None)]),
            Some(Value::String(s)) if s == "auto" => {
                return Ok(vec![Wanted::Network(network_id(), None)])
            }
            Some(Value::String(s)) if s == "none" => return Ok(Vec::new()),
            Some(Value::Array(list)) => list,
            Some(_) => return Err("Invalid networks: use \"auto\", \"none\" or a list.".into()),
        };
        let mut out = Vec::new();
        for n in list {
            let fixed = match n.get("fixed_ip") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    v.as_str()
                        .and_then(|s| s.parse::<Ipv4Addr>().ok())
                        .ok_or_else(|| format!("Invalid fixed IP address ({v})"))?,
                ),
            };
            match (
                n.get("uuid").and_then(Value::as_str),
                n.get("port").and_then(Value::as_str),
            ) {
                (_, Some(pid)) => {
                    let port = st
                        .ports
                        .get(pid)
                        .filter(|p| who.owns(&p.project_id))
                        .ok_or_else(|| format!("Port id {pid} could not be found."))?;
                    if !port.device_id.is_empty() {
                        return Err(format!("Port {pid} is still in use."));
                    }
                    out.push(Wanted::Port(pid.to_string()));
                }
                (Some(id), None) => {
                    st.networks
                        .get(id)
                        .filter(|net| who.sees_network(net))
                        .ok_or_else(|| format!("Network {id} could not be found."))?;
                    out.push(Wanted::Network(id.to_string(), fixed));
                }
                (None, None) => {
                    return Err("Invalid networks: each entry needs a uuid or a port.".into())
                }
            }
        }
        Ok(out)
    }

    /// Plugs a new server into what [`Neutron::wanted`] returned: a port of its own on
    /// each network, given ports bound to it. All or nothing; returns the first fixed
    /// address and what to save.
    pub fn plug(
        &self,
        who: &Who,
        server_id: &str,
        wanted: &[Wanted],
    ) -> Result<(Option<Ipv4Addr>, (u64, String)), ApiError> {
        let mut st = self.lock()?;
        let mut made: Vec<String> = Vec::new();
        let mut bound: Vec<String> = Vec::new();
        let mut result = Ok(());
        for w in wanted {
            match w {
                Wanted::Network(net, fixed) => {
                    let spec = PortSpec {
                        network_id: net.clone(),
                        fixed_ips: fixed.map(|ip| {
                            vec![FixedIpReq {
                                subnet_id: None,
                                ip_address: Some(ip.to_string()),
                            }]
                        }),
                        device_owner: Some(COMPUTE_OWNER.into()),
                        device_id: Some(server_id.into()),
                        ..PortSpec::default()
                    };
                    match new_port(&mut st, who, &who.project, spec) {
                        Ok(mut port) => {
                            port.nova_made = true;
                            made.push(port.id.clone());
                            st.ports.insert(port.id.clone(), port);
                        }
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                }
                Wanted::Port(pid) => match st.ports.get_mut(pid) {
                    Some(p) if p.device_id.is_empty() => {
                        p.device_id = server_id.into();
                        p.device_owner = COMPUTE_OWNER.into();
                        p.revision += 1;
                        bound.push(pid.clone());
                    }
                    _ => {
                        result = Err(err(
                            StatusCode::CONFLICT,
                            format!("Port {pid} is still in use."),
                        ));
                        break;
                    }
                },
            }
        }
        if let Err(e) = result {
            for id in &made {
                st.ports.remove(id);
            }
            for id in &bound {
                if let Some(p) = st.ports.get_mut(id) {
                    p.device_id.clear();
                    p.device_owner.clear();
                }
            }
            return Err(e);
        }
        let first = st
            .ports
            .values()
            .filter(|p| p.device_id == server_id)
            .flat_map(|p| p.fixed_ips.first())
            .map(|f| f.ip_address)
            .next();
        Ok((first, st.changed()))
    }

    /// A deleted server's ports: Nova's own go, the user's are unbound.
    pub fn unplug(&self, server_id: &str) -> Option<(u64, String)> {
        let mut st = self.state.lock().ok()?;
        let before = st.ports.len();
        st.ports
            .retain(|_, p| !(p.device_id == server_id && p.nova_made));
        let mut any = st.ports.len() != before;
        for p in st.ports.values_mut() {
            if p.device_id == server_id && p.device_owner == COMPUTE_OWNER {
                p.device_id.clear();
                p.device_owner.clear();
                any = true;
            }
        }
        any.then(|| st.changed())
    }

    /// A server's addresses in Nova's shape (`{network name: [address]}`), or `None`
    /// when it has no ports.
    pub fn addresses(&self, server_id: &str) -> Option<Value> {
        let st = self.state.lock().ok()?;
        let mut out = serde_json::Map::new();
        for p in st.ports.values().filter(|p| p.device_id == server_id) {
            let name = st
                .networks
                .get(&p.network_id)
                .map_or(p.network_id.clone(), |n| n.name.clone());
            let entry = out.entry(name).or_insert_with(|| json!([]));
            if let Some(list) = entry.as_array_mut() {
                for f in &p.fixed_ips {
                    list.push(json!({
                        "addr": f.ip_address.to_string(),
                        "OS-EXT-IPS-MAC:mac_addr": p.mac_address,
                        "OS-EXT-IPS:type": "fixed",
                        "version": 4,
                    }));
                }
            }
        }
        (!out.is_empty()).then_some(Value::Object(out))
    }

    /// Where a load balancer's VIP goes: `(network id, subnet id)` from what the request
    /// named (a subnet, a network or both), or Octavia's 400 message.
    pub fn vip_place(
        &self,
        who: &Who,
        subnet: Option<&str>,
        network: Option<&str>,
    ) -> Result<(String, String), String> {
        let st = self.state.lock().map_err(|_| "network state poisoned")?;
        let visible_net = |id: &str| {
            st.networks
                .get(id)
                .filter(|n| who.sees_network(n))
                .ok_or_else(|| format!("Validation failure: Network {id} not found."))
        };
        match (subnet, network) {
            (Some(s), n) => {
                let sub = st
                    .subnets
                    .get(s)
                    .filter(|sub| st.networks.get(&sub.network_id).is_some_and(|net| who.sees_network(net)))
                    .ok_or_else(|| format!("Validation failure: Subnet {s} not found."))?;
                if let Some(n) = n {
                    visible_net(n)?;
                    if sub.network_id != n {
                        return Err(format!(
                            "Validation failure: Subnet {s} is not on network {n}."
                        ));
                    }
                }
                Ok((sub.network_id.clone(), sub.id.clone()))
            }
            (None, Some(n)) => {
                visible_net(n)?;
                let sub = st.subnets_of(n).next().ok_or_else(|| {
                    format!("Validation failure: Network {n} has no subnets.")
                })?;
                Ok((n.to_string(), sub.id.clone()))
            }
            (None, None) => Err(
                "Validation failure: VIP must contain one of: vip_port_id, vip_network_id, vip_subnet_id.".into(),
            ),
        }
    }

    /// Records a load balancer's VIP port (the VIP itself is a loopback address), unless
    /// it is there already.
    pub fn add_lb_port(
        &self,
        project: &str,
        lb_id: &str,
        network_id: &str,
        subnet_id: &str,
        vip: Ipv4Addr,
    ) -> Option<(u64, String)> {
        let mut st = self.state.lock().ok()?;
        let id = port_id_for(lb_id);
        if st.ports.contains_key(&id) {
            return None;
        }
        let t = now();
        st.ports.insert(
            id.clone(),
            Port {
                mac_address: mac_for(&id),
                id,
                name: format!("octavia-lb-{lb_id}"),
                description: String::new(),
                project_id: project.into(),
                network_id: network_id.into(),
                fixed_ips: vec![FixedIp {
                    subnet_id: subnet_id.into(),
                    ip_address: vip,
                }],
                device_owner: LB_OWNER.into(),
                device_id: lb_id.into(),
                security_groups: Vec::new(),
                admin_state_up: true,
                tags: Vec::new(),
                created: t.clone(),
                updated: t,
                revision: 1,
                nova_made: false,
            },
        );
        Some(st.changed())
    }

    /// Gives each server saved before ports existed (`(id, project, address)`) a port on
    /// the private network for the address it has, so that the address is never handed
    /// out twice; `None` when every server has its ports already.
    pub fn adopt(&self, servers: Vec<(String, String, String)>) -> Option<(u64, String)> {
        let mut st = self.state.lock().ok()?;
        let private = st.subnets.get(&subnet_id())?.clone();
        let mut any = false;
        for (server, project, address) in servers {
            let Ok(ip) = address.parse::<Ipv4Addr>() else {
                continue;
            };
            if st.ports.values().any(|p| p.device_id == server)
                || !private.cidr.contains(ip)
                || st.used_in(&private.id).contains(&ip)
            {
                continue;
            }
            let group = crate::secgroups::ensure_default(&mut st, &project);
            let id = uuid::Uuid::new_v4().to_string();
            let t = now();
            st.ports.insert(
                id.clone(),
                Port {
                    mac_address: mac_for(&id),
                    id,
                    name: String::new(),
                    description: String::new(),
                    project_id: project,
                    network_id: network_id(),
                    fixed_ips: vec![FixedIp {
                        subnet_id: private.id.clone(),
                        ip_address: ip,
                    }],
                    device_owner: COMPUTE_OWNER.into(),
                    device_id: server,
                    security_groups: vec![group],
                    admin_state_up: true,
                    tags: Vec::new(),
                    created: t.clone(),
                    updated: t,
                    revision: 1,
                    nova_made: true,
                },
            );
            any = true;
        }
        any.then(|| st.changed())
    }

    /// Drops VIP ports of load balancers that are gone; `None` when none were.
    pub fn prune_lb_ports(&self, alive: impl Fn(&str) -> bool) -> Option<(u64, String)> {
        let mut st = self.state.lock().ok()?;
        let before = st.ports.len();
        st.ports
            .retain(|_, p| p.device_owner != LB_OWNER || alive(&p.device_id));
        (st.ports.len() != before).then(|| st.changed())
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
fn mac_for(id: &str) -> String {
    let h = stable_id("mac", id);
    format!("fa:16:3e:{}:{}:{}", &h[0..2], &h[2..4], &h[4..6])
}

pub(crate) fn err(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError::new(Service::Network, status, message)
}

pub(crate) fn bad(message: impl Into<String>) -> ApiError {
    err(StatusCode::BAD_REQUEST, message)
}

pub(crate) fn invalid(message: impl Into<String>) -> ApiError {
    bad(message).kind("InvalidInput")
}

pub(crate) fn not_found(kind: &'static str, what: &str, id: &str) -> ApiError {
    err(
        StatusCode::NOT_FOUND,
        format!("{what} {id} could not be found."),
    )
    .kind(kind)
}

pub(crate) fn conflict(kind: &'static str, message: impl Into<String>) -> ApiError {
    err(StatusCode::CONFLICT, message).kind(kind)
}

pub(crate) fn authenticate(cloud: &Cloud, headers: &HeaderMap) -> Result<Who, ApiError> {
    cloud
        .identity
        .from_headers(headers)
        .map(|t| Who::of(&t))
        .ok_or_else(|| err(StatusCode::UNAUTHORIZED, "Authentication required"))
}

/// The object under `key` of a JSON body; malformed or non-UTF-8 bodies, a missing
/// object or wrongly typed fields are 400s.
pub(crate) fn parse<T: DeserializeOwned>(body: &Bytes, key: &str) -> Result<T, ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| bad(format!("Invalid request body: {e}")).kind("HTTPBadRequest"))?;
    let inner = v.get(key).filter(|x| x.is_object()).ok_or_else(|| {
        bad(format!(
            "Resource body required: expected an object '{key}'."
        ))
    })?;
    serde_json::from_value(inner.clone())
        .map_err(|e| invalid(format!("Invalid input for {key}: {e}")))
}

pub(crate) fn check_name(what: &str, name: &str) -> Result<(), ApiError> {
    if name.chars().count() > NAME_MAX {
        return Err(invalid(format!(
            "Invalid input for {what}: '{}...' exceeds maximum length of {NAME_MAX}.",
            name.chars().take(20).collect::<String>()
        )));
    }
    Ok(())
}

pub(crate) fn check_tags(tags: &[String]) -> Result<(), ApiError> {
    for t in tags {
        if t.is_empty() || t.chars().count() > TAG_MAX || t.contains(',') {
            return Err(invalid(format!(
                "Invalid input for tags: '{t}' must be 1-{TAG_MAX} characters without commas."
            )));
        }
    }
    Ok(())
}

/// Tags in order, without repeats.
pub(crate) fn dedup(tags: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

pub fn router() -> Router<Arc<Cloud>> {
    let r = Router::new()
        .route("/", get(versions))
        .route("/v2.0", get(resources))
        .route("/v2.0/", get(resources))
        .route("/v2.0/extensions", get(extensions))
        .route("/v2.0/networks", get(network_list).post(network_create))
        .route(
            "/v2.0/networks/{id}",
            get(network_show).put(network_update).delete(network_delete),
        )
        .route("/v2.0/subnets", get(subnet_list).post(subnet_create))
        .route(
            "/v2.0/subnets/{id}",
            get(subnet_show).put(subnet_update).delete(subnet_delete),
        )
        .route("/v2.0/ports", get(port_list).post(port_create))
        .route(
            "/v2.0/ports/{id}",
            get(port_show).put(port_update).delete(port_delete),
        )
        .route("/v2.0/quotas/{project}", get(quota))
        .merge(crate::secgroups::router());
    [Kind::Network, Kind::Subnet, Kind::Port, Kind::SecurityGroup]
        .into_iter()
        .fold(r, tag_routes)
}

/// Neutron's version document, for clients that discover versions.
pub async fn versions(State(cloud): State<Arc<Cloud>>) -> Json<Value> {
    Json(json!({"versions": [{
        "id": "v2.0", "status": "CURRENT",
        "links": [{"href": format!("{}/network/v2.0/", cloud.base_url), "rel": "self"}],
    }]}))
}

async fn resources(State(cloud): State<Arc<Cloud>>) -> Json<Value> {
    let items: Vec<Value> = ["network", "subnet", "port", "security_group", "security_group_rule"]
        .iter()
        .map(|r| {
            let c = format!("{r}s").replace('_', "-");
            json!({"name": r, "collection": c,
                   "links": [{"href": format!("{}/network/v2.0/{c}", cloud.base_url), "rel": "self"}]})
        })
        .collect();
    Json(json!({ "resources": items }))
}

/// The extensions clients look for before using a feature.
async fn extensions() -> Json<Value> {
    let items: Vec<Value> = [
        ("security-group", "security-group"),
        (
            "standard-attr-tag",
            "Tag support for resources with standard attribute",
        ),
        ("tag-creation", "Tag support for resources during creation"),
        ("quotas", "Quota management support"),
        ("standard-attr-description", "standard-attr-description"),
        ("project-id", "project_id field enabled"),
    ]
    .iter()
    .map(|(alias, name)| {
        json!({"alias": alias, "name": name, "description": name,
               "updated": "2026-01-01T00:00:00-00:00", "links": []})
    })
    .collect();
    Json(json!({ "extensions": items }))
}

/// Neutron's quota view: nothing is limited here (-1), but clients such as
/// `openstack quota show` expect to read it.
async fn quota(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let who = authenticate(&cloud, &headers)?;
    if !who.owns(&project) {
        return Err(err(StatusCode::FORBIDDEN, "Not authorized."));
    }
    Ok(Json(json!({"quota": {
        "network": -1, "subnet": -1, "subnetpool": -1, "port": -1, "router": -1,
        "floatingip": -1, "security_group": -1, "security_group_rule": -1, "rbac_policy": -1,
    }})))
}

// ---- listing ----------------------------------------------------------------------

/// Query pairs in order (a key may repeat), percent-decoded; undecodable pairs are
/// dropped.
pub(crate) fn parse_query(raw: Option<String>) -> Vec<(String, String)> {
    raw.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}

fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Whether a body attribute equals a query value (lists: any element does).
fn value_matches(v: &Value, want: &str) -> bool {
    match v {
        Value::String(s) => s == want,
        Value::Bool(b) => want.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        Value::Number(n) => n.to_string() == want,
        Value::Array(a) => a.iter().any(|x| value_matches(x, want)),
        _ => false,
    }
}

/// Neutron's list filtering on rendered bodies: any attribute by value (repeated keys
/// mean any of them), `tags` (all), `tags-any`, `not-tags`, `not-tags-any` (comma
/// separated), `fixed_ips=ip_address=...`/`subnet_id=...`, then `marker` and `limit`.
/// Attributes an object does not have are ignored, as are `fields` and sorting.
pub(crate) fn filtered(
    mut items: Vec<Value>,
    q: &[(String, String)],
    collection: &str,
) -> Result<Json<Value>, ApiError> {
    let mut keys: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, v) in q {
        keys.entry(k.as_str()).or_default().push(v.as_str());
    }
    let tags_of = |item: &Value| -> Vec<String> {
        item["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let split = |vs: &Vec<&str>| -> Vec<String> {
        vs.iter()
            .flat_map(|v| v.split(','))
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect()
    };
    for (k, vs) in &keys {
        match *k {
            "fields" | "sort_key" | "sort_dir" | "page_reverse" | "limit" | "marker" => {}
            "tags" | "tags-any" | "not-tags" | "not-tags-any" => {
                let want = split(vs);
                items.retain(|i| {
                    let have = tags_of(i);
                    let all = want.iter().all(|t| have.contains(t));
                    let any = want.iter().any(|t| have.contains(t));
                    match *k {
                        "tags" => all,
                        "tags-any" => any,
                        "not-tags" => !all,
                        _ => !any,
                    }
                });
            }
            "fixed_ips" => items.retain(|i| {
                vs.iter().all(|v| {
                    let (field, want) = v.split_once('=').unwrap_or(("ip_address", v));
                    i["fixed_ips"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|f| f[field] == *want))
                })
            }),
            _ => items.retain(|i| {
                i.get(*k)
                    .is_none_or(|v| vs.iter().any(|want| value_matches(v, want)))
            }),
        }
    }
    items.sort_by(|a, b| {
        (a["created_at"].as_str(), a["id"].as_str())
            .cmp(&(b["created_at"].as_str(), b["id"].as_str()))
    });
    if let Some(marker) = keys.get("marker").and_then(|m| m.first()) {
        let at = items
            .iter()
            .position(|i| i["id"] == *marker)
            .ok_or_else(|| bad(format!("Marker {marker} could not be found.")))?;
        items.drain(..=at);
    }
    if let Some(limit) = keys.get("limit").and_then(|l| l.first()) {
        let n: usize = limit
            .parse()
            .map_err(|_| invalid(format!("Invalid limit: '{limit}'.")))?;
        if n > 0 {
            items.truncate(n);
        }
    }
    Ok(Json(json!({ collection: items })))
}

// ---- networks ---------------------------------------------------------------------

fn network_body(st: &NetState, n: &Network) -> Value {
    json!({
        "admin_state_up": n.admin_state_up,
        "availability_zone_hints": [],
        "availability_zones": ["nova"],
        "created_at": n.created,
        "description": n.description,
        "dns_domain": "",
        "id": n.id,
        "ipv4_address_scope": null,
        "ipv6_address_scope": null,
        "is_default": n.id == network_id(),
        "l2_adjacency": true,
        "mtu": n.mtu,
        "name": n.name,
        "port_security_enabled": true,
        "pvlan": false,
        "qinq": false,
        "vlan_transparent": false,
        "project_id": n.project_id,
        "qos_policy_id": null,
        "revision_number": n.revision,
        "router:external": false,
        "shared": n.shared,
        "status": "ACTIVE",
        "subnets": st.subnets_of(&n.id).map(|s| s.id.clone()).collect::<Vec<_>>(),
        "tags": n.tags,
        "tenant_id": n.project_id,
        "updated_at": n.updated,
    })
}

#[derive(Deserialize)]
struct NetworkCreate {
    name: Option<String>,
    description: Option<String>,
    admin_state_up: Option<bool>,
    shared: Option<bool>,
    mtu: Option<u32>,
    tags: Option<Vec<String>>,
    project_id: Option<String>,
    tenant_id: Option<String>,
}

async fn network_create(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let who = authenticate(&cloud, &headers)?;
    let r: NetworkCreate = parse(&body, "network")?;
    let name = r.name.unwrap_or_default();
    let description = r.description.unwrap_or_default();
    check_name("name", &name)?;
    check_name("description", &description)?;
    let tags = dedup(r.tags.unwrap_or_default());
    check_tags(&tags)?;
    let project = who.project_for(r.project_id.or(r.tenant_id))?;
    let shared = r.shared.unwrap_or(false);
    if shared && !who.admin {
        return Err(err(
            StatusCode::FORBIDDEN,
            "(rule:create_network and rule:create_network:shared) is disallowed by policy",
        )
        .kind("PolicyNotAuthorized"));
    }
    let mtu = r.mtu.unwrap_or(1500);
    if !(68..=9000).contains(&mtu) {
        return Err(invalid(format!(
            "Invalid input for mtu: {mtu} is not in 68..9000."
        )));
    }
    let t = now();
    let net = Network {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        description,
        project_id: project,
        admin_state_up: r.admin_state_up.unwrap_or(true),
        shared,
        mtu,
        tags,
        created: t.clone(),
        updated: t,
        revision: 1,
    };
    let (body, snap) = {
        let mut st = cloud.network.lock()?;
        let body = network_body(&st, &net);
        st.networks.insert(net.id.clone(), net);
        (body, st.changed())
    };
    save(&cloud, snap).await;
    Ok((StatusCode::CREATED, Json(json!({ "network": body }))).into_response())
}

async fn network_list(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let who = authenticate(&cloud, &headers)?;
    let st = cloud.network.lock()?;
    let items = st
        .networks
        .values()
        .filter(|n| who.sees_network(n))
        .map(|n| network_body(&st, n))
        .collect();
    filtered(items, &parse_query(raw), "networks")
}

fn visible_network<'a>(st: &'a NetState, who: &Who, id: &str) -> Result<&'a Network, ApiError> {
    st.networks
        .get(id)
        .filter(|n| who.sees_network(n))
        .ok_or_else(|| not_found("NetworkNotFound", "Network", id))
}

async fn network_show(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let who = authenticate(&cloud, &headers)?;
    let st = cloud.network.lock()?;
    let n = visible_network(&st, &who, &id)?;
    Ok(Json(json!({"network": network_body(&st, n)})))
}

/// Changes to a network, subnet, port or security group: what every one of them has.
#[derive(Deserialize)]
pub(crate) struct Update {
    pub(crate) name: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) admin_state_up: Option<bool>,
    pub(crate) tags: Option<Vec<String>>,
}

impl Update {
    pub(crate) fn check(&self) -> Result<(), ApiError> {
        check_name("name", self.name.as_deref().unwrap_or(""))?;
        check_name("description", self.description.as_deref().unwrap_or(""))?;
        check_tags(self.tags.as_deref().unwrap_or(&[]))
    }
}

/// Applies `u` to the common fields of an object.
pub(crate) fn apply(
    u: Update,
    name: &mut String,
    description: &mut String,
    tags: &mut Vec<String>,
    revision: &mut u64,
    updated: &mut String,
) {
    if let Some(n) = u.name {
        *name = n;
    }
    if let Some(d) = u.description {
        *description = d;
    }
    if let Some(t) = u.tags {
        *tags = dedup(t);
    }
    *revision += 1;
    *updated = now();
}

async fn network_update(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let who = authenticate(&cloud, &headers)?;
    let u: Update = parse(&body, "network")?;
    u.check()?;
    let (body, snap) = {
        let mut st = cloud.network.lock()?;
        let owner = visible_network(&st, &who, &id)?.project_id.clone();
        if !who.owns(&owner) {
            return Err(forbidden_shared(&id));
        }
        let n = st.networks.get_mut(&id).expect("seen above");
        if let Some(a) = u.admin_state_up {
            n.admin_state_up = a;
        }
        apply(
            u,
            &mut n.name,
            &mut n.description,
            &mut n.tags,
            &mut n.revision,
            &mut n.updated,
        );
        let n = n.clone();
        (network_body(&st, &n), st.changed())
    };
    save(&cloud, snap).await;
    Ok(Json(json!({ "network": body })))
}

fn forbidden_shared(id: &str) -> ApiError {
    err(
        StatusCode::FORBIDDEN,
        format!(
            "Network {id} is shared and belongs to another project: only its owner may change it."
        ),
    )
    .kind("PolicyNotAuthorized")
}

/// Deletes a network with its subnets, unless ports are on it (409 `NetworkInUse`). The
/// shared private network stays: 403 for tenants, 409 even for admins.
async fn network_delete(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let who = authenticate(&cloud, &headers)?;
    let snap = {
        let mut st = cloud.network.lock()?;
        let owner = visible_network(&st, &who, &id)?.project_id.clone();
        if !who.owns(&owner) {
            return Err(forbidden_shared(&id));
        }
        if id == network_id() {
            return Err(conflict(
                "NetworkInUse",
                format!("Unable to complete operation on network {id}: it is this cloud's shared private network."),
            ));
        }
        let ports = st.ports.values().filter(|p| p.network_id == id).count();
        if ports > 0 {
            return Err(conflict(
                "NetworkInUse",
                format!("Unable to complete operation on network {id}. There are one or more ports still in use on the network ({ports})."),
            ));
        }
        st.subnets.retain(|_, s| s.network_id != id);
        st.networks.remove(&id);
        st.changed()
    };
    save(&cloud, snap).await;
    Ok(StatusCode::NO_CONTENT)
}

// ---- subnets ----------------------------------------------------------------------

fn subnet_body(s: &Subnet) -> Value {
    json!({
        "allocation_pools": s.allocation_pools,
        "cidr": s.cidr.to_string(),
        "created_at": s.created,
        "description": s.description,
        "dns_nameservers": s.dns_nameservers,
        "dns_publish_fixed_ip": false,
        "enable_dhcp": s.enable_dhcp,
        "gateway_ip": s.gateway_ip,
        "host_routes": [],
        "id": s.id,
        "ip_version": 4,
        "ipv6_address_mode": null,
        "ipv6_ra_mode": null,
        "name": s.name,
        "network_id": s.network_id,
        "project_id": s.project_id,
        "revision_number": s.revision,
        "router:external": false,
        "segment_id": null,
        "service_types": [],
        "subnetpool_id": null,
        "tags": s.tags,
        "tenant_id": s.project_id,
        "updated_at": s.updated,
    })
}

#[derive(Deserialize)]
struct SubnetCreate {
    network_id: String,
    cidr: Option<String>,
    name: Option<String>,
    description: Option<String>,
    ip_version: Option<u8>,
    /// Absent: the first address; `null`: no gateway.
    #[serde(default, deserialize_with = "present")]
    gateway_ip: Option<Option<String>>,
    allocation_pools: Option<Vec<PoolReq>>,
    enable_dhcp: Option<bool>,
    dns_nameservers: Option<Vec<String>>,
    tags: Option<Vec<String>>,
    project_id: Option<String>,
    tenant_id: Option<String>,
    subnetpool_id: Option<String>,
}

#[derive(Deserialize)]
struct PoolReq {
    start: String,
    end: String,
}

/// Tells an explicit `null` (`Some(None)`) from an absent field (`None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

fn ipv4(what: &str, s: &str) -> Result<Ipv4Addr, ApiError> {
    s.parse().map_err(|_| {
        invalid(format!(
            "Invalid input for {what}: '{s}' is not a valid IPv4 address."
        ))
    })
}

/// Checks a subnet request against the network's other subnets and fills in Neutron's
/// defaults: the gateway is the first address, the pools are the rest (minus broadcast).
fn new_subnet(st: &NetState, plan: &Plan, who: &Who, r: SubnetCreate) -> Result<Subnet, ApiError> {
    let name = r.name.unwrap_or_default();
    let description = r.description.unwrap_or_default();
    check_name("name", &name)?;
    check_name("description", &description)?;
    let tags = dedup(r.tags.unwrap_or_default());
    check_tags(&tags)?;
    if r.ip_version.is_some_and(|v| v != 4) {
        return Err(invalid(
            "Invalid input for ip_version: only IPv4 (4) subnets are supported here.",
        ));
    }
    if r.subnetpool_id.is_some() {
        return Err(invalid("Subnet pools are not supported here: give a cidr."));
    }
    let net = visible_network(st, who, &r.network_id)?;
    if !who.owns(&net.project_id) {
        return Err(forbidden_shared(&net.id));
    }
    let project = who.project_for(r.project_id.or(r.tenant_id))?;
    let cidr_text = r
        .cidr
        .ok_or_else(|| invalid("Bad subnets request: a cidr must be specified."))?;
    let cidr = Cidr::parse(&cidr_text).map_err(invalid)?;
    plan.check_subnet(&cidr)
        .map_err(|e| invalid(format!("Invalid input for cidr: {e}")))?;
    if cidr.len > 30 {
        return Err(invalid(format!(
            "Invalid input for cidr: {cidr} is too small for any address (prefix must be /30 or shorter)."
        )));
    }
    if let Some(other) = st.subnets_of(&net.id).find(|s| s.cidr.overlaps(&cidr)) {
        return Err(invalid(format!(
            "Invalid input for operation: Requested subnet with cidr: {cidr} for network: {} overlaps with another subnet ({}, {}).",
            net.id, other.id, other.cidr
        )));
    }
    let (first, last) = (cidr.first() + 1, cidr.last() - 1);
    let gateway = match r.gateway_ip {
        None => Some(Ipv4Addr::from(first)),
        Some(None) => None,
        Some(Some(g)) => {
            let g = ipv4("gateway_ip", &g)?;
            if !cidr.contains(g) || u32::from(g) < first || u32::from(g) > last {
                return Err(invalid(format!(
                    "Invalid input for gateway_ip: {g} is not a host address of {cidr}."
                )));
            }
            Some(g)
        }
    };
    let pools = match r.allocation_pools {
        Some(reqs) => {
            let mut pools: Vec<Pool> = Vec::new();
            for p in reqs {
                let pool = Pool {
                    start: ipv4("allocation_pools", &p.start)?,
                    end: ipv4("allocation_pools", &p.end)?,
                };
                let (s, e) = (u32::from(pool.start), u32::from(pool.end));
                if s > e || s < first || e > last {
                    return Err(invalid(format!(
                        "The allocation pool {}-{} spans beyond the subnet cidr {cidr} or is reversed.",
                        pool.start, pool.end
                    )));
                }
                if gateway.is_some_and(|g| (s..=e).contains(&u32::from(g))) {
                    return Err(conflict(
                        "GatewayConflictWithAllocationPools",
                        format!(
                            "Gateway ip {} conflicts with allocation pool {}-{}.",
                            gateway.unwrap_or(pool.start),
                            pool.start,
                            pool.end
                        ),
                    ));
                }
                if pools
                    .iter()
                    .any(|o| u32::from(o.start) <= e && s <= u32::from(o.end))
                {
                    return Err(invalid("Found overlapping allocation pools."));
                }
                pools.push(pool);
            }
            pools
        }
        None => {
            // All host addresses but the gateway, split around it.
            let g = gateway.map(u32::from);
            let mut pools = Vec::new();
            let mut start = first;
            if let Some(g) = g.filter(|g| (first..=last).contains(g)) {
                if g > first {
                    pools.push((first, g - 1));
                }
                start = g + 1;
            }
            if start <= last {
                pools.push((start, last));
            }
            pools
                .into_iter()
                .map(|(s, e)| Pool {
                    start: Ipv4Addr::from(s),
                    end: Ipv4Addr::from(e),
                })
                .collect()
        }
    };
    let dns = r.dns_nameservers.unwrap_or_default();
    for d in &dns {
        ipv4("dns_nameservers", d)?;
    }
    let t = now();
    Ok(Subnet {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        description,
        project_id: project,
        network_id: net.id.clone(),
        cidr,
        gateway_ip: gateway,
        allocation_pools: pools,
        enable_dhcp: r.enable_dhcp.unwrap_or(true),
        dns_nameservers: dns,
        tags,
        created: t.clone(),
        updated: t,
        revision: 1,
    })
}

async fn subnet_create(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let who = authenticate(&cloud, &headers)?;
    let r: SubnetCreate = parse(&body, "subnet")?;
    let (body, snap) = {
        let mut st = cloud.network.lock()?;
        let s = new_subnet(&st, &cloud.network.plan, &who, r)?;
        let body = subnet_body(&s);
        st.subnets.insert(s.id.clone(), s);
        (body, st.changed())
    };
    save(&cloud, snap).await;
    Ok((StatusCode::CREATED, Json(json!({ "subnet": body }))).into_response())
}

fn sees_subnet(st: &NetState, who: &Who, s: &Subnet) -> bool {
    who.owns(&s.project_id)
        || st
            .networks
            .get(&s.network_id)
            .is_some_and(|n| who.sees_network(n))
}

fn visible_subnet<'a>(st: &'a NetState, who: &Who, id: &str) -> Result<&'a Subnet, ApiError> {
    st.subnets
        .get(id)
        .filter(|s| sees_subnet(st, who, s))
        .ok_or_else(|| not_found("SubnetNotFound", "Subnet", id))
}

async fn subnet_list(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let who = authenticate(&cloud, &headers)?;
    let st = cloud.network.lock()?;
    let items = st
        .subnets
        .values()
        .filter(|s| sees_subnet(&st, &who, s))
        .map(subnet_body)
        .collect();
    filtered(items, &parse_query(raw), "subnets")
}

async fn subnet_show(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let who = authenticate(&cloud, &headers)?;
    let st = cloud.network.lock()?;
    Ok(Json(
        json!({"subnet": subnet_body(visible_subnet(&st, &who, &id)?)}),
    ))
}

async fn subnet_update(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let who = authenticate(&cloud, &headers)?;
    let u: Update = parse(&body, "subnet")?;
    u.check()?;
    let (body, snap) = {
        let mut st = cloud.network.lock()?;
        let owner = visible_subnet(&st, &who, &id)?.project_id.clone();
        if !who.owns(&owner) {
            return Err(forbidden_shared(&id));
        }
        let s = st.subnets.get_mut(&id).expect("seen above");
        apply(
            u,
            &mut s.name,
            &mut s.description,
            &mut s.tags,
            &mut s.revision,
            &mut s.updated,
        );
        let body = subnet_body(s);
        (body, st.changed())
    };
    save(&cloud, snap).await;
    Ok(Json(json!({ "subnet": body })))
}

async fn subnet_delete(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let who = authenticate(&cloud, &headers)?;
    let snap = {
        let mut st = cloud.network.lock()?;
        let owner = visible_subnet(&st, &who, &id)?.project_id.clone();
        if !who.owns(&owner) || id == subnet_id() {
            return Err(err(
                StatusCode::FORBIDDEN,
                format!("Subnet {id} belongs to a shared network of another project."),
            )
            .kind("PolicyNotAuthorized"));
        }
        if !st.used_in(&id).is_empty() {
            return Err(conflict(
                "SubnetInUse",
                format!("Unable to complete operation on subnet {id}: One or more ports have an IP allocation from this subnet."),
            ));
        }
        st.subnets.remove(&id);
        st.changed()
    };
    save(&cloud, snap).await;
    Ok(StatusCode::NO_CONTENT)
}

// ---- ports ------------------------------------------------------------------------

fn port_body(p: &Port) -> Value {
    json!({
        "admin_state_up": p.admin_state_up,
        "allowed_address_pairs": [],
        "binding:vnic_type": "normal",
        "created_at": p.created,
        "data_plane_status": null,
        "description": p.description,
        "device_id": p.device_id,
        "device_owner": p.device_owner,
        "dns_assignment": p.fixed_ips.iter().map(|f| {
            let host = format!("host-{}", f.ip_address.to_string().replace('.', "-"));
            json!({"hostname": host, "ip_address": f.ip_address, "fqdn": format!("{host}.openstacklocal.")})
        }).collect::<Vec<_>>(),
        "dns_domain": "",
        "dns_name": "",
        "extra_dhcp_opts": [],
        "fixed_ips": p.fixed_ips,
        "hardware_offload_type": "",
        "id": p.id,
        "ip_allocation": "immediate",
        "mac_address": p.mac_address,
        "name": p.name,
        "network_id": p.network_id,
        "port_security_enabled": true,
        "project_id": p.project_id,
        "propagate_uplink_status": false,
        "pvlan_community": null,
        "pvlan_type": null,
        "qos_network_policy_id": null,
        "qos_policy_id": null,
        "revision_number": p.revision,
        "security_groups": p.security_groups,
        "status": if p.device_id.is_empty() { "DOWN" } else { "ACTIVE" },
        "tags": p.tags,
        "tenant_id": p.project_id,
        "trusted": false,
        "updated_at": p.updated,
    })
}

#[derive(Deserialize, Default)]
struct FixedIpReq {
    subnet_id: Option<String>,
    ip_address: Option<String>,
}

#[derive(Deserialize, Default)]
struct PortSpec {
    network_id: String,
    name: Option<String>,
    description: Option<String>,
    admin_state_up: Option<bool>,
    fixed_ips: Option<Vec<FixedIpReq>>,
    device_owner: Option<String>,
    device_id: Option<String>,
    security_groups: Option<Vec<String>>,
    tags: Option<Vec<String>>,
    project_id: Option<String>,
    tenant_id: Option<String>,
}

/// A new port of `project` on a network `who` may use, with its addresses allocated
/// (not inserted yet). Without `fixed_ips`, one address from the network's first subnet
/// with room; without `security_groups`, the project's `default` group (made if needed).
fn new_port(st: &mut NetState, who: &Who, project: &str, r: PortSpec) -> Result<Port, ApiError> {
    let name = r.name.unwrap_or_default();
    let description = r.description.unwrap_or_default();
    check_name("name", &name)?;
    check_name("description", &description)?;
    let device_owner = r.device_owner.unwrap_or_default();
    let device_id = r.device_id.unwrap_or_default();
    check_name("device_owner", &device_owner)?;
    check_name("device_id", &device_id)?;
    let tags = dedup(r.tags.unwrap_or_default());
    check_tags(&tags)?;
    let net = visible_network(st, who, &r.network_id)?.id.clone();
    let mut fixed: Vec<FixedIp> = Vec::new();
    let taken = |st: &NetState, fixed: &[FixedIp], sub: &Subnet, ip: Ipv4Addr| {
        Some(ip) == sub.gateway_ip
            || st.used_in(&sub.id).contains(&ip)
            || fixed.iter().any(|f| f.ip_address == ip)
    };
    match r.fixed_ips {
        Some(reqs) => {
            for f in reqs {
                let sub = match (&f.subnet_id, &f.ip_address) {
                    (Some(sid), _) => st
                        .subnets
                        .get(sid)
                        .filter(|s| s.network_id == net)
                        .ok_or_else(|| {
                            invalid(format!("Failed to create port on network {net}, because fixed_ips included invalid subnet {sid}."))
                        })?,
                    (None, Some(ip)) => {
                        let ip = ipv4("fixed_ips", ip)?;
                        st.subnets_of(&net).find(|s| s.cidr.contains(ip)).ok_or_else(|| {
                            invalid(format!("IP address {ip} is not a valid IP for any subnet on network {net}."))
                        })?
                    }
                    (None, None) => {
                        return Err(invalid("Invalid input for fixed_ips: each entry needs a subnet_id or an ip_address."))
                    }
                };
                let ip = match &f.ip_address {
                    Some(ip) => {
                        let ip = ipv4("fixed_ips", ip)?;
                        if !sub.cidr.contains(ip)
                            || u32::from(ip) == sub.cidr.first()
                            || u32::from(ip) == sub.cidr.last()
                        {
                            return Err(invalid(format!(
                                "IP address {ip} is not a valid IP for the specified subnet {}.",
                                sub.id
                            )));
                        }
                        if taken(st, &fixed, sub, ip) {
                            return Err(conflict(
                                "IpAddressAlreadyAllocated",
                                format!("IP address {ip} already allocated in subnet {}", sub.id),
                            ));
                        }
                        ip
                    }
                    None => st
                        .free_addresses(sub, &fixed)
                        .next()
                        .ok_or_else(|| exhausted(&net))?,
                };
                fixed.push(FixedIp {
                    subnet_id: sub.id.clone(),
                    ip_address: ip,
                });
            }
        }
        None => {
            let mut subnets = st.subnets_of(&net).peekable();
            if subnets.peek().is_some() {
                let ip = subnets
                    .find_map(|s| st.free_address(s).map(|ip| (s.id.clone(), ip)))
                    .ok_or_else(|| exhausted(&net))?;
                fixed.push(FixedIp {
                    subnet_id: ip.0,
                    ip_address: ip.1,
                });
            }
        }
    }
    let groups = match r.security_groups {
        Some(groups) => {
            for g in &groups {
                st.groups
                    .get(g)
                    .filter(|sg| sg.project_id == project || who.admin)
                    .ok_or_else(|| not_found("SecurityGroupNotFound", "Security group", g))?;
            }
            dedup(groups)
        }
        None => vec![crate::secgroups::ensure_default(st, project)],
    };
    let id = uuid::Uuid::new_v4().to_string();
    let t = now();
    Ok(Port {
        mac_address: mac_for(&id),
        id,
        name,
        description,
        project_id: project.into(),
        network_id: net,
        fixed_ips: fixed,
        device_owner,
        device_id,
        security_groups: groups,
        admin_state_up: r.admin_state_up.unwrap_or(true),
        tags,
        created: t.clone(),
        updated: t,
        revision: 1,
        nova_made: false,
    })
}

impl NetState {
    /// Free addresses of `sub`, not counting those already picked for the port being made.
    fn free_addresses<'a>(
        &'a self,
        sub: &'a Subnet,
        picked: &'a [FixedIp],
    ) -> impl Iterator<Item = Ipv4Addr> + 'a {
        let used = self.used_in(&sub.id);
        sub.allocation_pools
            .iter()
            .flat_map(|p| u32::from(p.start)..=u32::from(p.end))
            .map(Ipv4Addr::from)
            .filter(move |ip| {
                !used.contains(ip)
                    && Some(*ip) != sub.gateway_ip
                    && !picked.iter().any(|f| f.ip_address == *ip)
            })
    }
}

fn exhausted(net: &str) -> ApiError {
    conflict(
        "IpAddressGenerationFailure",
        format!("No more IP addresses available on network {net}."),
    )
}

async fn port_create(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let who = authenticate(&cloud, &headers)?;
    let mut r: PortSpec = parse(&body, "port")?;
    let project = who.project_for(r.project_id.take().or(r.tenant_id.take()))?;
    let (body, snap) = {
        let mut st = cloud.network.lock()?;
        // Checks come first in new_port: a refused port changes nothing.
        let port = new_port(&mut st, &who, &project, r)?;
        let body = port_body(&port);
        st.ports.insert(port.id.clone(), port);
        (body, st.changed())
    };
    save(&cloud, snap).await;
    Ok((StatusCode::CREATED, Json(json!({ "port": body }))).into_response())
}

async fn port_list(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let who = authenticate(&cloud, &headers)?;
    let st = cloud.network.lock()?;
    let items = st
        .ports
        .values()
        .filter(|p| who.owns(&p.project_id))
        .map(port_body)
        .collect();
    filtered(items, &parse_query(raw), "ports")
}

fn visible_port<'a>(st: &'a NetState, who: &Who, id: &str) -> Result<&'a Port, ApiError> {
    st.ports
        .get(id)
        .filter(|p| who.owns(&p.project_id))
        .ok_or_else(|| not_found("PortNotFound", "Port", id))
}

async fn port_show(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let who = authenticate(&cloud, &headers)?;
    let st = cloud.network.lock()?;
    Ok(Json(
        json!({"port": port_body(visible_port(&st, &who, &id)?)}),
    ))
}

#[derive(Deserialize)]
struct PortUpdate {
    #[serde(flatten)]
    common: Update,
    device_owner: Option<String>,
    device_id: Option<String>,
    security_groups: Option<Vec<String>>,
}

async fn port_update(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let who = authenticate(&cloud, &headers)?;
    let u: PortUpdate = parse(&body, "port")?;
    u.common.check()?;
    check_name("device_owner", u.device_owner.as_deref().unwrap_or(""))?;
    check_name("device_id", u.device_id.as_deref().unwrap_or(""))?;
    let (body, snap) = {
        let mut st = cloud.network.lock()?;
        let project = visible_port(&st, &who, &id)?.project_id.clone();
        if let Some(groups) = &u.security_groups {
            for g in groups {
                st.groups
                    .get(g)
                    .filter(|sg| sg.project_id == project || who.admin)
                    .ok_or_else(|| not_found("SecurityGroupNotFound", "Security group", g))?;
            }
        }
        let p = st.ports.get_mut(&id).expect("seen above");
        if let Some(a) = u.common.admin_state_up {
            p.admin_state_up = a;
        }
        if let Some(o) = u.device_owner {
            p.device_owner = o;
        }
        if let Some(d) = u.device_id {
            p.device_id = d;
        }
        if let Some(g) = u.security_groups {
            p.security_groups = dedup(g);
        }
        apply(
            u.common,
            &mut p.name,
            &mut p.description,
            &mut p.tags,
            &mut p.revision,
            &mut p.updated,
        );
        let body = port_body(p);
        (body, st.changed())
    };
    save(&cloud, snap).await;
    Ok(Json(json!({ "port": body })))
}

async fn port_delete(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let who = authenticate(&cloud, &headers)?;
    let snap = {
        let mut st = cloud.network.lock()?;
        visible_port(&st, &who, &id)?;
        st.ports.remove(&id);
        st.changed()
    };
    save(&cloud, snap).await;
    Ok(StatusCode::NO_CONTENT)
}

// ---- tags -------------------------------------------------------------------------

/// Objects that carry tags (`/v2.0/<collection>/{id}/tags`).
#[derive(Clone, Copy)]
enum Kind {
    Network,
    Subnet,
    Port,
    SecurityGroup,
}

impl Kind {
    fn collection(self) -> &'static str {
        match self {
            Kind::Network => "networks",
            Kind::Subnet => "subnets",
            Kind::Port => "ports",
            Kind::SecurityGroup => "security-groups",
        }
    }

    /// The tags of the object `id`, when `who` may change it.
    fn tags_mut<'a>(
        self,
        st: &'a mut NetState,
        who: &Who,
        id: &str,
    ) -> Result<&'a mut Vec<String>, ApiError> {
        let missing = || match self {
            Kind::Network => not_found("NetworkNotFound", "Network", id),
            Kind::Subnet => not_found("SubnetNotFound", "Subnet", id),
            Kind::Port => not_found("PortNotFound", "Port", id),
            Kind::SecurityGroup => not_found("SecurityGroupNotFound", "Security group", id),
        };
        let tags = match self {
            Kind::Network => st
                .networks
                .get_mut(id)
                .filter(|n| who.owns(&n.project_id))
                .map(|n| &mut n.tags),
            Kind::Subnet => st
                .subnets
                .get_mut(id)
                .filter(|s| who.owns(&s.project_id))
                .map(|s| &mut s.tags),
            Kind::Port => st
                .ports
                .get_mut(id)
                .filter(|p| who.owns(&p.project_id))
                .map(|p| &mut p.tags),
            Kind::SecurityGroup => st
                .groups
                .get_mut(id)
                .filter(|g| who.owns(&g.project_id))
                .map(|g| &mut g.tags),
        };
        tags.ok_or_else(missing)
    }
}

/// What a tag request does.
enum TagOp {
    Show,
    Replace(Bytes),
    Add(String),
    Remove(String),
    Clear,
}

fn tag_routes(r: Router<Arc<Cloud>>, kind: Kind) -> Router<Arc<Cloud>> {
    let base = format!("/v2.0/{}/{{id}}/tags", kind.collection());
    r.route(
        &base,
        get(
            move |State(c): State<Arc<Cloud>>, h: HeaderMap, Path(id): Path<String>| async move {
                tag_op(c, h, kind, id, TagOp::Show).await
            },
        )
        .put(
            move |State(c): State<Arc<Cloud>>, h: HeaderMap, Path(id): Path<String>, b: Bytes| async move {
                tag_op(c, h, kind, id, TagOp::Replace(b)).await
            },
        )
        .delete(
            move |State(c): State<Arc<Cloud>>, h: HeaderMap, Path(id): Path<String>| async move {
                tag_op(c, h, kind, id, TagOp::Clear).await
            },
        ),
    )
    .route(
        &format!("{base}/{{tag}}"),
        put(
            move |State(c): State<Arc<Cloud>>, h: HeaderMap, Path((id, tag)): Path<(String, String)>| async move {
                tag_op(c, h, kind, id, TagOp::Add(tag)).await
            },
        )
        .delete(
            move |State(c): State<Arc<Cloud>>, h: HeaderMap, Path((id, tag)): Path<(String, String)>| async move {
                tag_op(c, h, kind, id, TagOp::Remove(tag)).await
            },
        ),
    )
}

/// Neutron's tag API: show, replace all (`{"tags": [...]}`), add one, remove one or all.
async fn tag_op(
    cloud: Arc<Cloud>,
    headers: HeaderMap,
    kind: Kind,
    id: String,
    op: TagOp,
) -> Result<Response, ApiError> {
    let who = authenticate(&cloud, &headers)?;
    let new_tags = match &op {
        TagOp::Replace(body) => {
            let v: Value = serde_json::from_slice(body)
                .map_err(|e| bad(format!("Invalid request body: {e}")).kind("HTTPBadRequest"))?;
            let tags: Vec<String> = serde_json::from_value(v["tags"].clone())
                .map_err(|_| invalid("Invalid input: expected {\"tags\": [\"...\"]}."))?;
            check_tags(&tags)?;
            Some(dedup(tags))
        }
        TagOp::Add(t) => {
            check_tags(std::slice::from_ref(t))?;
            None
        }
        _ => None,
    };
    let (response, snap) = {
        let mut st = cloud.network.lock()?;
        let tags = kind.tags_mut(&mut st, &who, &id)?;
        let response = match op {
            TagOp::Show => return Ok(Json(json!({ "tags": tags })).into_response()),
            TagOp::Replace(_) => {
                *tags = new_tags.unwrap_or_default();
                Json(json!({ "tags": tags })).into_response()
            }
            TagOp::Add(t) => {
                if !tags.contains(&t) {
                    tags.push(t);
                }
                StatusCode::CREATED.into_response()
            }
            TagOp::Remove(t) => {
                if !tags.contains(&t) {
                    return Err(not_found("TagNotFound", "Tag", &t));
                }
                tags.retain(|x| *x != t);
                StatusCode::NO_CONTENT.into_response()
            }
            TagOp::Clear => {
                tags.clear();
                StatusCode::NO_CONTENT.into_response()
            }
        };
        (response, st.changed())
    };
    save(&cloud, snap).await;
    Ok(response)
}
