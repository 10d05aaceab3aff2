//! Who is calling: the one check every service makes of `X-Auth-Token`, answering a
//! missing or expired token with that service's own 401.

use axum::http::{HeaderMap, StatusCode};

use crate::common::errors::{ApiError, Service};
use crate::identity::state::Token;
use crate::Cloud;

/// What each service says when the token is missing or expired.
fn unauthorized(service: Service) -> &'static str {
    match service {
        Service::Network => "Authentication required",
        Service::Image => "This server could not verify that you are authorized to access the document you requested.",
        Service::Identity | Service::Compute | Service::Volume | Service::LoadBalancer => {
            "The request you have made requires authentication."
        }
    }
}

/// The caller's live token, or `service`'s 401.
pub fn authenticate(
    cloud: &Cloud,
    headers: &HeaderMap,
    service: Service,
) -> Result<Token, ApiError> {
    cloud
        .identity
        .from_headers(headers)
        .ok_or_else(|| service.err(StatusCode::UNAUTHORIZED, unauthorized(service)))
}

/// The caller's token, which must be scoped to `project` (the project in the URL,
/// as Cinder's paths carry it): `service`'s 401, or 403 for another project.
pub fn authenticate_in(
    cloud: &Cloud,
    headers: &HeaderMap,
    service: Service,
    project: &str,
) -> Result<Token, ApiError> {
    let token = authenticate(cloud, headers, service)?;
    if token.project_id != project {
        return Err(service.err(
            StatusCode::FORBIDDEN,
            "Policy doesn't allow this operation on another project.",
        ));
    }
    Ok(token)
}
