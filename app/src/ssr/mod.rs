//! Server-only glue between server functions and the core: the shared state, who is
//! asking, the request's memo, the status an error is answered with, and what a page's
//! response carries besides the page (security headers, chunk preloads).
//!
//! Everything is re-exported here: the server crate and the server functions use
//! `crate::ssr::*` / `app::ssr::X` without knowing which file holds what.

mod answer;
mod caller;
mod client;
mod headers;
mod preload;
mod request;
mod session;
mod state;

pub use answer::*;
pub use caller::*;
pub use client::*;
pub use headers::*;
pub use preload::*;
pub use request::*;
pub use session::*;
pub use state::*;
