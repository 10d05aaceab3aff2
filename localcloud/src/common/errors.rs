//! Error bodies in each service's own published shape (see
//! ../shared/openstack-api-samples/README.md, "Error bodies").

use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;
use serde_json::json;

/// Which API answered, which decides the error body's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Identity,
    Compute,
    Volume,
    Image,
    Network,
    LoadBalancer,
}

/// Each service by the name of the OpenStack project whose API it answers.
pub const KEYSTONE: Service = Service::Identity;
pub const NOVA: Service = Service::Compute;
pub const CINDER: Service = Service::Volume;
pub const GLANCE: Service = Service::Image;
pub const NEUTRON: Service = Service::Network;
pub const OCTAVIA: Service = Service::LoadBalancer;

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub service: Service,
    pub status: StatusCode,
    pub message: String,
    /// Neutron's exception name (`NetworkInUse`, ...) when it says more than the status.
    pub kind: Option<&'static str>,
}

impl ApiError {
    pub fn new(service: Service, status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            service,
            status,
            message: message.into(),
            kind: None,
        }
    }

    /// The same error under Neutron's exception name `kind`.
    pub fn kind(mut self, kind: &'static str) -> Self {
        self.kind = Some(kind);
        self
    }
}

/// Nova's (and Cinder's) fault name for a status.
pub fn nova_fault_name(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "badRequest",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "itemNotFound",
        405 => "badMethod",
        409 => "conflictingRequest",
        413 => "overLimit",
        415 => "badMediaType",
        501 => "notImplemented",
        503 => "serviceUnavailable",
        _ => "computeFault",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.status.as_u16();
        let body = match self.service {
            Service::Identity => json!({
                "error": {
                    "code": code,
                    "title": self.status.canonical_reason().unwrap_or("Error"),
                    "message": self.message,
                }
            }),
            // Glance answers errors as webob does: title, code and a message.
            Service::Image => json!({
                "code": code,
                "title": self.status.canonical_reason().unwrap_or("Error"),
                "message": self.message,
            }),
            Service::Network => json!({
                "NeutronError": {
                    "type": self.kind.unwrap_or(match code { 404 => "NotFound", 401 => "NotAuthorized", 400 => "BadRequest", 403 => "PolicyNotAuthorized", 409 => "Conflict", _ => "NeutronException" }),
                    "message": self.message,
                    "detail": "",
                }
            }),
            // Octavia answers as WSME does.
            Service::LoadBalancer => json!({
                "faultcode": if code < 500 { "Client" } else { "Server" },
                "faultstring": self.message,
                "debuginfo": null,
            }),
            Service::Compute | Service::Volume => json!({
                nova_fault_name(self.status): { "code": code, "message": self.message }
            }),
        };
        (self.status, Json(body)).into_response()
    }
}

impl Service {
    /// An error in this service's shape.
    pub fn err(self, status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError::new(self, status, message)
    }

    /// A 400 in this service's shape.
    pub fn bad(self, message: impl Into<String>) -> ApiError {
        self.err(StatusCode::BAD_REQUEST, message)
    }
}
