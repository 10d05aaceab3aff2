//! Load balancers (Octavia v2): load balancers, listeners, pools, members and health
//! monitors in Octavia's shapes and state machine. Each load balancer takes a VIP from
//! a loopback range; each listener really binds `<vip>:<protocol_port>` and forwards
//! TCP to the pool's healthy members (see [`crate::lbnet`]).
//!
//! Every change puts the load balancer in `PENDING_UPDATE` (creation: `PENDING_CREATE`,
//! deletion: `PENDING_DELETE`) for the configured delay; while it is pending, any
//! further change to it or to anything under it answers 409, as Octavia does.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::error::{ApiError, Service};
use crate::identity::Token;
use crate::Cloud;

const NAME_MAX: usize = 255;

/// What a pending object is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Pending {
    Create,
    Update,
    Delete,
}

/// A pending state and when it ends.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Busy {
    pub kind: Pending,
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
}

/// `PENDING_*` while `busy` lasts, then ACTIVE.
fn provisioning(busy: &Option<Busy>, now: OffsetDateTime) -> &'static str {
    match busy {
        Some(b) if now < b.until => match b.kind {
            Pending::Create => "PENDING_CREATE",
            Pending::Update => "PENDING_UPDATE",
            Pending::Delete => "PENDING_DELETE",
        },
        _ => "ACTIVE",
    }
}

