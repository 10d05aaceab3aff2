//! Quotas per project, enforced by Nova, Cinder and Octavia as those services do (and
//! in their error shapes), readable and settable through each service's own quota API
//! (`os-quota-sets`, `lbaas/quotas`) and summarised by Nova's and Cinder's `/limits`.
//! Setting a quota needs an admin token.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::common::auth::authenticate;
use crate::common::errors::{ApiError, Service};
use crate::identity::Token;
use crate::Cloud;

/// One project's limits; -1 means unlimited, as in OpenStack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    pub instances: i64,
    pub cores: i64,
    pub ram_mib: i64,
    pub server_groups: i64,
    pub server_group_members: i64,
    pub volumes: i64,
    pub gigabytes: i64,
    pub load_balancers: i64,
}

impl Default for Quota {
    /// Room for a few Kubernetes clusters per project on the default six hosts.
    fn default() -> Quota {
        Quota {
            instances: 100,
            cores: 200,
            ram_mib: 512 * 1024,
            server_groups: 50,
            server_group_members: 50,
            volumes: 200,
            gigabytes: 10_000,
            load_balancers: 50,
        }
    }
}

impl Quota {
    /// Sets one limit by its OpenStack key (`cores`, `ram`, `instances`, `volumes`,
    /// `gigabytes`, `server_groups`, `server_group_members`, `loadbalancer`).
    pub fn set(&mut self, key: &str, value: i64) -> Result<(), String> {
        if value < -1 {
            return Err(format!(
                "Quota limit {value} for {key} must be -1 or greater."
            ));
        }
        let slot = match key {
            "instances" => &mut self.instances,
            "cores" => &mut self.cores,
            "ram" => &mut self.ram_mib,
            "server_groups" => &mut self.server_groups,
            "server_group_members" => &mut self.server_group_members,
            "volumes" => &mut self.volumes,
            "gigabytes" => &mut self.gigabytes,
            "loadbalancer" | "load_balancer" | "load_balancers" => &mut self.load_balancers,
            _ => return Err(format!("Bad key(s) {key} in quota_set")),
        };
        *slot = value;
        Ok(())
    }
}

/// Whether `used + wanted` fits under `limit`.
pub fn fits(limit: i64, used: u64, wanted: u64) -> bool {
    limit < 0 || used.saturating_add(wanted) <= limit as u64
}

pub struct Quotas {
    default: Quota,
    projects: Mutex<Projects>,
}

#[derive(Default, Serialize, Deserialize)]
pub struct Projects {
    quotas: BTreeMap<String, Quota>,
    version: u64,
}

impl Quotas {
    pub fn new(default: Quota) -> Quotas {
        Quotas {
            default,
            projects: Mutex::new(Projects::default()),
        }
    }

    pub fn restore(&self, saved: Projects) {
        if let Ok(mut p) = self.projects.lock() {
            *p = saved;
        }
    }

    /// The project's quota: its own if set, else the default.
    pub fn get(&self, project_id: &str) -> Quota {
        self.projects
            .lock()
            .ok()
            .and_then(|p| p.quotas.get(project_id).copied())
            .unwrap_or(self.default)
    }

    /// Applies `changes` (OpenStack keys → limits) to a project's quota and saves.
    pub async fn update(
        &self,
        cloud: &Cloud,
        project_id: &str,
        changes: &serde_json::Map<String, Value>,
        service: Service,
    ) -> Result<Quota, ApiError> {
        let mut q = self.get(project_id);
        for (k, v) in changes {
            if k == "id" || k == "force" {
                continue;
            }
            let n = v.as_i64().ok_or_else(|| {
                ApiError::new(
                    service,
                    StatusCode::BAD_REQUEST,
                    format!("Invalid input for field/attribute {k}: {v} is not an integer."),
                )
            })?;
            q.set(k, n)
                .map_err(|m| ApiError::new(service, StatusCode::BAD_REQUEST, m))?;
        }
        let snap = {
            let mut p = self.projects.lock().map_err(|_| {
                ApiError::new(
                    service,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "quota state poisoned",
                )
            })?;
            p.quotas.insert(project_id.to_string(), q);
            p.version += 1;
            crate::common::persist::snapshot(&*p, p.version)
        };
        cloud.persist.save("quotas", snap.0, &snap.1).await;
        Ok(q)
    }
}

/// What a project uses now.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    pub instances: u64,
    pub cores: u64,
    pub ram_mib: u64,
    pub server_groups: u64,
    pub volumes: u64,
    pub gigabytes: u64,
    pub load_balancers: u64,
}

