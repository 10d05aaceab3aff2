//! Image (Glance v2), minimal: a few node images to list and show, so that clients
//! that resolve an image by name (the `openstack` CLI) work.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::common::auth::authenticate;
use crate::common::errors::{ApiError, GLANCE};
use crate::Cloud;

/// The images on offer: one per supported Kubernetes minor version.
pub const IMAGES: &[&str] = &[
    "ubuntu-22.04-k8s-v1.30",
    "ubuntu-22.04-k8s-v1.31",
    "ubuntu-22.04-k8s-v1.32",
    "ubuntu-22.04-k8s-v1.33",
];

pub struct Image {
    pub id: String,
    pub name: String,
}

pub fn default_images() -> Vec<Image> {
    IMAGES
        .iter()
        .map(|name| Image {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_string(),
        })
        .collect()
}

pub fn router() -> Router<Arc<Cloud>> {
    Router::new()
        .route("/", get(versions))
        .route("/v2/images", get(list))
        .route("/v2/images/{id}", get(show))
}

async fn versions(State(cloud): State<Arc<Cloud>>) -> Response {
    let body = json!({"versions": [{
        "id": "v2.16", "status": "CURRENT",
        "links": [{"rel": "self", "href": format!("{}/image/v2/", cloud.base_url)}],
    }]});
    (StatusCode::MULTIPLE_CHOICES, Json(body)).into_response()
}

fn image_body(i: &Image) -> Value {
    json!({
        "id": i.id,
        "name": i.name,
        "status": "active",
        "visibility": "public",
        "protected": false,
        "os_hidden": false,
        "container_format": "bare",
        "disk_format": "qcow2",
        "size": 2_361_393_152u64,
        "virtual_size": 10_737_418_240u64,
        "min_disk": 10,
        "min_ram": 1024,
        "checksum": null,
        "owner": null,
        "tags": [],
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "self": format!("/v2/images/{}", i.id),
        "file": format!("/v2/images/{}/file", i.id),
        "schema": "/v2/schemas/image",
    })
}

#[derive(Deserialize)]
struct ListQuery {
    name: Option<String>,
}

async fn list(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    authenticate(&cloud, &headers, GLANCE)?;
    let images: Vec<Value> = cloud
        .images
        .iter()
        .filter(|i| q.name.as_ref().is_none_or(|n| *n == i.name))
        .map(image_body)
        .collect();
    Ok(Json(
        json!({"images": images, "first": "/v2/images", "schema": "/v2/schemas/images"}),
    ))
}

async fn show(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authenticate(&cloud, &headers, GLANCE)?;
    cloud
        .images
        .iter()
        .find(|i| i.id == id)
        .map(|i| Json(image_body(i)))
        .ok_or_else(|| {
            GLANCE.err(
                StatusCode::NOT_FOUND,
                format!("No image found with ID {id}"),
            )
        })
}
