//! Network (Neutron v2): project-owned networks, IPv4 subnets that hand out addresses,
//! ports (servers and load balancer VIPs get theirs too) and security groups with rules
//! (see [`secgroups`]), plus one shared `private` network every project may use,
//! so that a cluster can have its own private network and still boot with `auto`.
//!
//! Requests may carry attributes this cloud does not model (`dns_domain`,
//! `qos_policy_id`, ...): they are accepted and ignored, as clients send them freely.
//! Referenced objects that do not exist (or belong to another project) are Neutron's
//! 404s (`NetworkNotFound`, ...); anything else malformed is a 400 that changes nothing.
//!
//! Everything sits in one versioned document (`network`, see [`crate::common::persist`]). Lock
//! order: compute or load balancers first, then this state, never the other way round.

mod errors;
mod handling;
mod networks;
pub mod neutron;
mod ports;
mod secgroups;
pub mod state;
mod subnets;
mod tags;

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::common::errors::{ApiError, NEUTRON};
use crate::Cloud;

use handling::*;
use networks::*;
pub use neutron::*;
use ports::*;
pub use state::*;
use subnets::*;
use tags::*;

pub fn router() -> Router<Arc<Cloud>> {
    let r = Router::new()
        .route("/", get(versions))
        .route("/v2.0", get(resources))
        .route("/v2.0/", get(resources))
        .route("/v2.0/extensions", get(extensions))
        .route("/v2.0/networks", get(network_list).post(network_create))
        .route(
            "/v2.0/networks/{id}",
            get(network_show).put(network_update).delete(network_delete),
        )
        .route("/v2.0/subnets", get(subnet_list).post(subnet_create))
        .route(
            "/v2.0/subnets/{id}",
            get(subnet_show).put(subnet_update).delete(subnet_delete),
        )
        .route("/v2.0/ports", get(port_list).post(port_create))
        .route(
            "/v2.0/ports/{id}",
            get(port_show).put(port_update).delete(port_delete),
        )
        .route("/v2.0/quotas/{project}", get(quota))
        .merge(secgroups::router());
    [Kind::Network, Kind::Subnet, Kind::Port, Kind::SecurityGroup]
        .into_iter()
        .fold(r, tag_routes)
}

/// Neutron's version document, for clients that discover versions.
pub async fn versions(State(cloud): State<Arc<Cloud>>) -> Json<Value> {
    Json(json!({"versions": [{
        "id": "v2.0", "status": "CURRENT",
        "links": [{"href": format!("{}/network/v2.0/", cloud.base_url), "rel": "self"}],
    }]}))
}

async fn resources(State(cloud): State<Arc<Cloud>>) -> Json<Value> {
    let items: Vec<Value> = ["network", "subnet", "port", "security_group", "security_group_rule"]
        .iter()
        .map(|r| {
            let c = format!("{r}s").replace('_', "-");
            json!({"name": r, "collection": c,
                   "links": [{"href": format!("{}/network/v2.0/{c}", cloud.base_url), "rel": "self"}]})
        })
        .collect();
    Json(json!({ "resources": items }))
}

/// The extensions clients look for before using a feature.
async fn extensions() -> Json<Value> {
    let items: Vec<Value> = [
        ("security-group", "security-group"),
        (
            "standard-attr-tag",
            "Tag support for resources with standard attribute",
        ),
        ("tag-creation", "Tag support for resources during creation"),
        ("quotas", "Quota management support"),
        ("standard-attr-description", "standard-attr-description"),
        ("project-id", "project_id field enabled"),
    ]
    .iter()
    .map(|(alias, name)| {
        json!({"alias": alias, "name": name, "description": name,
               "updated": "2026-01-01T00:00:00-00:00", "links": []})
    })
    .collect();
    Json(json!({ "extensions": items }))
}

/// Neutron's quota view: nothing is limited here (-1), but clients such as
/// `openstack quota show` expect to read it.
async fn quota(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let who = who(&cloud, &headers)?;
    if !who.owns(&project) {
        return Err(NEUTRON.err(StatusCode::FORBIDDEN, "Not authorized."));
    }
    Ok(Json(json!({"quota": {
        "network": -1, "subnet": -1, "subnetpool": -1, "port": -1, "router": -1,
        "floatingip": -1, "security_group": -1, "security_group_rule": -1, "rbac_policy": -1,
    }})))
}
