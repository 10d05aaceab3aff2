//! Server functions: each one says who is asking, lets the core decide, and maps the
//! answer to a wire type. Endpoints are fixed (`/api/<name>`) so that scripts and tests
//! can call them too.

use leptos::prelude::*;

use crate::dto::*;
use crate::error::AppError;

#[cfg(feature = "ssr")]
mod convert {
    use super::*;
    use provision::domain::{AuditEntry, Member, ProjectWithRole, User};

    pub fn user(u: &User) -> UserDto {
        UserDto {
            id: u.id.clone(),
            email: u.email.clone(),
            is_admin: u.is_admin,
            disabled: u.disabled,
            must_change_password: u.must_change_password,
            created_at: u.created_at,
        }
    }

    pub fn project(p: &ProjectWithRole) -> ProjectDto {
        ProjectDto {
            id: p.project.id.clone(),
            name: p.project.name.clone(),
            description: p.project.description.clone(),
            role: p.role.to_string(),
            personal: p.project.personal_of.is_some(),
        }
    }

    pub fn member(m: &Member) -> MemberDto {
        MemberDto {
            user_id: m.user_id.clone(),
            email: m.email.clone(),
            role: m.role.to_string(),
            created_at: m.created_at,
        }
    }

    pub fn invitation(i: &provision::invitations::Invitation) -> InvitationDto {
        InvitationDto {
            project_id: i.project_id.clone(),
            project_name: i.project_name.clone(),
            email: i.email.clone(),
            role: i.role.to_string(),
            expires_at: i.expires_at,
        }
    }

    pub fn audit(a: &AuditEntry) -> AuditDto {
        AuditDto {
            id: a.id,
            at: a.at,
            actor_email: a.actor_email.clone(),
            project_id: a.project_id.clone(),
            action: a.action.clone(),
            object: a.object.clone(),
            outcome: a.outcome.clone(),
            client_addr: a.client_addr.clone(),
            detail: a.detail.clone(),
        }
    }
}

/// The signed-in user, their projects and the current one; `None` when signed out.
#[server(endpoint = "session")]
pub async fn get_session() -> Result<Option<SessionInfo>, AppError> {
    use crate::ssr::*;
    let Some((user, session)) = current_user().await? else {
        return Ok(None);
    };
    let (current, projects) = current_project(&user.id, &session).await?;
    let current = current.as_ref().map(convert::project);
    Ok(Some(SessionInfo {
        user: convert::user(&user),
        projects: projects.iter().map(convert::project).collect(),
        current,
    }))
}

#[server(endpoint = "sign_up")]
pub async fn sign_up(email: String, password: String) -> Result<(), AppError> {
    use crate::ssr::*;
    let st = state()?;
    let (user, project) = provision::accounts::sign_up_limited(
        &st.store,
        &email,
        &password,
        &client_addr().await,
        st.config.signups_per_address,
    )
    .await?;
    let session = session().await?;
    begin_session(&session, &user).await?;
    set_session_project(&session, &project.id).await?;
    leptos_axum::redirect("/clusters");
    Ok(())
}

#[server(endpoint = "sign_in")]
pub async fn sign_in(email: String, password: String) -> Result<(), AppError> {
    use crate::ssr::*;
    let st = state()?;
    let user =
        provision::accounts::sign_in(&st.store, &email, &password, &client_addr().await).await?;
    begin_session(&session().await?, &user).await?;
    leptos_axum::redirect(if user.must_change_password {
        "/account"
    } else {
        "/clusters"
    });
    Ok(())
}

#[server(endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    use crate::ssr::*;
    if let Some((user, session)) = current_user().await? {
        let actor = provision::domain::Actor::new(
            &user,
            client_addr().await,
            provision::domain::Credential::Session,
        );
        provision::accounts::sign_out(&state()?.store, &actor).await?;
        end_session(&session).await?;
    }
    leptos_axum::redirect("/signin");
    Ok(())
}

/// Changes the password. Every other session of the user ends; this one goes on
/// under a new id. `revoke_tokens` (present when ticked) revokes every API token too.
#[server(endpoint = "change_password")]
pub async fn change_password(
    current: String,
    new: String,
    revoke_tokens: Option<String>,
) -> Result<(), AppError> {
    use crate::ssr::*;
    // The one thing a user with a one-time password may do.
    let (actor, _, session) = require_signed_in().await?;
    let revoke = revoke_tokens.is_some_and(|v| !v.is_empty() && v != "false");
    let changed =
        provision::accounts::change_password(&state()?.store, &actor, &current, &new, revoke)
            .await?;
    let project = session_project(&session).await?;
    begin_session(&session, &changed.user).await?;
    if let Some(project) = project {
        set_session_project(&session, &project).await?;
    }
    leptos_axum::redirect(&format!(
        "/account?changed=1&revoked={}",
        changed.tokens_revoked
    ));
    Ok(())
}

