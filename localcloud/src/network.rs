//! Network (Neutron v2), minimal: one shared `private` network with its subnet, which
//! every server's fixed address comes from, so that clients can list networks and pick
//! one by name (`openstack server create --network private`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::error::{ApiError, Service};
use crate::{stable_id, Cloud};

pub const NETWORK_NAME: &str = "private";
pub const SUBNET_CIDR: &str = "10.0.0.0/16";

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

fn uuid_form(h: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

pub fn router() -> Router<Arc<Cloud>> {
    Router::new()
        .route("/v2.0/networks", get(networks))
        .route("/v2.0/networks/{id}", get(network))
        .route("/v2.0/subnets", get(subnets))
        .route("/v2.0/subnets/{id}", get(subnet))
        .route("/v2.0/quotas/{project}", get(quota))
}

/// Neutron's quota view: this minimal network service limits nothing (-1), but
/// clients such as `openstack quota show` expect to read it.
async fn quota(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let own = authenticate(&cloud, &headers)?;
    if own != project
        && !cloud
            .identity
            .from_headers(&headers)
            .is_some_and(|t| t.admin)
    {
        return Err(err(StatusCode::FORBIDDEN, "Not authorized."));
    }
    Ok(Json(json!({"quota": {
        "network": -1, "subnet": -1, "subnetpool": -1, "port": -1, "router": -1,
        "floatingip": -1, "security_group": -1, "security_group_rule": -1, "rbac_policy": -1,
    }})))
}

fn err(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError::new(Service::Network, status, message)
}

fn authenticate(cloud: &Cloud, headers: &HeaderMap) -> Result<String, ApiError> {
    cloud
        .identity
        .from_headers(headers)
        .map(|t| t.project_id)
        .ok_or_else(|| err(StatusCode::UNAUTHORIZED, "Authentication required"))
}

fn network_body(project_id: &str) -> Value {
    json!({
        "admin_state_up": true,
        "availability_zone_hints": [],
        "availability_zones": ["nova"],
        "created_at": "2026-01-01T00:00:00Z",
        "description": "",
        "dns_domain": "",
        "id": network_id(),
        "ipv4_address_scope": null,
        "ipv6_address_scope": null,
        "is_default": true,
        "l2_adjacency": true,
        "mtu": 1500,
        "name": NETWORK_NAME,
        "port_security_enabled": true,
        "pvlan": false,
        "qinq": false,
        "vlan_transparent": false,
        "project_id": project_id,
        "qos_policy_id": null,
        "revision_number": 1,
        "router:external": false,
        "shared": true,
        "status": "ACTIVE",
        "subnets": [subnet_id()],
        "tags": [],
        "tenant_id": project_id,
        "updated_at": "2026-01-01T00:00:00Z",
    })
}

fn subnet_body(project_id: &str) -> Value {
    json!({
        "allocation_pools": [{"start": "10.0.0.2", "end": "10.0.255.254"}],
        "cidr": SUBNET_CIDR,
        "created_at": "2026-01-01T00:00:00Z",
        "description": "",
        "dns_nameservers": [],
        "dns_publish_fixed_ip": false,
        "enable_dhcp": true,
        "gateway_ip": "10.0.0.1",
        "host_routes": [],
        "id": subnet_id(),
        "ip_version": 4,
        "ipv6_address_mode": null,
        "ipv6_ra_mode": null,
        "name": format!("{NETWORK_NAME}-subnet"),
        "network_id": network_id(),
        "project_id": project_id,
        "revision_number": 1,
        "router:external": false,
        "segment_id": null,
        "service_types": [],
        "subnetpool_id": null,
        "tags": [],
        "tenant_id": project_id,
        "updated_at": "2026-01-01T00:00:00Z",
    })
}

/// Neutron filters by any attribute given in the query; `name` and `id` are the ones
/// clients use here. Anything that matches nothing gives an empty list.
fn matches(q: &std::collections::HashMap<String, String>, id: &str, name: &str) -> bool {
    q.get("id").is_none_or(|v| v == id) && q.get("name").is_none_or(|v| v == name)
}

async fn networks(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Result<Json<Value>, ApiError> {
    let project = authenticate(&cloud, &headers)?;
    let q = parse_query(raw);
    let items: Vec<Value> = matches(&q, &network_id(), NETWORK_NAME)
        .then(|| network_body(&project))
        .into_iter()
        .collect();
    Ok(Json(json!({ "networks": items })))
}

async fn network(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    show(&cloud, &headers, &id, "network", network_id(), network_body)
}

/// Shows the one network or subnet there is, or Neutron's 404.
fn show(
    cloud: &Cloud,
    headers: &HeaderMap,
    id: &str,
    kind: &str,
    expected: String,
    body: fn(&str) -> Value,
) -> Result<Json<Value>, ApiError> {
    let project = authenticate(cloud, headers)?;
    if id != expected {
        let mut name = kind.to_string();
        name[..1].make_ascii_uppercase();
        return Err(err(
            StatusCode::NOT_FOUND,
            format!("{name} {id} could not be found."),
        ));
    }
    Ok(Json(json!({ kind: body(&project) })))
}

async fn subnets(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Result<Json<Value>, ApiError> {
    let project = authenticate(&cloud, &headers)?;
    let q = parse_query(raw);
    let name = format!("{NETWORK_NAME}-subnet");
    let items: Vec<Value> = (matches(&q, &subnet_id(), &name)
        && q.get("network_id").is_none_or(|n| *n == network_id()))
    .then(|| subnet_body(&project))
    .into_iter()
    .collect();
    Ok(Json(json!({ "subnets": items })))
}

async fn subnet(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    show(&cloud, &headers, &id, "subnet", subnet_id(), subnet_body)
}

/// Query pairs, percent-decoded leniently (undecodable input matches nothing).
fn parse_query(raw: Option<String>) -> std::collections::HashMap<String, String> {
    raw.unwrap_or_default()
        .split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
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
