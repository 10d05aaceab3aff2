//! Octavia's load balancer endpoints (and its quota view): create takes a VIP and a
//! port on the subnet, delete cascades, status shows the tree.

use std::net::Ipv4Addr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::common::auth::authenticate;
use crate::common::errors::{ApiError, OCTAVIA};
use crate::Cloud;

use super::handling::*;
use super::state::*;
use super::views::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LbCreate {
    name: Option<String>,
    description: Option<String>,
    admin_state_up: Option<bool>,
    tags: Option<Vec<String>>,
    project_id: Option<String>,
    vip_subnet_id: Option<String>,
    vip_network_id: Option<String>,
    vip_port_id: Option<String>,
    vip_address: Option<String>,
    provider: Option<String>,
    flavor_id: Option<String>,
    availability_zone: Option<String>,
    vip_qos_policy_id: Option<String>,
    additional_vips: Option<Vec<Value>>,
    listeners: Option<Vec<Value>>,
    pools: Option<Vec<Value>>,
}

#[derive(Deserialize)]
pub(super) struct LbCreateBody {
    loadbalancer: LbCreate,
}

pub(super) async fn lb_create(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = authenticate(&cloud, &headers, OCTAVIA)?;
    settle(&cloud).await?;
    let req: LbCreateBody = parse(&body)?;
    let r = req.loadbalancer;
    if r.listeners.as_ref().is_some_and(|l| !l.is_empty())
        || r.pools.as_ref().is_some_and(|p| !p.is_empty())
    {
        return Err(OCTAVIA.bad(
            "Creating listeners or pools inside a load balancer request is not supported here; create them one by one.",
        ));
    }
    if r.additional_vips.as_ref().is_some_and(|v| !v.is_empty()) {
        return Err(OCTAVIA.bad("additional_vips are not supported here."));
    }
    let _ = (
        &r.provider,
        &r.flavor_id,
        &r.availability_zone,
        &r.vip_qos_policy_id,
    );
    if r.project_id
        .as_ref()
        .is_some_and(|p| *p != token.project_id)
    {
        return Err(OCTAVIA.err(
            StatusCode::FORBIDDEN,
            "Policy does not allow this request to be performed.",
        ));
    }
    // The VIP's network and subnet: any the project may use.
    if let Some(p) = &r.vip_port_id {
        return Err(OCTAVIA.bad(format!("Validation failure: Port {p} not found.")));
    }
    let who = crate::network::Who::of(&token);
    let (net, subnet) = cloud
        .network
        .vip_place(
            &who,
            r.vip_subnet_id.as_deref(),
            r.vip_network_id.as_deref(),
        )
        .map_err(|m| OCTAVIA.bad(m))?;
    let c = common(
        &token,
        r.name,
        r.description,
        r.admin_state_up,
        r.tags,
        busy(Pending::Create, cloud.behaviour().lb_create()),
    )?;
    let vip = match r.vip_address {
        Some(a) => {
            let ip: Ipv4Addr = a.parse().map_err(|_| {
                OCTAVIA.bad(format!(
                    "Invalid input for field/attribute vip_address. Value: '{a}'."
                ))
            })?;
            if !cloud.lbs.in_range(ip) {
                return Err(OCTAVIA.bad(format!(
                    "Validation failure: IP address {ip} is not in the VIP range of this cloud."
                )));
            }
            if !claim_vip(ip) {
                return Err(OCTAVIA.err(
                    StatusCode::CONFLICT,
                    format!("IP address {ip} is already allocated."),
                ));
            }
            ip
        }
        None => cloud.lbs.allocate_vip().ok_or_else(|| {
            OCTAVIA.err(
                StatusCode::CONFLICT,
                "No more IP addresses available in the VIP range.",
            )
        })?,
    };
    let id = c.id.clone();
    let limit = cloud.quotas.get(&token.project_id).load_balancers;
    let snap = {
        let mut st = cloud.lbs.lock()?;
        let used = st
            .loadbalancers
            .values()
            .filter(|l| l.c.project_id == token.project_id)
            .count() as u64;
        if !crate::quotas::fits(limit, used, 1) {
            release_vip(vip);
            return Err(OCTAVIA.err(
                StatusCode::FORBIDDEN,
                "Quota has been met for resources: Load Balancer",
            ));
        }
        st.loadbalancers.insert(
            id.clone(),
            LoadBalancer {
                vip_port_id: crate::network::port_id_for(&id),
                c,
                vip_address: vip,
                vip_subnet_id: subnet.clone(),
                vip_network_id: net.clone(),
            },
        );
        st.changed()
    };
    // The VIP's port (its address is the loopback VIP), gone with the load balancer.
    if let Some(snap) = cloud
        .network
        .add_lb_port(&token.project_id, &id, &net, &subnet, vip)
    {
        crate::network::save(&cloud, snap).await;
    }
    finish(&cloud, snap, StatusCode::CREATED, |cloud, st, now| {
        let lb = st.loadbalancers.get(&id)?;
        Some(json!({"loadbalancer": lb_body(cloud, st, lb, now)}))
    })
    .await
}

