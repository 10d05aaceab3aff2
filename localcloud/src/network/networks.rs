//! Neutron's network endpoints.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::common::errors::{ApiError, NEUTRON};
use crate::Cloud;

use super::errors::*;
use super::handling::*;
use super::state::*;

pub(crate) fn network_body(st: &NetState, n: &Network) -> Value {
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
pub(crate) struct NetworkCreate {
    name: Option<String>,
    description: Option<String>,
    admin_state_up: Option<bool>,
    shared: Option<bool>,
    mtu: Option<u32>,
    tags: Option<Vec<String>>,
    project_id: Option<String>,
    tenant_id: Option<String>,
}

pub(crate) async fn network_create(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let who = who(&cloud, &headers)?;
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
        return Err(NEUTRON
            .err(
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

pub(crate) async fn network_list(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let who = who(&cloud, &headers)?;
    let st = cloud.network.lock()?;
    let items = st
        .networks
        .values()
        .filter(|n| who.sees_network(n))
        .map(|n| network_body(&st, n))
        .collect();
    filtered(items, &parse_query(raw), "networks")
}

pub(crate) async fn network_show(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let who = who(&cloud, &headers)?;
    let st = cloud.network.lock()?;
    let n = visible_network(&st, &who, &id)?;
    Ok(Json(json!({"network": network_body(&st, n)})))
}

pub(crate) async fn network_update(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let who = who(&cloud, &headers)?;
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

/// Deletes a network with its subnets, unless ports are on it (409 `NetworkInUse`). The
/// shared private network stays: 403 for tenants, 409 even for admins.
pub(crate) async fn network_delete(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let who = who(&cloud, &headers)?;
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
