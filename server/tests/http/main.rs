//! The server over real TCP, on SQLite and on PostgreSQL: sign-up and sign-in,
//! sessions, throttling, CSRF, roles, tenant isolation and bad input.
//!
//! One test target, a module per concern; `common` holds the shared server, client
//! and the `both!` macro, so it comes first.

#[macro_use]
mod common;

mod admin;
mod auth;
mod cluster_resources;
mod clusters;
mod operations;
mod pages;
mod projects;
mod refusals;
