//! Cloud errors: which call failed, how (retryable, not found, permanent), the HTTP
//! status, and the cloud's own message pulled out of each service's error shape, so
//! that an operation's failure reads as the cloud explained it.

use serde_json::Value;

/// What a caller can do about an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The same call may succeed later: 5xx, 429, time-outs, dropped connections,
    /// 409 while a resource is PENDING_*, a wait that ran out of time.
    Retryable,
    /// The resource does not exist (404).
    NotFound,
    /// Retrying will not help: bad request, forbidden, quota, no valid host, ...
    Permanent,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{call}: {message}{}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
pub struct CloudError {
    pub kind: ErrorKind,
    /// The HTTP status, when the cloud answered.
    pub status: Option<u16>,
    /// Which call it was, e.g. `create server shipyard-abc-master-0`.
    pub call: String,
    /// The cloud's own message, or what went wrong on the way.
    pub message: String,
}

impl CloudError {
    pub fn new(
        kind: ErrorKind,
        status: Option<u16>,
        call: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        CloudError {
            kind,
            status,
            call: call.into(),
            message: message.into(),
        }
    }

    /// An error answer from the cloud, classified by status and message.
    pub fn from_response(status: u16, body: &[u8], call: impl Into<String>) -> Self {
        let message = cloud_message(body).unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.is_empty() {
                format!("HTTP {status} without a message")
            } else {
                text.chars().take(300).collect()
            }
        });
        CloudError::new(classify(status, &message), Some(status), call, message)
    }

    /// A transport failure: time-outs and connection errors may pass.
    pub fn from_transport(e: &reqwest::Error, call: impl Into<String>) -> Self {
        let kind = if e.is_timeout() || e.is_connect() || e.is_request() || e.is_body() {
            ErrorKind::Retryable
        } else {
            ErrorKind::Permanent
        };
        let what = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "could not connect"
        } else {
            "request failed"
        };
        // reqwest's Display hides the cause ("error sending request"); keep the chain.
        let mut message = format!("{what}: {e}");
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            message.push_str(&format!(": {s}"));
            source = s.source();
        }
        CloudError::new(kind, None, call, message)
    }

    /// A 2xx answer the driver could not read.
    pub fn unexpected(call: impl Into<String>, message: impl Into<String>) -> Self {
        CloudError::new(ErrorKind::Permanent, None, call, message)
    }

    /// Whether the same call may succeed later without changes.
    pub fn retryable(&self) -> bool {
        self.kind == ErrorKind::Retryable
    }

    pub fn is_not_found(&self) -> bool {
        self.kind == ErrorKind::NotFound
    }
}

/// Retryable, not found, or permanent, from the status and the cloud's message.
pub fn classify(status: u16, message: &str) -> ErrorKind {
    if message.contains("No valid host") {
        return ErrorKind::Permanent;
    }
    match status {
        404 => ErrorKind::NotFound,
        // Octavia answers 409 while a load balancer is PENDING_*; it passes.
        409 if message.contains("PENDING") || message.contains("immutable") => ErrorKind::Retryable,
        408 | 429 => ErrorKind::Retryable,
        501 => ErrorKind::Permanent,
        500..=599 => ErrorKind::Retryable,
        _ => ErrorKind::Permanent,
    }
}

/// The message in an OpenStack error body: Nova/Cinder `{"<fault>": {"message"}}`,
/// Keystone `{"error": {"message"}}`, Neutron `{"NeutronError": {"message"}}`, Octavia
/// `{"faultstring"}`, Glance `{"message"}`.
pub fn cloud_message(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let obj = v.as_object()?;
    let text = |v: &Value| v.as_str().map(str::to_string).filter(|s| !s.is_empty());
    if let Some(m) = obj.get("faultstring").and_then(text) {
        return Some(m);
    }
    if let Some(m) = obj.get("message").and_then(text) {
        return Some(m);
    }
    obj.values()
        .filter_map(|inner| inner.get("message").and_then(text))
        .next()
}