pub(super) async fn lb_list(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate(&cloud, &headers, OCTAVIA)?;
    let q = query(q)?;
    settle(&cloud).await?;
    let now = OffsetDateTime::now_utc();
    let st = cloud.lbs.lock()?;
    let items: Vec<_> = st
        .loadbalancers
        .values()
        .filter(|l| l.c.project_id == token.project_id && q.keeps(&l.c, now))
        .filter(|l| {
            q.vip_address
                .as_ref()
                .is_none_or(|v| *v == l.vip_address.to_string())
        })
        .map(|l| (l.c.created, l.c.id.clone(), lb_body(&cloud, &st, l, now)))
        .collect();
    paged(&cloud, "loadbalancers", "loadbalancers", items, &q)
}

pub(super) async fn lb_show(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate(&cloud, &headers, OCTAVIA)?;
    settle(&cloud).await?;
    let st = cloud.lbs.lock()?;
    let lb = st
        .loadbalancers
        .get(&id)
        .filter(|l| l.c.project_id == token.project_id)
        .ok_or_else(|| not_found("Load Balancer", &id))?;
    Ok(Json(
        json!({"loadbalancer": lb_body(&cloud, &st, lb, OffsetDateTime::now_utc())}),
    ))
}

#[derive(Deserialize)]
pub(super) struct LbUpdateBody {
    loadbalancer: CommonUpdate,
}

pub(super) async fn lb_update(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = authenticate(&cloud, &headers, OCTAVIA)?;
    settle(&cloud).await?;
    let req: LbUpdateBody = parse(&body)?;
    let snap = {
        let mut st = cloud.lbs.lock()?;
        let lb = mutable_lb(&mut st, &token, &id, OffsetDateTime::now_utc())?;
        req.loadbalancer.apply(&mut lb.c)?;
        lb.c.busy = busy(Pending::Update, cloud.behaviour().lb_update());
        st.changed()
    };
    finish(&cloud, snap, StatusCode::OK, |cloud, st, now| {
        let lb = st.loadbalancers.get(&id)?;
        Some(json!({"loadbalancer": lb_body(cloud, st, lb, now)}))
    })
    .await
}

#[derive(Deserialize, Default)]
pub(super) struct DeleteQuery {
    /// `true`, or `True` as python-octaviaclient sends it.
    cascade: Option<String>,
}

