//! Nova servers and server groups, placed on the configured hosts. A server is BUILD
//! until its build delay has passed, then ACTIVE; one that no host can take goes to
//! ERROR with Nova's "No valid host was found" fault, as in Nova.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

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

use crate::compute::{authenticate, err, links, Flavor};
use crate::error::ApiError;
use crate::identity::Token;
use crate::placement::{place, GroupConstraint, HostUsage, Policy};
use crate::{format_time, Cloud, HostConfig};

pub const NAME_MAX: usize = 255;
const NO_VALID_HOST: &str = "No valid host was found. There are not enough hosts available.";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Server {
    pub id: String,
    pub name: String,
    pub project_id: String,
    pub user_id: String,
    pub flavor: Flavor,
    pub image_id: String,
    pub metadata: BTreeMap<String, String>,
    pub host: Option<String>,
    pub group: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub active_at: OffsetDateTime,
    pub fault: Option<String>,
    pub address: String,
    /// When an injected fault turns this server ERROR.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub fails_at: Option<OffsetDateTime>,
    /// Plugged in through Neutron ports; false for servers saved before ports existed,
    /// which get a port for `address` at start.
    #[serde(default)]
    pub ported: bool,
    /// What the server was given to read at boot (Nova's `user_data`, decoded). Never
    /// shown back: a cluster node's holds its private key.
    #[serde(default)]
    pub user_data: Option<String>,
    /// Stopped with `os-stop` (SHUTOFF) until `os-start`.
    #[serde(default)]
    pub stopped: bool,
    /// Rebuilt: REBUILD (not BUILD) until `active_at`.
    #[serde(default)]
    pub rebuilt: bool,
}

const INJECTED_FAULT: &str = "Injected fault: the instance failed on its hypervisor.";