pub fn usage(cloud: &Cloud, project_id: &str) -> Usage {
    let (instances, cores, ram_mib, server_groups) =
        cloud.compute.servers.project_usage(project_id);
    let (volumes, gigabytes) = cloud.volumes.project_usage(project_id);
    Usage {
        instances,
        cores,
        ram_mib,
        server_groups,
        volumes,
        gigabytes,
        load_balancers: cloud.lbs.count(project_id) as u64,
    }
}

pub fn nova_router() -> Router<Arc<Cloud>> {
    Router::new()
        .route("/limits", axum::routing::get(nova_limits))
        .route(
            "/os-quota-sets/{project}",
            axum::routing::get(nova_quota_show).put(nova_quota_update),
        )
        .route(
            "/os-quota-sets/{project}/detail",
            axum::routing::get(nova_quota_detail),
        )
}

pub fn cinder_router() -> Router<Arc<Cloud>> {
    Router::new()
        .route("/{project}/limits", axum::routing::get(cinder_limits))
        .route(
            "/{project}/os-quota-sets/{target}",
            axum::routing::get(cinder_quota_show).put(cinder_quota_update),
        )
}

/// Reading another project's quota, or changing any, needs the admin role.
fn allowed(token: &Token, project: &str, write: bool, service: Service) -> Result<(), ApiError> {
    if token.admin || (!write && token.project_id == project) {
        Ok(())
    } else {
        Err(ApiError::new(
            service,
            StatusCode::FORBIDDEN,
            "Policy doesn't allow this operation to be performed.",
        ))
    }
}

fn nova_set(project: &str, q: &Quota) -> Value {
    json!({
        "id": project,
        "cores": q.cores,
        "instances": q.instances,
        "ram": q.ram_mib,
        "key_pairs": 100,
        "metadata_items": 128,
        "server_groups": q.server_groups,
        "server_group_members": q.server_group_members,
    })
}

async fn nova_quota_show(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let t = authenticate(&cloud, &headers, Service::Compute)?;
    allowed(&t, &project, false, Service::Compute)?;
    Ok(Json(
        json!({"quota_set": nova_set(&project, &cloud.quotas.get(&project))}),
    ))
}

async fn nova_quota_detail(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let t = authenticate(&cloud, &headers, Service::Compute)?;
    allowed(&t, &project, false, Service::Compute)?;
    let q = cloud.quotas.get(&project);
    let u = usage(&cloud, &project);
    let d = |limit: i64, used: u64| json!({"in_use": used, "limit": limit, "reserved": 0});
    Ok(Json(json!({"quota_set": {
        "id": project,
        "cores": d(q.cores, u.cores),
        "instances": d(q.instances, u.instances),
        "ram": d(q.ram_mib, u.ram_mib),
        "key_pairs": d(100, 0),
        "metadata_items": d(128, 0),
        "server_groups": d(q.server_groups, u.server_groups),
        "server_group_members": d(q.server_group_members, 0),
    }})))
}

#[derive(Deserialize)]
struct NovaQuotaUpdate {
    quota_set: serde_json::Map<String, Value>,
}

async fn nova_quota_update(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(project): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let t = authenticate(&cloud, &headers, Service::Compute)?;
    allowed(&t, &project, true, Service::Compute)?;
    let req: NovaQuotaUpdate = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            Service::Compute,
            StatusCode::BAD_REQUEST,
            format!("Invalid request body: {e}"),
        )
    })?;
    let q = cloud
        .quotas
        .update(&cloud, &project, &req.quota_set, Service::Compute)
        .await?;
    let mut set = nova_set(&project, &q);
    if let Some(o) = set.as_object_mut() {
        o.remove("id");
    }
    Ok(Json(json!({ "quota_set": set })))
}

async fn nova_limits(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let t = authenticate(&cloud, &headers, Service::Compute)?;
    let q = cloud.quotas.get(&t.project_id);
    let u = usage(&cloud, &t.project_id);
    Ok(Json(json!({"limits": {
        "absolute": {
            "maxServerMeta": 128,
            "maxTotalInstances": q.instances,
            "maxTotalCores": q.cores,
            "maxTotalRAMSize": q.ram_mib,
            "maxTotalKeypairs": 100,
            "maxServerGroups": q.server_groups,
            "maxServerGroupMembers": q.server_group_members,
            "totalCoresUsed": u.cores,
            "totalInstancesUsed": u.instances,
            "totalRAMUsed": u.ram_mib,
            "totalServerGroupsUsed": u.server_groups,
        },
        "rate": [],
    }})))
}

