//! The public REST API, `/api/v1`: JSON in and out, authenticated by a personal API
//! token (`Authorization: Bearer sy_…`) or by the console's session cookie. Errors are
//! `{"error": {"code", "message", "retryable"}}` with the matching status; another
//! project's ids answer 404. Handlers stay thin: who is asking, then `provision`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use provision::authz::{authorize, Action};
use provision::cloud::Cloud;
use provision::clusters::{self, workloads, Cluster, ClusterSpec};
use provision::domain::{Actor, Credential, User};
use provision::ops::Engine;
use provision::{Error, Store};
use serde::Deserialize;
use serde_json::json;
use tower_sessions::Session;

use crate::views::*;

mod kubernetes;
mod projects;

/// What the API needs.
#[derive(Clone)]
pub struct ApiState {
    pub store: Store,
    pub engine: Engine,
    pub cloud: Arc<dyn Cloud>,
    /// Seals and opens the cluster CAs' keys.
    pub secret_key: Arc<provision::pki::SecretKey>,
    /// See [`app::ssr::client_address`].
    pub forwarded_hops: usize,
    /// A console session ends this long after sign-in (as in the console).
    pub session_absolute_ms: i64,
    /// The live streams open, capped per user and in all.
    pub streams: Arc<crate::live_streams::LiveStreams>,
}

pub fn router(state: ApiState) -> Router {
    let (routes, doc) = documented().split_for_parts();
    // Made once: every request answers the same bytes.
    let doc = Bytes::from(crate::openapi::document(doc).to_string());
    routes
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { ([(http::header::CONTENT_TYPE, "application/json")], doc) }
            }),
        )
        .route("/clusters/{id}/events", get(cluster_events))
        .route("/api/v1/{*rest}", axum::routing::any(not_found))
        .with_state(state)
}

#[cfg(test)]
pub(crate) fn documented_for_tests() -> utoipa_axum::router::OpenApiRouter<ApiState> {
    documented()
}

/// Every documented route: the handler and its part of the OpenAPI document come from
/// the same `#[utoipa::path]`, so neither can be added without the other.
fn documented() -> utoipa_axum::router::OpenApiRouter<ApiState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(cluster_list, cluster_create))
        .routes(routes!(cluster_show, cluster_delete))
        .routes(routes!(kubeconfig_issue))
        .routes(routes!(ca_rotate))
        .routes(routes!(node_group_list, node_group_create))
        .routes(routes!(
            node_group_show,
            node_group_update,
            node_group_delete
        ))
        .routes(routes!(node_group_plan_delete))
        .routes(routes!(cluster_plan_delete))
        .routes(routes!(service_list, service_create))
        .routes(routes!(service_delete))
        .routes(routes!(volume_list, volume_create))
        .routes(routes!(volume_delete))
        .routes(routes!(operation_show))
        .routes(routes!(operation_retry))
        .routes(routes!(operation_abort))
        .routes(routes!(admin_operations))
        .routes(routes!(version_list))
        .routes(routes!(version_set))
        .routes(routes!(flavor_list))
        .routes(routes!(flavor_set))
        .routes(routes!(quota_list))
        .routes(routes!(quota_set))
        .routes(routes!(audit_list))
        .routes(routes!(token_list, token_create))
        .routes(routes!(token_revoke))
        .routes(routes!(kubernetes::cluster_kubernetes))
        .routes(routes!(projects::project_list, projects::project_create))
        .routes(routes!(projects::member_list, projects::member_set))
        .routes(routes!(projects::member_remove))
}