#[server(endpoint = "switch_project")]
pub async fn switch_project(project_id: String) -> Result<(), AppError> {
    use crate::ssr::*;
    let (actor, _, session) = require_actor().await?;
    provision::projects::get(&state()?.store, &actor, &project_id).await?;
    set_session_project(&session, &project_id).await?;
    Ok(())
}

#[server(endpoint = "project")]
pub async fn get_project(project_id: String) -> Result<ProjectDetails, AppError> {
    use crate::ssr::*;
    use provision::authz::Action;
    let (actor, _, _) = require_actor().await?;
    let store = state()?.store;
    let (project, role) = provision::projects::get(&store, &actor, &project_id).await?;
    let members = provision::projects::members(&store, &actor, &project_id).await?;
    let invitations = provision::invitations::of_project(&store, &actor, &project_id).await?;
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
    use crate::ssr::*;
    let (actor, _, session) = require_actor().await?;
    let project = provision::projects::create(&state()?.store, &actor, &name).await?;
    set_session_project(&session, &project.id).await?;
    // A new query string on every creation, so the page refetches what it shows.
    leptos_axum::redirect(&format!("/project?created={}", project.id));
    Ok(())
}

#[server(endpoint = "project_update")]
pub async fn update_project(project_id: String, description: String) -> Result<(), AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    provision::projects::update_description(&state()?.store, &actor, &project_id, &description)
        .await?;
    leptos_axum::redirect("/project?saved=description");
    Ok(())
}

#[server(endpoint = "member_set")]
pub async fn set_member(project_id: String, email: String, role: String) -> Result<(), AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    let done = provision::projects::member_set(&state()?.store, &actor, &project_id, &email, &role)
        .await?;
    leptos_axum::redirect(match done {
        provision::invitations::MemberSet::RoleChanged => "/project?saved=role",
        provision::invitations::MemberSet::Invited => "/project?saved=invitation",
    });
    Ok(())
}

/// The signed-in user's open invitations to projects.
#[server(endpoint = "my_invitations")]
pub async fn get_my_invitations() -> Result<Vec<InvitationDto>, AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    let mine = provision::invitations::mine(&state()?.store, &actor).await?;
    Ok(mine.iter().map(convert::invitation).collect())
}

/// Accepts an invitation: the user joins the project, which becomes their current one.
#[server(endpoint = "invitation_accept")]
pub async fn accept_invitation(project_id: String) -> Result<(), AppError> {
    use crate::ssr::*;
    let (actor, _, session) = require_actor().await?;
    provision::invitations::accept(&state()?.store, &actor, &project_id).await?;
    set_session_project(&session, &project_id).await?;
    leptos_axum::redirect(&format!("/project?joined={project_id}"));
    Ok(())
}

#[server(endpoint = "invitation_decline")]
pub async fn decline_invitation(project_id: String) -> Result<(), AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    provision::invitations::decline(&state()?.store, &actor, &project_id).await?;
    leptos_axum::redirect("/project?saved=declined");
    Ok(())
}

/// Withdraws an invitation (owners).
#[server(endpoint = "invitation_revoke")]
pub async fn revoke_invitation(project_id: String, email: String) -> Result<(), AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    provision::invitations::revoke(&state()?.store, &actor, &project_id, &email).await?;
    leptos_axum::redirect("/project?saved=invitation-withdrawn");
    Ok(())
}

#[server(endpoint = "member_remove")]
pub async fn remove_member(project_id: String, user_id: String) -> Result<(), AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    provision::projects::member_remove(&state()?.store, &actor, &project_id, &user_id).await?;
    leptos_axum::redirect("/project?saved=removed");
    Ok(())
}

/// The sign-up policy and every account (admins).
#[server(endpoint = "admin_users")]
pub async fn get_admin_users() -> Result<AdminUsers, AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    provision::accounts::require_admin(&actor)?;
    let store = state()?.store;
    let users = store.user_list(500, 0).await?;
    Ok(AdminUsers {
        signup_open: provision::accounts::signup_open(&store).await?,
        project_limit: provision::projects::project_limit(&store).await?,
        users: users.iter().map(convert::user).collect(),
    })
}

/// The audit log filtered as asked (a bad filter is reported and the newest entries
/// are shown instead), with the filter's choices (admins).
#[server(endpoint = "admin_audit")]
pub async fn get_admin_audit(
    #[server(default)] filter: AuditFilterDto,
) -> Result<AdminAudit, AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    provision::accounts::require_admin(&actor)?;
    let store = state()?.store;
    let query = provision::accounts::AuditQuery {
        actor: filter.actor.clone(),
        project: filter.project.clone(),
        action: filter.action.clone(),
        outcome: filter.outcome.clone(),
        since: filter.since.clone(),
        until: filter.until.clone(),
        limit: Some(100),
    };
    let (audit, audit_error) = match provision::accounts::audit_search(&store, &actor, &query).await
    {
        Ok(a) => (a, None),
        Err(e @ provision::Error::Invalid { .. }) => {
            let newest = provision::accounts::AuditQuery::default();
            (
                provision::accounts::audit_search(&store, &actor, &newest).await?,
                Some(e.to_string()),
            )
        }
        Err(e) => return Err(e.into()),
    };
    let (projects, audit_actions) = provision::admin::audit_choices(&store, &actor, 1000).await?;
    let emails = store.user_list(500, 0).await?;
    Ok(AdminAudit {
        audit: audit.iter().map(convert::audit).collect(),
        audit_filter: filter,
        audit_error,
        audit_actions,
        projects,
        emails: emails.into_iter().map(|u| u.email).collect(),
    })
}

