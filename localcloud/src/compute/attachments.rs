//! Nova's volume attachment endpoints (`os-volume_attachments`), backed by Cinder's
//! state.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::common::auth::authenticate;
use crate::common::errors::{ApiError, NOVA};
use crate::Cloud;

use super::handling::*;
use super::state::*;
use super::views::*;

#[derive(Deserialize)]
pub(crate) struct AttachRequest {
    #[serde(rename = "volumeAttachment")]
    attachment: AttachBody,
}

#[derive(Deserialize)]
pub(crate) struct AttachBody {
    #[serde(rename = "volumeId")]
    volume_id: String,
    device: Option<String>,
}

pub(crate) async fn attach(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate(&cloud, &headers, NOVA)?;
    let req: AttachRequest = parse(&body)?;
    let status = {
        let state = cloud.compute.servers.lock()?;
        visible(&state, &token, &id)?.status(OffsetDateTime::now_utc())
    };
    if status != "ACTIVE" {
        return Err(NOVA.err(
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

pub(crate) async fn attachment_list(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate(&cloud, &headers, NOVA)?;
    visible(&*cloud.compute.servers.lock()?, &token, &id)?;
    let items: Vec<Value> = cloud
        .volumes
        .attached_to(&id)
        .iter()
        .map(|(volume, device)| attachment_body(&id, volume, device))
        .collect();
    Ok(Json(json!({"volumeAttachments": items})))
}

pub(crate) async fn detach(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path((id, volume_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let token = authenticate(&cloud, &headers, NOVA)?;
    visible(&*cloud.compute.servers.lock()?, &token, &id)?;
    let snapshot = cloud.volumes.detach(&volume_id, &id)?;
    crate::volumes::save(&cloud, snapshot).await;
    Ok(StatusCode::ACCEPTED)
}