/// An API error in the one shape every client sees.
pub struct ApiError(Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self.0 {
            Error::Invalid { .. } => (StatusCode::BAD_REQUEST, "invalid"),
            Error::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            Error::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Error::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Error::Throttled { .. } => (StatusCode::TOO_MANY_REQUESTS, "throttled"),
            Error::Internal { internal } => {
                tracing::error!(error = %internal, "api");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        let field = match &self.0 {
            Error::Invalid { field, .. } => *field,
            _ => None,
        };
        let body = ErrorBody {
            error: ErrorView {
                code,
                message: self.0.external_message(),
                retryable: self.0.retryable(),
                field,
            },
        };
        (status, Json(body)).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

async fn not_found() -> ApiError {
    ApiError(Error::NotFound("No such API route.".into()))
}

/// The signed-in caller: a bearer token, or the console's session. Every handler takes
/// it as an extractor, so each request is resolved the same way: the client address
/// (through the trusted proxies), the user, and what the credential allows.
struct Caller {
    actor: Actor,
    user: User,
    session_project: Option<String>,
}

impl axum::extract::FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let session = parts.extensions.get::<Session>().cloned();
        resolve_caller(state, &parts.method, &parts.headers, peer, session).await
    }
}

async fn resolve_caller(
    state: &ApiState,
    method: &http::Method,
    headers: &HeaderMap,
    peer: Option<std::net::IpAddr>,
    session: Option<Session>,
) -> ApiResult<Caller> {
    let addr = app::ssr::client_address(
        peer,
        headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()),
        state.forwarded_hops,
    );
    let (user, credential, session_project) = if let Some(auth) =
        headers.get(http::header::AUTHORIZATION)
    {
        let token = auth
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| Error::Unauthenticated("Use 'Authorization: Bearer <token>'.".into()))?;
        let found = provision::tokens::authenticate(&state.store, token.trim()).await?;
        if matches!(
            found.credential,
            Credential::Token {
                read_only: true,
                ..
            }
        ) && !matches!(*method, http::Method::GET | http::Method::HEAD)
        {
            return Err(ApiError(Error::Forbidden(
                "This API token is read-only: it may only make GET requests.".into(),
            )));
        }
        (found.user, found.credential, None)
    } else {
        let signed_out = || Error::Unauthenticated("Sign in or send an API token.".into());
        let session = session.ok_or_else(signed_out)?;
        let claims = app::ssr::SessionClaims::of(&session)
            .await
            .ok()
            .flatten()
            .ok_or_else(signed_out)?;
        let user = state
            .store
            .user_by_id(&claims.uid)
            .await?
            .filter(|u| claims.admit(u, provision::now_ms(), state.session_absolute_ms))
            .ok_or_else(signed_out)?;
        provision::accounts::require_own_password(&user)?;
        let project: Option<String> = session.get(app::ssr::SESSION_PROJECT).await.ok().flatten();
        app::ssr::touch(&session).await;
        (user, Credential::Session, project)
    };
    Ok(Caller {
        actor: Actor::new(&user, addr, credential),
        user,
        session_project,
    })
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ProjectQuery {
    /// Project id; default: the console's current project, else your first.
    project: Option<String>,
    /// Answer the plan; change nothing.
    dry_run: Option<bool>,
    /// Apply only if the plan is still this one (from a dry run).
    plan_id: Option<String>,
}

/// The project a list or create is about: `?project=`, else the console's current
/// project, else the caller's first.
async fn project_of(state: &ApiState, caller: &Caller, q: &ProjectQuery) -> ApiResult<String> {
    if let Some(p) = q.project.clone().or_else(|| caller.session_project.clone()) {
        return Ok(p);
    }
    let projects = state.store.project_list_for_user(&caller.user.id).await?;
    projects
        .first()
        .map(|p| p.project.id.clone())
        .ok_or_else(|| {
            ApiError(Error::NotFound(
                "You are not a member of any project.".into(),
            ))
        })
}

fn query(
    q: Result<Query<ProjectQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<ProjectQuery> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError(Error::invalid("query", format!("Bad query string: {e}"))))
}

async fn flavors(state: &ApiState) -> ApiResult<Vec<provision::cloud::Flavor>> {
    Ok(state
        .cloud
        .flavor_list()
        .await
        .map_err(|e| Error::internal(format!("listing flavors: {e}")))?)
}

#[utoipa::path(
    get,
    path = "/api/v1/clusters",
    summary = "List the project's clusters",
    params(ProjectQuery),
    responses(
        (status = 200, description = "Clusters", body = ClusterList),
        ApiErrors,
    )
)]
async fn cluster_list(
    State(state): State<ApiState>,
    caller: Caller,
    q: Result<Query<ProjectQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<impl serde::Serialize>> {
    let q = query(q)?;
    let project = project_of(&state, &caller, &q).await?;
    authorize(&state.store, &caller.actor, &project, Action::View).await?;
    let list = state.store.cluster_list(&project).await?;
    Ok(Json(ClusterList { clusters: list }))
}

#[utoipa::path(
    post,
    path = "/api/v1/clusters",
    summary = "Create a cluster (dry_run=true: its plan; plan_id: apply only that plan)",
    params(ProjectQuery),
    request_body = provision::clusters::ClusterSpec,
    responses(
        (status = 200, description = "The plan (dry_run=true)", body = PlanBody),
        (status = 202, description = "Accepted: the cluster (CREATING) and its operation", body = ClusterStarted),
        ApiErrors,
    )
)]
async fn cluster_create(
    State(state): State<ApiState>,
    caller: Caller,
    q: Result<Query<ProjectQuery>, axum::extract::rejection::QueryRejection>,
    body: Bytes,
) -> ApiResult<Response> {
    let q = query(q)?;
    let mut spec: ClusterSpec = serde_json::from_slice(&body)
        .map_err(|e| Error::invalid("body", format!("The body is not a cluster: {e}")))?;
    let project = project_of(&state, &caller, &q).await?;
    let flavors = flavors(&state).await?;
    if q.dry_run.unwrap_or(false) || q.plan_id.is_some() {
        authorize(&state.store, &caller.actor, &project, Action::View).await?;
        clusters::prepare(&state.store, &mut spec, &flavors).await?;
        let plan = clusters::plan::create_plan_full(
            &state.store,
            &project,
            &spec,
            &flavors,
            state.cloud.as_ref(),
        )
        .await?;
        if q.dry_run.unwrap_or(false) {
            return Ok(Json(PlanBody { plan }).into_response());
        }
        clusters::plan::check_unchanged(&plan, q.plan_id.as_deref())?;
    }
    let started = clusters::create(
        &state.store,
        &state.engine,
        &caller.actor,
        &project,
        spec,
        &flavors,
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ClusterStarted {
            cluster: started.cluster,
            operation: (&started.operation).into(),
        }),
    )
        .into_response())
}