/// What every Octavia object carries.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Common {
    pub id: String,
    pub name: String,
    pub description: String,
    pub project_id: String,
    pub admin_state_up: bool,
    pub tags: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated: OffsetDateTime,
    pub busy: Option<Busy>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoadBalancer {
    #[serde(flatten)]
    pub c: Common,
    pub vip_address: Ipv4Addr,
    pub vip_subnet_id: String,
    pub vip_network_id: String,
    pub vip_port_id: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Listener {
    #[serde(flatten)]
    pub c: Common,
    pub loadbalancer_id: String,
    pub protocol: String,
    pub protocol_port: u16,
    pub connection_limit: i64,
    pub default_pool_id: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pool {
    #[serde(flatten)]
    pub c: Common,
    pub loadbalancer_id: String,
    pub listener_id: Option<String>,
    pub protocol: String,
    pub lb_algorithm: String,
    pub healthmonitor_id: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Member {
    #[serde(flatten)]
    pub c: Common,
    pub pool_id: String,
    pub address: Ipv4Addr,
    pub protocol_port: u16,
    pub weight: u32,
    pub backup: bool,
    pub subnet_id: Option<String>,
    pub monitor_address: Option<Ipv4Addr>,
    pub monitor_port: Option<u16>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HealthMonitor {
    #[serde(flatten)]
    pub c: Common,
    pub pool_id: String,
    pub kind: String,
    /// Seconds between probes.
    pub delay: u64,
    /// Seconds a probe may take.
    pub timeout: u64,
    pub max_retries: u32,
    pub max_retries_down: u32,
}

/// The saved form of load balancer state (see [`crate::persist`]).
#[derive(Default, Serialize, Deserialize)]
pub struct LbState {
    pub loadbalancers: BTreeMap<String, LoadBalancer>,
    pub listeners: BTreeMap<String, Listener>,
    pub pools: BTreeMap<String, Pool>,
    pub members: BTreeMap<String, Member>,
    pub monitors: BTreeMap<String, HealthMonitor>,
    version: u64,
}

impl LbState {
    fn changed(&mut self) -> (u64, String) {
        self.version += 1;
        crate::persist::snapshot(self, self.version)
    }

    /// Removes load balancers whose deletion has finished, with everything under them.
    /// True when anything went.
    fn sweep(&mut self, now: OffsetDateTime) -> bool {
        let gone: Vec<String> = self
            .loadbalancers
            .values()
            .filter(|lb| {
                lb.c.busy
                    .as_ref()
                    .is_some_and(|b| b.kind == Pending::Delete && now >= b.until)
            })
            .map(|lb| lb.c.id.clone())
            .collect();
        for id in &gone {
            self.remove_tree(id);
        }
        !gone.is_empty()
    }

    fn remove_tree(&mut self, lb_id: &str) {
        if let Some(lb) = self.loadbalancers.remove(lb_id) {
            crate::lbnet::release_vip(lb.vip_address);
        }
        self.listeners.retain(|_, l| l.loadbalancer_id != lb_id);
        let pools: BTreeSet<String> = self
            .pools
            .values()
            .filter(|p| p.loadbalancer_id == lb_id)
            .map(|p| p.c.id.clone())
            .collect();
        self.pools.retain(|id, _| !pools.contains(id));
        self.members.retain(|_, m| !pools.contains(&m.pool_id));
        self.monitors.retain(|_, h| !pools.contains(&h.pool_id));
    }

    pub fn members_of<'a>(&'a self, pool_id: &'a str) -> impl Iterator<Item = &'a Member> + 'a {
        self.members.values().filter(move |m| m.pool_id == pool_id)
    }

    pub fn monitor_of(&self, pool_id: &str) -> Option<&HealthMonitor> {
        self.monitors.values().find(|h| h.pool_id == pool_id)
    }
}

/// Load balancer state plus the network side (bound listeners, member health).
pub struct LoadBalancers {
    pub(crate) state: Mutex<LbState>,
    pub(crate) net: crate::lbnet::Net,
    vip_base: u32,
    vip_size: u32,
}

impl LoadBalancers {
    pub fn new(config: &crate::Config) -> LoadBalancers {
        let (base, prefix) = config.vip_range;
        let size = 1u32 << (32 - prefix.clamp(8, 30));
        LoadBalancers {
            state: Mutex::new(LbState::default()),
            net: crate::lbnet::Net::default(),
            vip_base: u32::from(base) & !(size - 1),
            vip_size: size,
        }
    }

    pub fn restore(&self, saved: LbState) {
        for lb in saved.loadbalancers.values() {
            crate::lbnet::claim_vip(lb.vip_address);
        }
        if let Ok(mut state) = self.state.lock() {
            *state = saved;
        }
    }

    pub(crate) fn lock(&self) -> Result<std::sync::MutexGuard<'_, LbState>, ApiError> {
        self.state.lock().map_err(|_| {
            err(
                StatusCode::INTERNAL_SERVER_ERROR,
                "load balancer state poisoned",
            )
        })
    }

    /// The first free address of the VIP range (not its first or last address), claimed
    /// process-wide so that two clouds in one process never share one.
    fn allocate_vip(&self) -> Option<Ipv4Addr> {
        (1..self.vip_size.saturating_sub(1))
            .map(|i| Ipv4Addr::from(self.vip_base + i))
            .find(|ip| crate::lbnet::claim_vip(*ip))
    }

    fn in_range(&self, ip: Ipv4Addr) -> bool {
        let n = u32::from(ip);
        n > self.vip_base && n < self.vip_base + self.vip_size - 1
    }

    /// Load balancer counts per project, for quotas.
    pub fn count(&self, project_id: &str) -> usize {
        self.state
            .lock()
            .map(|s| {
                s.loadbalancers
                    .values()
                    .filter(|l| l.c.project_id == project_id)
                    .count()
            })
            .unwrap_or(0)
    }
}

pub(crate) fn err(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError::new(Service::LoadBalancer, status, message)
}

fn bad(message: impl Into<String>) -> ApiError {
    err(StatusCode::BAD_REQUEST, message)
}

fn not_found(kind: &str, id: &str) -> ApiError {
    err(StatusCode::NOT_FOUND, format!("{kind} {id} not found."))
}

fn immutable(lb_id: &str) -> ApiError {
    err(
        StatusCode::CONFLICT,
        format!("Load Balancer {lb_id} is immutable and cannot be updated."),
    )
}

fn authenticate(cloud: &Cloud, headers: &HeaderMap) -> Result<Token, ApiError> {
    cloud.identity.from_headers(headers).ok_or_else(|| {
        err(
            StatusCode::UNAUTHORIZED,
            "The request you have made requires authentication.",
        )
    })
}

fn parse<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| bad(format!("Invalid input for field/attribute: {e}")))
}

/// Octavia's time format: seconds, no zone.
fn octavia_time(t: OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    t.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_default()
}

pub fn router() -> Router<Arc<Cloud>> {
    let v2 = Router::new()
        .route("/lbaas/loadbalancers", get(lb_list).post(lb_create))
        .route(
            "/lbaas/loadbalancers/{id}",
            get(lb_show).put(lb_update).delete(lb_delete),
        )
        .route("/lbaas/loadbalancers/{id}/status", get(lb_status))
        .route("/lbaas/listeners", get(listener_list).post(listener_create))
        .route(
            "/lbaas/listeners/{id}",
            get(listener_show)
                .put(listener_update)
                .delete(listener_delete),
        )
        .route("/lbaas/pools", get(pool_list).post(pool_create))
        .route(
            "/lbaas/pools/{id}",
            get(pool_show).put(pool_update).delete(pool_delete),
        )
        .route(
            "/lbaas/pools/{pool}/members",
            get(member_list).post(member_create),
        )
        .route(
            "/lbaas/pools/{pool}/members/{id}",
            get(member_show).put(member_update).delete(member_delete),
        )
        .route("/lbaas/healthmonitors", get(hm_list).post(hm_create))
        .route(
            "/lbaas/healthmonitors/{id}",
            get(hm_show).put(hm_update).delete(hm_delete),
        )
        .route("/lbaas/quotas/{project}", get(quota_show).put(quota_update));
    Router::new()
        .route("/", get(versions))
        .nest("/v2", v2.clone())
        .nest("/v2.0", v2)
}

