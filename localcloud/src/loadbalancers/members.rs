//! Octavia's member endpoints: the addresses a pool forwards to, checked against the
//! address plan.

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
use crate::identity::Token;
use crate::Cloud;

use super::handling::*;
use super::pools::*;
use super::state::*;
use super::views::*;

#[derive(Deserialize)]
pub(super) struct MemberCreate {
    name: Option<String>,
    admin_state_up: Option<bool>,
    tags: Option<Vec<String>>,
    address: String,
    protocol_port: Value,
    weight: Option<u32>,
    backup: Option<bool>,
    subnet_id: Option<String>,
    monitor_address: Option<String>,
    monitor_port: Option<Value>,
}

#[derive(Deserialize)]
pub(super) struct MemberCreateBody {
    member: MemberCreate,
}

pub(super) fn ipv4(s: &str, field: &str) -> Result<Ipv4Addr, ApiError> {
    s.parse().map_err(|_| {
        OCTAVIA.bad(format!(
            "Invalid input for field/attribute {field}. Value: '{}'. Value should be IPv4 format",
            s.chars().take(64).collect::<String>()
        ))
    })
}

pub(super) async fn member_create(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(pool_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = authenticate(&cloud, &headers, OCTAVIA)?;
    settle(&cloud).await?;
    let r: MemberCreateBody = parse(&body)?;
    let r = r.member;
    let address = ipv4(&r.address, "address")?;
    let protocol_port = port(&r.protocol_port, "protocol_port")?;
    let monitor_address = r
        .monitor_address
        .as_deref()
        .map(|a| ipv4(a, "monitor_address"))
        .transpose()?;
    let monitor_port = r
        .monitor_port
        .as_ref()
        .filter(|v| !v.is_null())
        .map(|v| port(v, "monitor_port"))
        .transpose()?;
    if r.weight.is_some_and(|w| w > 256) {
        return Err(OCTAVIA
            .bad("Invalid input for field/attribute weight. Value should be between 0 and 256."));
    }
    let c = common(
        &token,
        r.name,
        None,
        r.admin_state_up,
        r.tags,
        busy(Pending::Create, cloud.behaviour().lb_update()),
    )?;
    let id = c.id.clone();
    let snap = {
        let mut st = cloud.lbs.lock()?;
        let lb_id = pool_lb(&mut st, &token, &pool_id)?;
        // A member is one of this cloud's own addresses, or nothing is stored: the gate
        // would never dial anything else.
        let who = crate::network::Who::of(&token);
        let subnet_id = cloud
            .network
            .subnet_holding(&who, r.subnet_id.as_deref(), address)
            .map_err(|m| OCTAVIA.bad(m))?;
        if let Some(m) = monitor_address {
            cloud
                .network
                .subnet_holding(&who, None, m)
                .map_err(|m| OCTAVIA.bad(m))?;
        }
        for (ip, p) in [
            (address, protocol_port),
            (
                monitor_address.unwrap_or(address),
                monitor_port.unwrap_or(protocol_port),
            ),
        ] {
            cloud
                .network
                .may_dial((ip, p).into())
                .map_err(|e| OCTAVIA.bad(format!("Validation failure: {e}")))?;
        }
        if st
            .members_of(&pool_id)
            .any(|m| m.address == address && m.protocol_port == protocol_port)
        {
            return Err(OCTAVIA.err(
                StatusCode::CONFLICT,
                format!("Duplicate member: another member of this pool has address {address} and port {protocol_port}"),
            ));
        }
        st.members.insert(
            id.clone(),
            Member {
                c,
                pool_id: pool_id.clone(),
                address,
                protocol_port,
                weight: r.weight.unwrap_or(1),
                backup: r.backup.unwrap_or(false),
                subnet_id: Some(subnet_id),
                monitor_address,
                monitor_port,
            },
        );
        touch_lb(cloud.behaviour().lb_update(), &mut st, &lb_id);
        st.changed()
    };
    finish(&cloud, snap, StatusCode::CREATED, |cloud, st, now| {
        let m = st.members.get(&id)?;
        Some(json!({"member": member_body(cloud, st, m, now)}))
    })
    .await
}

pub(super) async fn member_list(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(pool_id): Path<String>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate(&cloud, &headers, OCTAVIA)?;
    let q = query(q)?;
    settle(&cloud).await?;
    let now = OffsetDateTime::now_utc();
    let st = cloud.lbs.lock()?;
    st.pools
        .get(&pool_id)
        .filter(|p| p.c.project_id == token.project_id)
        .ok_or_else(|| not_found("Pool", &pool_id))?;
    let items: Vec<_> = st
        .members_of(&pool_id)
        .filter(|m| q.keeps(&m.c, now))
        .map(|m| {
            (
                m.c.created,
                m.c.id.clone(),
                member_body(&cloud, &st, m, now),
            )
        })
        .collect();
    paged(
        &cloud,
        "members",
        &format!("pools/{pool_id}/members"),
        items,
        &q,
    )
}

pub(super) fn visible_member<'a>(
    st: &'a LbState,
    token: &Token,
    pool_id: &str,
    id: &str,
) -> Result<&'a Member, ApiError> {
    st.members
        .get(id)
        .filter(|m| m.pool_id == pool_id && m.c.project_id == token.project_id)
        .ok_or_else(|| not_found("Member", id))
}