/// A cluster the caller may see (404 otherwise, whoever owns it).
async fn visible_cluster(
    state: &ApiState,
    caller: &Caller,
    id: &str,
    action: Action,
) -> ApiResult<Cluster> {
    Ok(
        clusters::cluster_for(&state.store, &caller.actor, id, action)
            .await?
            .0,
    )
}

#[utoipa::path(
    get,
    path = "/api/v1/clusters/{id}",
    summary = "A cluster with its node groups and operations",
    params(("id" = String, Path, description = "The cluster's id")),
    responses(
        (status = 200, description = "The cluster", body = ClusterShown),
        ApiErrors,
    )
)]
async fn cluster_show(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<impl serde::Serialize>> {
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    let ops = state.store.op_list_for(&cluster.id).await?;
    let node_groups = state.store.node_groups_of(&cluster.id).await?;
    Ok(Json(ClusterShown {
        cluster: ClusterDetail {
            cluster,
            node_groups: node_groups.iter().map(NodeGroupView::from).collect(),
            operations: ops.iter().map(OperationView::from).collect(),
        },
    }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/clusters/{id}",
    summary = "Delete a cluster and everything it has in the cloud (plan_id from plan-delete: only if that is still the plan)",
    params(("id" = String, Path, description = "The cluster's id"), ProjectQuery),
    responses(
        (status = 202, description = "Accepted: the cluster (DELETING) and its operation", body = ClusterStarted),
        ApiErrors,
    )
)]
async fn cluster_delete(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    q: Result<Query<ProjectQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let q = query(q)?;
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    if let Some(expected) = q.plan_id.as_deref() {
        let plan = clusters::plan::delete_plan(state.cloud.as_ref(), &cluster.id).await?;
        clusters::plan::check_unchanged(&plan, Some(expected))?;
    }
    let started = clusters::delete(
        &state.store,
        &state.engine,
        &caller.actor,
        &cluster.project_id,
        &id,
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ClusterStarted {
            cluster: started.cluster,
            operation: (&started.operation).into(),
        }),
    )
        .into_response())
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct KubeconfigRequest {
    validity_hours: Option<u32>,
}

/// A fresh kubeconfig for the caller: YAML (as a download), or JSON with its serial
/// and expiry when the client asks for `application/json`.
#[utoipa::path(
    post,
    path = "/api/v1/clusters/{id}/kubeconfig",
    summary = "Issue a kubeconfig for you: a fresh client certificate (CN = you) signed by the cluster's CA; what you may do in the cluster follows your project role, which Shipyard keeps in the cluster's RBAC; 24 h by default (1 h to 30 days). YAML download, or JSON with its serial and expiry when you Accept application/json",
    params(("id" = String, Path, description = "The cluster's id")),
    request_body(content = KubeconfigRequest, description = "Optional", content_type = "application/json"),
    responses(
        (status = 201, description = "The kubeconfig", content((KubeconfigFile = "application/yaml"), (KubeconfigIssued = "application/json"))),
        ApiErrors,
    )
)]
async fn kubeconfig_issue(
    State(state): State<ApiState>,
    headers: HeaderMap,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    let req: KubeconfigRequest = if body.iter().all(|b| b.is_ascii_whitespace()) {
        KubeconfigRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            Error::invalid(
                "body",
                format!("Send {{\"validity_hours\": 24}} or nothing: {e}"),
            )
        })?
    };
    let kc = clusters::kubeconfig(
        &state.store,
        &state.secret_key,
        &caller.actor,
        &cluster.id,
        req.validity_hours,
    )
    .await?;
    let expires = provision::pki::rfc3339(kc.not_after);
    let wants_json = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        return Ok((
            StatusCode::CREATED,
            Json(KubeconfigIssued {
                kubeconfig: KubeconfigView {
                    yaml: kc.yaml,
                    serial: kc.serial,
                    expires_at: expires,
                    file_name: kc.file_name,
                    ca_generation: kc.ca_generation,
                },
            }),
        )
            .into_response());
    }
    Ok((
        StatusCode::CREATED,
        [
            (http::header::CONTENT_TYPE, "application/yaml".to_string()),
            (
                http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", kc.file_name),
            ),
            (http::header::CACHE_CONTROL, "no-store".to_string()),
            (
                http::header::HeaderName::from_static("x-shipyard-kubeconfig-serial"),
                kc.serial.clone(),
            ),
            (
                http::header::HeaderName::from_static("x-shipyard-kubeconfig-expires"),
                expires,
            ),
        ],
        kc.yaml,
    )
        .into_response())
}

