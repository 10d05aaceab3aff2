//! Identity: Keystone v3 password authentication scoped to a project, answering with
//! `X-Subject-Token` and a token body carrying the service catalog.

pub mod state;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::common::auth::authenticate;
use crate::common::errors::{ApiError, KEYSTONE};
use crate::{format_time, new_id, Cloud};

pub use state::{Identity, Token};
use state::{DOMAIN_ID, DOMAIN_NAME};

pub fn router() -> Router<Arc<Cloud>> {
    Router::new()
        .route("/", get(versions))
        .route("/v3", get(version))
        .route("/v3/", get(version))
        .route("/v3/auth/tokens", post(issue).get(show))
        .route("/v3/projects", get(projects))
        .route("/v3/projects/{id}", get(project))
}

fn version_body(cloud: &Cloud) -> Value {
    json!({
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": format!("{}/identity/v3/", cloud.base_url)}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    })
}

async fn versions(State(cloud): State<Arc<Cloud>>) -> Response {
    (
        StatusCode::MULTIPLE_CHOICES,
        Json(json!({"versions": {"values": [version_body(&cloud)]}})),
    )
        .into_response()
}

async fn version(State(cloud): State<Arc<Cloud>>) -> Json<Value> {
    Json(json!({"version": version_body(&cloud)}))
}

#[derive(Deserialize)]
struct AuthRequest {
    auth: Auth,
}

#[derive(Deserialize)]
struct Auth {
    identity: AuthIdentity,
    scope: Option<Scope>,
}

#[derive(Deserialize)]
struct AuthIdentity {
    methods: Vec<String>,
    password: Option<PasswordMethod>,
}

#[derive(Deserialize)]
struct PasswordMethod {
    user: PasswordUser,
}

#[derive(Deserialize)]
struct PasswordUser {
    id: Option<String>,
    name: Option<String>,
    password: String,
}

#[derive(Deserialize)]
struct Scope {
    project: Option<ScopeProject>,
}

#[derive(Deserialize)]
struct ScopeProject {
    id: Option<String>,
    name: Option<String>,
}

async fn issue(State(cloud): State<Arc<Cloud>>, body: Bytes) -> Result<Response, ApiError> {
    let req: AuthRequest = serde_json::from_slice(&body).map_err(|e| {
        KEYSTONE.err(
            StatusCode::BAD_REQUEST,
            format!("Malformed authentication request: {e}"),
        )
    })?;
    if !req.auth.identity.methods.iter().any(|m| m == "password") {
        return Err(KEYSTONE.err(
            StatusCode::UNAUTHORIZED,
            "Only the password method is supported.",
        ));
    }
    let pw = req.auth.identity.password.ok_or_else(|| {
        KEYSTONE.err(
            StatusCode::BAD_REQUEST,
            "The password method needs a password object.",
        )
    })?;
    let unauthorized = || {
        KEYSTONE.err(
            StatusCode::UNAUTHORIZED,
            "The request you have made requires authentication.",
        )
    };
    let user = cloud
        .identity
        .users
        .iter()
        .find(|u| {
            pw.user.id.as_deref() == Some(u.id.as_str())
                || pw.user.name.as_deref() == Some(u.name.as_str())
        })
        .filter(|u| u.password.as_deref() == Some(pw.user.password.as_str()))
        .ok_or_else(unauthorized)?;
    if let Some(project) = req.auth.scope.and_then(|s| s.project) {
        let matches = project.id.as_deref() == Some(user.project_id.as_str())
            || project.name.as_deref() == Some(user.project_name.as_str());
        if !matches {
            return Err(unauthorized());
        }
    }
    let issued_at = OffsetDateTime::now_utc();
    let token = Token {
        user_id: user.id.clone(),
        user_name: user.name.clone(),
        project_id: user.project_id.clone(),
        project_name: user.project_name.clone(),
        admin: user.admin,
        issued_at,
        expires_at: issued_at + cloud.config.token_ttl,
    };
    let id = format!("lc{}{}", new_id(), new_id());
    let body = token_body(&cloud, &token);
    cloud
        .identity
        .tokens
        .lock()
        .map_err(|_| KEYSTONE.err(StatusCode::INTERNAL_SERVER_ERROR, "token store poisoned"))?
        .insert(id.clone(), token);
    let mut res = (StatusCode::CREATED, Json(body)).into_response();
    res.headers_mut().insert(
        "x-subject-token",
        HeaderValue::from_str(&id)
            .map_err(|e| KEYSTONE.err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?,
    );
    Ok(res)
}

/// `GET /v3/auth/tokens`: validate the token in `X-Subject-Token`.
async fn show(State(cloud): State<Arc<Cloud>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let caller = headers.get("x-auth-token").and_then(|v| v.to_str().ok());
    let subject = headers.get("x-subject-token").and_then(|v| v.to_str().ok());
    let (Some(caller), Some(subject)) = (caller, subject) else {
        return Err(KEYSTONE.err(
            StatusCode::UNAUTHORIZED,
            "The request you have made requires authentication.",
        ));
    };
    if cloud.identity.validate(caller).is_none() {
        return Err(KEYSTONE.err(
            StatusCode::UNAUTHORIZED,
            "The request you have made requires authentication.",
        ));
    }
    let token = cloud
        .identity
        .validate(subject)
        .ok_or_else(|| KEYSTONE.err(StatusCode::NOT_FOUND, "Could not find token."))?;
    Ok((StatusCode::OK, Json(token_body(&cloud, &token))).into_response())
}

fn token_body(cloud: &Cloud, t: &Token) -> Value {
    json!({
        "token": {
            "audit_ids": [new_id()],
            "catalog": catalog(cloud, &t.project_id),
            "expires_at": format_time(t.expires_at),
            "is_domain": false,
            "issued_at": format_time(t.issued_at),
            "methods": ["password"],
            "project": {
                "domain": {"id": DOMAIN_ID, "name": DOMAIN_NAME},
                "id": t.project_id,
                "name": t.project_name,
            },
            "roles": if t.admin {
                json!([{"id": cloud.identity.role_id, "name": "admin"}, {"id": cloud.identity.member_role_id, "name": "member"}])
            } else {
                json!([{"id": cloud.identity.member_role_id, "name": "member"}])
            },
            "user": {
                "domain": {"id": DOMAIN_ID, "name": DOMAIN_NAME},
                "id": t.user_id,
                "name": t.user_name,
                "password_expires_at": null,
            },
        }
    })
}

/// The services this cloud serves, each with public, internal and admin endpoints.
fn catalog(cloud: &Cloud, project_id: &str) -> Value {
    let base = &cloud.base_url;
    let region = &cloud.config.region;
    let services = [
        ("identity", "keystone", format!("{base}/identity")),
        ("compute", "nova", format!("{base}/compute/v2.1")),
        (
            "block-storage",
            "cinder",
            format!("{base}/volume/v3/{project_id}"),
        ),
        (
            "volumev3",
            "cinderv3",
            format!("{base}/volume/v3/{project_id}"),
        ),
        ("image", "glance", format!("{base}/image")),
        ("network", "neutron", format!("{base}/network")),
        ("load-balancer", "octavia", format!("{base}/load-balancer")),
    ];
    Value::Array(
        services
            .iter()
            .map(|(kind, name, url)| {
                let endpoints: Vec<Value> = ["public", "internal", "admin"]
                    .iter()
                    .map(|interface| {
                        json!({
                            "id": new_id(),
                            "interface": interface,
                            "region": region,
                            "region_id": region,
                            "url": url,
                        })
                    })
                    .collect();
                json!({
                    "endpoints": endpoints,
                    "type": kind,
                    "id": new_id(),
                    "name": name,
                })
            })
            .collect(),
    )
}

fn project_body(cloud: &Cloud, id: &str, name: &str) -> Value {
    json!({
        "id": id,
        "name": name,
        "domain_id": DOMAIN_ID,
        "parent_id": DOMAIN_ID,
        "description": "",
        "enabled": true,
        "is_domain": false,
        "tags": [],
        "options": {},
        "links": {"self": format!("{}/identity/v3/projects/{id}", cloud.base_url)},
    })
}

/// The projects a token may see: every project for an admin, else its own.
fn visible_projects(cloud: &Cloud, headers: &HeaderMap) -> Result<Vec<(String, String)>, ApiError> {
    let token = authenticate(cloud, headers, KEYSTONE)?;
    let mut seen: Vec<(String, String)> = Vec::new();
    for u in &cloud.identity.users {
        if (token.admin || u.project_id == token.project_id)
            && !seen.iter().any(|(id, _)| *id == u.project_id)
        {
            seen.push((u.project_id.clone(), u.project_name.clone()));
        }
    }
    Ok(seen)
}

#[derive(Deserialize, Default)]
struct ProjectQuery {
    name: Option<String>,
}

/// `GET /v3/projects`, so that clients can resolve a project by name.
async fn projects(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    q: Result<axum::extract::Query<ProjectQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let name = q.map(|q| q.0.name).unwrap_or_default();
    let list: Vec<Value> = visible_projects(&cloud, &headers)?
        .iter()
        .filter(|(_, n)| name.as_ref().is_none_or(|want| want == n))
        .map(|(id, n)| project_body(&cloud, id, n))
        .collect();
    Ok(Json(json!({
        "projects": list,
        "links": {"self": format!("{}/identity/v3/projects", cloud.base_url), "next": null, "previous": null},
    })))
}

async fn project(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<Value>, ApiError> {
    visible_projects(&cloud, &headers)?
        .iter()
        .find(|(pid, _)| *pid == id)
        .map(|(pid, n)| Json(json!({"project": project_body(&cloud, pid, n)})))
        .ok_or_else(|| {
            KEYSTONE.err(
                StatusCode::NOT_FOUND,
                format!("Could not find project: {id}."),
            )
        })
}
