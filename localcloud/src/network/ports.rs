//! Neutron's port endpoints.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::common::errors::ApiError;
use crate::Cloud;

use super::errors::*;
use super::handling::*;
use super::neutron::*;
use super::state::*;

pub(crate) fn port_body(p: &Port) -> Value {
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

pub(crate) async fn port_create(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let who = who(&cloud, &headers)?;
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

pub(crate) async fn port_list(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let who = who(&cloud, &headers)?;
    let st = cloud.network.lock()?;
    let items = st
        .ports
        .values()
        .filter(|p| who.owns(&p.project_id))
        .map(port_body)
        .collect();
    filtered(items, &parse_query(raw), "ports")
}

pub(crate) fn visible_port<'a>(
    st: &'a NetState,
    who: &Who,
    id: &str,
) -> Result<&'a Port, ApiError> {
    st.ports
        .get(id)
        .filter(|p| who.owns(&p.project_id))
        .ok_or_else(|| not_found("PortNotFound", "Port", id))
}

pub(crate) async fn port_show(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let who = who(&cloud, &headers)?;
    let st = cloud.network.lock()?;
    Ok(Json(
        json!({"port": port_body(visible_port(&st, &who, &id)?)}),
    ))
}

#[derive(Deserialize)]
pub(crate) struct PortUpdate {
    #[serde(flatten)]
    common: Update,
    device_owner: Option<String>,
    device_id: Option<String>,
    security_groups: Option<Vec<String>>,
}

pub(crate) async fn port_update(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let who = who(&cloud, &headers)?;
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

pub(crate) async fn port_delete(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let who = who(&cloud, &headers)?;
    let snap = {
        let mut st = cloud.network.lock()?;
        visible_port(&st, &who, &id)?;
        st.ports.remove(&id);
        st.changed()
    };
    save(&cloud, snap).await;
    Ok(StatusCode::NO_CONTENT)
}
