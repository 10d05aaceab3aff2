//! Octavia's listener endpoints: a listener binds `<vip>:<protocol_port>`.

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
pub(super) struct ListenerCreate {
    name: Option<String>,
    description: Option<String>,
    admin_state_up: Option<bool>,
    tags: Option<Vec<String>>,
    loadbalancer_id: String,
    protocol: String,
    protocol_port: Value,
    connection_limit: Option<i64>,
    default_pool_id: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct ListenerCreateBody {
    listener: ListenerCreate,
}

pub(super) const LISTENER_PROTOCOLS: [&str; 2] = ["TCP", "HTTP"];

pub(super) async fn listener_create(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = authenticate(&cloud, &headers, OCTAVIA)?;
    settle(&cloud).await?;
    let r: ListenerCreateBody = parse(&body)?;
    let r = r.listener;
    let protocol_port = port(&r.protocol_port, "protocol_port")?;
    if !LISTENER_PROTOCOLS.contains(&r.protocol.as_str()) {
        return Err(OCTAVIA.bad(format!(
            "Invalid input for field/attribute protocol. Value: '{}'. Value should be one of: {} (localcloud forwards TCP).",
            r.protocol,
            LISTENER_PROTOCOLS.join(", ")
        )));
    }
    if r.connection_limit.is_some_and(|n| n < -1) {
        return Err(OCTAVIA.bad(
            "Invalid input for field/attribute connection_limit. Value should be -1 or greater.",
        ));
    }
    let c = common(
        &token,
        r.name,
        r.description,
        r.admin_state_up,
        r.tags,
        busy(Pending::Create, cloud.behaviour().lb_update()),
    )?;
    let id = c.id.clone();
    let snap = {
        let mut st = cloud.lbs.lock()?;
        mutable_lb(
            &mut st,
            &token,
            &r.loadbalancer_id,
            OffsetDateTime::now_utc(),
        )
        .map_err(|e| {
            if e.status == StatusCode::NOT_FOUND {
                OCTAVIA.bad(e.message)
            } else {
                e
            }
        })?;
        if st
            .listeners
            .values()
            .any(|l| l.loadbalancer_id == r.loadbalancer_id && l.protocol_port == protocol_port)
        {
            return Err(OCTAVIA.err(
                StatusCode::CONFLICT,
                format!("Another Listener on this Load Balancer is already using protocol_port {protocol_port}"),
            ));
        }
        if let Some(p) = &r.default_pool_id {
            let pool = st
                .pools
                .get(p)
                .filter(|p| p.loadbalancer_id == r.loadbalancer_id)
                .ok_or_else(|| OCTAVIA.bad(format!("Pool {p} not found on this load balancer.")))?;
            if pool.listener_id.is_some() {
                return Err(OCTAVIA.err(
                    StatusCode::CONFLICT,
                    format!("Pool {p} is already used by a listener."),
                ));
            }
        }
        if let Some(p) = r.default_pool_id.as_ref().and_then(|p| st.pools.get_mut(p)) {
            p.listener_id = Some(id.clone());
        }
        st.listeners.insert(
            id.clone(),
            Listener {
                c,
                loadbalancer_id: r.loadbalancer_id.clone(),
                protocol: r.protocol,
                protocol_port,
                connection_limit: r.connection_limit.unwrap_or(-1),
                default_pool_id: r.default_pool_id,
            },
        );
        touch_lb(cloud.behaviour().lb_update(), &mut st, &r.loadbalancer_id);
        st.changed()
    };
    finish(&cloud, snap, StatusCode::CREATED, |cloud, st, now| {
        let l = st.listeners.get(&id)?;
        Some(json!({"listener": listener_body(cloud, st, l, now)}))
    })
    .await
}

pub(super) async fn listener_list(
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
        .listeners
        .values()
        .filter(|l| l.c.project_id == token.project_id && q.keeps(&l.c, now))
        .filter(|l| {
            q.loadbalancer_id
                .as_ref()
                .is_none_or(|i| *i == l.loadbalancer_id)
        })
        .map(|l| {
            (
                l.c.created,
                l.c.id.clone(),
                listener_body(&cloud, &st, l, now),
            )
        })
        .collect();
    paged(&cloud, "listeners", "listeners", items, &q)
}

pub(super) async fn listener_show(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate(&cloud, &headers, OCTAVIA)?;
    settle(&cloud).await?;
    let st = cloud.lbs.lock()?;
    let l = st
        .listeners
        .get(&id)
        .filter(|l| l.c.project_id == token.project_id)
        .ok_or_else(|| not_found("Listener", &id))?;
    Ok(Json(
        json!({"listener": listener_body(&cloud, &st, l, OffsetDateTime::now_utc())}),
    ))
}

#[derive(Deserialize)]
pub(super) struct ListenerUpdate {
    #[serde(flatten)]
    common: CommonUpdate,
    connection_limit: Option<i64>,
    default_pool_id: Option<Option<String>>,
}

#[derive(Deserialize)]
pub(super) struct ListenerUpdateBody {
    listener: ListenerUpdate,
}

pub(super) async fn listener_update(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = authenticate(&cloud, &headers, OCTAVIA)?;
    settle(&cloud).await?;
    let r: ListenerUpdateBody = parse(&body)?;
    let r = r.listener;
    let snap = {
        let mut st = cloud.lbs.lock()?;
        let lb_id = st
            .listeners
            .get(&id)
            .filter(|l| l.c.project_id == token.project_id)
            .map(|l| l.loadbalancer_id.clone())
            .ok_or_else(|| not_found("Listener", &id))?;
        mutable_lb(&mut st, &token, &lb_id, OffsetDateTime::now_utc())?;
        if let Some(Some(p)) = &r.default_pool_id {
            let pool = st
                .pools
                .get(p)
                .filter(|p| p.loadbalancer_id == lb_id)
                .ok_or_else(|| OCTAVIA.bad(format!("Pool {p} not found on this load balancer.")))?;
            if pool.listener_id.as_ref().is_some_and(|l| *l != id) {
                return Err(OCTAVIA.err(
                    StatusCode::CONFLICT,
                    format!("Pool {p} is already used by a listener."),
                ));
            }
        }
        if r.connection_limit.is_some_and(|n| n < -1) {
            return Err(OCTAVIA.bad("Invalid input for field/attribute connection_limit. Value should be -1 or greater."));
        }
        let update_delay = cloud.behaviour().lb_update();
        let old_pool = {
            let l = st
                .listeners
                .get_mut(&id)
                .ok_or_else(|| not_found("Listener", &id))?;
            r.common.apply(&mut l.c)?;
            if let Some(n) = r.connection_limit {
                l.connection_limit = n;
            }
            l.c.busy = busy(Pending::Update, update_delay);
            match &r.default_pool_id {
                Some(new) => std::mem::replace(&mut l.default_pool_id, new.clone()),
                None => None,
            }
        };
        if r.default_pool_id.is_some() {
            if let Some(p) = old_pool.and_then(|p| st.pools.get_mut(&p)) {
                p.listener_id = None;
            }
            if let Some(p) = r
                .default_pool_id
                .flatten()
                .and_then(|p| st.pools.get_mut(&p))
            {
                p.listener_id = Some(id.clone());
            }
        }
        touch_lb(cloud.behaviour().lb_update(), &mut st, &lb_id);
        st.changed()
    };
    finish(&cloud, snap, StatusCode::OK, |cloud, st, now| {
        let l = st.listeners.get(&id)?;
        Some(json!({"listener": listener_body(cloud, st, l, now)}))
    })
    .await
}

pub(super) async fn listener_delete(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let token = authenticate(&cloud, &headers, OCTAVIA)?;
    settle(&cloud).await?;
    let snap = {
        let mut st = cloud.lbs.lock()?;
        let lb_id = st
            .listeners
            .get(&id)
            .filter(|l| l.c.project_id == token.project_id)
            .map(|l| l.loadbalancer_id.clone())
            .ok_or_else(|| not_found("Listener", &id))?;
        mutable_lb(&mut st, &token, &lb_id, OffsetDateTime::now_utc())?;
        st.listeners.remove(&id);
        for p in st.pools.values_mut() {
            if p.listener_id.as_ref() == Some(&id) {
                p.listener_id = None;
            }
        }
        touch_lb(cloud.behaviour().lb_update(), &mut st, &lb_id);
        st.changed()
    };
    finish(&cloud, snap, StatusCode::NO_CONTENT, |_, _, _| None).await
}
