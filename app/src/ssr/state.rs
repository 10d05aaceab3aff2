//! What the web layer needs from the server process, provided to every request.

use std::sync::Arc;

use leptos::prelude::*;
use provision::Provisioner;

use crate::error::AppError;

/// What the web layer needs from the server process: the console's server functions
/// and the REST API share this one state.
#[derive(Clone)]
pub struct AppState {
    /// The core: a server function's or handler's one call goes here. Its store,
    /// engine, cloud and key are reached through it (`state.store`).
    pub core: Provisioner,
    pub config: Arc<WebConfig>,
    /// New API tokens' secrets on their way to the page that shows them.
    pub handoff: Arc<crate::secret_handoff::SecretHandoff>,
}

impl std::ops::Deref for AppState {
    type Target = Provisioner;

    fn deref(&self) -> &Provisioner {
        &self.core
    }
}

#[derive(Clone, Debug)]
pub struct WebConfig {
    /// Take the client address from `X-Forwarded-For` (behind a trusted proxy).
    /// X-Forwarded-For entries (from the right) that trusted proxies appended; 0 trusts
    /// none (see [`client_address`]).
    pub forwarded_hops: usize,
    /// A session ends this long after sign-in, however active it is.
    pub session_absolute_ms: i64,
    /// Sign-ups allowed from one client address per hour.
    pub signups_per_address: i64,
}

pub fn state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| super::plumbing(super::NO_STATE))
}
