//! What the catalogue and the admins see: Kubernetes versions and flavors on offer (and
//! changing them), and for admins every project's operations, quotas and the audit log.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::Json;
use provision::clusters;
use provision::Error;
use serde::Deserialize;

use super::query::parse;
use super::{ApiResult, AppState, Caller};
use crate::views::*;

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct StatesQuery {
    /// Comma-separated states; default: the unfinished and the failed.
    state: Option<String>,
}

impl StatesQuery {
    /// The states asked for: a comma-separated list, else every one an admin watches.
    fn states(&self) -> ApiResult<Vec<provision::ops::OpState>> {
        use provision::ops::OpState;
        Ok(match self.state.as_deref() {
            None | Some("") => vec![
                OpState::Pending,
                OpState::Running,
                OpState::Unwinding,
                OpState::Failed,
                OpState::Stuck,
            ],
            Some(list) => list
                .split(',')
                .map(|s| {
                    OpState::parse(s.trim()).ok_or_else(|| {
                        Error::invalid("state", format!("'{s}' is not an operation state."))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        })
    }
}

/// Every project's operations in some states (admins only).
#[utoipa::path(
    get,
    path = "/api/v1/admin/operations",
    summary = "Every project's operations in some states (admins only)",
    params(StatesQuery),
    responses(
        (status = 200, description = "Operations", body = OperationList),
        ApiErrors,
    )
)]
pub(super) async fn admin_operations(
    State(state): State<AppState>,
    caller: Caller,
    q: Result<Query<StatesQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<impl serde::Serialize>> {
    let q = q
        .map(|Query(q)| q)
        .map_err(|e| Error::invalid("query", format!("Bad query string: {e}")))?;
    let states = q.states()?;
    let ops = provision::operations::list_all(&state.core.store, &caller.actor, &states).await?;
    Ok(Json(OperationList {
        operations: ops
            .iter()
            .map(|o| OperationView {
                project_id: Some(o.project_id.clone()),
                ..o.into()
            })
            .collect(),
    }))
}

/// The Kubernetes versions on offer (admins also see the disabled ones).
#[utoipa::path(
    get,
    path = "/api/v1/versions",
    summary = "Kubernetes versions on offer (admins also see disabled ones)",
    responses(
        (status = 200, description = "Versions", body = VersionList),
        ApiErrors,
    )
)]
pub(super) async fn version_list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<impl serde::Serialize>> {
    let list = clusters::versions::list(&state.core.store, caller.actor.is_admin).await?;
    Ok(Json(VersionList { versions: list }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct VersionChange {
    enabled: bool,
    image: Option<String>,
}

/// Adds a version or enables/disables one (admins only).
#[utoipa::path(
    put,
    path = "/api/v1/admin/versions/{version}",
    summary = "Add a version or enable/disable one (admins only; the cloud must have the image)",
    params(("version" = String, Path, description = "e.g. v1.31.12")),
    request_body = VersionChange,
    responses(
        (status = 200, description = "The version", body = VersionShown),
        ApiErrors,
    )
)]
pub(super) async fn version_set(
    State(state): State<AppState>,
    caller: Caller,
    Path(version): Path<String>,
    body: Bytes,
) -> ApiResult<Json<impl serde::Serialize>> {
    provision::accounts::require_admin(&caller.actor)?;
    let change: VersionChange = parse(&body, "a version change ({\"enabled\": true})")?;
    let v = clusters::versions::set(
        &state.core.store,
        state.core.cloud.as_ref(),
        &caller.actor,
        &version,
        change.enabled,
        change.image.as_deref(),
    )
    .await?;
    Ok(Json(VersionShown { version: v }))
}

/// The cloud's flavors: on offer only, or (admins) every one with whether it is.
#[utoipa::path(
    get,
    path = "/api/v1/flavors",
    summary = "The cloud's flavors on offer (admins see every one, with `enabled`)",
    responses(
        (status = 200, description = "Flavors", body = FlavorList),
        ApiErrors,
    )
)]
pub(super) async fn flavor_list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<impl serde::Serialize>> {
    let mut list = clusters::flavors::list(&state.core.store, &state.core.flavors().await?).await?;
    list.retain(|f| caller.actor.is_admin || f.enabled);
    Ok(Json(FlavorList { flavors: list }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct FlavorChange {
    enabled: bool,
}

/// Offers a flavor or stops offering it (admins only).
#[utoipa::path(
    put,
    path = "/api/v1/admin/flavors/{name}",
    summary = "Offer a flavor for new clusters and node groups, or stop offering it (admins only)",
    params(("name" = String, Path, description = "The flavor's name")),
    request_body = FlavorChange,
    responses(
        (status = 200, description = "The flavor", body = FlavorShown),
        ApiErrors,
    )
)]
pub(super) async fn flavor_set(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Json<impl serde::Serialize>> {
    provision::accounts::require_admin(&caller.actor)?;
    let change: FlavorChange = parse(&body, "a flavor change ({\"enabled\": false})")?;
    let f = clusters::flavors::set(
        &state.core.store,
        state.core.cloud.as_ref(),
        &caller.actor,
        &name,
        change.enabled,
    )
    .await?;
    Ok(Json(FlavorShown { flavor: f }))
}

/// Every project's quota beside its usage (admins only).
#[utoipa::path(
    get,
    path = "/api/v1/admin/quotas",
    summary = "Every project's quota beside what it uses (admins only)",
    responses(
        (status = 200, description = "Projects", body = QuotaList),
        ApiErrors,
    )
)]
pub(super) async fn quota_list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<impl serde::Serialize>> {
    provision::accounts::require_admin(&caller.actor)?;
    let list = provision::admin::project_quotas(
        &state.core.store,
        &caller.actor,
        &state.core.flavors().await?,
        1000,
    )
    .await?;
    Ok(Json(QuotaList { projects: list }))
}

