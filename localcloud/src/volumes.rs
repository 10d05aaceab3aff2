//! Block storage (Cinder v3): volumes backed by real sparse files in the data
//! directory, created → available after a delay, attach/detach (in-use volumes cannot
//! be deleted), extend (the file grows).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::common::auth::authenticate_in;
use crate::common::errors::{ApiError, CINDER, NOVA};
use crate::identity::Token;
use crate::{format_time, Cloud};

/// The volume types on offer.
pub const VOLUME_TYPES: [&str; 3] = ["__DEFAULT__", "standard", "ssd"];

/// Largest volume accepted, in GiB.
pub const SIZE_MAX_GIB: u64 = 16 * 1024;
const GIB: u64 = 1024 * 1024 * 1024;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Attachment {
    pub id: String,
    pub server_id: String,
    pub device: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Volume {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub size_gib: u64,
    pub volume_type: String,
    pub metadata: BTreeMap<String, String>,
    pub project_id: String,
    pub user_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub available_at: OffsetDateTime,
    pub attachment: Option<Attachment>,
}

impl Volume {
    pub fn status(&self, now: OffsetDateTime) -> &'static str {
        if self.attachment.is_some() {
            "in-use"
        } else if now >= self.available_at {
            "available"
        } else {
            "creating"
        }
    }
}

pub struct Volumes {
    dir: PathBuf,
    state: Mutex<VolumeState>,
}

/// The saved form of volume state (see [`crate::common::persist`]).
#[derive(Default, Serialize, Deserialize)]
pub struct VolumeState {
    volumes: BTreeMap<String, Volume>,
    version: u64,
}

impl VolumeState {
    fn changed(&mut self) -> (u64, String) {
        self.version += 1;
        crate::common::persist::snapshot(self, self.version)
    }
}

impl std::ops::Deref for VolumeState {
    type Target = BTreeMap<String, Volume>;
    fn deref(&self) -> &Self::Target {
        &self.volumes
    }
}

impl std::ops::DerefMut for VolumeState {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.volumes
    }
}

pub(crate) async fn save(cloud: &Cloud, (version, body): (u64, String)) {
    cloud.persist.save("volumes", version, &body).await;
}

impl Volumes {
    pub fn new(dir: PathBuf) -> Volumes {
        Volumes {
            dir,
            state: Mutex::new(VolumeState::default()),
        }
    }

