//! Errors as kube-apiserver gives them: a `Status` object with the HTTP code, a reason
//! clients switch on (`NotFound`, `AlreadyExists`, `Invalid`, …), a message for people
//! and, for a refused object, the details kubectl words its error from (`The Service
//! "web" is invalid: spec.ports[0].nodePort: Invalid value: …`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

#[derive(Debug)]
pub struct ApiError {
    pub code: StatusCode,
    pub reason: &'static str,
    pub message: String,
    /// The Status's `details` (kind, name, causes), when there are any.
    pub details: Option<Value>,
}

/// One cause of a refused object: the field, kube-apiserver's cause type
/// (`FieldValueInvalid`, `FieldValueForbidden`, …) and its message without the field
/// (`Invalid value: 30080: provided port is already allocated`).
pub struct Cause {
    pub field: String,
    pub kind: &'static str,
    pub message: String,
}

impl Cause {
    /// `field: Invalid value: <value>: <detail>`.
    pub fn invalid(field: impl Into<String>, value: &Value, detail: &str) -> Self {
        Cause {
            field: field.into(),
            kind: "FieldValueInvalid",
            message: format!("Invalid value: {value}: {detail}"),
        }
    }

    /// `field: Forbidden: <detail>`.
    pub fn forbidden(field: impl Into<String>, detail: &str) -> Self {
        Cause {
            field: field.into(),
            kind: "FieldValueForbidden",
            message: format!("Forbidden: {detail}"),
        }
    }
}

impl ApiError {
    fn plain(code: StatusCode, reason: &'static str, message: String) -> Self {
        ApiError {
            code,
            reason,
            message,
            details: None,
        }
    }

    pub fn not_found(resource: &str, name: &str) -> Self {
        Self::plain(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("{resource} \"{name}\" not found"),
        )
    }

    pub fn already_exists(resource: &str, name: &str) -> Self {
        Self::plain(
            StatusCode::CONFLICT,
            "AlreadyExists",
            format!("{resource} \"{name}\" already exists"),
        )
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::plain(StatusCode::BAD_REQUEST, "BadRequest", message.into())
    }

    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::plain(StatusCode::NOT_FOUND, "NotFound", message.into())
    }

    /// 403 from an admission plugin: `<resource> "<name>" is forbidden: <why>`.
    pub fn forbidden(resource: &str, name: &str, why: &str) -> Self {
        let mut e = Self::plain(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!("{resource} \"{name}\" is forbidden: {why}"),
        );
        e.details = Some(json!({"name": name, "kind": resource}));
        e
    }

    /// 422 `Invalid`: `<Kind> "<name>" is invalid: <field>: <message>, …`, with the causes
    /// in the details (kubectl prints them as `The <Kind> "<name>" is invalid: …`).
    pub fn invalid(kind: &str, name: &str, causes: Vec<Cause>) -> Self {
        let listed: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        let message = if listed.len() == 1 {
            listed[0].clone()
        } else {
            format!("[{}]", listed.join(", "))
        };
        let causes: Vec<Value> = causes
            .iter()
            .map(|c| json!({"reason": c.kind, "message": c.message, "field": c.field}))
            .collect();
        ApiError {
            code: StatusCode::UNPROCESSABLE_ENTITY,
            reason: "Invalid",
            message: format!("{kind} \"{name}\" is invalid: {message}"),
            details: Some(json!({"name": name, "kind": kind, "causes": causes})),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code.as_u16(),
        });
        if let Some(d) = self.details {
            body["details"] = d;
        }
        (self.code, Json(body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
