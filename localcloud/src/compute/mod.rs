//! Compute (Nova v2.1): flavors, servers placed on the configured hosts, server
//! groups, volume attachments and server actions. A server is BUILD until its build
//! delay has passed, then ACTIVE; one that no host can take goes to ERROR with Nova's
//! "No valid host was found" fault, as in Nova. Every request needs a live
//! `X-Auth-Token`.

mod actions;
mod attachments;
mod flavors;
mod groups;
mod handling;
pub mod placement;
mod servers;
pub mod state;
mod views;

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::Cloud;

use actions::*;
use attachments::*;
use flavors::*;
use groups::*;
use servers::*;
pub use state::*;

/// Nova's version document: microversions 2.1 to 2.100 (the shapes served here).
pub async fn version(State(cloud): State<Arc<Cloud>>) -> Json<Value> {
    Json(json!({"version": {
        "id": "v2.1",
        "status": "CURRENT",
        "version": "2.100",
        "min_version": "2.1",
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": format!("{}/compute/v2.1/", cloud.base_url)}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}],
    }}))
}

pub fn router() -> Router<Arc<Cloud>> {
    Router::new()
        .route("/", get(version))
        .route("/flavors", get(flavor_list))
        .route("/flavors/detail", get(flavor_detail))
        .route("/flavors/{id}", get(flavor_show))
        .merge(servers_router())
}

/// Servers, their actions and attachments, server groups, hypervisors.
fn servers_router() -> Router<Arc<Cloud>> {
    Router::new()
        .route("/servers", get(list).post(create))
        .route("/servers/detail", get(list_detail))
        .route("/servers/{id}", get(show).delete(delete))
        .route("/servers/{id}/action", axum::routing::post(action))
        .route(
            "/servers/{id}/os-volume_attachments",
            get(attachment_list).post(attach),
        )
        .route(
            "/servers/{id}/os-volume_attachments/{volume_id}",
            axum::routing::delete(detach),
        )
        .route("/os-server-groups", get(group_list).post(group_create))
        .route(
            "/os-server-groups/{id}",
            get(group_show).delete(group_delete),
        )
        .route("/os-hypervisors/detail", get(hypervisors))
}
