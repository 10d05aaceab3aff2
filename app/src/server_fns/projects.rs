//! Server functions of the project page: switching project, its members and
//! invitations.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::convert;
use crate::dto::*;
use crate::error::AppError;

#[server(endpoint = "switch_project")]
pub async fn switch_project(project_id: String) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, session) = require_actor().await?;
        provision::projects::get(&state()?.store, &actor, &project_id).await?;
        set_session_project(&session, &project_id).await?;
        Ok(())
    })
    .await
}

#[server(endpoint = "project")]
pub async fn get_project(project_id: String) -> Result<ProjectDetails, AppError> {
    crate::ssr::answer(async move {
        let (actor, _, _) = crate::ssr::require_actor().await?;
        project_details(&actor, &project_id).await
    })
    .await
}

/// The project page's data in one call (one resource, one fetch): the user's open
/// invitations and, when `project_id` is not empty, that project's details.
#[server(endpoint = "project_page")]
pub async fn get_project_page(project_id: String) -> Result<ProjectPageDto, AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        let mine = provision::invitations::mine(&state()?.store, &actor).await?;
        let current = match project_id.as_str() {
            "" => None,
            id => Some(project_details(&actor, id).await?),
        };
        Ok(ProjectPageDto {
            mine: mine.iter().map(convert::invitation).collect(),
            current,
        })
    })
    .await
}

#[cfg(feature = "ssr")]
async fn project_details(
    actor: &provision::domain::Actor,
    project_id: &str,
) -> Result<ProjectDetails, AppError> {
    use provision::authz::Action;
    let store = crate::ssr::state()?.store.clone();
    let (project, role) = provision::projects::get(&store, actor, project_id).await?;
    let members = provision::projects::members(&store, actor, project_id).await?;
    let invitations = provision::invitations::of_project(&store, actor, project_id).await?;
    let with_role = provision::domain::ProjectWithRole { project, role };
    Ok(ProjectDetails {
        project: convert::project(&with_role),
        members: members.iter().map(convert::member).collect(),
        invitations: invitations.iter().map(convert::invitation).collect(),
        can_edit: role.allows(Action::Mutate),
        can_manage: role.allows(Action::ManageMembers),
    })
}

#[server(endpoint = "project_create")]
pub async fn create_project(name: String) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, session) = require_actor().await?;
        let project = provision::projects::create(&state()?.store, &actor, &name).await?;
        set_session_project(&session, &project.id).await?;
        // A new query string on every creation, so the page refetches what it shows.
        leptos_axum::redirect(&format!("/project?created={}", project.id));
        Ok(())
    })
    .await
}

#[server(endpoint = "project_update")]
pub async fn update_project(project_id: String, description: String) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        provision::projects::update_description(&state()?.store, &actor, &project_id, &description)
            .await?;
        leptos_axum::redirect("/project?saved=description");
        Ok(())
    })
    .await
}

#[server(endpoint = "member_set")]
pub async fn set_member(project_id: String, email: String, role: String) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        let done =
            provision::projects::member_set(&state()?.store, &actor, &project_id, &email, &role)
                .await?;
        leptos_axum::redirect(match done {
            provision::invitations::MemberSet::RoleChanged => "/project?saved=role",
            provision::invitations::MemberSet::Invited => "/project?saved=invitation",
        });
        Ok(())
    })
    .await
}

/// The signed-in user's open invitations to projects.
#[server(endpoint = "my_invitations")]
pub async fn get_my_invitations() -> Result<Vec<InvitationDto>, AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        let mine = provision::invitations::mine(&state()?.store, &actor).await?;
        Ok(mine.iter().map(convert::invitation).collect())
    })
    .await
}

/// Accepts an invitation: the user joins the project, which becomes their current one.
#[server(endpoint = "invitation_accept")]
pub async fn accept_invitation(project_id: String) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, session) = require_actor().await?;
        provision::invitations::accept(&state()?.store, &actor, &project_id).await?;
        set_session_project(&session, &project_id).await?;
        leptos_axum::redirect(&format!("/project?joined={project_id}"));
        Ok(())
    })
    .await
}

#[server(endpoint = "invitation_decline")]
pub async fn decline_invitation(project_id: String) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        provision::invitations::decline(&state()?.store, &actor, &project_id).await?;
        leptos_axum::redirect("/project?saved=declined");
        Ok(())
    })
    .await
}

/// Withdraws an invitation (owners).
#[server(endpoint = "invitation_revoke")]
pub async fn revoke_invitation(project_id: String, email: String) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        provision::invitations::revoke(&state()?.store, &actor, &project_id, &email).await?;
        leptos_axum::redirect("/project?saved=invitation-withdrawn");
        Ok(())
    })
    .await
}

#[server(endpoint = "member_remove")]
pub async fn remove_member(project_id: String, user_id: String) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        provision::projects::member_remove(&state()?.store, &actor, &project_id, &user_id).await?;
        leptos_axum::redirect("/project?saved=removed");
        Ok(())
    })
    .await
}
