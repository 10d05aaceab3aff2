//! Small reads several server functions share: the project the console works in, a
//! cluster's row with its creator.

use provision::Error;

use crate::dto::*;
use crate::error::AppError;

/// The row of one cluster for its own pages: nodes summed over its groups, and its
/// creator's email read from the store.
pub async fn row_with_creator(
    store: &provision::Store,
    c: &provision::clusters::Cluster,
    groups: &[provision::clusters::NodeGroup],
) -> Result<ClusterRowDto, AppError> {
    let nodes = groups.iter().map(|n| n.node_count).sum();
    let created_by = store
        .user_by_id(&c.created_by)
        .await?
        .map(|u| u.email)
        .unwrap_or_default();
    Ok(super::convert::row(c, nodes, created_by))
}

/// The project the console works in, with the user's role in it.
pub async fn current_membership(
    actor: &provision::domain::Actor,
    session: &tower_sessions::Session,
) -> Result<provision::domain::ProjectWithRole, AppError> {
    crate::ssr::current_project(&actor.user_id, session)
        .await?
        .0
        .ok_or_else(|| {
            AppError::from(Error::NotFound(
                "You are not a member of any project.".into(),
            ))
        })
}

/// The id of the project the console works in.
pub async fn current_project(
    actor: &provision::domain::Actor,
    session: &tower_sessions::Session,
) -> Result<model::ProjectId, AppError> {
    Ok(current_membership(actor, session).await?.project.id.into())
}
