//! Server functions, one module per area: each says who is asking, lets the core
//! decide, and maps the answer to a wire type. Endpoints are fixed (`/api/<name>`) so
//! that forms (without JavaScript), scripts and tests can call them by name.
//!
//! Every body goes through `ssr::answer`, which sets the response's status when it
//! ends in an error.

// A form's fields are the server function's arguments (so it posts without JavaScript);
// the generated client stubs carry them too.
#![allow(clippy::too_many_arguments)]

pub mod account;
pub mod admin;
pub mod clusters;
pub mod node_groups;
pub mod operations;
pub mod projects;
pub mod workloads;

#[cfg(feature = "ssr")]
mod admin_forms;
#[cfg(feature = "ssr")]
mod cluster_page;
#[cfg(feature = "ssr")]
mod convert;
#[cfg(feature = "ssr")]
mod forms;
#[cfg(feature = "ssr")]
mod lookup;

pub use account::*;
pub use admin::*;
pub use clusters::*;
pub use node_groups::*;
pub use operations::*;
pub use projects::*;
pub use workloads::*;