fn cinder_set(cloud: &Cloud, project: &str, q: &Quota) -> Value {
    let mut set = json!({
        "id": project,
        "volumes": q.volumes,
        "gigabytes": q.gigabytes,
        "snapshots": 10,
        "backups": 10,
        "backup_gigabytes": 1000,
        "per_volume_gigabytes": -1,
        "groups": 10,
    });
    // Per volume type limits: none beyond the project's totals.
    for (t, _, _) in cloud.volumes.project_usage_by_type(project) {
        set[format!("volumes_{t}")] = json!(-1);
        set[format!("gigabytes_{t}")] = json!(-1);
        set[format!("snapshots_{t}")] = json!(-1);
    }
    set
}

#[derive(Deserialize, Default)]
struct UsageQuery {
    usage: Option<String>,
}

async fn cinder_quota_show(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path((_project, target)): Path<(String, String)>,
    q: Result<axum::extract::Query<UsageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let t = authenticate(&cloud, &headers, Service::Volume)?;
    allowed(&t, &target, false, Service::Volume)?;
    let with_usage = q
        .map(|q| q.0.usage.is_some_and(|u| u.eq_ignore_ascii_case("true")))
        .unwrap_or(false);
    let quota = cloud.quotas.get(&target);
    if !with_usage {
        return Ok(Json(
            json!({"quota_set": cinder_set(&cloud, &target, &quota)}),
        ));
    }
    let u = usage(&cloud, &target);
    let d = |limit: i64, used: u64| json!({"in_use": used, "limit": limit, "reserved": 0, "allocated": 0});
    let mut set = json!({
        "id": target,
        "volumes": d(quota.volumes, u.volumes),
        "gigabytes": d(quota.gigabytes, u.gigabytes),
        "snapshots": d(10, 0),
        "backups": d(10, 0),
        "backup_gigabytes": d(1000, 0),
        "per_volume_gigabytes": d(-1, 0),
        "groups": d(10, 0),
    });
    for (t, n, g) in cloud.volumes.project_usage_by_type(&target) {
        set[format!("volumes_{t}")] = d(-1, n);
        set[format!("gigabytes_{t}")] = d(-1, g);
        set[format!("snapshots_{t}")] = d(-1, 0);
    }
    Ok(Json(json!({ "quota_set": set })))
}

async fn cinder_quota_update(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path((_project, target)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let t = authenticate(&cloud, &headers, Service::Volume)?;
    allowed(&t, &target, true, Service::Volume)?;
    let req: NovaQuotaUpdate = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            Service::Volume,
            StatusCode::BAD_REQUEST,
            format!("Invalid request body: {e}"),
        )
    })?;
    let q = cloud
        .quotas
        .update(&cloud, &target, &req.quota_set, Service::Volume)
        .await?;
    Ok(Json(json!({"quota_set": cinder_set(&cloud, &target, &q)})))
}

async fn cinder_limits(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let t = authenticate(&cloud, &headers, Service::Volume)?;
    allowed(&t, &project, false, Service::Volume)?;
    let q = cloud.quotas.get(&project);
    let u = usage(&cloud, &project);
    Ok(Json(json!({"limits": {
        "rate": [],
        "absolute": {
            "totalSnapshotsUsed": 0,
            "maxTotalBackups": 10,
            "maxTotalVolumeGigabytes": q.gigabytes,
            "maxTotalSnapshots": 10,
            "maxTotalBackupGigabytes": 1000,
            "totalBackupGigabytesUsed": 0,
            "maxTotalVolumes": q.volumes,
            "totalVolumesUsed": u.volumes,
            "totalBackupsUsed": 0,
            "totalGigabytesUsed": u.gigabytes,
        },
    }})))
}

/// Octavia's quota update (`PUT /v2/lbaas/quotas/{project}`).
pub async fn octavia_update(
    cloud: &Cloud,
    headers: &HeaderMap,
    project: &str,
    body: &Bytes,
) -> Result<Quota, ApiError> {
    #[derive(Deserialize)]
    struct Req {
        quota: serde_json::Map<String, Value>,
    }
    let t = authenticate(cloud, headers, Service::LoadBalancer)?;
    allowed(&t, project, true, Service::LoadBalancer)?;
    let req: Req = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            Service::LoadBalancer,
            StatusCode::BAD_REQUEST,
            format!("Invalid input: {e}"),
        )
    })?;
    // Octavia's other resource kinds are not limited here; only load balancers are.
    let changes: serde_json::Map<String, Value> = req
        .quota
        .into_iter()
        .filter(|(k, _)| k == "loadbalancer" || k == "load_balancer")
        .collect();
    cloud
        .quotas
        .update(cloud, project, &changes, Service::LoadBalancer)
        .await
}

/// Octavia's quota read: own project, or any with admin.
pub fn octavia_allowed(cloud: &Cloud, headers: &HeaderMap, project: &str) -> Result<(), ApiError> {
    let t = authenticate(cloud, headers, Service::LoadBalancer)?;
    allowed(&t, project, false, Service::LoadBalancer)
}
