//! What every Nova handler shares: body parsing and name checks.

use axum::body::Bytes;
use serde::Deserialize;

use crate::common::errors::{ApiError, NOVA};

use super::state::NAME_MAX;

pub(crate) fn parse<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| NOVA.bad(format!("Invalid request body: {e}")))
}

pub(crate) fn check_name(name: &str, what: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() {
        return Err(NOVA.bad(format!("Invalid input: {what} name must not be empty.")));
    }
    if name.chars().count() > NAME_MAX {
        return Err(NOVA.bad(format!(
            "Invalid input: {what} name is longer than {NAME_MAX} characters."
        )));
    }
    Ok(())
}
