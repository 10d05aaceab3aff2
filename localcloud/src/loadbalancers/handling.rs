//! What every Octavia handler shares: errors, request checks, list filters and paging,
//! the pending-state bookkeeping, and settling (sweep, save, rebind) after a change.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::common::errors::{ApiError, OCTAVIA};
use crate::common::paging::start_after;
use crate::identity::Token;
use crate::Cloud;

use super::state::*;

pub(super) const NAME_MAX: usize = 255;

pub(super) fn not_found(kind: &str, id: &str) -> ApiError {
    OCTAVIA.err(StatusCode::NOT_FOUND, format!("{kind} {id} not found."))
}

pub(super) fn immutable(lb_id: &str) -> ApiError {
    OCTAVIA.err(
        StatusCode::CONFLICT,
        format!("Load Balancer {lb_id} is immutable and cannot be updated."),
    )
}

pub(super) fn parse<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| OCTAVIA.bad(format!("Invalid input for field/attribute: {e}")))
}

// ---- list filters -------------------------------------------------------------------

/// Octavia's common list filters: by field value, by tags, and paging.
#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
    pub(super) name: Option<String>,
    pub(super) id: Option<String>,
    pub(super) tags: Option<String>,
    #[serde(rename = "tags-any")]
    pub(super) tags_any: Option<String>,
    pub(super) loadbalancer_id: Option<String>,
    pub(super) provisioning_status: Option<String>,
    pub(super) vip_address: Option<String>,
    pub(super) limit: Option<usize>,
    pub(super) marker: Option<String>,
}

impl ListQuery {
    pub(super) fn keeps(&self, c: &Common, now: OffsetDateTime) -> bool {
        let tags = |s: &Option<String>| -> Vec<String> {
            s.iter()
                .flat_map(|t| t.split(','))
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect()
        };
        let all = tags(&self.tags);
        let any = tags(&self.tags_any);
        self.name.as_ref().is_none_or(|n| *n == c.name)
            && self.id.as_ref().is_none_or(|i| *i == c.id)
            && all.iter().all(|t| c.tags.contains(t))
            && (any.is_empty() || any.iter().any(|t| c.tags.contains(t)))
            && self
                .provisioning_status
                .as_ref()
                .is_none_or(|p| p == provisioning(&c.busy, now))
    }
}

/// One page of `items` (already filtered; sorted here, oldest first) and Octavia's
/// links.
pub(super) fn paged(
    cloud: &Cloud,
    key: &str,
    path: &str,
    mut items: Vec<(OffsetDateTime, String, Value)>,
    q: &ListQuery,
) -> Result<Json<Value>, ApiError> {
    items.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    let items: Vec<(String, Value)> = items.into_iter().map(|(_, id, v)| (id, v)).collect();
    let start = start_after(items.iter().map(|(id, _)| id.as_str()), q.marker.as_deref())
        .map_err(|m| not_found("Marker", m))?;
    let limit = q.limit.unwrap_or(1000).clamp(1, 1000);
    let rest = &items[start..];
    let page: Vec<Value> = rest.iter().take(limit).map(|(_, v)| v.clone()).collect();
    let mut links = Vec::new();
    if rest.len() > limit {
        if let Some((last, _)) = rest.get(limit - 1) {
            links.push(json!({
                "rel": "next",
                "href": format!("{}/load-balancer/v2/lbaas/{path}?limit={limit}&marker={last}", cloud.base_url),
            }));
        }
    }
    Ok(Json(json!({ key: page, format!("{key}_links"): links })))
}

pub(super) fn query(q: Result<Query<ListQuery>, QueryRejection>) -> Result<ListQuery, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| OCTAVIA.bad(format!("Invalid query: {e}")))
}

// ---- requests -----------------------------------------------------------------------

pub(super) fn check_name(name: &str) -> Result<(), ApiError> {
    if name.chars().count() > NAME_MAX {
        return Err(OCTAVIA.bad(format!(
            "Invalid input for field/attribute name. Value: '{}…'. Value should have a maximum character requirement of {NAME_MAX}",
            name.chars().take(16).collect::<String>()
        )));
    }
    Ok(())
}

pub(super) fn check_tags(tags: &[String]) -> Result<(), ApiError> {
    if tags.len() > 50 {
        return Err(OCTAVIA.bad("Invalid input for field/attribute tags: at most 50 tags"));
    }
    if let Some(t) = tags
        .iter()
        .find(|t| t.is_empty() || t.chars().count() > 255)
    {
        return Err(OCTAVIA.bad(format!(
            "Invalid input for field/attribute tags: '{}' must be 1 to 255 characters",
            t.chars().take(16).collect::<String>()
        )));
    }
    Ok(())
}

pub(super) fn common(
    token: &Token,
    name: Option<String>,
    description: Option<String>,
    admin_state_up: Option<bool>,
    tags: Option<Vec<String>>,
    busy: Option<Busy>,
) -> Result<Common, ApiError> {
    let name = name.unwrap_or_default();
    check_name(&name)?;
    let description = description.unwrap_or_default();
    check_name(&description)?;
    let tags = tags.unwrap_or_default();
    check_tags(&tags)?;
    let now = OffsetDateTime::now_utc();
    Ok(Common {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        description,
        project_id: token.project_id.clone(),
        admin_state_up: admin_state_up.unwrap_or(true),
        tags,
        created: now,
        updated: now,
        busy,
    })
}

