//! What every service of the cloud shares, so that each is written once: the error
//! bodies, the token check, marker paging, the state file, and the injected latencies
//! and faults.

pub mod auth;
pub mod errors;
pub mod faults;
pub mod paging;
pub mod persist;
