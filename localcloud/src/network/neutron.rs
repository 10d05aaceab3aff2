//! Neutron's state behind its lock, and what the rest of the cloud asks of it: ports
//! for servers and load balancer VIPs, their addresses, restore and adoption after a
//! restart.

use std::net::Ipv4Addr;
use std::sync::{Mutex, MutexGuard};

use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::addresses::Plan;
use crate::common::errors::{ApiError, NEUTRON};
use crate::{stable_id, Config};

use super::errors::*;
use super::handling::*;
use super::state::*;

/// Network state shared by Neutron, Nova (server ports) and Octavia (VIP ports).
pub struct Neutron {
    pub(crate) state: Mutex<NetState>,
    /// Owner of the shared private network: the first admin's project.
    pub(crate) owner: String,
    /// Where subnets may lie.
    pub(crate) plan: Plan,
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
            .map_err(|_| NEUTRON.err(StatusCode::INTERNAL_SERVER_ERROR, "network state poisoned"))
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
                        result = Err(NEUTRON
                            .err(StatusCode::CONFLICT, format!("Port {pid} is still in use.")));
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
            let group = ensure_default(&mut st, &project);
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

#[derive(Deserialize, Default)]
pub(crate) struct FixedIpReq {
    pub(crate) subnet_id: Option<String>,
    pub(crate) ip_address: Option<String>,
}

#[derive(Deserialize, Default)]
pub(crate) struct PortSpec {
    pub(crate) network_id: String,
    pub(crate) name: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) admin_state_up: Option<bool>,
    pub(crate) fixed_ips: Option<Vec<FixedIpReq>>,
    pub(crate) device_owner: Option<String>,
    pub(crate) device_id: Option<String>,
    pub(crate) security_groups: Option<Vec<String>>,
    pub(crate) tags: Option<Vec<String>>,
    pub(crate) project_id: Option<String>,
    pub(crate) tenant_id: Option<String>,
}

/// A new port of `project` on a network `who` may use, with its addresses allocated
/// (not inserted yet). Without `fixed_ips`, one address from the network's first subnet
/// with room; without `security_groups`, the project's `default` group (made if needed).
pub(crate) fn new_port(
    st: &mut NetState,
    who: &Who,
    project: &str,
    r: PortSpec,
) -> Result<Port, ApiError> {
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
        None => vec![ensure_default(st, project)],
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
    pub(crate) fn free_addresses<'a>(
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
