//! The caller's personal API tokens: create (its secret shown once), list, revoke.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use provision::Error;
use serde::Deserialize;

use super::{ApiResult, AppState, Caller};
use crate::views::*;

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
pub(super) async fn token_create(
    State(state): State<AppState>,
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
        provision::tokens::create(&state.core.store, &caller.actor, &req.name, options).await?;
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
pub(super) async fn token_list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<impl serde::Serialize>> {
    let tokens = provision::tokens::list(&state.core.store, &caller.actor).await?;
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
pub(super) async fn token_revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    provision::tokens::revoke(&state.core.store, &caller.actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
