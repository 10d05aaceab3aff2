//! Nova's server endpoints: create (quota, placement, ports, boot), list with paging,
//! show and delete.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::common::auth::authenticate;
use crate::common::errors::{ApiError, NOVA};
use crate::common::paging::start_after;
use crate::identity::state::Token;
use crate::Cloud;

use super::actions::*;
use super::handling::*;
use super::placement::*;
use super::state::*;
use super::views::*;

#[derive(Deserialize)]
pub(crate) struct CreateRequest {
    server: CreateServer,
    #[serde(rename = "OS-SCH-HNT:scheduler_hints", default)]
    hints: Option<Hints>,
}

#[derive(Deserialize)]
pub(crate) struct CreateServer {
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
pub(crate) struct Hints {
    group: Option<String>,
}

pub(crate) async fn create(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = authenticate(&cloud, &headers, NOVA)?;
    let req: CreateRequest = parse(&body)?;
    type Snapshots = ((u64, String), Option<(u64, String)>);
    let (body, (snapshot, net_snapshot)) = (|| -> Result<(Value, Snapshots), ApiError> {
        let s = req.server;
        check_name(&s.name, "server")?;
        for (k, v) in &s.metadata {
            if k.is_empty() || k.chars().count() > 255 || v.chars().count() > 255 {
                return Err(NOVA.bad(
                    "Invalid metadata: keys must be 1-255 characters and values at most 255.",
                ));
            }
        }
        let user_data = s.user_data.as_deref().map(user_data).transpose()?;
        // Which networks (any the project may use) or ports the server plugs into.
        let who = crate::network::Who::of(&token);
        let wanted = cloud
            .network
            .wanted(&who, s.networks.as_ref())
            .map_err(|m| NOVA.bad(m))?;
        let image_ref = s.image_ref.clone().unwrap_or_default();
        if image_ref.is_empty()
            && s.block_device_mapping_v2
                .as_ref()
                .is_none_or(|b| b.is_empty())
        {
            return Err(
                NOVA.bad("Invalid input: imageRef is required when not booting from a volume.")
            );
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
                .ok_or_else(|| NOVA.bad(format!("Can not find requested image {image_ref}.")))?
        };
        let flavor = cloud
            .compute
            .flavors
            .iter()
            .find(|f| f.id == s.flavor_ref || f.name == s.flavor_ref)
            .cloned()
            .ok_or_else(|| NOVA.bad(format!("Flavor {} could not be found.", s.flavor_ref)))?;
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
                    .ok_or_else(|| NOVA.bad(format!("Invalid server group {gid}.")))?;
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
                return Err(NOVA.err(
                    StatusCode::FORBIDDEN,
                    format!("Quota exceeded for {name}: Requested {wanted}, but already used {used} of {limit} {name}"),
                ));
            }
        }
        if let Some(gid) = &group_id {
            let members = state.groups.get(gid).map_or(0, |g| g.members.len() as u64);
            if !crate::quotas::fits(quota.server_group_members, members, 1) {
                return Err(NOVA.err(
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
                    .map_err(|e| NOVA.err(e.status, e.message))?;
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

#[derive(Deserialize, Default)]
pub(crate) struct ListQuery {
    name: Option<String>,
    status: Option<String>,
    limit: Option<usize>,
    marker: Option<String>,
}

/// The caller's servers matching the filters (`name` is a substring here; Nova takes a
/// regular expression), oldest first, one page of them, and whether more follow.
pub(crate) fn filtered(
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
    let start = start_after(all.iter().map(|s| s.id.as_str()), q.marker.as_deref())
        .map_err(|m| NOVA.bad(format!("marker [{m}] not found")))?;
    let rest = &all[start..];
    let limit = q.limit.unwrap_or(1000).max(1);
    Ok((
        rest.iter().take(limit).map(|s| (*s).clone()).collect(),
        rest.len() > limit,
    ))
}

pub(crate) fn next_link(
    cloud: &Cloud,
    page: &[Server],
    more: bool,
    limit: Option<usize>,
) -> Option<Value> {
    let last = page.last().filter(|_| more)?;
    Some(json!([{
        "href": format!("{}/compute/v2.1/servers?limit={}&marker={}", cloud.base_url, limit.unwrap_or(1000), last.id),
        "rel": "next",
    }]))
}

pub(crate) fn page_body(items: Vec<Value>, next: Option<Value>) -> Value {
    let mut body = json!({ "servers": items });
    if let (Some(next), Some(obj)) = (next, body.as_object_mut()) {
        obj.insert("servers_links".into(), next);
    }
    body
}

pub(crate) async fn list(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    page(&cloud, &headers, q, false)
}

pub(crate) async fn list_detail(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    page(&cloud, &headers, q, true)
}

/// One page of the caller's servers, short (id, links, name) or in detail.
pub(crate) fn page(
    cloud: &Cloud,
    headers: &HeaderMap,
    q: Result<Query<ListQuery>, QueryRejection>,
    detail: bool,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate(cloud, headers, NOVA)?;
    let Query(q) = q.map_err(|e| NOVA.bad(format!("Invalid query: {e}")))?;
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

pub(crate) async fn show(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate(&cloud, &headers, NOVA)?;
    let state = cloud.compute.servers.lock()?;
    let server = visible(&state, &token, &id)?;
    Ok(Json(
        json!({"server": server_body(&cloud, server, OffsetDateTime::now_utc())}),
    ))
}

pub(crate) async fn delete(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let token = authenticate(&cloud, &headers, NOVA)?;
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
