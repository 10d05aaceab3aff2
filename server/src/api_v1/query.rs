//! What a request says besides its path: the common query string ([`ProjectQuery`],
//! and the project it names) and JSON bodies, each turned into a 400 when malformed.

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use model::ProjectId;
use provision::{Error, Intent};
use serde::Deserialize;

use super::{ApiError, ApiResult, AppState, Caller};

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ProjectQuery {
    /// Project id; default: the console's current project, else your first.
    pub(super) project: Option<String>,
    /// Answer the plan; change nothing.
    pub(super) dry_run: Option<bool>,
    /// Apply only if the plan is still this one (from a dry run).
    pub(super) plan_id: Option<String>,
}

/// The project a list or create is about: `?project=`, else the console's current
/// project, else the caller's first.
pub(super) async fn project_of(
    state: &AppState,
    caller: &Caller,
    q: &ProjectQuery,
) -> ApiResult<ProjectId> {
    if let Some(p) = q.project.clone().or_else(|| caller.session_project.clone()) {
        return Ok(p.into());
    }
    let projects = state
        .core
        .store
        .project_list_for_user(&caller.user.id)
        .await?;
    projects
        .first()
        .map(|p| ProjectId::from(p.project.id.clone()))
        .ok_or_else(|| {
            ApiError(Error::NotFound(
                "You are not a member of any project.".into(),
            ))
        })
}

impl ProjectQuery {
    /// What the caller asks of a change: its plan (`dry_run`), or to apply it (only if
    /// the plan is still `plan_id`, when given).
    pub(super) fn intent(&self) -> Intent {
        Intent::from_query(self.dry_run.unwrap_or(false), self.plan_id.as_deref())
    }
}

/// The query string, or a 400 saying what is wrong with it.
impl<S: Send + Sync> FromRequestParts<S> for ProjectQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<ProjectQuery>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| q)
            .map_err(|e| ApiError(Error::invalid("query", format!("Bad query string: {e}"))))
    }
}

/// A JSON body as `T`, or a 400 naming `what` was expected.
pub(super) fn parse<T: serde::de::DeserializeOwned>(body: &Bytes, what: &str) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError(Error::invalid(
            "body",
            format!("The body is not {what}: {e}"),
        ))
    })
}