/// Sets a project's quota (admins only); every limit is given.
#[utoipa::path(
    put,
    path = "/api/v1/admin/projects/{id}/quota",
    summary = "Set a project's quota (admins only; audited)",
    params(("id" = String, Path, description = "The project's id")),
    request_body = provision::quotas::Quota,
    responses(
        (status = 200, description = "The quota", body = QuotaSet),
        ApiErrors,
    )
)]
pub(super) async fn quota_set(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<impl serde::Serialize>> {
    provision::accounts::require_admin(&caller.actor)?;
    let q: provision::quotas::Quota = parse(
        &body,
        "a quota ({\"clusters\", \"vcpus\", \"ram_mib\", \"volume_gib\", \"load_balancers\"})",
    )?;
    provision::admin::set_quota(&state.core.store, &caller.actor, &id, &q).await?;
    Ok(Json(QuotaSet {
        project_id: id,
        quota: q,
    }))
}

/// The audit log, newest first, filtered by actor, project, action, outcome and time
/// (admins only).
#[utoipa::path(
    get,
    path = "/api/v1/admin/audit",
    summary = "The audit log, newest first (admins only)",
    params(provision::accounts::AuditQuery),
    responses(
        (status = 200, description = "Entries", body = AuditList),
        ApiErrors,
    )
)]
pub(super) async fn audit_list(
    State(state): State<AppState>,
    caller: Caller,
    q: Result<Query<provision::accounts::AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<impl serde::Serialize>> {
    let q = q
        .map(|Query(q)| q)
        .map_err(|e| Error::invalid("query", format!("Bad query string: {e}")))?;
    let entries = provision::accounts::audit_search(&state.core.store, &caller.actor, &q).await?;
    Ok(Json(AuditList {
        entries: entries
            .into_iter()
            .map(|a| AuditView {
                id: a.id,
                at: a.at,
                actor_email: a.actor_email,
                project_id: a.project_id,
                action: a.action,
                object: a.object,
                outcome: a.outcome,
                client_addr: a.client_addr,
                detail: a.detail,
            })
            .collect(),
    }))
}
