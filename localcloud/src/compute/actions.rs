//! Nova's server actions that localcloud takes (`POST /servers/{id}/action`):
//! `os-stop` (SHUTOFF), `os-start`, `rebuild` (the same server, booted again from an
//! image with new `user_data`, as Nova's microversion 2.57 allows; attached volumes
//! stay), the admin action `os-resetState` (ERROR or ACTIVE by decree: a test's way to
//! break a server, whose guest stops while it is ERROR), and the checks on a server's
//! `user_data`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::Value;

use crate::common::auth::authenticate;
use crate::common::errors::ApiError;
use crate::common::errors::NOVA;
use crate::Cloud;

use super::state::*;
use super::views::*;

/// Nova's limit on `user_data`, base64-encoded.
pub const USER_DATA_MAX: usize = 65_535;

/// Decodes a create request's `user_data` (base64, at most [`USER_DATA_MAX`] bytes, as
/// Nova checks it) into the text the server reads at boot.
pub fn user_data(encoded: &str) -> Result<String, ApiError> {
    if encoded.len() > USER_DATA_MAX {
        return Err(NOVA.err(
            StatusCode::BAD_REQUEST,
            format!("Invalid input for field/attribute user_data. Value is longer than {USER_DATA_MAX} characters."),
        ));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| {
            NOVA.err(
                StatusCode::BAD_REQUEST,
                "Invalid input for field/attribute user_data. Value is not base64 encoded.",
            )
        })?;
    String::from_utf8(bytes).map_err(|_| {
        NOVA.err(
            StatusCode::BAD_REQUEST,
            "Invalid input for field/attribute user_data: localcloud keeps text only.",
        )
    })
}

/// `POST /servers/{id}/action` with `{"os-stop": null}`, `{"os-start": null}`,
/// `{"rebuild": {"imageRef": ..., "user_data": ...}}` or
/// `{"os-resetState": {"state": "error" | "active"}}`.
pub async fn action(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = authenticate(&cloud, &headers, NOVA)?;
    let body: Value = serde_json::from_slice(&body).map_err(|e| {
        NOVA.err(
            StatusCode::BAD_REQUEST,
            format!("Invalid request body: {e}"),
        )
    })?;
    let action = body
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.keys().next().cloned())
        .ok_or_else(|| {
            NOVA.err(
                StatusCode::BAD_REQUEST,
                "Malformed request body: one action expected.",
            )
        })?;
    let stop = match action.as_str() {
        "os-stop" => true,
        "os-start" => false,
        "rebuild" => return rebuild(&cloud, &token, &id, &body["rebuild"]).await,
        "os-resetState" => return reset_state(&cloud, &token, &id, &body["os-resetState"]).await,
        other => {
            return Err(NOVA.err(
                StatusCode::BAD_REQUEST,
                format!("There is no such action: {other}"),
            ))
        }
    };
    let servers = &cloud.compute.servers;
    let snapshot = {
        let mut state = servers.lock()?;
        let status = visible(&state, &token, &id)?.status(time::OffsetDateTime::now_utc());
        let (from, vm_state) = if stop {
            ("ACTIVE", "active")
        } else {
            ("SHUTOFF", "stopped")
        };
        if status != from {
            let verb = if stop { "stop" } else { "start" };
            return Err(NOVA.err(
                StatusCode::CONFLICT,
                format!("Cannot '{verb}' instance {id} while it is in vm_state {}; it must be {vm_state}.", status.to_lowercase()),
            ));
        }
        if let Some(s) = state.servers.get_mut(&id) {
            s.stopped = stop;
        }
        state.changed()
    };
    save(&cloud, snapshot).await;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// What an ERROR set by `os-resetState` shows as the server's fault.
pub(crate) const RESET_FAULT: &str = "The server's state was reset to ERROR by an administrator.";

/// Nova's `os-resetState` (admin only): `error` puts the server in ERROR (its guest
/// stops, as a failed hypervisor's would), `active` brings it back ACTIVE.
pub(crate) async fn reset_state(
    cloud: &Arc<Cloud>,
    token: &crate::identity::Token,
    id: &str,
    req: &Value,
) -> Result<Response, ApiError> {
    if !token.admin {
        return Err(NOVA.err(
            StatusCode::FORBIDDEN,
            "Policy doesn't allow os_compute_api:os-admin-actions:reset_state to be performed.",
        ));
    }
    let error =
        match req["state"].as_str() {
            Some("error") => true,
            Some("active") => false,
            _ => return Err(NOVA.bad(
                "Invalid input for field/attribute state. Value: must be one of 'active', 'error'.",
            )),
        };
    let now = time::OffsetDateTime::now_utc();
    let snapshot = {
        let mut state = cloud.compute.servers.lock()?;
        visible(&state, token, id)?;
        if let Some(s) = state.servers.get_mut(id) {
            if error {
                s.fault = Some(RESET_FAULT.into());
            } else {
                s.fault = None;
                s.fails_at = None;
                s.stopped = false;
                s.active_at = s.active_at.min(now);
            }
        }
        state.changed()
    };
    save(cloud, snapshot).await;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// Boots the server again from `imageRef` with new `user_data` (kept as it was when
/// absent): REBUILD for the build time, then ACTIVE, its guest started afresh.
pub(crate) async fn rebuild(
    cloud: &Arc<Cloud>,
    token: &crate::identity::Token,
    id: &str,
    req: &Value,
) -> Result<Response, ApiError> {
    let image_ref = req["imageRef"]
        .as_str()
        .ok_or_else(|| NOVA.bad("Invalid input for field/attribute imageRef: required."))?;
    let image_id = cloud
        .images
        .iter()
        .find(|i| i.id == image_ref || i.name == image_ref)
        .map(|i| i.id.clone())
        .ok_or_else(|| NOVA.bad(format!("Can not find requested image {image_ref}.")))?;
    let user_data = match &req["user_data"] {
        Value::Null => None,
        Value::String(s) => Some(user_data(s)?),
        _ => return Err(NOVA.bad("Invalid input for field/attribute user_data.")),
    };
    let now = time::OffsetDateTime::now_utc();
    let build = cloud.behaviour().server_build();
    let (body, snapshot) = {
        let mut state = cloud.compute.servers.lock()?;
        let status = visible(&state, token, id)?.status(now);
        if !matches!(status, "ACTIVE" | "SHUTOFF" | "ERROR") {
            return Err(NOVA.err(
                StatusCode::CONFLICT,
                format!(
                    "Cannot 'rebuild' instance {id} while it is in vm_state {}",
                    status.to_lowercase()
                ),
            ));
        }
        let Some(s) = state.servers.get_mut(id) else {
            return Err(NOVA.err(
                StatusCode::NOT_FOUND,
                format!("Instance {id} could not be found."),
            ));
        };
        s.image_id = image_id;
        if user_data.is_some() {
            s.user_data = user_data;
        }
        s.stopped = false;
        s.fault = None;
        s.fails_at = None;
        s.rebuilt = true;
        s.active_at = now + build;
        let body = server_json(cloud, s);
        (body, state.changed())
    };
    // The guest reads its bootstrap again when it boots.
    cloud.guests.forget(id);
    save(cloud, snapshot).await;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({ "server": body })),
    )
        .into_response())
}