async fn versions(State(cloud): State<Arc<Cloud>>) -> Json<Value> {
    Json(json!({"versions": [{
        "id": "v2.0",
        "status": "CURRENT",
        "updated": "2023-06-01T00:00:00Z",
        "links": [{"href": format!("{}/load-balancer/v2", cloud.base_url), "rel": "self"}],
    }]}))
}

// ---- bodies -----------------------------------------------------------------------

fn common_fields(c: &Common, now: OffsetDateTime) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("id".into(), json!(c.id));
    m.insert("name".into(), json!(c.name));
    m.insert("description".into(), json!(c.description));
    m.insert("project_id".into(), json!(c.project_id));
    m.insert("tenant_id".into(), json!(c.project_id));
    m.insert("admin_state_up".into(), json!(c.admin_state_up));
    m.insert("tags".into(), json!(c.tags));
    m.insert("created_at".into(), json!(octavia_time(c.created)));
    m.insert("updated_at".into(), json!(octavia_time(c.updated)));
    m.insert(
        "provisioning_status".into(),
        json!(provisioning(&c.busy, now)),
    );
    m
}

fn with(mut m: serde_json::Map<String, Value>, extra: Value) -> Value {
    if let Value::Object(e) = extra {
        m.extend(e);
    }
    Value::Object(m)
}

/// Why the gate ([`crate::egress`]) will not dial a member (its address or its
/// monitor address), if it will not: such a member is ERROR, whatever else holds.
fn member_refused(cloud: &Cloud, m: &Member) -> Option<crate::egress::Refused> {
    let at = |ip: Ipv4Addr, port: u16| cloud.network.may_dial((ip, port).into()).err();
    at(m.address, m.protocol_port).or_else(|| {
        at(
            m.monitor_address.unwrap_or(m.address),
            m.monitor_port.unwrap_or(m.protocol_port),
        )
    })
}

/// Operating status of a member: from its health monitor's probes when the pool has one.
fn member_operating(cloud: &Cloud, st: &LbState, m: &Member) -> &'static str {
    if !m.c.admin_state_up {
        return "OFFLINE";
    }
    if member_refused(cloud, m).is_some() {
        return "ERROR";
    }
    if st.monitor_of(&m.pool_id).is_none() {
        return "NO_MONITOR";
    }
    cloud.lbs.net.health(&m.c.id)
}

fn pool_operating(cloud: &Cloud, st: &LbState, pool_id: &str) -> &'static str {
    let states: Vec<&str> = st
        .members_of(pool_id)
        .filter(|m| m.c.admin_state_up)
        .map(|m| member_operating(cloud, st, m))
        .collect();
    let down = states.iter().filter(|s| **s == "ERROR").count();
    if states.is_empty() || down == 0 {
        "ONLINE"
    } else if down == states.len() {
        "ERROR"
    } else {
        "DEGRADED"
    }
}

fn listener_operating(
    cloud: &Cloud,
    st: &LbState,
    l: &Listener,
    now: OffsetDateTime,
) -> &'static str {
    if !l.c.admin_state_up || provisioning(&l.c.busy, now) == "PENDING_CREATE" {
        return "OFFLINE";
    }
    if cloud.lbs.net.bind_error(&l.c.id).is_some() {
        return "ERROR";
    }
    match &l.default_pool_id {
        Some(p) => match pool_operating(cloud, st, p) {
            "ERROR" | "DEGRADED" => "DEGRADED",
            _ => "ONLINE",
        },
        None => "ONLINE",
    }
}

fn lb_operating(
    cloud: &Cloud,
    st: &LbState,
    lb: &LoadBalancer,
    now: OffsetDateTime,
) -> &'static str {
    let p = provisioning(&lb.c.busy, now);
    if !lb.c.admin_state_up || p == "PENDING_CREATE" || p == "PENDING_DELETE" {
        return "OFFLINE";
    }
    let degraded = st
        .listeners
        .values()
        .filter(|l| l.loadbalancer_id == lb.c.id)
        .any(|l| matches!(listener_operating(cloud, st, l, now), "DEGRADED" | "ERROR"));
    if degraded {
        "DEGRADED"
    } else {
        "ONLINE"
    }
}

