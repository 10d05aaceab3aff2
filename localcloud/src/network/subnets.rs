//! Neutron's subnet endpoints: IPv4 subnets inside the address plan, with allocation
//! pools.

use std::net::Ipv4Addr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::addresses::Plan;
use crate::common::errors::{ApiError, NEUTRON};
use crate::Cloud;

use super::errors::*;
use super::handling::*;
use super::state::*;

pub(crate) fn subnet_body(s: &Subnet) -> Value {
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
pub(crate) struct SubnetCreate {
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
pub(crate) struct PoolReq {
    start: String,
    end: String,
}

/// Tells an explicit `null` (`Some(None)`) from an absent field (`None`).
pub(crate) fn present<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Checks a subnet request against the network's other subnets and fills in Neutron's
/// defaults: the gateway is the first address, the pools are the rest (minus broadcast).
pub(crate) fn new_subnet(
    st: &NetState,
    plan: &Plan,
    who: &Who,
    r: SubnetCreate,
) -> Result<Subnet, ApiError> {
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

pub(crate) async fn subnet_create(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let who = who(&cloud, &headers)?;
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

pub(crate) fn visible_subnet<'a>(
    st: &'a NetState,
    who: &Who,
    id: &str,
) -> Result<&'a Subnet, ApiError> {
    st.subnets
        .get(id)
        .filter(|s| sees_subnet(st, who, s))
        .ok_or_else(|| not_found("SubnetNotFound", "Subnet", id))
}

pub(crate) async fn subnet_list(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let who = who(&cloud, &headers)?;
    let st = cloud.network.lock()?;
    let items = st
        .subnets
        .values()
        .filter(|s| sees_subnet(&st, &who, s))
        .map(subnet_body)
        .collect();
    filtered(items, &parse_query(raw), "subnets")
}

pub(crate) async fn subnet_show(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let who = who(&cloud, &headers)?;
    let st = cloud.network.lock()?;
    Ok(Json(
        json!({"subnet": subnet_body(visible_subnet(&st, &who, &id)?)}),
    ))
}

pub(crate) async fn subnet_update(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let who = who(&cloud, &headers)?;
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

pub(crate) async fn subnet_delete(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let who = who(&cloud, &headers)?;
    let snap = {
        let mut st = cloud.network.lock()?;
        let owner = visible_subnet(&st, &who, &id)?.project_id.clone();
        if !who.owns(&owner) || id == subnet_id() {
            return Err(NEUTRON
                .err(
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
