//! Shipyard's provisioning core: domain types, the store, accounts, authorization and
//! the cloud driver.
//!
//! Nothing here knows about HTTP, Leptos or sessions; the web layer calls in and maps
//! [`Error`] to a status code once.

pub mod accounts;
pub mod admin;
pub mod authz;
pub mod cloud;
pub mod clusters;
pub mod controllers;
pub mod domain;
pub mod error;
pub mod invitations;
pub mod kube;
pub mod operations;
pub mod ops;
pub mod pki;
pub mod projects;
pub mod provisioner;
pub mod quotas;
pub mod store;
pub mod testdb;
pub mod tokens;

pub use error::{Error, Result};
pub use provisioner::{Intent, Outcome, Provisioner};
pub use store::{Backend, Store};

/// Milliseconds since the Unix epoch, the one time unit stored in the database.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A fresh random identifier (UUID v4, hyphenated).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
