//! The core's words that the browser shares: compiled into the server and into the
//! WASM alike, so the console and the core cannot disagree on them.

mod ids;
mod status;

pub use ids::{ClusterId, NodeGroupId, OperationId, PlanId, ProjectId};
pub use status::{ClusterStatus, Tone};