impl Server {
    pub fn status(&self, now: OffsetDateTime) -> &'static str {
        if self.fault.is_some() || self.fails_at.is_some_and(|t| now >= t) {
            "ERROR"
        } else if self.stopped {
            "SHUTOFF"
        } else if now >= self.active_at {
            "ACTIVE"
        } else if self.rebuilt {
            "REBUILD"
        } else {
            "BUILD"
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServerGroup {
    pub id: String,
    pub name: String,
    pub policy: Policy,
    pub project_id: String,
    pub user_id: String,
    pub members: Vec<String>,
}

/// Compute state: servers, groups and the hosts they sit on.
pub struct Servers {
    hosts: Vec<HostConfig>,
    state: Mutex<State_>,
}

/// The saved form of compute state (see [`crate::persist`]).
#[derive(Default, Serialize, Deserialize)]
pub struct State_ {
    pub(crate) servers: BTreeMap<String, Server>,
    groups: BTreeMap<String, ServerGroup>,
    /// Unused since addresses come from ports; kept so older saved state loads.
    next_address: u32,
    version: u64,
}

impl State_ {
    /// Marks a change and returns what to save.
    pub(crate) fn changed(&mut self) -> (u64, String) {
        self.version += 1;
        crate::persist::snapshot(self, self.version)
    }
}

pub(crate) async fn save(cloud: &Cloud, (version, body): (u64, String)) {
    cloud.persist.save("compute", version, &body).await;
}

impl Servers {
    pub fn new(hosts: Vec<HostConfig>) -> Servers {
        Servers {
            hosts,
            state: Mutex::new(State_::default()),
        }
    }

    /// Restores saved state at start.
    pub fn restore(&self, saved: State_) {
        if let Ok(mut state) = self.state.lock() {
            *state = saved;
        }
    }

    pub(crate) fn lock(&self) -> Result<std::sync::MutexGuard<'_, State_>, ApiError> {
        self.state
            .lock()
            .map_err(|_| err(StatusCode::INTERNAL_SERVER_ERROR, "compute state poisoned"))
    }

    /// Whether server `id` exists in `project_id` (Cinder's `os-attach` asks).
    pub fn in_project(&self, id: &str, project_id: &str) -> bool {
        self.state
            .lock()
            .map(|st| {
                st.servers
                    .get(id)
                    .is_some_and(|s| s.project_id == project_id)
            })
            .unwrap_or(false)
    }

    /// `(instances, cores, RAM MiB, server groups)` a project holds, for quota views.
    pub fn project_usage(&self, project_id: &str) -> (u64, u64, u64, u64) {
        self.state
            .lock()
            .map(|st| usage_of(&st, project_id))
            .unwrap_or_default()
    }

    /// `(server id, project, fixed address)` of placed servers saved before ports
    /// existed, so that they can be given theirs at start.
    pub fn addressed(&self) -> Vec<(String, String, String)> {
        self.state
            .lock()
            .map(|st| {
                st.servers
                    .values()
                    .filter(|s| !s.ported && s.host.is_some() && !s.address.is_empty())
                    .map(|s| (s.id.clone(), s.project_id.clone(), s.address.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Each host's capacity and use.
    pub fn usage(&self) -> Vec<HostUsage> {
        self.state
            .lock()
            .map(|st| self.usage_in(&st))
            .unwrap_or_default()
    }

    fn usage_in(&self, state: &State_) -> Vec<HostUsage> {
        self.hosts
            .iter()
            .map(|h| {
                let on = || {
                    state
                        .servers
                        .values()
                        .filter(|s| s.host.as_deref() == Some(h.name.as_str()))
                };
                HostUsage {
                    name: h.name.clone(),
                    vcpus: h.vcpus,
                    ram_mib: h.ram_mib,
                    vcpus_used: on().map(|s| s.flavor.vcpus as u64).sum(),
                    ram_used_mib: on().map(|s| s.flavor.ram_mib).sum(),
                }
            })
            .collect()
    }
}

/// `(instances, cores, RAM MiB, server groups)` of a project; servers in ERROR count,
/// as in Nova.
fn usage_of(state: &State_, project_id: &str) -> (u64, u64, u64, u64) {
    let (n, c, r) = state
        .servers
        .values()
        .filter(|s| s.project_id == project_id)
        .fold((0, 0, 0), |(n, c, r), s| {
            (n + 1, c + s.flavor.vcpus as u64, r + s.flavor.ram_mib)
        });
    let groups = state
        .groups
        .values()
        .filter(|g| g.project_id == project_id)
        .count() as u64;
    (n, c, r, groups)
}

pub fn router() -> Router<Arc<Cloud>> {
    Router::new()
        .route("/servers", get(list).post(create))
        .route("/servers/detail", get(list_detail))
        .route("/servers/{id}", get(show).delete(delete))
        .route(
            "/servers/{id}/action",
            axum::routing::post(crate::server_actions::action),
        )
        .route(
            "/servers/{id}/os-volume_attachments",
            get(attachment_list).post(attach),
        )
        .route(
            "/servers/{id}/os-volume_attachments/{volume_id}",
            axum::routing::delete(detach),
        )
        .route("/os-server-groups", get(group_list).post(group_create))
        .route(
            "/os-server-groups/{id}",
            get(group_show).delete(group_delete),
        )
        .route("/os-hypervisors/detail", get(hypervisors))
}

fn bad(message: impl Into<String>) -> ApiError {
    err(StatusCode::BAD_REQUEST, message)
}

fn parse<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| bad(format!("Invalid request body: {e}")))
}

#[derive(Deserialize)]
struct CreateRequest {
    server: CreateServer,
    #[serde(rename = "OS-SCH-HNT:scheduler_hints", default)]
    hints: Option<Hints>,
}

#[derive(Deserialize)]
struct CreateServer {
    name: String,
    #[serde(rename = "flavorRef")]
    flavor_ref: String,
    #[serde(rename = "imageRef", default)]
    image_ref: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    #[serde(default)]
    networks: Option<Value>,
    #[serde(default)]
    block_device_mapping_v2: Option<Vec<Value>>,
    #[serde(default)]
    user_data: Option<String>,
}

#[derive(Deserialize)]
struct Hints {
    group: Option<String>,
}

fn check_name(name: &str, what: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() {
        return Err(bad(format!(
            "Invalid input: {what} name must not be empty."
        )));
    }
    if name.chars().count() > NAME_MAX {
        return Err(bad(format!(
            "Invalid input: {what} name is longer than {NAME_MAX} characters."
        )));
    }
    Ok(())
}

async fn create(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = authenticate(&cloud, &headers)?;
    let req: CreateRequest = parse(&body)?;
    type Snapshots = ((u64, String), Option<(u64, String)>);
    let (body, (snapshot, net_snapshot)) = (|| -> Result<(Value, Snapshots), ApiError> {
        let s = req.server;
        check_name(&s.name, "server")?;
        for (k, v) in &s.metadata {
            if k.is_empty() || k.chars().count() > 255 || v.chars().count() > 255 {
                return Err(bad(
                    "Invalid metadata: keys must be 1-255 characters and values at most 255.",
                ));
            }
        }
        let user_data = s
            .user_data
            .as_deref()
            .map(crate::server_actions::user_data)
            .transpose()?;
        // Which networks (any the project may use) or ports the server plugs into.
        let who = crate::network::Who::of(&token);
        let wanted = cloud
            .network
            .wanted(&who, s.networks.as_ref())
            .map_err(bad)?;
        let image_ref = s.image_ref.clone().unwrap_or_default();
        if image_ref.is_empty()
            && s.block_device_mapping_v2
                .as_ref()
                .is_none_or(|b| b.is_empty())
        {
            return Err(bad(
                "Invalid input: imageRef is required when not booting from a volume.",
            ));
        }
        // An image id (or, leniently, a name) that Glance knows.
        let image_id = if image_ref.is_empty() {
            String::new()
        } else {
            cloud
                .images
                .iter()
                .find(|i| i.id == image_ref || i.name == image_ref)
                .map(|i| i.id.clone())
                .ok_or_else(|| bad(format!("Can not find requested image {image_ref}.")))?
        };
        let flavor = cloud
            .compute
            .flavors
            .iter()
            .find(|f| f.id == s.flavor_ref || f.name == s.flavor_ref)
            .cloned()
            .ok_or_else(|| bad(format!("Flavor {} could not be found.", s.flavor_ref)))?;
        let servers = &cloud.compute.servers;
        let behaviour = cloud.behaviour();
        // Placement reads and claims under one lock, so concurrent creates never overfill a host.
        let mut state = servers.lock()?;
        let usage = servers.usage_in(&state);
        let group_id = req.hints.and_then(|h| h.group);
        let member_hosts: Vec<String>;
        let constraint = match &group_id {
            Some(gid) => {
                let group = state
                    .groups
                    .get(gid)
                    .filter(|g| g.project_id == token.project_id)
                    .ok_or_else(|| bad(format!("Invalid server group {gid}.")))?;
                member_hosts = group
                    .members
                    .iter()
                    .filter_map(|m| state.servers.get(m).and_then(|s| s.host.clone()))
                    .collect();
                Some(GroupConstraint {
                    policy: group.policy,
                    member_hosts: &member_hosts,
                })
            }
            None => None,
        };
        let quota = cloud.quotas.get(&token.project_id);
        let (instances, cores, ram, _) = usage_of(&state, &token.project_id);
        for (name, limit, used, wanted) in [
            ("instances", quota.instances, instances, 1),
            ("cores", quota.cores, cores, flavor.vcpus as u64),
            ("ram", quota.ram_mib, ram, flavor.ram_mib),
        ] {
            if !crate::quotas::fits(limit, used, wanted) {
                return Err(err(
                    StatusCode::FORBIDDEN,
                    format!("Quota exceeded for {name}: Requested {wanted}, but already used {used} of {limit} {name}"),
                ));
            }
        }
        if let Some(gid) = &group_id {
            let members = state.groups.get(gid).map_or(0, |g| g.members.len() as u64);
            if !crate::quotas::fits(quota.server_group_members, members, 1) {
                return Err(err(
                    StatusCode::FORBIDDEN,
                    "Quota exceeded, too many servers in group",
                ));
            }
        }
        let host = place(
            &usage,
            flavor.vcpus as u64,
            flavor.ram_mib,
            constraint.as_ref(),
        );
        let now = OffsetDateTime::now_utc();
        let id = uuid::Uuid::new_v4().to_string();
        // A placed server gets its ports (and fixed addresses) now; one in ERROR none.
        let (address, net_snapshot) = match &host {
            Some(_) => {
                let (addr, snap) = cloud
                    .network
                    .plug(&who, &id, &wanted)
                    .map_err(|e| err(e.status, e.message))?;
                (addr.map(|a| a.to_string()).unwrap_or_default(), Some(snap))
            }
            None => (String::new(), None),
        };
        let server = Server {
            id,
            name: s.name,
            project_id: token.project_id.clone(),
            user_id: token.user_id.clone(),
            fault: host.is_none().then(|| NO_VALID_HOST.to_string()),
            host,
            flavor,
            image_id,
            metadata: s.metadata,
            group: group_id.clone(),
            created: now,
            active_at: now + behaviour.server_build(),
            fails_at: behaviour.server_failure().map(|d| now + d),
            address,
            ported: true,
            user_data,
            stopped: false,
            rebuilt: false,
        };
        if let Some(gid) = &group_id {
            if let Some(g) = state.groups.get_mut(gid) {
                g.members.push(server.id.clone());
            }
        }
        let body = json!({"server": {
            "OS-DCF:diskConfig": "MANUAL",
            "adminPass": crate::new_id(),
            "id": server.id,
            "links": links(&cloud, "servers", &server.id),
            "security_groups": [{"name": "default"}],
        }});
        state.servers.insert(server.id.clone(), server);
        let snapshot = state.changed();
        Ok((body, (snapshot, net_snapshot)))
    })()?;
    save(&cloud, snapshot).await;
    if let Some(snap) = net_snapshot {
        crate::network::save(&cloud, snap).await;
    }
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

pub(crate) fn server_json(cloud: &Cloud, s: &Server) -> Value {
    server_body(cloud, s, OffsetDateTime::now_utc())
}

pub(crate) fn visible<'a>(
    state: &'a State_,
    token: &Token,
    id: &str,
) -> Result<&'a Server, ApiError> {
    state
        .servers
        .get(id)
        .filter(|s| s.project_id == token.project_id)
        .ok_or_else(|| {
            err(
                StatusCode::NOT_FOUND,
                format!("Instance {id} could not be found."),
            )
        })
}

fn server_body(cloud: &Cloud, s: &Server, now: OffsetDateTime) -> Value {
    let status = s.status(now);
    let fault = s
        .fault
        .as_deref()
        .or_else(|| (status == "ERROR").then_some(INJECTED_FAULT))
        .map(|m| json!({"code": 500, "created": format_time(s.created), "message": m}));
    let mut body = json!({
        "accessIPv4": "",
        "accessIPv6": "",
        "addresses": addresses(cloud, s),
        "created": format_time(s.created),
        "description": null,
        "locked": false,
        "locked_reason": null,
        "flavor": {
            "disk": s.flavor.disk_gib,
            "ephemeral": 0,
            "extra_specs": {},
            "original_name": s.flavor.name,
            "ram": s.flavor.ram_mib,
            "swap": 0,
            "vcpus": s.flavor.vcpus,
        },
        "hostId": s.host.as_ref().map(|h| format!("{:x}", fxhash(&format!("{}{}", s.project_id, h)))).unwrap_or_default(),
        "OS-EXT-SRV-ATTR:host": s.host,
        "OS-EXT-SRV-ATTR:hypervisor_hostname": s.host,
        "id": s.id,
        "image": if s.image_id.is_empty() { json!("") } else { json!({"id": s.image_id, "links": links(cloud, "images", &s.image_id), "properties": {}}) },
        "key_name": null,
        "links": links(cloud, "servers", &s.id),
        "metadata": s.metadata,
        "name": s.name,
        "config_drive": "",
        "OS-DCF:diskConfig": "MANUAL",
        "OS-EXT-AZ:availability_zone": "nova",
        "OS-EXT-SRV-ATTR:hostname": s.name,
        "OS-EXT-STS:power_state": match status { "ACTIVE" => 1, "SHUTOFF" => 4, _ => 0 },
        "OS-EXT-STS:task_state": match status { "BUILD" => json!("spawning"), "REBUILD" => json!("rebuild_spawning"), _ => Value::Null },
        "OS-EXT-STS:vm_state": match status { "ACTIVE" => "active", "ERROR" => "error", "SHUTOFF" => "stopped", _ => "building" },
        "os-extended-volumes:volumes_attached": cloud
            .volumes
            .attached_to(&s.id)
            .iter()
            .map(|(id, _)| json!({"id": id, "delete_on_termination": false}))
            .collect::<Vec<_>>(),
        "OS-SRV-USG:launched_at": if status == "ACTIVE" { json!(format_time(s.active_at)) } else { Value::Null },
        "OS-SRV-USG:terminated_at": null,
        "pinned_availability_zone": null,
        "progress": if status == "ACTIVE" { 100 } else { 0 },
        "scheduler_hints": match &s.group { Some(g) => json!({"group": g}), None => json!({}) },
        "security_groups": [{"name": "default"}],
        "server_groups": s.group.iter().collect::<Vec<_>>(),
        "status": status,
        "tags": [],
        "tenant_id": s.project_id,
        "trusted_image_certificates": null,
        "updated": format_time(if status == "ACTIVE" { s.active_at } else { s.created }),
        "user_id": s.user_id,
    });
    if let (Some(f), Some(obj)) = (fault, body.as_object_mut()) {
        obj.insert("fault".into(), f);
    }
    body
}

/// A server's addresses from its ports, by network name.
fn addresses(cloud: &Cloud, s: &Server) -> Value {
    cloud.network.addresses(&s.id).unwrap_or_else(|| json!({}))
}

/// A stable 64-bit hash (FNV-1a) for `hostId`, which Nova derives from project and host.
fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

#[derive(Deserialize, Default)]
struct ListQuery {
    name: Option<String>,
    status: Option<String>,
    limit: Option<usize>,
    marker: Option<String>,
}

/// The caller's servers matching the filters (`name` is a substring here; Nova takes a
/// regular expression), oldest first, one page of them, and whether more follow.
fn filtered(
    state: &State_,
    token: &Token,
    q: &ListQuery,
    now: OffsetDateTime,
) -> Result<(Vec<Server>, bool), ApiError> {
    let mut all: Vec<&Server> = state
        .servers
        .values()
        .filter(|s| s.project_id == token.project_id)
        .filter(|s| q.name.as_ref().is_none_or(|n| s.name.contains(n.as_str())))
        .filter(|s| {
            q.status
                .as_ref()
                .is_none_or(|st| st.eq_ignore_ascii_case(s.status(now)))
        })
        .collect();
    all.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
    let start = match &q.marker {
        Some(m) => all
            .iter()
            .position(|s| &s.id == m)
            .map(|i| i + 1)
            .ok_or_else(|| bad(format!("marker [{m}] not found")))?,
        None => 0,
    };
    let rest = &all[start..];
    let limit = q.limit.unwrap_or(1000).max(1);
    Ok((
        rest.iter().take(limit).map(|s| (*s).clone()).collect(),
        rest.len() > limit,
    ))
}

fn next_link(cloud: &Cloud, page: &[Server], more: bool, limit: Option<usize>) -> Option<Value> {
    let last = page.last().filter(|_| more)?;
    Some(json!([{
        "href": format!("{}/compute/v2.1/servers?limit={}&marker={}", cloud.base_url, limit.unwrap_or(1000), last.id),
        "rel": "next",
    }]))
}

fn page_body(items: Vec<Value>, next: Option<Value>) -> Value {
    let mut body = json!({ "servers": items });
    if let (Some(next), Some(obj)) = (next, body.as_object_mut()) {
        obj.insert("servers_links".into(), next);
    }
    body
}

async fn list(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    page(&cloud, &headers, q, false)
}

async fn list_detail(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    page(&cloud, &headers, q, true)
}

/// One page of the caller's servers, short (id, links, name) or in detail.
fn page(
    cloud: &Cloud,
    headers: &HeaderMap,
    q: Result<Query<ListQuery>, QueryRejection>,
    detail: bool,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate(cloud, headers)?;
    let Query(q) = q.map_err(|e| bad(format!("Invalid query: {e}")))?;
    let now = OffsetDateTime::now_utc();
    let (servers, more) = filtered(&*cloud.compute.servers.lock()?, &token, &q, now)?;
    let items: Vec<Value> = servers
        .iter()
        .map(|s| {
            if detail {
                server_body(cloud, s, now)
            } else {
                json!({"id": s.id, "links": links(cloud, "servers", &s.id), "name": s.name})
            }
        })
        .collect();
    Ok(Json(page_body(
        items,
        next_link(cloud, &servers, more, q.limit),
    )))
}

async fn show(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate(&cloud, &headers)?;
    let state = cloud.compute.servers.lock()?;
    let server = visible(&state, &token, &id)?;
    Ok(Json(
        json!({"server": server_body(&cloud, server, OffsetDateTime::now_utc())}),
    ))
}

async fn delete(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let token = authenticate(&cloud, &headers)?;
    let snapshot = {
        let mut state = cloud.compute.servers.lock()?;
        visible(&state, &token, &id)?;
        state.servers.remove(&id);
        for g in state.groups.values_mut() {
            g.members.retain(|m| *m != id);
        }
        state.changed()
    };
    save(&cloud, snapshot).await;
    // Nova's own ports go with the server; ports the user handed in are unbound.
    if let Some(snapshot) = cloud.network.unplug(&id) {
        crate::network::save(&cloud, snapshot).await;
    }
    // As in Nova, a deleted server's volumes are detached (and stay).
    if let Some(snapshot) = cloud.volumes.detach_all(&id) {
        crate::volumes::save(&cloud, snapshot).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct AttachRequest {
    #[serde(rename = "volumeAttachment")]
    attachment: AttachBody,
}

#[derive(Deserialize)]
struct AttachBody {
    #[serde(rename = "volumeId")]
    volume_id: String,
    device: Option<String>,
}

fn attachment_body(server_id: &str, volume_id: &str, device: &str) -> Value {
    json!({
        "delete_on_termination": false,
        "device": device,
        "id": volume_id,
        "serverId": server_id,
        "tag": null,
        "volumeId": volume_id,
    })
}

async fn attach(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate(&cloud, &headers)?;
    let req: AttachRequest = parse(&body)?;
    let status = {
        let state = cloud.compute.servers.lock()?;
        visible(&state, &token, &id)?.status(OffsetDateTime::now_utc())
    };
    if status != "ACTIVE" {
        return Err(err(
            StatusCode::CONFLICT,
            format!("Cannot 'attach_volume' instance {id} while it is in status {status}."),
        ));
    }
    let taken = cloud.volumes.attached_to(&id).len();
    let device = req
        .attachment
        .device
        .unwrap_or_else(|| format!("/dev/vd{}", (b'b' + taken.min(24) as u8) as char));
    let snapshot =
        cloud
            .volumes
            .attach(&token.project_id, &req.attachment.volume_id, &id, &device)?;
    crate::volumes::save(&cloud, snapshot).await;
    Ok(Json(
        json!({"volumeAttachment": attachment_body(&id, &req.attachment.volume_id, &device)}),
    ))
}

async fn attachment_list(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate(&cloud, &headers)?;
    visible(&*cloud.compute.servers.lock()?, &token, &id)?;
    let items: Vec<Value> = cloud
        .volumes
        .attached_to(&id)
        .iter()
        .map(|(volume, device)| attachment_body(&id, volume, device))
        .collect();
    Ok(Json(json!({"volumeAttachments": items})))
}

async fn detach(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path((id, volume_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let token = authenticate(&cloud, &headers)?;
    visible(&*cloud.compute.servers.lock()?, &token, &id)?;
    let snapshot = cloud.volumes.detach(&volume_id, &id)?;
    crate::volumes::save(&cloud, snapshot).await;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize)]
struct GroupRequest {
    server_group: GroupCreate,
}

#[derive(Deserialize)]
struct GroupCreate {
    name: String,
    policy: String,
    #[serde(default)]
    rules: Option<Value>,
}

fn group_body(g: &ServerGroup) -> Value {
    json!({
        "id": g.id,
        "name": g.name,
        "policy": g.policy.as_str(),
        "rules": {},
        "members": g.members,
        "project_id": g.project_id,
        "user_id": g.user_id,
    })
}

async fn group_create(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate(&cloud, &headers)?;
    let req: GroupRequest = parse(&body)?;
    check_name(&req.server_group.name, "server group")?;
    let policy = Policy::parse(&req.server_group.policy).ok_or_else(|| {
        bad("Invalid input: policy must be one of affinity, anti-affinity, soft-affinity, soft-anti-affinity.")
    })?;
    if req
        .server_group
        .rules
        .as_ref()
        .is_some_and(|r| r.as_object().is_some_and(|o| !o.is_empty()))
    {
        return Err(bad("Invalid input: rules are not supported by this cloud."));
    }
    let group = ServerGroup {
        id: uuid::Uuid::new_v4().to_string(),
        name: req.server_group.name,
        policy,
        project_id: token.project_id.clone(),
        user_id: token.user_id.clone(),
        members: Vec::new(),
    };
    let body = json!({"server_group": group_body(&group)});
    let limit = cloud.quotas.get(&token.project_id).server_groups;
    let snapshot = {
        let mut state = cloud.compute.servers.lock()?;
        let (_, _, _, groups) = usage_of(&state, &token.project_id);
        if !crate::quotas::fits(limit, groups, 1) {
            return Err(err(
                StatusCode::FORBIDDEN,
                "Quota exceeded, too many server groups.",
            ));
        }
        state.groups.insert(group.id.clone(), group);
        state.changed()
    };
    save(&cloud, snapshot).await;
    Ok(Json(body))
}

async fn group_list(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate(&cloud, &headers)?;
    let state = cloud.compute.servers.lock()?;
    let groups: Vec<Value> = state
        .groups
        .values()
        .filter(|g| g.project_id == token.project_id)
        .map(group_body)
        .collect();
    Ok(Json(json!({"server_groups": groups})))
}

fn visible_group<'a>(
    state: &'a State_,
    token: &Token,
    id: &str,
) -> Result<&'a ServerGroup, ApiError> {
    state
        .groups
        .get(id)
        .filter(|g| g.project_id == token.project_id)
        .ok_or_else(|| {
            err(
                StatusCode::NOT_FOUND,
                format!("Server group {id} could not be found."),
            )
        })
}

async fn group_show(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate(&cloud, &headers)?;
    let state = cloud.compute.servers.lock()?;
    Ok(Json(
        json!({"server_group": group_body(visible_group(&state, &token, &id)?)}),
    ))
}

async fn group_delete(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let token = authenticate(&cloud, &headers)?;
    let snapshot = {
        let mut state = cloud.compute.servers.lock()?;
        visible_group(&state, &token, &id)?;
        state.groups.remove(&id);
        state.changed()
    };
    save(&cloud, snapshot).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Host usage in the shape of Nova's hypervisors API (for the admin dashboard).
async fn hypervisors(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    if !authenticate(&cloud, &headers)?.admin {
        return Err(err(
            StatusCode::FORBIDDEN,
            "Policy doesn't allow os_compute_api:os-hypervisors:list-detail to be performed.",
        ));
    }
    let servers = &cloud.compute.servers;
    let state = servers.lock()?;
    let items: Vec<Value> = servers
        .usage_in(&state)
        .iter()
        .enumerate()
        .map(|(i, h)| {
            json!({
                "id": i + 1,
                "hypervisor_hostname": h.name,
                "hypervisor_type": "localcloud",
                "state": "up",
                "status": "enabled",
                "vcpus": h.vcpus,
                "vcpus_used": h.vcpus_used,
                "memory_mb": h.ram_mib,
                "memory_mb_used": h.ram_used_mib,
                "running_vms": state.servers.values().filter(|s| s.host.as_deref() == Some(h.name.as_str())).count(),
            })
        })
        .collect();
    Ok(Json(json!({"hypervisors": items})))
}
