//! Load balancers (Octavia v2): load balancers, listeners, pools, members and health
//! monitors in Octavia's shapes and state machine. Each load balancer takes a VIP from
//! a loopback range; each listener really binds `<vip>:<protocol_port>` and forwards
//! TCP to the pool's healthy members (see [`crate::lbnet`]).
//!
//! Every change puts the load balancer in `PENDING_UPDATE` (creation: `PENDING_CREATE`,
//! deletion: `PENDING_DELETE`) for the configured delay; while it is pending, any
//! further change to it or to anything under it answers 409, as Octavia does.

mod handling;
mod lbs;
mod listeners;
mod members;
mod monitors;
mod pools;
pub mod state;
mod views;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::Cloud;

pub use handling::spawn_loop;
use lbs::*;
use listeners::*;
use members::*;
use monitors::*;
use pools::*;
pub use state::*;

pub fn router() -> Router<Arc<Cloud>> {
    let v2 = Router::new()
        .route("/lbaas/loadbalancers", get(lb_list).post(lb_create))
        .route(
            "/lbaas/loadbalancers/{id}",
            get(lb_show).put(lb_update).delete(lb_delete),
        )
        .route("/lbaas/loadbalancers/{id}/status", get(lb_status))
        .route("/lbaas/listeners", get(listener_list).post(listener_create))
        .route(
            "/lbaas/listeners/{id}",
            get(listener_show)
                .put(listener_update)
                .delete(listener_delete),
        )
        .route("/lbaas/pools", get(pool_list).post(pool_create))
        .route(
            "/lbaas/pools/{id}",
            get(pool_show).put(pool_update).delete(pool_delete),
        )
        .route(
            "/lbaas/pools/{pool}/members",
            get(member_list).post(member_create),
        )
        .route(
            "/lbaas/pools/{pool}/members/{id}",
            get(member_show).put(member_update).delete(member_delete),
        )
        .route("/lbaas/healthmonitors", get(hm_list).post(hm_create))
        .route(
            "/lbaas/healthmonitors/{id}",
            get(hm_show).put(hm_update).delete(hm_delete),
        )
        .route("/lbaas/quotas/{project}", get(quota_show).put(quota_update));
    Router::new()
        .route("/", get(versions))
        .nest("/v2", v2.clone())
        .nest("/v2.0", v2)
}

async fn versions(State(cloud): State<Arc<Cloud>>) -> Json<Value> {
    Json(json!({"versions": [{
        "id": "v2.0",
        "status": "CURRENT",
        "updated": "2023-06-01T00:00:00Z",
        "links": [{"href": format!("{}/load-balancer/v2", cloud.base_url), "rel": "self"}],
    }]}))
}

/// Bound listener addresses with the members each forwards to, for tests and the admin
/// view: `(listener id, "vip:port")`.
pub fn bound(cloud: &Cloud) -> HashMap<String, String> {
    cloud.lbnet.bound()
}

/// Every member of every pool as `(pool id, address:port)`: what the cloud may dial,
/// for tests and audits of the address plan.
pub fn members(cloud: &Cloud) -> Vec<(String, std::net::SocketAddr)> {
    cloud
        .lbs
        .state
        .lock()
        .map(|st| {
            st.members
                .values()
                .map(|m| (m.pool_id.clone(), (m.address, m.protocol_port).into()))
                .collect()
        })
        .unwrap_or_default()
}
