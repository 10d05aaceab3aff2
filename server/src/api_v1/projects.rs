//! Projects and their members in the REST API, so automation can manage who may use a
//! project's clusters (each change reaches the clusters' RBAC at once, see
//! `provision::clusters::access`). Each handler resolves the caller, makes one call to
//! `provision::projects` and answers a typed view.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use provision::invitations::MemberSet;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiResult, AppState, Caller};
use crate::views::ApiErrors;

#[derive(Serialize, ToSchema)]
pub struct ProjectView {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Your role in it: owner, member or viewer.
    pub role: String,
    pub created_at: i64,
}

#[derive(Serialize, ToSchema)]
pub struct ProjectList {
    pub projects: Vec<ProjectView>,
}

#[derive(Serialize, ToSchema)]
pub struct MemberView {
    pub user_id: String,
    pub email: String,
    /// owner → cluster-admin, member → edit, viewer → view in every cluster.
    pub role: String,
    pub created_at: i64,
}

#[derive(Serialize, ToSchema)]
pub struct MemberList {
    pub members: Vec<MemberView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    pub name: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberRequest {
    pub email: String,
    /// owner, member or viewer.
    pub role: String,
}

#[derive(Serialize, ToSchema)]
pub struct MemberSetView {
    /// `role_changed` (a member's role is now this one) or `invited` (the same answer
    /// whether or not an account uses the email).
    pub result: &'static str,
}

fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    Ok(serde_json::from_slice(bytes)
        .map_err(|e| provision::Error::invalid("body", e.to_string()))?)
}

#[utoipa::path(
    get,
    path = "/api/v1/projects",
    summary = "Your projects, with your role in each",
    responses((status = 200, description = "Projects", body = ProjectList), ApiErrors)
)]
pub(super) async fn project_list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ProjectList>> {
    let projects = provision::projects::list_for(&state.core.store, &caller.user).await?;
    Ok(Json(ProjectList {
        projects: projects
            .into_iter()
            .map(|p| ProjectView {
                id: p.project.id,
                name: p.project.name,
                description: p.project.description,
                role: p.role.as_str().to_string(),
                created_at: p.project.created_at,
            })
            .collect(),
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/projects",
    summary = "Create a project; you are its owner",
    request_body = NewProject,
    responses((status = 201, description = "Created", body = ProjectView), ApiErrors)
)]
pub(super) async fn project_create(
    State(state): State<AppState>,
    caller: Caller,
    bytes: axum::body::Bytes,
) -> ApiResult<Response> {
    let req: NewProject = body(&bytes)?;
    let p = provision::projects::create(&state.core.store, &caller.actor, &req.name).await?;
    let view = ProjectView {
        id: p.id,
        name: p.name,
        description: p.description,
        role: "owner".into(),
        created_at: p.created_at,
    };
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/projects/{id}/members",
    summary = "The project's members and their roles",
    params(("id" = String, Path, description = "The project's id")),
    responses((status = 200, description = "Members", body = MemberList), ApiErrors)
)]
pub(super) async fn member_list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<MemberList>> {
    let members = provision::projects::members(&state.core.store, &caller.actor, &id).await?;
    Ok(Json(MemberList {
        members: members
            .into_iter()
            .map(|m| MemberView {
                user_id: m.user_id,
                email: m.email,
                role: m.role.as_str().to_string(),
                created_at: m.created_at,
            })
            .collect(),
    }))
}

#[utoipa::path(
    put,
    path = "/api/v1/projects/{id}/members",
    summary = "Give a member another role, or invite an email (owners only). The project's clusters follow at once",
    params(("id" = String, Path, description = "The project's id")),
    request_body = MemberRequest,
    responses((status = 200, description = "Done", body = MemberSetView), ApiErrors)
)]
pub(super) async fn member_set(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    bytes: axum::body::Bytes,
) -> ApiResult<Json<MemberSetView>> {
    provision::authz::authorize(
        &state.core.store,
        &caller.actor,
        &id,
        provision::authz::Action::View,
    )
    .await?;
    let req: MemberRequest = body(&bytes)?;
    let done = provision::projects::member_set(
        &state.core.store,
        &caller.actor,
        &id,
        &req.email,
        &req.role,
    )
    .await?;
    Ok(Json(MemberSetView {
        result: match done {
            MemberSet::RoleChanged => "role_changed",
            MemberSet::Invited => "invited",
        },
    }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/projects/{id}/members/{user_id}",
    summary = "Remove a member (owners only); their kubeconfigs are refused by the project's clusters from the next request",
    params(
        ("id" = String, Path, description = "The project's id"),
        ("user_id" = String, Path, description = "The member's user id"),
    ),
    responses((status = 204, description = "Removed"), ApiErrors)
)]
pub(super) async fn member_remove(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    provision::projects::member_remove(&state.core.store, &caller.actor, &id, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