    /// The file behind a volume.
    pub fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.img"))
    }

    /// Nova's attach: the project's available volume becomes in-use on `server_id`.
    pub(crate) fn attach(
        &self,
        project_id: &str,
        volume_id: &str,
        server_id: &str,
        device: &str,
    ) -> Result<(u64, String), ApiError> {
        let mut state = self.lock()?;
        let now = OffsetDateTime::now_utc();
        let v = state
            .get_mut(volume_id)
            .filter(|v| v.project_id == project_id)
            .ok_or_else(|| {
                NOVA.err(
                    StatusCode::NOT_FOUND,
                    format!("Volume {volume_id} could not be found."),
                )
            })?;
        let status = v.status(now);
        if status != "available" {
            return Err(NOVA.err(
                StatusCode::BAD_REQUEST,
                format!("Invalid volume: volume {volume_id} status must be available to attach, but it is {status}."),
            ));
        }
        v.attachment = Some(Attachment {
            id: uuid::Uuid::new_v4().to_string(),
            server_id: server_id.to_string(),
            device: device.to_string(),
        });
        Ok(state.changed())
    }

    /// Nova's detach: 404 unless the volume is attached to `server_id`.
    pub(crate) fn detach(
        &self,
        volume_id: &str,
        server_id: &str,
    ) -> Result<(u64, String), ApiError> {
        let mut state = self.lock()?;
        let v = state
            .get_mut(volume_id)
            .filter(|v| {
                v.attachment
                    .as_ref()
                    .is_some_and(|a| a.server_id == server_id)
            })
            .ok_or_else(|| {
                NOVA.err(
                    StatusCode::NOT_FOUND,
                    format!("volume_id not found: {volume_id}"),
                )
            })?;
        v.attachment = None;
        Ok(state.changed())
    }

    /// Detaches everything from a deleted server; `None` when nothing was attached.
    pub(crate) fn detach_all(&self, server_id: &str) -> Option<(u64, String)> {
        let mut state = self.state.lock().ok()?;
        let mut any = false;
        for v in state.values_mut() {
            if v.attachment
                .as_ref()
                .is_some_and(|a| a.server_id == server_id)
            {
                v.attachment = None;
                any = true;
            }
        }
        any.then(|| state.changed())
    }

    /// `(volume id, device)` of each volume attached to `server_id`.
    pub fn attached_to(&self, server_id: &str) -> Vec<(String, String)> {
        let Ok(state) = self.state.lock() else {
            return Vec::new();
        };
        state
            .values()
            .filter_map(|v| {
                let a = v.attachment.as_ref().filter(|a| a.server_id == server_id)?;
                Some((v.id.clone(), a.device.clone()))
            })
            .collect()
    }

    /// `(volumes, GiB)` a project holds, for quota views.
    pub fn project_usage(&self, project_id: &str) -> (u64, u64) {
        self.state
            .lock()
            .map(|s| usage_in(&s, project_id))
            .unwrap_or_default()
    }

    /// `(type, volumes, GiB)` a project holds of each volume type on offer.
    pub fn project_usage_by_type(&self, project_id: &str) -> Vec<(&'static str, u64, u64)> {
        let Ok(state) = self.state.lock() else {
            return Vec::new();
        };
        VOLUME_TYPES
            .iter()
            .map(|t| {
                let (n, g) = state
                    .values()
                    .filter(|v| v.project_id == project_id && v.volume_type == *t)
                    .fold((0, 0), |(n, g), v| (n + 1, g + v.size_gib));
                (*t, n, g)
            })
            .collect()
    }

    /// Restores saved state at start.
    pub fn restore(&self, saved: VolumeState) {
        if let Ok(mut state) = self.state.lock() {
            *state = saved;
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, VolumeState>, ApiError> {
        self.state
            .lock()
            .map_err(|_| CINDER.err(StatusCode::INTERNAL_SERVER_ERROR, "volume state poisoned"))
    }
}

/// `(volumes, GiB)` a project holds.
fn usage_in(state: &VolumeState, project_id: &str) -> (u64, u64) {
    state
        .values()
        .filter(|v| v.project_id == project_id)
        .fold((0, 0), |(n, g), v| (n + 1, g + v.size_gib))
}

/// Cinder's 413 answers when a project would go over its volume or GiB quota.
fn over_quota(
    quota: &crate::quotas::Quota,
    count: u64,
    more: u64,
    gigabytes: u64,
    grow: u64,
) -> Result<(), ApiError> {
    if !crate::quotas::fits(quota.volumes, count, more) {
        return Err(CINDER.err(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("VolumeLimitExceeded: Maximum number of volumes allowed ({}) exceeded for quota 'volumes'.", quota.volumes),
        ));
    }
    if !crate::quotas::fits(quota.gigabytes, gigabytes, grow) {
        return Err(CINDER.err(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes quota. Requested {grow}G, quota is {}G and {gigabytes}G has been consumed.", quota.gigabytes),
        ));
    }
    Ok(())
}

pub fn router() -> Router<Arc<Cloud>> {
    Router::new()
        .route("/{project}/volumes", get(list).post(create))
        .route("/{project}/volumes/detail", get(list_detail))
        .route("/{project}/volumes/{id}", get(show).delete(delete))
        .route("/{project}/volumes/{id}/action", post(action))
}

fn links(cloud: &Cloud, v: &Volume) -> Value {
    json!([
        {"href": format!("{}/volume/v3/{}/volumes/{}", cloud.base_url, v.project_id, v.id), "rel": "self"},
        {"href": format!("{}/volume/{}/volumes/{}", cloud.base_url, v.project_id, v.id), "rel": "bookmark"},
    ])
}

fn volume_body(cloud: &Cloud, v: &Volume, now: OffsetDateTime) -> Value {
    let attachments: Vec<Value> = v
        .attachment
        .iter()
        .map(|a| {
            json!({
                "id": v.id, "attachment_id": a.id, "volume_id": v.id, "server_id": a.server_id,
                "host_name": null, "device": a.device, "attached_at": format_time(now),
            })
        })
        .collect();
    json!({
        "attachments": attachments,
        "availability_zone": "nova",
        "bootable": "false",
        "consistencygroup_id": null,
        "created_at": format_time(v.created),
        "description": v.description,
        "encrypted": false,
        "id": v.id,
        "links": links(cloud, v),
        "metadata": v.metadata,
        "migration_status": null,
        "multiattach": false,
        "name": v.name,
        "os-vol-host-attr:host": "localcloud@files#files",
        "os-vol-mig-status-attr:migstat": null,
        "os-vol-mig-status-attr:name_id": null,
        "os-vol-tenant-attr:tenant_id": v.project_id,
        "replication_status": null,
        "size": v.size_gib,
        "snapshot_id": null,
        "source_volid": null,
        "status": v.status(now),
        "updated_at": format_time(if now >= v.available_at { v.available_at } else { v.created }),
        "user_id": v.user_id,
        "volume_type": v.volume_type,
        "provider_id": null,
        "group_id": null,
        "service_uuid": null,
        "shared_targets": null,
        "cluster_name": null,
        "volume_type_id": "00000000-0000-0000-0000-000000000001",
        "consumes_quota": true,
    })
}

#[derive(Deserialize)]
struct CreateRequest {
    volume: CreateVolume,
}

#[derive(Deserialize)]
struct CreateVolume {
    size: i64,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    volume_type: Option<String>,
    #[serde(default)]
    metadata: Option<BTreeMap<String, String>>,
}

fn parse<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| CINDER.bad(format!("Invalid request body: {e}")))
}