pub(super) async fn lb_delete(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: Result<Query<DeleteQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let token = authenticate(&cloud, &headers, OCTAVIA)?;
    let Query(q) = q.map_err(|e| OCTAVIA.bad(format!("Invalid query: {e}")))?;
    settle(&cloud).await?;
    let snap = {
        let mut st = cloud.lbs.lock()?;
        let has_children = st.listeners.values().any(|l| l.loadbalancer_id == id)
            || st.pools.values().any(|p| p.loadbalancer_id == id);
        let lb = mutable_lb(&mut st, &token, &id, OffsetDateTime::now_utc())?;
        let cascade = match q.cascade.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(OCTAVIA.bad(format!(
                    "Invalid input for cascade: '{other}' is not a boolean."
                )))
            }
        };
        if has_children && !cascade {
            return Err(OCTAVIA.bad(format!(
                "Cannot delete Load Balancer {id} - it has children"
            )));
        }
        match busy(Pending::Delete, cloud.behaviour().lb_update()) {
            Some(b) => lb.c.busy = Some(b),
            None => st.remove_tree(&id),
        }
        st.changed()
    };
    finish(&cloud, snap, StatusCode::NO_CONTENT, |_, _, _| None).await
}

/// Octavia's status tree of one load balancer.
pub(super) async fn lb_status(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate(&cloud, &headers, OCTAVIA)?;
    settle(&cloud).await?;
    let now = OffsetDateTime::now_utc();
    let st = cloud.lbs.lock()?;
    let lb = st
        .loadbalancers
        .get(&id)
        .filter(|l| l.c.project_id == token.project_id)
        .ok_or_else(|| not_found("Load Balancer", &id))?;
    let pool_status = |p: &Pool| {
        let hm = st.monitor_of(&p.c.id).map_or(json!({}), |h| {
            json!({"id": h.c.id, "name": h.c.name, "type": h.kind, "provisioning_status": provisioning(&h.c.busy, now)})
        });
        let members: Vec<Value> = st
            .members_of(&p.c.id)
            .map(|m| {
                json!({
                    "id": m.c.id, "name": m.c.name, "address": m.address.to_string(),
                    "protocol_port": m.protocol_port,
                    "provisioning_status": provisioning(&m.c.busy, now),
                    "operating_status": member_operating(&cloud, &st, m),
                })
            })
            .collect();
        json!({
            "id": p.c.id, "name": p.c.name,
            "provisioning_status": provisioning(&p.c.busy, now),
            "operating_status": pool_operating(&cloud, &st, &p.c.id),
            "healthmonitor": hm, "members": members,
        })
    };
    let pools_of_lb: Vec<&Pool> = st
        .pools
        .values()
        .filter(|p| p.loadbalancer_id == id)
        .collect();
    let listeners: Vec<Value> = st
        .listeners
        .values()
        .filter(|l| l.loadbalancer_id == id)
        .map(|l| {
            let pools: Vec<Value> = pools_of_lb
                .iter()
                .filter(|p| p.listener_id.as_ref() == Some(&l.c.id))
                .map(|p| pool_status(p))
                .collect();
            json!({
                "id": l.c.id, "name": l.c.name,
                "provisioning_status": provisioning(&l.c.busy, now),
                "operating_status": listener_operating(&cloud, &st, l, now),
                "pools": pools, "l7policies": [],
            })
        })
        .collect();
    Ok(Json(json!({"statuses": {"loadbalancer": {
        "id": lb.c.id, "name": lb.c.name,
        "provisioning_status": provisioning(&lb.c.busy, now),
        "operating_status": lb_operating(&cloud, &st, lb, now),
        "listeners": listeners,
        "pools": pools_of_lb.iter().map(|p| pool_status(p)).collect::<Vec<_>>(),
    }}})))
}

// ---- quotas -------------------------------------------------------------------------

pub(super) async fn quota_show(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    crate::quotas::octavia_allowed(&cloud, &headers, &project)?;
    let q = cloud.quotas.get(&project);
    Ok(Json(octavia_quota(&q)))
}

pub(super) async fn quota_update(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(project): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let q = crate::quotas::octavia_update(&cloud, &headers, &project, &body).await?;
    Ok(Json(octavia_quota(&q)))
}

pub(super) fn octavia_quota(q: &crate::quotas::Quota) -> Value {
    json!({"quota": {
        "loadbalancer": q.load_balancers,
        "load_balancer": q.load_balancers,
        "listener": -1,
        "member": -1,
        "pool": -1,
        "healthmonitor": -1,
        "health_monitor": -1,
        "l7policy": -1,
        "l7rule": -1,
    }})
}
