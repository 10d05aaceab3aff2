//! Neutron's tag endpoints, the same for every kind of object.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::common::errors::{ApiError, NEUTRON};
use crate::Cloud;

use super::errors::*;
use super::handling::*;
use super::state::*;

/// Objects that carry tags (`/v2.0/<collection>/{id}/tags`).
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Network,
    Subnet,
    Port,
    SecurityGroup,
}

impl Kind {
    fn collection(self) -> &'static str {
        match self {
            Kind::Network => "networks",
            Kind::Subnet => "subnets",
            Kind::Port => "ports",
            Kind::SecurityGroup => "security-groups",
        }
    }

    /// The tags of the object `id`, when `who` may change it.
    fn tags_mut<'a>(
        self,
        st: &'a mut NetState,
        who: &Who,
        id: &str,
    ) -> Result<&'a mut Vec<String>, ApiError> {
        let missing = || match self {
            Kind::Network => not_found("NetworkNotFound", "Network", id),
            Kind::Subnet => not_found("SubnetNotFound", "Subnet", id),
            Kind::Port => not_found("PortNotFound", "Port", id),
            Kind::SecurityGroup => not_found("SecurityGroupNotFound", "Security group", id),
        };
        let tags = match self {
            Kind::Network => st
                .networks
                .get_mut(id)
                .filter(|n| who.owns(&n.project_id))
                .map(|n| &mut n.tags),
            Kind::Subnet => st
                .subnets
                .get_mut(id)
                .filter(|s| who.owns(&s.project_id))
                .map(|s| &mut s.tags),
            Kind::Port => st
                .ports
                .get_mut(id)
                .filter(|p| who.owns(&p.project_id))
                .map(|p| &mut p.tags),
            Kind::SecurityGroup => st
                .groups
                .get_mut(id)
                .filter(|g| who.owns(&g.project_id))
                .map(|g| &mut g.tags),
        };
        tags.ok_or_else(missing)
    }
}

/// What a tag request does.
pub(crate) enum TagOp {
    Show,
    Replace(Bytes),
    Add(String),
    Remove(String),
    Clear,
}

pub(crate) fn tag_routes(r: Router<Arc<Cloud>>, kind: Kind) -> Router<Arc<Cloud>> {
    let base = format!("/v2.0/{}/{{id}}/tags", kind.collection());
    r.route(
        &base,
        get(
            move |State(c): State<Arc<Cloud>>, h: HeaderMap, Path(id): Path<String>| async move {
                tag_op(c, h, kind, id, TagOp::Show).await
            },
        )
        .put(
            move |State(c): State<Arc<Cloud>>, h: HeaderMap, Path(id): Path<String>, b: Bytes| async move {
                tag_op(c, h, kind, id, TagOp::Replace(b)).await
            },
        )
        .delete(
            move |State(c): State<Arc<Cloud>>, h: HeaderMap, Path(id): Path<String>| async move {
                tag_op(c, h, kind, id, TagOp::Clear).await
            },
        ),
    )
    .route(
        &format!("{base}/{{tag}}"),
        put(
            move |State(c): State<Arc<Cloud>>, h: HeaderMap, Path((id, tag)): Path<(String, String)>| async move {
                tag_op(c, h, kind, id, TagOp::Add(tag)).await
            },
        )
        .delete(
            move |State(c): State<Arc<Cloud>>, h: HeaderMap, Path((id, tag)): Path<(String, String)>| async move {
                tag_op(c, h, kind, id, TagOp::Remove(tag)).await
            },
        ),
    )
}

/// Neutron's tag API: show, replace all (`{"tags": [...]}`), add one, remove one or all.
pub(crate) async fn tag_op(
    cloud: Arc<Cloud>,
    headers: HeaderMap,
    kind: Kind,
    id: String,
    op: TagOp,
) -> Result<Response, ApiError> {
    let who = who(&cloud, &headers)?;
    let new_tags = match &op {
        TagOp::Replace(body) => {
            let v: Value = serde_json::from_slice(body).map_err(|e| {
                NEUTRON
                    .bad(format!("Invalid request body: {e}"))
                    .kind("HTTPBadRequest")
            })?;
            let tags: Vec<String> = serde_json::from_value(v["tags"].clone())
                .map_err(|_| invalid("Invalid input: expected {\"tags\": [\"...\"]}."))?;
            check_tags(&tags)?;
            Some(dedup(tags))
        }
        TagOp::Add(t) => {
            check_tags(std::slice::from_ref(t))?;
            None
        }
        _ => None,
    };
    let (response, snap) = {
        let mut st = cloud.network.lock()?;
        let tags = kind.tags_mut(&mut st, &who, &id)?;
        let response = match op {
            TagOp::Show => return Ok(Json(json!({ "tags": tags })).into_response()),
            TagOp::Replace(_) => {
                *tags = new_tags.unwrap_or_default();
                Json(json!({ "tags": tags })).into_response()
            }
            TagOp::Add(t) => {
                if !tags.contains(&t) {
                    tags.push(t);
                }
                StatusCode::CREATED.into_response()
            }
            TagOp::Remove(t) => {
                if !tags.contains(&t) {
                    return Err(not_found("TagNotFound", "Tag", &t));
                }
                tags.retain(|x| *x != t);
                StatusCode::NO_CONTENT.into_response()
            }
            TagOp::Clear => {
                tags.clear();
                StatusCode::NO_CONTENT.into_response()
            }
        };
        (response, st.changed())
    };
    save(&cloud, snap).await;
    Ok(response)
}