pub(super) async fn member_show(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path((pool_id, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate(&cloud, &headers, OCTAVIA)?;
    settle(&cloud).await?;
    let st = cloud.lbs.lock()?;
    let m = visible_member(&st, &token, &pool_id, &id)?;
    Ok(Json(
        json!({"member": member_body(&cloud, &st, m, OffsetDateTime::now_utc())}),
    ))
}

#[derive(Deserialize)]
pub(super) struct MemberUpdate {
    #[serde(flatten)]
    common: CommonUpdate,
    weight: Option<u32>,
    backup: Option<bool>,
}

#[derive(Deserialize)]
pub(super) struct MemberUpdateBody {
    member: MemberUpdate,
}

pub(super) async fn member_update(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path((pool_id, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = authenticate(&cloud, &headers, OCTAVIA)?;
    settle(&cloud).await?;
    let r: MemberUpdateBody = parse(&body)?;
    let r = r.member;
    if r.weight.is_some_and(|w| w > 256) {
        return Err(OCTAVIA
            .bad("Invalid input for field/attribute weight. Value should be between 0 and 256."));
    }
    let snap = {
        let mut st = cloud.lbs.lock()?;
        visible_member(&st, &token, &pool_id, &id)?;
        let lb_id = pool_lb(&mut st, &token, &pool_id)?;
        let m = st
            .members
            .get_mut(&id)
            .ok_or_else(|| not_found("Member", &id))?;
        r.common.apply(&mut m.c)?;
        if let Some(w) = r.weight {
            m.weight = w;
        }
        if let Some(b) = r.backup {
            m.backup = b;
        }
        m.c.busy = busy(Pending::Update, cloud.behaviour().lb_update());
        touch_lb(cloud.behaviour().lb_update(), &mut st, &lb_id);
        st.changed()
    };
    finish(&cloud, snap, StatusCode::OK, |cloud, st, now| {
        let m = st.members.get(&id)?;
        Some(json!({"member": member_body(cloud, st, m, now)}))
    })
    .await
}

pub(super) async fn member_delete(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path((pool_id, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let token = authenticate(&cloud, &headers, OCTAVIA)?;
    settle(&cloud).await?;
    let snap = {
        let mut st = cloud.lbs.lock()?;
        visible_member(&st, &token, &pool_id, &id)?;
        let lb_id = pool_lb(&mut st, &token, &pool_id)?;
        st.members.remove(&id);
        touch_lb(cloud.behaviour().lb_update(), &mut st, &lb_id);
        st.changed()
    };
    finish(&cloud, snap, StatusCode::NO_CONTENT, |_, _, _| None).await
}