fn lb_body(cloud: &Cloud, st: &LbState, lb: &LoadBalancer, now: OffsetDateTime) -> Value {
    let listeners: Vec<Value> = st
        .listeners
        .values()
        .filter(|l| l.loadbalancer_id == lb.c.id)
        .map(|l| json!({"id": l.c.id}))
        .collect();
    let pools: Vec<Value> = st
        .pools
        .values()
        .filter(|p| p.loadbalancer_id == lb.c.id)
        .map(|p| json!({"id": p.c.id}))
        .collect();
    with(
        common_fields(&lb.c, now),
        json!({
            "operating_status": lb_operating(cloud, st, lb, now),
            "vip_address": lb.vip_address.to_string(),
            "vip_subnet_id": lb.vip_subnet_id,
            "vip_network_id": lb.vip_network_id,
            "vip_port_id": lb.vip_port_id,
            "vip_qos_policy_id": null,
            "vip_vnic_type": "normal",
            "additional_vips": [],
            "provider": "amphora",
            "flavor_id": null,
            "availability_zone": null,
            "listeners": listeners,
            "pools": pools,
        }),
    )
}

fn listener_body(cloud: &Cloud, st: &LbState, l: &Listener, now: OffsetDateTime) -> Value {
    with(
        common_fields(&l.c, now),
        json!({
            "operating_status": listener_operating(cloud, st, l, now),
            "protocol": l.protocol,
            "protocol_port": l.protocol_port,
            "connection_limit": l.connection_limit,
            "default_pool_id": l.default_pool_id,
            "loadbalancers": [{"id": l.loadbalancer_id}],
            "l7policies": [],
            "insert_headers": {},
            "default_tls_container_ref": null,
            "sni_container_refs": [],
            "timeout_client_data": 50000,
            "timeout_member_connect": 5000,
            "timeout_member_data": 50000,
            "timeout_tcp_inspect": 0,
            "client_ca_tls_container_ref": null,
            "client_authentication": "NONE",
            "client_crl_container_ref": null,
            "allowed_cidrs": null,
            "tls_ciphers": null,
            "tls_versions": null,
            "alpn_protocols": null,
            "hsts_include_subdomains": false,
            "hsts_max_age": null,
            "hsts_preload": false,
        }),
    )
}

fn pool_body(cloud: &Cloud, st: &LbState, p: &Pool, now: OffsetDateTime) -> Value {
    let members: Vec<Value> = st
        .members_of(&p.c.id)
        .map(|m| json!({"id": m.c.id}))
        .collect();
    with(
        common_fields(&p.c, now),
        json!({
            "operating_status": pool_operating(cloud, st, &p.c.id),
            "protocol": p.protocol,
            "lb_algorithm": p.lb_algorithm,
            "loadbalancers": [{"id": p.loadbalancer_id}],
            "listeners": p.listener_id.iter().map(|l| json!({"id": l})).collect::<Vec<_>>(),
            "members": members,
            "healthmonitor_id": p.healthmonitor_id,
            "session_persistence": null,
            "tls_container_ref": null,
            "ca_tls_container_ref": null,
            "crl_container_ref": null,
            "tls_enabled": false,
            "tls_ciphers": null,
            "tls_versions": null,
            "alpn_protocols": null,
        }),
    )
}

/// A member in Octavia's shape; one localcloud never dials (state from an older
/// version, or a subnet deleted under it) also says why, in `operating_status_reason`.
fn member_body(cloud: &Cloud, st: &LbState, m: &Member, now: OffsetDateTime) -> Value {
    let refused = member_refused(cloud, m).map(|r| format!("localcloud will not connect: {r}"));
    with(
        common_fields(&m.c, now),
        json!({
            "operating_status": member_operating(cloud, st, m),
            "operating_status_reason": refused,
            "address": m.address.to_string(),
            "protocol_port": m.protocol_port,
            "weight": m.weight,
            "backup": m.backup,
            "subnet_id": m.subnet_id,
            "monitor_address": m.monitor_address.map(|a| a.to_string()),
            "monitor_port": m.monitor_port,
            "vnic_type": "normal",
        }),
    )
}

fn hm_body(h: &HealthMonitor, now: OffsetDateTime) -> Value {
    with(
        common_fields(&h.c, now),
        json!({
            "operating_status": if h.c.admin_state_up { "ONLINE" } else { "OFFLINE" },
            "type": h.kind,
            "delay": h.delay,
            "timeout": h.timeout,
            "max_retries": h.max_retries,
            "max_retries_down": h.max_retries_down,
            "pools": [{"id": h.pool_id}],
            "http_method": null,
            "url_path": null,
            "expected_codes": null,
            "http_version": null,
            "domain_name": null,
        }),
    )
}