/// Replaces the cluster's CA and starts rebuilding its servers with certificates of the
/// new one; kubeconfigs issued before stop working.
#[utoipa::path(
    post,
    path = "/api/v1/clusters/{id}/rotate-ca",
    summary = "Replace the cluster's CA: the servers boot again with certificates of the new CA (an operation; the API is down while the masters boot), and kubeconfigs issued before stop working",
    params(("id" = String, Path, description = "The cluster's id")),
    responses(
        (status = 202, description = "The new CA generation, and the operation that rebuilds the servers", body = CaRotated),
        ApiErrors,
    )
)]
async fn ca_rotate(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<CaRotated>)> {
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    let (r, op) = clusters::rotate_ca(
        &state.store,
        &state.engine,
        &state.secret_key,
        &caller.actor,
        &cluster.id,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(CaRotated {
        operation: OperationView::from(&op),
        ca: CaRotation {
            generation: r.ca.generation,
            not_after: provision::pki::rfc3339(r.ca.not_after),
            retired_generation: r.retired_generation,
            invalidated_kubeconfigs: r.invalidated_kubeconfigs,
            message: "The cluster's servers boot again with certificates of the new CA; kubeconfigs issued before this rotation no longer work: download a new one.",
        },
    })))
}

#[utoipa::path(
    get,
    path = "/api/v1/clusters/{id}/nodegroups",
    summary = "The cluster's node groups",
    params(("id" = String, Path, description = "The cluster's id")),
    responses(
        (status = 200, description = "Node groups", body = NodeGroupList),
        ApiErrors,
    )
)]
async fn node_group_list(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<impl serde::Serialize>> {
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    let groups = state.store.node_groups_of(&cluster.id).await?;
    Ok(Json(NodeGroupList {
        node_groups: groups.iter().map(NodeGroupView::from).collect(),
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/clusters/{id}/nodegroups/{ng}",
    summary = "A node group",
    params(("id" = String, Path, description = "The cluster's id"), ("ng" = String, Path, description = "The node group's name")),
    responses(
        (status = 200, description = "The node group", body = NodeGroupShown),
        ApiErrors,
    )
)]
async fn node_group_show(
    State(state): State<ApiState>,
    caller: Caller,
    Path((id, ng)): Path<(String, String)>,
) -> ApiResult<Json<impl serde::Serialize>> {
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    let group = state
        .store
        .node_groups_of(&cluster.id)
        .await?
        .into_iter()
        .find(|n| n.name == ng || n.id == ng)
        .ok_or_else(|| Error::NotFound(format!("Node group {ng} not found.")))?;
    Ok(Json(NodeGroupShown {
        node_group: (&group).into(),
    }))
}

/// `PATCH` a node group: `node_count`, `min_node_count`, `max_node_count`, and
/// optionally `remove_nodes` (names) when shrinking.
#[utoipa::path(
    patch,
    path = "/api/v1/clusters/{id}/nodegroups/{ng}",
    summary = "Scale a node group or change its bounds (remove_nodes names the nodes to remove when shrinking; else the newest go). dry_run=true: the plan",
    params(("id" = String, Path, description = "The cluster's id"), ("ng" = String, Path, description = "The node group's name"), ProjectQuery),
    request_body = provision::clusters::NodeGroupChange,
    responses(
        (status = 200, description = "Bounds changed, or the plan (dry_run=true)", content((NodeGroupChanged = "application/json"), (PlanBody = "application/json"))),
        (status = 202, description = "Scaling: the node group and its operation", body = NodeGroupChanged),
        ApiErrors,
    )
)]
async fn node_group_update(
    State(state): State<ApiState>,
    caller: Caller,
    Path((id, ng)): Path<(String, String)>,
    q: Result<Query<ProjectQuery>, axum::extract::rejection::QueryRejection>,
    body: Bytes,
) -> ApiResult<Response> {
    let q = query(q)?;
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    let change: clusters::NodeGroupChange = serde_json::from_slice(&body)
        .map_err(|e| Error::invalid("body", format!("The body is not a node group change: {e}")))?;
    if q.dry_run.unwrap_or(false) || q.plan_id.is_some() {
        let plan = clusters::scale_plan(
            &state.store,
            state.cloud.as_ref(),
            &caller.actor,
            &cluster.id,
            &ng,
            &change,
        )
        .await?;
        if q.dry_run.unwrap_or(false) {
            return Ok(Json(PlanBody { plan }).into_response());
        }
        clusters::plan::check_unchanged(&plan, q.plan_id.as_deref())?;
    }
    let op = clusters::scale(
        &state.store,
        &state.engine,
        state.cloud.as_ref(),
        &caller.actor,
        &cluster.id,
        &ng,
        change,
    )
    .await?;
    let group = state
        .store
        .node_groups_of(&cluster.id)
        .await?
        .into_iter()
        .find(|n| n.name == ng)
        .ok_or_else(|| Error::NotFound(format!("Node group {ng} not found.")))?;
    let status = if op.is_some() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(NodeGroupChanged {
            node_group: (&group).into(),
            operation: op.as_ref().map(OperationView::from),
        }),
    )
        .into_response())
}

