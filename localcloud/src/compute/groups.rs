//! Nova's server group endpoints, and the admin's hypervisor usage.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::common::auth::authenticate;
use crate::common::errors::{ApiError, NOVA};
use crate::identity::state::Token;
use crate::Cloud;

use super::handling::*;
use super::placement::*;
use super::state::*;
use super::views::*;

#[derive(Deserialize)]
pub(crate) struct GroupRequest {
    server_group: GroupCreate,
}

#[derive(Deserialize)]
pub(crate) struct GroupCreate {
    name: String,
    policy: String,
    #[serde(default)]
    rules: Option<Value>,
}

pub(crate) async fn group_create(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate(&cloud, &headers, NOVA)?;
    let req: GroupRequest = parse(&body)?;
    check_name(&req.server_group.name, "server group")?;
    let policy = Policy::parse(&req.server_group.policy).ok_or_else(|| {
        NOVA.bad("Invalid input: policy must be one of affinity, anti-affinity, soft-affinity, soft-anti-affinity.")
    })?;
    if req
        .server_group
        .rules
        .as_ref()
        .is_some_and(|r| r.as_object().is_some_and(|o| !o.is_empty()))
    {
        return Err(NOVA.bad("Invalid input: rules are not supported by this cloud."));
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
            return Err(NOVA.err(
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

pub(crate) async fn group_list(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate(&cloud, &headers, NOVA)?;
    let state = cloud.compute.servers.lock()?;
    let groups: Vec<Value> = state
        .groups
        .values()
        .filter(|g| g.project_id == token.project_id)
        .map(group_body)
        .collect();
    Ok(Json(json!({"server_groups": groups})))
}

pub(crate) fn visible_group<'a>(
    state: &'a State_,
    token: &Token,
    id: &str,
) -> Result<&'a ServerGroup, ApiError> {
    state
        .groups
        .get(id)
        .filter(|g| g.project_id == token.project_id)
        .ok_or_else(|| {
            NOVA.err(
                StatusCode::NOT_FOUND,
                format!("Server group {id} could not be found."),
            )
        })
}

pub(crate) async fn group_show(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate(&cloud, &headers, NOVA)?;
    let state = cloud.compute.servers.lock()?;
    Ok(Json(
        json!({"server_group": group_body(visible_group(&state, &token, &id)?)}),
    ))
}

pub(crate) async fn group_delete(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let token = authenticate(&cloud, &headers, NOVA)?;
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
pub(crate) async fn hypervisors(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    if !authenticate(&cloud, &headers, NOVA)?.admin {
        return Err(NOVA.err(
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
