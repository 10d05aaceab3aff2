//! Octavia's pool endpoints: where a listener forwards, and by which algorithm.

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
use super::state::*;
use super::views::*;

#[derive(Deserialize)]
pub(super) struct PoolCreate {
    name: Option<String>,
    description: Option<String>,
    admin_state_up: Option<bool>,
    tags: Option<Vec<String>>,
    loadbalancer_id: Option<String>,
    listener_id: Option<String>,
    protocol: String,
    lb_algorithm: String,
    session_persistence: Option<Value>,
}

#[derive(Deserialize)]
pub(super) struct PoolCreateBody {
    pool: PoolCreate,
}

pub(super) const ALGORITHMS: [&str; 3] = ["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP"];
pub(super) const POOL_PROTOCOLS: [&str; 3] = ["TCP", "HTTP", "PROXY"];

pub(super) async fn pool_create(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = authenticate(&cloud, &headers, OCTAVIA)?;
    settle(&cloud).await?;
    let r: PoolCreateBody = parse(&body)?;
    let r = r.pool;
    if !ALGORITHMS.contains(&r.lb_algorithm.as_str()) {
        return Err(OCTAVIA.bad(format!(
            "Invalid input for field/attribute lb_algorithm. Value: '{}'. Value should be one of: {}",
            r.lb_algorithm,
            ALGORITHMS.join(", ")
        )));
    }
    if !POOL_PROTOCOLS.contains(&r.protocol.as_str()) {
        return Err(OCTAVIA.bad(format!(
            "Invalid input for field/attribute protocol. Value: '{}'. Value should be one of: {}",
            r.protocol,
            POOL_PROTOCOLS.join(", ")
        )));
    }
    if r.session_persistence.as_ref().is_some_and(|v| !v.is_null()) {
        return Err(OCTAVIA.bad("session_persistence is not supported here."));
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
        let lb_id =
            match (&r.loadbalancer_id, &r.listener_id) {
                (_, Some(l)) => {
                    let listener = st
                        .listeners
                        .get(l)
                        .filter(|x| x.c.project_id == token.project_id)
                        .ok_or_else(|| OCTAVIA.bad(format!("Listener {l} not found.")))?;
                    if listener.default_pool_id.is_some() {
                        return Err(OCTAVIA.err(
                            StatusCode::CONFLICT,
                            format!("Listener {l} already has a default pool."),
                        ));
                    }
                    if r.loadbalancer_id
                        .as_ref()
                        .is_some_and(|lb| *lb != listener.loadbalancer_id)
                    {
                        return Err(OCTAVIA.bad("The listener is on another load balancer."));
                    }
                    listener.loadbalancer_id.clone()
                }
                (Some(lb), None) => lb.clone(),
                (None, None) => return Err(OCTAVIA.bad(
                    "Validation failure: Either listener_id or loadbalancer_id must be specified.",
                )),
            };
        mutable_lb(&mut st, &token, &lb_id, OffsetDateTime::now_utc()).map_err(|e| {
            if e.status == StatusCode::NOT_FOUND {
                OCTAVIA.bad(e.message)
            } else {
                e
            }
        })?;
        if let Some(l) = r.listener_id.as_ref().and_then(|l| st.listeners.get_mut(l)) {
            l.default_pool_id = Some(id.clone());
        }
        st.pools.insert(
            id.clone(),
            Pool {
                c,
                loadbalancer_id: lb_id.clone(),
                listener_id: r.listener_id,
                protocol: r.protocol,
                lb_algorithm: r.lb_algorithm,
                healthmonitor_id: None,
            },
        );
        touch_lb(cloud.behaviour().lb_update(), &mut st, &lb_id);
        st.changed()
    };
    finish(&cloud, snap, StatusCode::CREATED, |cloud, st, now| {
        let p = st.pools.get(&id)?;
        Some(json!({"pool": pool_body(cloud, st, p, now)}))
    })
    .await
}

