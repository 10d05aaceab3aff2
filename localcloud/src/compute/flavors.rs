//! Nova's flavor endpoints.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};

use crate::common::auth::authenticate;
use crate::common::errors::{ApiError, NOVA};
use crate::Cloud;

use super::state::*;
use super::views::*;

pub(crate) fn flavor_body(cloud: &Cloud, f: &Flavor, detail: bool) -> Value {
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

pub(crate) async fn flavor_list(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    flavors(&cloud, &headers, false)
}

pub(crate) async fn flavor_detail(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    flavors(&cloud, &headers, true)
}

pub(crate) fn flavors(
    cloud: &Cloud,
    headers: &HeaderMap,
    detail: bool,
) -> Result<Json<Value>, ApiError> {
    authenticate(cloud, headers, NOVA)?;
    let flavors: Vec<Value> = cloud
        .compute
        .flavors
        .iter()
        .map(|f| flavor_body(cloud, f, detail))
        .collect();
    Ok(Json(json!({ "flavors": flavors })))
}

pub(crate) async fn flavor_show(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authenticate(&cloud, &headers, NOVA)?;
    let flavor = cloud
        .compute
        .flavors
        .iter()
        .find(|f| f.id == id || f.name == id)
        .ok_or_else(|| {
            NOVA.err(
                StatusCode::NOT_FOUND,
                format!("Flavor {id} could not be found."),
            )
        })?;
    Ok(Json(json!({ "flavor": flavor_body(&cloud, flavor, true) })))
}