fn check_size(size: i64) -> Result<u64, ApiError> {
    if size < 1 || size as u64 > SIZE_MAX_GIB {
        return Err(CINDER.bad(format!(
            "Invalid input received: size must be an integer from 1 to {SIZE_MAX_GIB} GiB."
        )));
    }
    Ok(size as u64)
}

async fn create(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(project): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = authenticate_in(&cloud, &headers, CINDER, &project)?;
    let v = parse::<CreateRequest>(&body)?.volume;
    let size = check_size(v.size)?;
    if v.name.as_ref().is_some_and(|n| n.chars().count() > 255) {
        return Err(CINDER.bad("Invalid input received: name is longer than 255 characters."));
    }
    if v.description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 255)
    {
        return Err(
            CINDER.bad("Invalid input received: description is longer than 255 characters.")
        );
    }
    let volume_type = v.volume_type.unwrap_or_else(|| "__DEFAULT__".into());
    if !VOLUME_TYPES.contains(&volume_type.as_str()) {
        return Err(CINDER.err(
            StatusCode::NOT_FOUND,
            format!("Volume type {volume_type} could not be found."),
        ));
    }
    let volumes = &cloud.volumes;
    let now = OffsetDateTime::now_utc();
    let volume = Volume {
        id: uuid::Uuid::new_v4().to_string(),
        name: v.name,
        description: v.description,
        size_gib: size,
        volume_type,
        metadata: v.metadata.unwrap_or_default(),
        project_id: token.project_id.clone(),
        user_id: token.user_id.clone(),
        created: now,
        available_at: now + cloud.behaviour().volume(),
        attachment: None,
    };
    let answer = json!({"volume": volume_body(&cloud, &volume, now)});
    let id = volume.id.clone();
    let quota = cloud.quotas.get(&token.project_id);
    // Quota is checked and the volume counted under one lock; the file comes after.
    {
        let mut state = volumes.lock()?;
        let (count, gigabytes) = usage_in(&state, &token.project_id);
        over_quota(&quota, count, 1, gigabytes, size)?;
        state.insert(id.clone(), volume);
    }
    let made = std::fs::create_dir_all(&volumes.dir)
        .and_then(|_| std::fs::File::create(volumes.path(&id)))
        .and_then(|f| f.set_len(size * GIB));
    if let Err(e) = made {
        if let Ok(mut state) = volumes.lock() {
            state.remove(&id);
        }
        return Err(CINDER.err(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("creating the volume file: {e}"),
        ));
    }
    let snapshot = volumes.lock()?.changed();
    save(&cloud, snapshot).await;
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}

fn visible<'a>(
    state: &'a BTreeMap<String, Volume>,
    token: &Token,
    id: &str,
) -> Result<&'a Volume, ApiError> {
    state
        .get(id)
        .filter(|v| v.project_id == token.project_id)
        .ok_or_else(|| {
            CINDER.err(
                StatusCode::NOT_FOUND,
                format!("Volume {id} could not be found."),
            )
        })
}

async fn list(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate_in(&cloud, &headers, CINDER, &project)?;
    let state = cloud.volumes.lock()?;
    let items: Vec<Value> = state
        .values()
        .filter(|v| v.project_id == token.project_id)
        .map(|v| json!({"id": v.id, "links": links(&cloud, v), "name": v.name}))
        .collect();
    Ok(Json(json!({"volumes": items})))
}

async fn list_detail(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate_in(&cloud, &headers, CINDER, &project)?;
    let now = OffsetDateTime::now_utc();
    let state = cloud.volumes.lock()?;
    let items: Vec<Value> = state
        .values()
        .filter(|v| v.project_id == token.project_id)
        .map(|v| volume_body(&cloud, v, now))
        .collect();
    Ok(Json(json!({"volumes": items})))
}