impl From<CloudError> for crate::Error {
    /// Not found stays not found; a permanent refusal is shown to the user in the
    /// cloud's words; anything retryable is an internal (retryable) error.
    fn from(e: CloudError) -> Self {
        match (e.kind, e.status) {
            (ErrorKind::NotFound, _) => crate::Error::NotFound(e.to_string()),
            // Nova and Cinder refuse over-quota requests with 403 (413 before).
            (ErrorKind::Permanent, _) if e.message.to_ascii_lowercase().contains("quota") => {
                crate::Error::Conflict(e.to_string())
            }
            (ErrorKind::Permanent, Some(403)) => crate::Error::Forbidden(e.to_string()),
            (ErrorKind::Permanent, Some(409 | 413)) => crate::Error::Conflict(e.to_string()),
            (ErrorKind::Permanent, _) => crate::Error::Invalid {
                field: None,
                message: e.to_string(),
            },
            (ErrorKind::Retryable, _) => crate::Error::internal(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_from_each_service_shape() {
        let cases: &[(&str, &str)] = &[
            (
                r#"{"itemNotFound": {"code": 404, "message": "Instance x could not be found."}}"#,
                "Instance x could not be found.",
            ),
            (
                r#"{"error": {"code": 401, "title": "Unauthorized", "message": "Bad password."}}"#,
                "Bad password.",
            ),
            (
                r#"{"NeutronError": {"type": "NotFound", "message": "Network y could not be found.", "detail": ""}}"#,
                "Network y could not be found.",
            ),
            (
                r#"{"faultcode": "Client", "faultstring": "Load Balancer z is immutable.", "debuginfo": null}"#,
                "Load Balancer z is immutable.",
            ),
            (
                r#"{"code": 404, "title": "Not Found", "message": "No image found"}"#,
                "No image found",
            ),
        ];
        for (body, want) in cases {
            assert_eq!(cloud_message(body.as_bytes()).as_deref(), Some(*want));
        }
        assert_eq!(cloud_message(b"<html>bad gateway</html>"), None);
        let e = CloudError::from_response(502, b"<html>bad gateway</html>", "list servers");
        assert!(e.retryable());
        assert_eq!(e.message, "<html>bad gateway</html>");
        assert_eq!(
            e.to_string(),
            "list servers: <html>bad gateway</html> (HTTP 502)"
        );
    }

    #[test]
    fn classification() {
        assert_eq!(classify(503, "busy"), ErrorKind::Retryable);
        assert_eq!(classify(500, "oops"), ErrorKind::Retryable);
        assert_eq!(classify(429, "slow down"), ErrorKind::Retryable);
        assert_eq!(classify(404, "gone"), ErrorKind::NotFound);
        assert_eq!(classify(400, "bad"), ErrorKind::Permanent);
        assert_eq!(classify(403, "Quota exceeded"), ErrorKind::Permanent);
        assert_eq!(
            classify(413, "Quota exceeded for cores"),
            ErrorKind::Permanent
        );
        assert_eq!(
            classify(
                409,
                "Invalid state PENDING_UPDATE of loadbalancer resource x"
            ),
            ErrorKind::Retryable
        );
        assert_eq!(classify(409, "Duplicate member"), ErrorKind::Permanent);
        assert_eq!(
            classify(
                500,
                "No valid host was found. There are not enough hosts available."
            ),
            ErrorKind::Permanent
        );
    }

    #[test]
    fn maps_into_the_core_error() {
        let e = CloudError::from_response(
            413,
            br#"{"overLimit": {"code": 413, "message": "Quota exceeded for cores"}}"#,
            "create server a",
        );
        let core: crate::Error = e.into();
        assert!(
            matches!(core, crate::Error::Conflict(ref m) if m.contains("Quota exceeded for cores"))
        );
        let e = CloudError::from_response(
            403,
            br#"{"forbidden": {"code": 403, "message": "Quota exceeded for instances"}}"#,
            "create server a",
        );
        assert!(matches!(crate::Error::from(e), crate::Error::Conflict(_)));
        let e = CloudError::from_response(403, br#"{"error": {"message": "no"}}"#, "x");
        assert!(matches!(crate::Error::from(e), crate::Error::Forbidden(_)));
        let core: crate::Error = CloudError::from_response(503, b"", "x").into();
        assert!(core.retryable());
    }
}