#[server(endpoint = "admin_signup")]
pub async fn admin_set_signup(open: bool) -> Result<(), AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    provision::accounts::set_signup_open(&state()?.store, &actor, open).await?;
    Ok(())
}

/// Sets how many projects a user may own (admins).
#[server(endpoint = "admin_project_limit")]
pub async fn admin_set_project_limit(limit: String) -> Result<(), AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    let limit = limit
        .trim()
        .parse::<i64>()
        .map_err(|_| AppError::from(provision::Error::invalid("limit", "Enter a whole number.")))?;
    provision::projects::set_project_limit(&state()?.store, &actor, limit).await?;
    Ok(())
}

#[server(endpoint = "admin_user")]
pub async fn admin_update_user(user_id: String, change: String) -> Result<(), AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    provision::projects::admin_update_user(&state()?.store, &actor, &user_id, &change).await?;
    Ok(())
}

/// Whether open sign-up is allowed (for the sign-up page).
#[server(endpoint = "signup_status")]
pub async fn signup_status() -> Result<bool, AppError> {
    Ok(provision::accounts::signup_open(&crate::ssr::state()?.store).await?)
}

/// The user's API tokens. `shown` is the id of the token just created (from the page's
/// address): its secret, left in this process's memory by `create_token` (never in the
/// session record), is handed over on that page only, for a few seconds, then
/// forgotten; any other page drops it at once.
#[server(endpoint = "tokens")]
pub async fn get_tokens(shown: String) -> Result<TokensView, AppError> {
    use crate::ssr::*;
    let (actor, _, session) = require_actor().await?;
    let st = state()?;
    let tokens = provision::tokens::list(&st.store, &actor).await?;
    let now = provision::now_ms();
    let new_secret = session
        .id()
        .and_then(|sid| st.handoff.take(&sid.to_string(), &shown, now));
    Ok(TokensView {
        tokens: tokens
            .into_iter()
            .map(|t| TokenDto {
                expired: t.expired(now),
                id: t.id,
                name: t.name,
                created_at: t.created_at,
                last_used_at: t.last_used_at,
                revoked_at: t.revoked_at,
                expires_at: t.expires_at,
                read_only: t.read_only,
            })
            .collect(),
        new_secret,
        default_lifetime_days: provision::tokens::DEFAULT_LIFETIME_DAYS,
    })
}

/// Creates an API token; its secret is shown once, on the page this leads back to.
/// `expires_in_days`: a number of days, or `never`; `read_only`: present when ticked.
#[server(endpoint = "token_create")]
pub async fn create_token(
    name: String,
    expires_in_days: Option<String>,
    read_only: Option<String>,
) -> Result<(), AppError> {
    use crate::ssr::*;
    let (actor, _, session) = require_actor().await?;
    let lifetime_days = match expires_in_days.as_deref().map(str::trim) {
        None | Some("") => Some(provision::tokens::DEFAULT_LIFETIME_DAYS),
        Some("never") => None,
        Some(days) => Some(days.parse::<u32>().map_err(|_| {
            AppError::from(provision::Error::invalid(
                "expires_in_days",
                "Pick how many days the token lives, or never.",
            ))
        })?),
    };
    let options = provision::tokens::TokenOptions {
        lifetime_days,
        read_only: read_only.is_some_and(|v| !v.is_empty() && v != "false"),
    };
    let st = state()?;
    let (token, secret) = provision::tokens::create(&st.store, &actor, &name, options).await?;
    // A session that has not been saved yet has no id: save it so the secret has a key.
    if session.id().is_none() {
        session
            .save()
            .await
            .map_err(|_| AppError::Internal("Session storage failed; try again.".into()))?;
    }
    if let Some(sid) = session.id() {
        st.handoff
            .leave(&sid.to_string(), &token.id, secret, provision::now_ms());
    }
    leptos_axum::redirect(&format!("/account?token={}", token.id));
    Ok(())
}

#[server(endpoint = "token_revoke")]
pub async fn revoke_token(id: String) -> Result<(), AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    provision::tokens::revoke(&state()?.store, &actor, &id).await?;
    leptos_axum::redirect("/account?revoked=1");
    Ok(())
}
