//! Compute (Nova v2.1): flavors so far. Every request needs a live `X-Auth-Token`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::error::{ApiError, Service};
use crate::identity::Token;
use crate::Cloud;

/// A flavor on offer.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Flavor {
    pub id: String,
    pub name: String,
    pub vcpus: u32,
    pub ram_mib: u64,
    pub disk_gib: u64,
}

pub struct Compute {
    pub flavors: Vec<Flavor>,
    pub servers: crate::servers::Servers,
}

impl Compute {
    /// The usual m1 set, and the configured hosts.
    pub fn new(config: &crate::Config) -> Compute {
        let f = |id: &str, name: &str, vcpus, ram_mib, disk_gib| Flavor {
            id: id.into(),
            name: name.into(),
            vcpus,
            ram_mib,
            disk_gib,
        };
        Compute {
            flavors: vec![
                f("1", "m1.tiny", 1, 512, 1),
                f("2", "m1.small", 1, 2048, 20),
                f("3", "m1.medium", 2, 4096, 40),
                f("4", "m1.large", 4, 8192, 80),
                f("5", "m1.xlarge", 8, 16384, 160),
            ],
            servers: crate::servers::Servers::new(config.hosts.clone()),
        }
    }
}

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
        .merge(crate::servers::router())
}

pub(crate) fn err(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError::new(Service::Compute, status, message)
}

/// The caller's token, or Nova's 401.
pub(crate) fn authenticate(cloud: &Cloud, headers: &HeaderMap) -> Result<Token, ApiError> {
    cloud.identity.from_headers(headers).ok_or_else(|| {
        err(
            StatusCode::UNAUTHORIZED,
            "The request you have made requires authentication.",
        )
    })
}

pub(crate) fn links(cloud: &Cloud, kind: &str, id: &str) -> Value {
    json!([
        {"href": format!("{}/compute/v2.1/{kind}/{id}", cloud.base_url), "rel": "self"},
        {"href": format!("{}/compute/{kind}/{id}", cloud.base_url), "rel": "bookmark"},
    ])
}

fn flavor_body(cloud: &Cloud, f: &Flavor, detail: bool) -> Value {
    if !detail {
        return json!({
            "id": f.id,
            "name": f.name,
            "description": null,
            "links": links(cloud, "flavors", &f.id),
        });
    }
    json!({
        "OS-FLV-EXT-DATA:ephemeral": 0,
        "description": null,
        "disk": f.disk_gib,
        "extra_specs": {},
        "id": f.id,
        "links": links(cloud, "flavors", &f.id),
        "name": f.name,
        "os-flavor-access:is_public": true,
        "ram": f.ram_mib,
        "swap": 0,
        "vcpus": f.vcpus,
    })
}

async fn flavor_list(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    flavors(&cloud, &headers, false)
}

async fn flavor_detail(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    flavors(&cloud, &headers, true)
}

fn flavors(cloud: &Cloud, headers: &HeaderMap, detail: bool) -> Result<Json<Value>, ApiError> {
    authenticate(cloud, headers)?;
    let flavors: Vec<Value> = cloud
        .compute
        .flavors
        .iter()
        .map(|f| flavor_body(cloud, f, detail))
        .collect();
    Ok(Json(json!({ "flavors": flavors })))
}

async fn flavor_show(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authenticate(&cloud, &headers)?;
    let flavor = cloud
        .compute
        .flavors
        .iter()
        .find(|f| f.id == id || f.name == id)
        .ok_or_else(|| {
            err(
                StatusCode::NOT_FOUND,
                format!("Flavor {id} could not be found."),
            )
        })?;
    Ok(Json(json!({ "flavor": flavor_body(&cloud, flavor, true) })))
}