// ---- list filters -------------------------------------------------------------------

/// Octavia's common list filters: by field value, by tags, and paging.
#[derive(Deserialize, Default)]
struct ListQuery {
    name: Option<String>,
    id: Option<String>,
    tags: Option<String>,
    #[serde(rename = "tags-any")]
    tags_any: Option<String>,
    loadbalancer_id: Option<String>,
    provisioning_status: Option<String>,
    vip_address: Option<String>,
    limit: Option<usize>,
    marker: Option<String>,
}

impl ListQuery {
    fn keeps(&self, c: &Common, now: OffsetDateTime) -> bool {
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
fn paged(
    cloud: &Cloud,
    key: &str,
    path: &str,
    mut items: Vec<(OffsetDateTime, String, Value)>,
    q: &ListQuery,
) -> Result<Json<Value>, ApiError> {
    items.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    let items: Vec<(String, Value)> = items.into_iter().map(|(_, id, v)| (id, v)).collect();
    let start = match &q.marker {
        Some(m) => items
            .iter()
            .position(|(id, _)| id == m)
            .map(|i| i + 1)
            .ok_or_else(|| not_found("Marker", m))?,
        None => 0,
    };
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

fn query(q: Result<Query<ListQuery>, QueryRejection>) -> Result<ListQuery, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| bad(format!("Invalid query: {e}")))
}

// ---- requests -----------------------------------------------------------------------

fn check_name(name: &str) -> Result<(), ApiError> {
    if name.chars().count() > NAME_MAX {
        return Err(bad(format!(
            "Invalid input for field/attribute name. Value: '{}…'. Value should have a maximum character requirement of {NAME_MAX}",
            name.chars().take(16).collect::<String>()
        )));
    }
    Ok(())
}

fn check_tags(tags: &[String]) -> Result<(), ApiError> {
    if tags.len() > 50 {
        return Err(bad(
            "Invalid input for field/attribute tags: at most 50 tags",
        ));
    }
    if let Some(t) = tags
        .iter()
        .find(|t| t.is_empty() || t.chars().count() > 255)
    {
        return Err(bad(format!(
            "Invalid input for field/attribute tags: '{}' must be 1 to 255 characters",
            t.chars().take(16).collect::<String>()
        )));
    }
    Ok(())
}

fn common(
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

fn busy(kind: Pending, delay: Duration) -> Option<Busy> {
    (!delay.is_zero()).then(|| Busy {
        kind,
        until: OffsetDateTime::now_utc() + delay,
    })
}

/// The caller's load balancer, and 409 unless it can take a change now.
fn mutable_lb<'a>(
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
fn touch_lb(delay: Duration, st: &mut LbState, lb_id: &str) {
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
async fn finish(
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
        .ok_or_else(|| err(StatusCode::NOT_FOUND, "Resource is gone."))?;
    Ok((status, Json(value)).into_response())
}

// ---- load balancers ---------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LbCreate {
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
struct LbCreateBody {
    loadbalancer: LbCreate,
}

async fn lb_create(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = authenticate(&cloud, &headers)?;
    settle(&cloud).await?;
    let req: LbCreateBody = parse(&body)?;
    let r = req.loadbalancer;
    if r.listeners.as_ref().is_some_and(|l| !l.is_empty())
        || r.pools.as_ref().is_some_and(|p| !p.is_empty())
    {
        return Err(bad(
            "Creating listeners or pools inside a load balancer request is not supported here; create them one by one.",
        ));
    }
    if r.additional_vips.as_ref().is_some_and(|v| !v.is_empty()) {
        return Err(bad("additional_vips are not supported here."));
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
        return Err(err(
            StatusCode::FORBIDDEN,
            "Policy does not allow this request to be performed.",
        ));
    }
    // The VIP's network and subnet: any the project may use.
    if let Some(p) = &r.vip_port_id {
        return Err(bad(format!("Validation failure: Port {p} not found.")));
    }
    let who = crate::network::Who::of(&token);
    let (net, subnet) = cloud
        .network
        .vip_place(
            &who,
            r.vip_subnet_id.as_deref(),
            r.vip_network_id.as_deref(),
        )
        .map_err(bad)?;
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
                bad(format!(
                    "Invalid input for field/attribute vip_address. Value: '{a}'."
                ))
            })?;
            if !cloud.lbs.in_range(ip) {
                return Err(bad(format!(
                    "Validation failure: IP address {ip} is not in the VIP range of this cloud."
                )));
            }
            if !crate::lbnet::claim_vip(ip) {
                return Err(err(
                    StatusCode::CONFLICT,
                    format!("IP address {ip} is already allocated."),
                ));
            }
            ip
        }
        None => cloud.lbs.allocate_vip().ok_or_else(|| {
            err(
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
            crate::lbnet::release_vip(vip);
            return Err(err(
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

async fn lb_list(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate(&cloud, &headers)?;
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

async fn lb_show(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate(&cloud, &headers)?;
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

/// Fields every update accepts.
#[derive(Deserialize, Default)]
struct CommonUpdate {
    name: Option<String>,
    description: Option<String>,
    admin_state_up: Option<bool>,
    tags: Option<Vec<String>>,
}

impl CommonUpdate {
    fn apply(self, c: &mut Common) -> Result<(), ApiError> {
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

#[derive(Deserialize)]
struct LbUpdateBody {
    loadbalancer: CommonUpdate,
}

async fn lb_update(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = authenticate(&cloud, &headers)?;
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
struct DeleteQuery {
    /// `true`, or `True` as python-octaviaclient sends it.
    cascade: Option<String>,
}

async fn lb_delete(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: Result<Query<DeleteQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let token = authenticate(&cloud, &headers)?;
    let Query(q) = q.map_err(|e| bad(format!("Invalid query: {e}")))?;
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
                return Err(bad(format!(
                    "Invalid input for cascade: '{other}' is not a boolean."
                )))
            }
        };
        if has_children && !cascade {
            return Err(bad(format!(
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
async fn lb_status(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate(&cloud, &headers)?;
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

// ---- listeners ----------------------------------------------------------------------

/// Ports are numbers in JSON, but Octavia's own sample sends a string.
fn port(v: &Value, field: &str) -> Result<u16, ApiError> {
    let n = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse::<u64>().ok(),
        _ => None,
    };
    n.filter(|n| (1..=65535).contains(n))
        .map(|n| n as u16)
        .ok_or_else(|| {
            bad(format!(
                "Invalid input for field/attribute {field}. Value: '{v}'. Value should be between 1 and 65535."
            ))
        })
}

#[derive(Deserialize)]
struct ListenerCreate {
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
struct ListenerCreateBody {
    listener: ListenerCreate,
}

const LISTENER_PROTOCOLS: [&str; 2] = ["TCP", "HTTP"];

async fn listener_create(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = authenticate(&cloud, &headers)?;
    settle(&cloud).await?;
    let r: ListenerCreateBody = parse(&body)?;
    let r = r.listener;
    let protocol_port = port(&r.protocol_port, "protocol_port")?;
    if !LISTENER_PROTOCOLS.contains(&r.protocol.as_str()) {
        return Err(bad(format!(
            "Invalid input for field/attribute protocol. Value: '{}'. Value should be one of: {} (localcloud forwards TCP).",
            r.protocol,
            LISTENER_PROTOCOLS.join(", ")
        )));
    }
    if r.connection_limit.is_some_and(|n| n < -1) {
        return Err(bad(
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
                bad(e.message)
            } else {
                e
            }
        })?;
        if st
            .listeners
            .values()
            .any(|l| l.loadbalancer_id == r.loadbalancer_id && l.protocol_port == protocol_port)
        {
            return Err(err(
                StatusCode::CONFLICT,
                format!("Another Listener on this Load Balancer is already using protocol_port {protocol_port}"),
            ));
        }
        if let Some(p) = &r.default_pool_id {
            let pool = st
                .pools
                .get(p)
                .filter(|p| p.loadbalancer_id == r.loadbalancer_id)
                .ok_or_else(|| bad(format!("Pool {p} not found on this load balancer.")))?;
            if pool.listener_id.is_some() {
                return Err(err(
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

async fn listener_list(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate(&cloud, &headers)?;
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

async fn listener_show(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate(&cloud, &headers)?;
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
struct ListenerUpdate {
    #[serde(flatten)]
    common: CommonUpdate,
    connection_limit: Option<i64>,
    default_pool_id: Option<Option<String>>,
}

#[derive(Deserialize)]
struct ListenerUpdateBody {
    listener: ListenerUpdate,
}

async fn listener_update(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = authenticate(&cloud, &headers)?;
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
                .ok_or_else(|| bad(format!("Pool {p} not found on this load balancer.")))?;
            if pool.listener_id.as_ref().is_some_and(|l| *l != id) {
                return Err(err(
                    StatusCode::CONFLICT,
                    format!("Pool {p} is already used by a listener."),
                ));
            }
        }
        if r.connection_limit.is_some_and(|n| n < -1) {
            return Err(bad("Invalid input for field/attribute connection_limit. Value should be -1 or greater."));
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

async fn listener_delete(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let token = authenticate(&cloud, &headers)?;
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

// ---- pools --------------------------------------------------------------------------

#[derive(Deserialize)]
struct PoolCreate {
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
struct PoolCreateBody {
    pool: PoolCreate,
}

const ALGORITHMS: [&str; 3] = ["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP"];
const POOL_PROTOCOLS: [&str; 3] = ["TCP", "HTTP", "PROXY"];

async fn pool_create(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = authenticate(&cloud, &headers)?;
    settle(&cloud).await?;
    let r: PoolCreateBody = parse(&body)?;
    let r = r.pool;
    if !ALGORITHMS.contains(&r.lb_algorithm.as_str()) {
        return Err(bad(format!(
            "Invalid input for field/attribute lb_algorithm. Value: '{}'. Value should be one of: {}",
            r.lb_algorithm,
            ALGORITHMS.join(", ")
        )));
    }
    if !POOL_PROTOCOLS.contains(&r.protocol.as_str()) {
        return Err(bad(format!(
            "Invalid input for field/attribute protocol. Value: '{}'. Value should be one of: {}",
            r.protocol,
            POOL_PROTOCOLS.join(", ")
        )));
    }
    if r.session_persistence.as_ref().is_some_and(|v| !v.is_null()) {
        return Err(bad("session_persistence is not supported here."));
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
                        .ok_or_else(|| bad(format!("Listener {l} not found.")))?;
                    if listener.default_pool_id.is_some() {
                        return Err(err(
                            StatusCode::CONFLICT,
                            format!("Listener {l} already has a default pool."),
                        ));
                    }
                    if r.loadbalancer_id
                        .as_ref()
                        .is_some_and(|lb| *lb != listener.loadbalancer_id)
                    {
                        return Err(bad("The listener is on another load balancer."));
                    }
                    listener.loadbalancer_id.clone()
                }
                (Some(lb), None) => lb.clone(),
                (None, None) => return Err(bad(
                    "Validation failure: Either listener_id or loadbalancer_id must be specified.",
                )),
            };
        mutable_lb(&mut st, &token, &lb_id, OffsetDateTime::now_utc()).map_err(|e| {
            if e.status == StatusCode::NOT_FOUND {
                bad(e.message)
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

async fn pool_list(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate(&cloud, &headers)?;
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

async fn pool_show(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate(&cloud, &headers)?;
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
struct PoolUpdateBody {
    pool: PoolUpdate,
}

#[derive(Deserialize)]
struct PoolUpdate {
    #[serde(flatten)]
    common: CommonUpdate,
    lb_algorithm: Option<String>,
}

/// The pool's load balancer id, checking the caller owns the pool and the balancer can
/// take a change.
fn pool_lb(st: &mut LbState, token: &Token, pool_id: &str) -> Result<String, ApiError> {
    let lb_id = st
        .pools
        .get(pool_id)
        .filter(|p| p.c.project_id == token.project_id)
        .map(|p| p.loadbalancer_id.clone())
        .ok_or_else(|| not_found("Pool", pool_id))?;
    mutable_lb(st, token, &lb_id, OffsetDateTime::now_utc())?;
    Ok(lb_id)
}

async fn pool_update(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = authenticate(&cloud, &headers)?;
    settle(&cloud).await?;
    let r: PoolUpdateBody = parse(&body)?;
    let r = r.pool;
    if let Some(a) = r
        .lb_algorithm
        .as_ref()
        .filter(|a| !ALGORITHMS.contains(&a.as_str()))
    {
        return Err(bad(format!(
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

async fn pool_delete(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let token = authenticate(&cloud, &headers)?;
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

// ---- members ------------------------------------------------------------------------

#[derive(Deserialize)]
struct MemberCreate {
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
struct MemberCreateBody {
    member: MemberCreate,
}

fn ipv4(s: &str, field: &str) -> Result<Ipv4Addr, ApiError> {
    s.parse().map_err(|_| {
        bad(format!(
            "Invalid input for field/attribute {field}. Value: '{}'. Value should be IPv4 format",
            s.chars().take(64).collect::<String>()
        ))
    })
}

async fn member_create(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(pool_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = authenticate(&cloud, &headers)?;
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
        return Err(bad(
            "Invalid input for field/attribute weight. Value should be between 0 and 256.",
        ));
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
            .map_err(bad)?;
        if let Some(m) = monitor_address {
            cloud.network.subnet_holding(&who, None, m).map_err(bad)?;
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
                .map_err(|e| bad(format!("Validation failure: {e}")))?;
        }
        if st
            .members_of(&pool_id)
            .any(|m| m.address == address && m.protocol_port == protocol_port)
        {
            return Err(err(
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

async fn member_list(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(pool_id): Path<String>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate(&cloud, &headers)?;
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

fn visible_member<'a>(
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

async fn member_show(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path((pool_id, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate(&cloud, &headers)?;
    settle(&cloud).await?;
    let st = cloud.lbs.lock()?;
    let m = visible_member(&st, &token, &pool_id, &id)?;
    Ok(Json(
        json!({"member": member_body(&cloud, &st, m, OffsetDateTime::now_utc())}),
    ))
}

#[derive(Deserialize)]
struct MemberUpdate {
    #[serde(flatten)]
    common: CommonUpdate,
    weight: Option<u32>,
    backup: Option<bool>,
}

#[derive(Deserialize)]
struct MemberUpdateBody {
    member: MemberUpdate,
}

async fn member_update(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path((pool_id, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = authenticate(&cloud, &headers)?;
    settle(&cloud).await?;
    let r: MemberUpdateBody = parse(&body)?;
    let r = r.member;
    if r.weight.is_some_and(|w| w > 256) {
        return Err(bad(
            "Invalid input for field/attribute weight. Value should be between 0 and 256.",
        ));
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

async fn member_delete(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path((pool_id, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let token = authenticate(&cloud, &headers)?;
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

// ---- health monitors ----------------------------------------------------------------

#[derive(Deserialize)]
struct HmCreate {
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
struct HmCreateBody {
    healthmonitor: HmCreate,
}

const MONITOR_TYPES: [&str; 2] = ["TCP", "PING"];

fn check_monitor(delay: u64, timeout: u64, retries: u32, down: u32) -> Result<(), ApiError> {
    if !(1..=86400).contains(&delay) || !(1..=86400).contains(&timeout) {
        return Err(bad(
            "Invalid input: delay and timeout must be between 1 and 86400 seconds.",
        ));
    }
    if timeout > delay {
        return Err(bad("Validation failure: The delay value must be greater than or equal to the timeout value."));
    }
    if !(1..=10).contains(&retries) || !(1..=10).contains(&down) {
        return Err(bad(
            "Invalid input: max_retries and max_retries_down must be between 1 and 10.",
        ));
    }
    Ok(())
}

async fn hm_create(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = authenticate(&cloud, &headers)?;
    settle(&cloud).await?;
    let r: HmCreateBody = parse(&body)?;
    let r = r.healthmonitor;
    if !MONITOR_TYPES.contains(&r.kind.as_str()) {
        return Err(bad(format!(
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
                bad(e.message)
            } else {
                e
            }
        })?;
        if st.monitor_of(&r.pool_id).is_some() {
            return Err(err(
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

async fn hm_list(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate(&cloud, &headers)?;
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

async fn hm_show(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate(&cloud, &headers)?;
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
struct HmUpdate {
    #[serde(flatten)]
    common: CommonUpdate,
    delay: Option<u64>,
    timeout: Option<u64>,
    max_retries: Option<u32>,
    max_retries_down: Option<u32>,
}

#[derive(Deserialize)]
struct HmUpdateBody {
    healthmonitor: HmUpdate,
}

async fn hm_update(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = authenticate(&cloud, &headers)?;
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

async fn hm_delete(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let token = authenticate(&cloud, &headers)?;
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

// ---- quotas -------------------------------------------------------------------------

async fn quota_show(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    crate::quotas::octavia_allowed(&cloud, &headers, &project)?;
    let q = cloud.quotas.get(&project);
    Ok(Json(octavia_quota(&q)))
}

async fn quota_update(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(project): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let q = crate::quotas::octavia_update(&cloud, &headers, &project, &body).await?;
    Ok(Json(octavia_quota(&q)))
}

fn octavia_quota(q: &crate::quotas::Quota) -> Value {
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

/// Bound listener addresses with the members each forwards to, for tests and the admin
/// view: `(listener id, "vip:port")`.
pub fn bound(cloud: &Cloud) -> HashMap<String, String> {
    cloud.lbs.net.bound()
}

/// Every member of every pool as `(pool id, address:port)`: what the cloud may dial,
/// for tests and audits of the address plan.
pub fn members(cloud: &Cloud) -> Vec<(String, std::net::SocketAddr)> {
    cloud
        .lbs
        .state
        .lock()
        .map(|st| {
            st.members
                .values()
                .map(|m| (m.pool_id.clone(), (m.address, m.protocol_port).into()))
                .collect()
        })
        .unwrap_or_default()
}