async fn show(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path((project, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let token = authenticate_in(&cloud, &headers, CINDER, &project)?;
    let state = cloud.volumes.lock()?;
    Ok(Json(
        json!({"volume": volume_body(&cloud, visible(&state, &token, &id)?, OffsetDateTime::now_utc())}),
    ))
}

async fn delete(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path((project, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let token = authenticate_in(&cloud, &headers, CINDER, &project)?;
    let snapshot = {
        let mut state = cloud.volumes.lock()?;
        let v = visible(&state, &token, &id)?;
        if v.attachment.is_some() {
            return Err(CINDER.bad("Invalid volume: Volume status must be available or error or error_restoring or error_extending or error_managing and must not be migrating, attached, belong to a group, have snapshots, awaiting a transfer, or be disassociated from snapshots after volume transfer."));
        }
        state.remove(&id);
        state.changed()
    };
    save(&cloud, snapshot).await;
    match std::fs::remove_file(cloud.volumes.path(&id)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(CINDER.err(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("removing the volume file: {e}"),
            ))
        }
    }
    Ok(StatusCode::ACCEPTED)
}

/// `os-extend`, `os-attach`, `os-detach`.
async fn action(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path((project, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let token = authenticate_in(&cloud, &headers, CINDER, &project)?;
    let req: Value = parse(&body)?;
    // A volume attaches only to a server of the caller's own project (checked before the
    // volume lock: compute's state is never taken while volumes' is held).
    if let Some(server) = req
        .get("os-attach")
        .and_then(|a| a.get("instance_uuid"))
        .and_then(Value::as_str)
    {
        if !cloud.compute.servers.in_project(server, &token.project_id) {
            return Err(CINDER.err(
                StatusCode::NOT_FOUND,
                format!("Instance {server} could not be found."),
            ));
        }
    }
    let snapshot = {
        let mut state = cloud.volumes.lock()?;
        apply_action(&cloud, &mut state, &token, &id, &req)?;
        state.changed()
    };
    save(&cloud, snapshot).await;
    Ok(StatusCode::ACCEPTED)
}

fn apply_action(
    cloud: &Cloud,
    state: &mut VolumeState,
    token: &Token,
    id: &str,
    req: &Value,
) -> Result<(), ApiError> {
    let now = OffsetDateTime::now_utc();
    let status = visible(state, token, id)?.status(now);
    let volume = state
        .get_mut(id)
        .ok_or_else(|| CINDER.err(StatusCode::NOT_FOUND, "gone"))?;
    if let Some(extend) = req.get("os-extend") {
        let new_size = check_size(extend.get("new_size").and_then(Value::as_i64).unwrap_or(0))?;
        if status != "available" {
            return Err(CINDER.bad(format!("Invalid volume: Volume {id} status must be available to extend, but it is {status}.")));
        }
        if new_size <= volume.size_gib {
            return Err(CINDER.bad(format!("Invalid input received: New size for extend must be greater than current size. (current: {}, extended: {new_size}).", volume.size_gib)));
        }
        let grow = new_size - volume.size_gib;
        let (_, gigabytes) = usage_in(state, &token.project_id);
        over_quota(&cloud.quotas.get(&token.project_id), 0, 0, gigabytes, grow)?;
        let volume = state
            .get_mut(id)
            .ok_or_else(|| CINDER.err(StatusCode::NOT_FOUND, "gone"))?;
        std::fs::OpenOptions::new()
            .write(true)
            .open(cloud.volumes.path(id))
            .and_then(|f| f.set_len(new_size * GIB))
            .map_err(|e| {
                CINDER.err(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("extending the volume file: {e}"),
                )
            })?;
        volume.size_gib = new_size;
        return Ok(());
    }
    if let Some(attach) = req.get("os-attach") {
        let server_id = attach
            .get("instance_uuid")
            .and_then(Value::as_str)
            .ok_or_else(|| CINDER.bad("Invalid input received: os-attach needs instance_uuid."))?
            .to_string();
        if status != "available" {
            return Err(CINDER.bad(format!("Invalid volume: Volume {id} status must be available to attach, but it is {status}.")));
        }
        let device = attach
            .get("mountpoint")
            .and_then(Value::as_str)
            .unwrap_or("/dev/vdb")
            .to_string();
        volume.attachment = Some(Attachment {
            id: uuid::Uuid::new_v4().to_string(),
            server_id,
            device,
        });
        return Ok(());
    }
    if req.get("os-detach").is_some() {
        if volume.attachment.take().is_none() {
            return Err(CINDER.bad(format!("Invalid volume: Volume {id} is not attached.")));
        }
        return Ok(());
    }
    Err(CINDER.bad(
        "Invalid input received: unknown volume action (use os-extend, os-attach or os-detach).",
    ))
}
