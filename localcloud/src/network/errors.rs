//! Neutron's errors: its exception names (`NetworkNotFound`, `InvalidInput`, ...) on
//! top of the common error body.

use axum::http::StatusCode;

use crate::common::errors::{ApiError, NEUTRON};

pub(crate) fn invalid(message: impl Into<String>) -> ApiError {
    NEUTRON.bad(message).kind("InvalidInput")
}

pub(crate) fn not_found(kind: &'static str, what: &str, id: &str) -> ApiError {
    NEUTRON
        .err(
            StatusCode::NOT_FOUND,
            format!("{what} {id} could not be found."),
        )
        .kind(kind)
}

pub(crate) fn conflict(kind: &'static str, message: impl Into<String>) -> ApiError {
    NEUTRON.err(StatusCode::CONFLICT, message).kind(kind)
}

pub(crate) fn forbidden_shared(id: &str) -> ApiError {
    NEUTRON
        .err(
            StatusCode::FORBIDDEN,
            format!(
            "Network {id} is shared and belongs to another project: only its owner may change it."
        ),
        )
        .kind("PolicyNotAuthorized")
}

pub(crate) fn exhausted(net: &str) -> ApiError {
    conflict(
        "IpAddressGenerationFailure",
        format!("No more IP addresses available on network {net}."),
    )
}