pub(super) async fn pool_list(
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
        .pools
        .values()
        .filter(|p| p.c.project_id == token.project_id && q.keeps(&p.c, now))
        .filter(|p| {
            q.loadbalancer_id
                .as_ref()
                .is_none_or(|i| *i == p.loadbalancer_id)
        })
        .map(|p| (p.c.created, p.c.id.clone(), pool_body(&cloud, &st, p, now)))
        .collect();
    paged(&cloud, "pools", "pools", items, &q)
}

pub(super) async fn pool_show(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate(&cloud, &headers, OCTAVIA)?;
    settle(&cloud).await?;
    let st = cloud.lbs.lock()?;
    let p = st
        .pools
        .get(&id)
        .filter(|p| p.c.project_id == token.project_id)
        .ok_or_else(|| not_found("Pool", &id))?;
    Ok(Json(
        json!({"pool": pool_body(&cloud, &st, p, OffsetDateTime::now_utc())}),
    ))
}

#[derive(Deserialize)]
pub(super) struct PoolUpdateBody {
    pool: PoolUpdate,
}

#[derive(Deserialize)]
pub(super) struct PoolUpdate {
    #[serde(flatten)]
    common: CommonUpdate,
    lb_algorithm: Option<String>,
}

/// The pool's load balancer id, checking the caller owns the pool and the balancer can
/// take a change.
pub(super) fn pool_lb(st: &mut LbState, token: &Token, pool_id: &str) -> Result<String, ApiError> {
    let lb_id = st
        .pools
        .get(pool_id)
        .filter(|p| p.c.project_id == token.project_id)
        .map(|p| p.loadbalancer_id.clone())
        .ok_or_else(|| not_found("Pool", pool_id))?;
    mutable_lb(st, token, &lb_id, OffsetDateTime::now_utc())?;
    Ok(lb_id)
}

pub(super) async fn pool_update(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = authenticate(&cloud, &headers, OCTAVIA)?;
    settle(&cloud).await?;
    let r: PoolUpdateBody = parse(&body)?;
    let r = r.pool;
    if let Some(a) = r
        .lb_algorithm
        .as_ref()
        .filter(|a| !ALGORITHMS.contains(&a.as_str()))
    {
        return Err(OCTAVIA.bad(format!(
            "Invalid input for field/attribute lb_algorithm. Value: '{a}'."
        )));
    }
    let snap = {
        let mut st = cloud.lbs.lock()?;
        let lb_id = pool_lb(&mut st, &token, &id)?;
        let p = st
            .pools
            .get_mut(&id)
            .ok_or_else(|| not_found("Pool", &id))?;
        r.common.apply(&mut p.c)?;
        if let Some(a) = r.lb_algorithm {
            p.lb_algorithm = a;
        }
        p.c.busy = busy(Pending::Update, cloud.behaviour().lb_update());
        touch_lb(cloud.behaviour().lb_update(), &mut st, &lb_id);
        st.changed()
    };
    finish(&cloud, snap, StatusCode::OK, |cloud, st, now| {
        let p = st.pools.get(&id)?;
        Some(json!({"pool": pool_body(cloud, st, p, now)}))
    })
    .await
}

pub(super) async fn pool_delete(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let token = authenticate(&cloud, &headers, OCTAVIA)?;
    settle(&cloud).await?;
    let snap = {
        let mut st = cloud.lbs.lock()?;
        let lb_id = pool_lb(&mut st, &token, &id)?;
        st.pools.remove(&id);
        st.members.retain(|_, m| m.pool_id != id);
        st.monitors.retain(|_, h| h.pool_id != id);
        for l in st.listeners.values_mut() {
            if l.default_pool_id.as_ref() == Some(&id) {
                l.default_pool_id = None;
            }
        }
        touch_lb(cloud.behaviour().lb_update(), &mut st, &lb_id);
        st.changed()
    };
    finish(&cloud, snap, StatusCode::NO_CONTENT, |_, _, _| None).await
}
