//! Octavia's health monitor endpoints: how the data plane probes a pool's members.

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
use super::pools::*;
use super::state::*;
use super::views::*;

#[derive(Deserialize)]
pub(super) struct HmCreate {
    name: Option<String>,
    admin_state_up: Option<bool>,
    tags: Option<Vec<String>>,
    pool_id: String,
    #[serde(rename = "type")]
    kind: String,
    delay: u64,
    timeout: u64,
    max_retries: u32,
    max_retries_down: Option<u32>,
    http_method: Option<String>,
    url_path: Option<String>,
    expected_codes: Option<String>,
    http_version: Option<Value>,
    domain_name: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct HmCreateBody {
    healthmonitor: HmCreate,
}

pub(super) const MONITOR_TYPES: [&str; 2] = ["TCP", "PING"];

pub(super) fn check_monitor(
    delay: u64,
    timeout: u64,
    retries: u32,
    down: u32,
) -> Result<(), ApiError> {
    if !(1..=86400).contains(&delay) || !(1..=86400).contains(&timeout) {
        return Err(
            OCTAVIA.bad("Invalid input: delay and timeout must be between 1 and 86400 seconds.")
        );
    }
    if timeout > delay {
        return Err(OCTAVIA.bad("Validation failure: The delay value must be greater than or equal to the timeout value."));
    }
    if !(1..=10).contains(&retries) || !(1..=10).contains(&down) {
        return Err(OCTAVIA
            .bad("Invalid input: max_retries and max_retries_down must be between 1 and 10."));
    }
    Ok(())
}

pub(super) async fn hm_create(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = authenticate(&cloud, &headers, OCTAVIA)?;
    settle(&cloud).await?;
    let r: HmCreateBody = parse(&body)?;
    let r = r.healthmonitor;
    if !MONITOR_TYPES.contains(&r.kind.as_str()) {
        return Err(OCTAVIA.bad(format!(
            "Invalid input for field/attribute type. Value: '{}'. localcloud probes with: {}",
            r.kind,
            MONITOR_TYPES.join(", ")
        )));
    }
    let _ = (
        &r.http_method,
        &r.url_path,
        &r.expected_codes,
        &r.http_version,
        &r.domain_name,
    );
    let down = r.max_retries_down.unwrap_or(3);
    check_monitor(r.delay, r.timeout, r.max_retries, down)?;
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
        let lb_id = pool_lb(&mut st, &token, &r.pool_id).map_err(|e| {
            if e.status == StatusCode::NOT_FOUND {
                OCTAVIA.bad(e.message)
            } else {
                e
            }
        })?;
        if st.monitor_of(&r.pool_id).is_some() {
            return Err(OCTAVIA.err(
                StatusCode::CONFLICT,
                format!("This pool already has a health monitor: {}", r.pool_id),
            ));
        }
        if let Some(p) = st.pools.get_mut(&r.pool_id) {
            p.healthmonitor_id = Some(id.clone());
        }
        st.monitors.insert(
            id.clone(),
            HealthMonitor {
                c,
                pool_id: r.pool_id.clone(),
                kind: r.kind,
                delay: r.delay,
                timeout: r.timeout,
                max_retries: r.max_retries,
                max_retries_down: down,
            },
        );
        touch_lb(cloud.behaviour().lb_update(), &mut st, &lb_id);
        st.changed()
    };
    finish(&cloud, snap, StatusCode::CREATED, |_, st, now| {
        let h = st.monitors.get(&id)?;
        Some(json!({"healthmonitor": hm_body(h, now)}))
    })
    .await
}

pub(super) async fn hm_list(
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
        .monitors
        .values()
        .filter(|h| h.c.project_id == token.project_id && q.keeps(&h.c, now))
        .map(|h| (h.c.created, h.c.id.clone(), hm_body(h, now)))
        .collect();
    paged(&cloud, "healthmonitors", "healthmonitors", items, &q)
}

pub(super) async fn hm_show(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate(&cloud, &headers, OCTAVIA)?;
    settle(&cloud).await?;
    let st = cloud.lbs.lock()?;
    let h = st
        .monitors
        .get(&id)
        .filter(|h| h.c.project_id == token.project_id)
        .ok_or_else(|| not_found("Health Monitor", &id))?;
    Ok(Json(
        json!({"healthmonitor": hm_body(h, OffsetDateTime::now_utc())}),
    ))
}

#[derive(Deserialize)]
pub(super) struct HmUpdate {
    #[serde(flatten)]
    common: CommonUpdate,
    delay: Option<u64>,
    timeout: Option<u64>,
    max_retries: Option<u32>,
    max_retries_down: Option<u32>,
}

#[derive(Deserialize)]
pub(super) struct HmUpdateBody {
    healthmonitor: HmUpdate,
}

pub(super) async fn hm_update(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = authenticate(&cloud, &headers, OCTAVIA)?;
    settle(&cloud).await?;
    let r: HmUpdateBody = parse(&body)?;
    let r = r.healthmonitor;
    let snap = {
        let mut st = cloud.lbs.lock()?;
        let pool_id = st
            .monitors
            .get(&id)
            .filter(|h| h.c.project_id == token.project_id)
            .map(|h| h.pool_id.clone())
            .ok_or_else(|| not_found("Health Monitor", &id))?;
        let lb_id = pool_lb(&mut st, &token, &pool_id)?;
        let h = st
            .monitors
            .get_mut(&id)
            .ok_or_else(|| not_found("Health Monitor", &id))?;
        let delay = r.delay.unwrap_or(h.delay);
        let timeout = r.timeout.unwrap_or(h.timeout);
        let retries = r.max_retries.unwrap_or(h.max_retries);
        let down = r.max_retries_down.unwrap_or(h.max_retries_down);
        check_monitor(delay, timeout, retries, down)?;
        r.common.apply(&mut h.c)?;
        (h.delay, h.timeout, h.max_retries, h.max_retries_down) = (delay, timeout, retries, down);
        h.c.busy = busy(Pending::Update, cloud.behaviour().lb_update());
        touch_lb(cloud.behaviour().lb_update(), &mut st, &lb_id);
        st.changed()
    };
    finish(&cloud, snap, StatusCode::OK, |_, st, now| {
        let h = st.monitors.get(&id)?;
        Some(json!({"healthmonitor": hm_body(h, now)}))
    })
    .await
}

pub(super) async fn hm_delete(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let token = authenticate(&cloud, &headers, OCTAVIA)?;
    settle(&cloud).await?;
    let snap = {
        let mut st = cloud.lbs.lock()?;
        let pool_id = st
            .monitors
            .get(&id)
            .filter(|h| h.c.project_id == token.project_id)
            .map(|h| h.pool_id.clone())
            .ok_or_else(|| not_found("Health Monitor", &id))?;
        let lb_id = pool_lb(&mut st, &token, &pool_id)?;
        st.monitors.remove(&id);
        if let Some(p) = st.pools.get_mut(&pool_id) {
            p.healthmonitor_id = None;
        }
        touch_lb(cloud.behaviour().lb_update(), &mut st, &lb_id);
        st.changed()
    };
    finish(&cloud, snap, StatusCode::NO_CONTENT, |_, _, _| None).await
}