pub(super) fn busy(kind: Pending, delay: Duration) -> Option<Busy> {
    (!delay.is_zero()).then(|| Busy {
        kind,
        until: OffsetDateTime::now_utc() + delay,
    })
}

/// The caller's load balancer, and 409 unless it can take a change now.
pub(super) fn mutable_lb<'a>(
    st: &'a mut LbState,
    token: &Token,
    id: &str,
    now: OffsetDateTime,
) -> Result<&'a mut LoadBalancer, ApiError> {
    let lb = st
        .loadbalancers
        .get_mut(id)
        .filter(|l| l.c.project_id == token.project_id)
        .ok_or_else(|| not_found("Load Balancer", id))?;
    if provisioning(&lb.c.busy, now) != "ACTIVE" {
        return Err(immutable(id));
    }
    Ok(lb)
}

/// Marks a load balancer PENDING_UPDATE for the update delay after a child changed.
pub(super) fn touch_lb(delay: Duration, st: &mut LbState, lb_id: &str) {
    if let Some(lb) = st.loadbalancers.get_mut(lb_id) {
        lb.c.updated = OffsetDateTime::now_utc();
        lb.c.busy = busy(Pending::Update, delay);
    }
}

/// Sweeps finished deletions, applies the network side and saves when anything moved.
/// Every handler calls this first, so that statuses and bound ports agree.
pub(crate) async fn settle(cloud: &Arc<Cloud>) -> Result<(), ApiError> {
    let (swept, ports) = {
        let mut st = cloud.lbs.lock()?;
        let swept = st.sweep(OffsetDateTime::now_utc()).then(|| st.changed());
        // VIP ports of swept load balancers go too (under this lock, so that a port
        // being added for a new load balancer is never taken for a stale one).
        let ports = cloud
            .network
            .prune_lb_ports(|id| st.loadbalancers.contains_key(id));
        (swept, ports)
    };
    if let Some(snap) = swept {
        save(cloud, snap).await;
    }
    if let Some(snap) = ports {
        crate::network::save(cloud, snap).await;
    }
    crate::lbnet::reconcile(cloud).await;
    Ok(())
}

pub(crate) async fn save(cloud: &Cloud, (version, body): (u64, String)) {
    cloud.persist.save("loadbalancers", version, &body).await;
}

/// Saves, binds/unbinds, and answers `status` with `body()` read after the change.
pub(super) async fn finish(
    cloud: &Arc<Cloud>,
    snap: (u64, String),
    status: StatusCode,
    body: impl FnOnce(&Cloud, &LbState, OffsetDateTime) -> Option<Value>,
) -> Result<Response, ApiError> {
    save(cloud, snap).await;
    crate::lbnet::reconcile(cloud).await;
    if status == StatusCode::NO_CONTENT {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let st = cloud.lbs.lock()?;
    let value = body(cloud, &st, OffsetDateTime::now_utc())
        .ok_or_else(|| OCTAVIA.err(StatusCode::NOT_FOUND, "Resource is gone."))?;
    Ok((status, Json(value)).into_response())
}

/// Fields every update accepts.
#[derive(Deserialize, Default)]
pub(super) struct CommonUpdate {
    pub(super) name: Option<String>,
    pub(super) description: Option<String>,
    pub(super) admin_state_up: Option<bool>,
    pub(super) tags: Option<Vec<String>>,
}

impl CommonUpdate {
    pub(super) fn apply(self, c: &mut Common) -> Result<(), ApiError> {
        if let Some(n) = self.name {
            check_name(&n)?;
            c.name = n;
        }
        if let Some(d) = self.description {
            check_name(&d)?;
            c.description = d;
        }
        if let Some(a) = self.admin_state_up {
            c.admin_state_up = a;
        }
        if let Some(t) = self.tags {
            check_tags(&t)?;
            c.tags = t;
        }
        c.updated = OffsetDateTime::now_utc();
        Ok(())
    }
}

/// Ports are numbers in JSON, but Octavia's own sample sends a string.
pub(super) fn port(v: &Value, field: &str) -> Result<u16, ApiError> {
    let n = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse::<u64>().ok(),
        _ => None,
    };
    n.filter(|n| (1..=65535).contains(n))
        .map(|n| n as u16)
        .ok_or_else(|| {
            OCTAVIA.bad(format!(
                "Invalid input for field/attribute {field}. Value: '{v}'. Value should be between 1 and 65535."
            ))
        })
}

/// The background loop: timed transitions, finished deletions, probes, rebinding.
pub fn spawn_loop(cloud: &Arc<Cloud>) -> tokio::task::JoinHandle<()> {
    let weak = Arc::downgrade(cloud);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(crate::lbnet::TICK).await;
            let Some(cloud) = weak.upgrade() else { return };
            let _ = settle(&cloud).await;
        }
    })
}
