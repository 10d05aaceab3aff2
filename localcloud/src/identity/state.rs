//! Keystone's state: the configured users and the tokens issued to them, which every
//! service checks a request's `X-Auth-Token` against.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::HeaderMap;
use time::OffsetDateTime;

use crate::{stable_id, Config};

pub(crate) const DOMAIN_ID: &str = "default";
pub(crate) const DOMAIN_NAME: &str = "Default";

#[derive(Clone)]
pub(crate) struct User {
    pub(crate) id: String,
    pub(crate) name: String,
    /// `None` (not yet resolved from the data directory) never matches.
    pub(crate) password: Option<String>,
    pub(crate) project_id: String,
    pub(crate) project_name: String,
    pub(crate) admin: bool,
}

/// An issued token.
#[derive(Clone, Debug)]
pub struct Token {
    pub user_id: String,
    pub user_name: String,
    pub project_id: String,
    pub project_name: String,
    /// Whether the user has the admin role (quotas, hypervisors).
    pub admin: bool,
    pub issued_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

pub struct Identity {
    pub(crate) users: Vec<User>,
    pub(crate) role_id: String,
    pub(crate) member_role_id: String,
    pub(crate) tokens: Mutex<HashMap<String, Token>>,
}

impl Identity {
    pub fn new(config: &Config) -> Identity {
        let users = config
            .users
            .iter()
            .map(|u| User {
                id: stable_id("user", &u.name),
                name: u.name.clone(),
                password: u.password.clone(),
                project_id: stable_id("project", &u.project),
                project_name: u.project.clone(),
                admin: u.admin,
            })
            .collect();
        Identity {
            users,
            role_id: stable_id("role", "admin"),
            member_role_id: stable_id("role", "member"),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// The live token named by a request's `X-Auth-Token` header.
    pub fn from_headers(&self, headers: &HeaderMap) -> Option<Token> {
        headers
            .get("x-auth-token")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| self.validate(t))
    }

    /// The live token behind an `X-Auth-Token` value.
    pub fn validate(&self, token: &str) -> Option<Token> {
        let now = OffsetDateTime::now_utc();
        let mut tokens = self.tokens.lock().ok()?;
        tokens.retain(|_, t| t.expires_at > now);
        tokens.get(token).cloned()
    }
}