fn accepted(body: impl serde::Serialize) -> Response {
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

fn parse<T: serde::de::DeserializeOwned>(body: &Bytes, what: &str) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError(Error::invalid(
            "body",
            format!("The body is not {what}: {e}"),
        ))
    })
}

#[utoipa::path(
    get,
    path = "/api/v1/clusters/{id}/plan-delete",
    summary = "What deleting the cluster removes: everything of it the cloud holds; pass its plan_id to DELETE to apply exactly that",
    params(("id" = String, Path, description = "The cluster's id")),
    responses(
        (status = 200, description = "The plan", body = PlanBody),
        ApiErrors,
    )
)]
async fn cluster_plan_delete(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<impl serde::Serialize>> {
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    let plan = clusters::plan::delete_plan(state.cloud.as_ref(), &cluster.id).await?;
    Ok(Json(PlanBody { plan }))
}

#[utoipa::path(
    post,
    path = "/api/v1/clusters/{id}/nodegroups",
    summary = "Add a node group (dry_run=true: its plan; plan_id: apply only that plan)",
    params(("id" = String, Path, description = "The cluster's id"), ProjectQuery),
    request_body = provision::clusters::NodeGroupSpec,
    responses(
        (status = 200, description = "The plan (dry_run=true)", body = PlanBody),
        (status = 202, description = "The node group and its operation", body = NodeGroupChanged),
        ApiErrors,
    )
)]
async fn node_group_create(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    q: Result<Query<ProjectQuery>, axum::extract::rejection::QueryRejection>,
    body: Bytes,
) -> ApiResult<Response> {
    let q = query(q)?;
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    let group: clusters::NodeGroupSpec = parse(&body, "a node group")?;
    let flavors = flavors(&state).await?;
    if q.dry_run.unwrap_or(false) || q.plan_id.is_some() {
        let plan = clusters::node_group_create_plan(
            &state.store,
            state.cloud.as_ref(),
            &caller.actor,
            &cluster.id,
            &group,
            &flavors,
        )
        .await?;
        if q.dry_run.unwrap_or(false) {
            return Ok(Json(PlanBody { plan }).into_response());
        }
        clusters::plan::check_unchanged(&plan, q.plan_id.as_deref())?;
    }
    let (ng, op) = clusters::node_group_create(
        &state.store,
        &state.engine,
        &caller.actor,
        &cluster.id,
        group,
        &flavors,
    )
    .await?;
    Ok(accepted(NodeGroupChanged {
        node_group: (&ng).into(),
        operation: Some((&op).into()),
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/clusters/{id}/nodegroups/{ng}/plan-delete",
    summary = "What deleting the node group removes (its workers as the cloud has them)",
    params(("id" = String, Path, description = "The cluster's id"), ("ng" = String, Path, description = "The node group's name")),
    responses(
        (status = 200, description = "The plan", body = PlanBody),
        ApiErrors,
    )
)]
async fn node_group_plan_delete(
    State(state): State<ApiState>,
    caller: Caller,
    Path((id, ng)): Path<(String, String)>,
) -> ApiResult<Json<impl serde::Serialize>> {
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    let plan = clusters::node_group_delete_plan(
        &state.store,
        state.cloud.as_ref(),
        &caller.actor,
        &cluster.id,
        &ng,
    )
    .await?;
    Ok(Json(PlanBody { plan }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/clusters/{id}/nodegroups/{ng}",
    summary = "Delete a node group and its workers (a cluster keeps at least one)",
    params(("id" = String, Path, description = "The cluster's id"), ("ng" = String, Path, description = "The node group's name"), ProjectQuery),
    responses(
        (status = 202, description = "Its operation", body = OperationStarted),
        ApiErrors,
    )
)]
async fn node_group_delete(
    State(state): State<ApiState>,
    caller: Caller,
    Path((id, ng)): Path<(String, String)>,
    q: Result<Query<ProjectQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let q = query(q)?;
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    if let Some(expected) = q.plan_id.as_deref() {
        let plan = clusters::node_group_delete_plan(
            &state.store,
            state.cloud.as_ref(),
            &caller.actor,
            &cluster.id,
            &ng,
        )
        .await?;
        clusters::plan::check_unchanged(&plan, Some(expected))?;
    }
    let op = clusters::node_group_delete(
        &state.store,
        &state.engine,
        state.cloud.as_ref(),
        &caller.actor,
        &cluster.id,
        &ng,
    )
    .await?;
    Ok(accepted(OperationStarted {
        operation: (&op).into(),
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/clusters/{id}/services",
    summary = "Services exposed on load balancers",
    params(("id" = String, Path, description = "The cluster's id")),
    responses(
        (status = 200, description = "Services", body = ServiceList),
        ApiErrors,
    )
)]
async fn service_list(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<impl serde::Serialize>> {
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    Ok(Json(ServiceList {
        services: state.store.services_of(&cluster.id).await?,
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/clusters/{id}/services",
    summary = "Expose a service: a load balancer, one listener per port, the workers as members on the node port (picked from 30000-32767 when omitted)",
    params(("id" = String, Path, description = "The cluster's id")),
    request_body = provision::clusters::workloads::ServiceSpec,
    responses(
        (status = 202, description = "The service (CREATING) and its operation", body = ServiceStarted),
        ApiErrors,
    )
)]
async fn service_create(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    let spec: workloads::ServiceSpec = parse(&body, "a service")?;
    let (service, op) = workloads::service_create(
        &state.store,
        &state.engine,
        state.cloud.as_ref(),
        &caller.actor,
        &cluster.id,
        spec,
    )
    .await?;
    Ok(accepted(ServiceStarted {
        service,
        operation: (&op).into(),
    }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/clusters/{id}/services/{name}",
    summary = "Remove a service's load balancer",
    params(("id" = String, Path, description = "The cluster's id"), ("name" = String, Path, description = "The service's name or id")),
    responses(
        (status = 202, description = "Its operation", body = OperationStarted),
        ApiErrors,
    )
)]
async fn service_delete(
    State(state): State<ApiState>,
    caller: Caller,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    let op = workloads::service_delete(
        &state.store,
        &state.engine,
        &caller.actor,
        &cluster.id,
        &name,
    )
    .await?;
    Ok(accepted(OperationStarted {
        operation: (&op).into(),
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/clusters/{id}/volumes",
    summary = "Persistent volumes",
    params(("id" = String, Path, description = "The cluster's id")),
    responses(
        (status = 200, description = "Volumes", body = VolumeList),
        ApiErrors,
    )
)]
async fn volume_list(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<impl serde::Serialize>> {
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    Ok(Json(VolumeList {
        volumes: state.store.volumes_of(&cluster.id).await?,
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/clusters/{id}/volumes",
    summary = "Create a persistent volume on block storage",
    params(("id" = String, Path, description = "The cluster's id")),
    request_body = provision::clusters::workloads::VolumeRequest,
    responses(
        (status = 202, description = "The volume (CREATING) and its operation", body = VolumeStarted),
        ApiErrors,
    )
)]
async fn volume_create(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    let req: workloads::VolumeRequest = parse(&body, "a volume")?;
    let (volume, op) = workloads::volume_create(
        &state.store,
        &state.engine,
        state.cloud.as_ref(),
        &caller.actor,
        &cluster.id,
        req,
    )
    .await?;
    Ok(accepted(VolumeStarted {
        volume,
        operation: (&op).into(),
    }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/clusters/{id}/volumes/{name}",
    summary = "Delete a persistent volume (detached first)",
    params(("id" = String, Path, description = "The cluster's id"), ("name" = String, Path, description = "The volume's name or id")),
    responses(
        (status = 202, description = "Its operation", body = OperationStarted),
        ApiErrors,
    )
)]
async fn volume_delete(
    State(state): State<ApiState>,
    caller: Caller,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    let op = workloads::volume_delete(
        &state.store,
        &state.engine,
        &caller.actor,
        &cluster.id,
        &name,
    )
    .await?;
    Ok(accepted(OperationStarted {
        operation: (&op).into(),
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/operations/{id}",
    summary = "An operation: state, progress, steps, events, error",
    params(("id" = String, Path, description = "The operation's id")),
    responses(
        (status = 200, description = "The operation", body = OperationShown),
        ApiErrors,
    )
)]
async fn operation_show(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<impl serde::Serialize>> {
    let op = provision::operations::visible(&state.store, &caller.actor, &id, Action::View).await?;
    let steps = state.store.op_steps(&id).await?;
    let events = state.store.op_events(&id).await?;
    Ok(Json(OperationShown {
        operation: OperationDetail {
            operation: (&op).into(),
            steps: steps
                .into_iter()
                .map(|s| StepView {
                    key: s.step,
                    state: s.state,
                    attempts: s.attempts,
                    error: s.error,
                    output: s.output,
                    started_at: s.started_at,
                    finished_at: s.finished_at,
                })
                .collect(),
            events: events
                .into_iter()
                .map(|e| EventView {
                    at: e.at,
                    step: e.step,
                    event: e.event,
                    detail: e.detail,
                })
                .collect(),
        },
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/operations/{id}/retry",
    summary = "Run a failed operation again from its first unfinished step (stuck ones: admins only)",
    params(("id" = String, Path, description = "The operation's id")),
    responses(
        (status = 202, description = "The operation", body = OperationStarted),
        ApiErrors,
    )
)]
async fn operation_retry(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let op = provision::operations::retry(&state.store, &state.engine, &caller.actor, &id).await?;
    Ok(accepted(OperationStarted {
        operation: (&op).into(),
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/operations/{id}/abort",
    summary = "Stop a pending or running operation; a create unwinds what it made",
    params(("id" = String, Path, description = "The operation's id")),
    responses(
        (status = 202, description = "The operation", body = OperationStarted),
        ApiErrors,
    )
)]
async fn operation_abort(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let op = provision::operations::abort(&state.store, &state.engine, &caller.actor, &id).await?;
    Ok(accepted(OperationStarted {
        operation: (&op).into(),
    }))
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct StatesQuery {
    /// Comma-separated states; default: the unfinished and the failed.
    state: Option<String>,
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
async fn admin_operations(
    State(state): State<ApiState>,
    caller: Caller,
    q: Result<Query<StatesQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<impl serde::Serialize>> {
    use provision::ops::OpState;
    let q = q
        .map(|Query(q)| q)
        .map_err(|e| Error::invalid("query", format!("Bad query string: {e}")))?;
    let states = match q.state.as_deref() {
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
    };
    let ops = provision::operations::list_all(&state.store, &caller.actor, &states).await?;
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
async fn version_list(
    State(state): State<ApiState>,
    caller: Caller,
) -> ApiResult<Json<impl serde::Serialize>> {
    let list = clusters::versions::list(&state.store, caller.actor.is_admin).await?;
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
async fn version_set(
    State(state): State<ApiState>,
    caller: Caller,
    Path(version): Path<String>,
    body: Bytes,
) -> ApiResult<Json<impl serde::Serialize>> {
    provision::accounts::require_admin(&caller.actor)?;
    let change: VersionChange = parse(&body, "a version change ({\"enabled\": true})")?;
    let v = clusters::versions::set(
        &state.store,
        state.cloud.as_ref(),
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
async fn flavor_list(
    State(state): State<ApiState>,
    caller: Caller,
) -> ApiResult<Json<impl serde::Serialize>> {
    let mut list = clusters::flavors::list(&state.store, &flavors(&state).await?).await?;
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
async fn flavor_set(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Json<impl serde::Serialize>> {
    provision::accounts::require_admin(&caller.actor)?;
    let change: FlavorChange = parse(&body, "a flavor change ({\"enabled\": false})")?;
    let f = clusters::flavors::set(
        &state.store,
        state.cloud.as_ref(),
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
async fn quota_list(
    State(state): State<ApiState>,
    caller: Caller,
) -> ApiResult<Json<impl serde::Serialize>> {
    provision::accounts::require_admin(&caller.actor)?;
    let list = provision::admin::project_quotas(
        &state.store,
        &caller.actor,
        &flavors(&state).await?,
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
async fn quota_set(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<impl serde::Serialize>> {
    provision::accounts::require_admin(&caller.actor)?;
    let q: provision::quotas::Quota = parse(
        &body,
        "a quota ({\"clusters\", \"vcpus\", \"ram_mib\", \"volume_gib\", \"load_balancers\"})",
    )?;
    provision::admin::set_quota(&state.store, &caller.actor, &id, &q).await?;
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
async fn audit_list(
    State(state): State<ApiState>,
    caller: Caller,
    q: Result<Query<provision::accounts::AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<impl serde::Serialize>> {
    let q = q
        .map(|Query(q)| q)
        .map_err(|e| Error::invalid("query", format!("Bad query string: {e}")))?;
    let entries = provision::accounts::audit_search(&state.store, &caller.actor, &q).await?;
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    /// Days until it expires (default 90); `null` for never.
    #[serde(default = "default_lifetime")]
    expires_in_days: Option<u32>,
    #[serde(default)]
    read_only: bool,
}

fn default_lifetime() -> Option<u32> {
    Some(provision::tokens::DEFAULT_LIFETIME_DAYS)
}

#[utoipa::path(
    post,
    path = "/api/v1/tokens",
    summary = "Create a token (from a console session; a token cannot mint tokens); its secret is shown only in this answer",
    request_body = NewToken,
    responses(
        (status = 201, description = "The token with its secret", body = TokenCreated),
        ApiErrors,
    )
)]
async fn token_create(
    State(state): State<ApiState>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<Response> {
    let req: NewToken = serde_json::from_slice(&body)
        .map_err(|e| Error::invalid("body", format!("Send {{\"name\": \"...\"}}: {e}")))?;
    let options = provision::tokens::TokenOptions {
        lifetime_days: req.expires_in_days,
        read_only: req.read_only,
    };
    let (token, secret) =
        provision::tokens::create(&state.store, &caller.actor, &req.name, options).await?;
    Ok((
        StatusCode::CREATED,
        Json(TokenCreated {
            token: NewTokenView {
                id: token.id,
                name: token.name,
                created_at: token.created_at,
                expires_at: token.expires_at,
                read_only: token.read_only,
                secret,
                note: "This is the only time the token is shown.",
            },
        }),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/tokens",
    summary = "Your API tokens (never their secrets)",
    responses(
        (status = 200, description = "Tokens", body = TokenList),
        ApiErrors,
    )
)]
async fn token_list(
    State(state): State<ApiState>,
    caller: Caller,
) -> ApiResult<Json<impl serde::Serialize>> {
    let tokens = provision::tokens::list(&state.store, &caller.actor).await?;
    Ok(Json(TokenList { tokens }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/tokens/{id}",
    summary = "Revoke a token",
    params(("id" = String, Path, description = "The token's id")),
    responses(
        (status = 204, description = "Revoked"),
        ApiErrors,
    )
)]
async fn token_revoke(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    provision::tokens::revoke(&state.store, &caller.actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// How often an open stream asks again whether its caller may still see the cluster.
const STREAM_RECHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// Whether the caller who opened a stream may still see `cluster_id`: the request's
/// credentials resolved again (a disabled user, a changed password, a revoked or expired
/// token fail here), its session still on record (signed out elsewhere), and the
/// cluster still in one of the caller's projects.
async fn still_allowed(state: &ApiState, request: &http::request::Parts, cluster_id: &str) -> bool {
    use axum::extract::FromRequestParts;
    let mut parts = request.clone();
    let Ok(caller) = Caller::from_request_parts(&mut parts, state).await else {
        return false;
    };
    if matches!(caller.actor.credential, Credential::Session) {
        let Some(id) = parts.extensions.get::<Session>().and_then(|s| s.id()) else {
            return false;
        };
        let on_record = state
            .store
            .session_load(&id.to_string(), provision::now_ms())
            .await;
        if !matches!(on_record, Ok(Some(_))) {
            return false;
        }
    }
    clusters::cluster_for(&state.store, &caller.actor, cluster_id, Action::View)
        .await
        .is_ok()
}

/// The cluster's progress as server-sent events: one `message` event whenever its
/// status or an operation's state or step count changes (checked twice a second), for
/// at most ten minutes, until the cluster is deleted, or until its caller may no longer
/// see it (asked again every [`STREAM_RECHECK`]). Streams are capped per user and in
/// all ([`crate::live_streams`]). The console's cluster page listens while something
/// runs.
async fn cluster_events(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    request: http::request::Parts,
) -> ApiResult<Response> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    let permit = state.streams.open(&caller.user.id)?;
    let until = std::time::Instant::now() + std::time::Duration::from_secs(600);
    let follow = Follow {
        state,
        request,
        id: cluster.id,
        last: String::new(),
        first: true,
        gone: false,
        checked: std::time::Instant::now(),
        _permit: permit,
    };
    let stream = futures_util::stream::unfold(follow, move |mut f| async move {
        loop {
            // The last event said the cluster is gone: nothing more will change.
            if f.gone {
                return None;
            }
            if !f.first || !f.last.is_empty() {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            if std::time::Instant::now() > until {
                return None;
            }
            if f.checked.elapsed() >= STREAM_RECHECK {
                if !still_allowed(&f.state, &f.request, &f.id).await {
                    return None;
                }
                f.checked = std::time::Instant::now();
            }
            let store = &f.state.store;
            let status = match store.cluster_by_id(&f.id).await {
                Ok(c) => c.status,
                Err(_) => return None,
            };
            let ops = store.op_list_for(&f.id).await.unwrap_or_default();
            let now = json!({
                "status": status,
                "operations": ops.iter().take(5).map(|o| json!({
                    "id": o.id, "state": o.state.as_str(), "done": o.steps_done, "total": o.steps_total,
                })).collect::<Vec<_>>(),
            })
            .to_string();
            if now != f.last {
                f.gone = status == "DELETED";
                f.first = false;
                f.last = now.clone();
                let event = Event::default().event("message").data(now);
                return Some((Ok::<_, std::convert::Infallible>(event), f));
            }
        }
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(std::time::Duration::from_secs(5)))
        .into_response())
}

/// What a cluster's event stream carries from one poll to the next.
struct Follow {
    state: ApiState,
    request: http::request::Parts,
    id: String,
    last: String,
    first: bool,
    gone: bool,
    checked: std::time::Instant,
    _permit: crate::live_streams::StreamPermit,
}
