//! Projects (tenants) and their members: every change is authorized against the
//! actor's role and written to the audit log.

use crate::accounts::{audit, require_admin};
use crate::authz::{authorize, Action};
use crate::domain::{Actor, Member, Outcome, Project, ProjectWithRole, Role, User};
use crate::{Error, Result, Store};

pub const PROJECT_NAME_MAX: usize = 64;
pub const DESCRIPTION_MAX: usize = 500;
/// How many projects a user may own (their personal one included) unless an
/// administrator sets another limit. Each project brings its own quota, so without a
/// limit one account could claim the whole cloud.
pub const DEFAULT_PROJECT_LIMIT: i64 = 5;
/// The highest limit an administrator may set.
pub const MAX_PROJECT_LIMIT: i64 = 1000;
const SETTING_PROJECT_LIMIT: &str = "project_limit";

/// How many projects a user may own.
pub async fn project_limit(store: &Store) -> Result<i64> {
    Ok(store
        .setting_get(SETTING_PROJECT_LIMIT)
        .await?
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_PROJECT_LIMIT))
}

/// Sets how many projects a user may own (administrators).
pub async fn set_project_limit(store: &Store, actor: &Actor, limit: i64) -> Result<()> {
    require_admin(actor)?;
    if !(1..=MAX_PROJECT_LIMIT).contains(&limit) {
        return Err(Error::invalid(
            "limit",
            format!("A user may own 1–{MAX_PROJECT_LIMIT} projects."),
        ));
    }
    store
        .setting_set(SETTING_PROJECT_LIMIT, &limit.to_string())
        .await?;
    audit(
        store,
        actor,
        None,
        "settings.project_limit",
        &limit.to_string(),
        Outcome::Success,
        "",
    )
    .await
}

/// Creates a project owned by the actor, within the per-user limit (administrators
/// have none).
pub async fn create(store: &Store, actor: &Actor, name: &str) -> Result<Project> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::invalid("name", "Enter a project name."));
    }
    if name.chars().count() > PROJECT_NAME_MAX {
        return Err(Error::invalid(
            "name",
            format!("Project name is too long (at most {PROJECT_NAME_MAX} characters)."),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "name",
            "Project name cannot contain control characters.",
        ));
    }
    if store
        .project_count_named_for_owner(&actor.user_id, name)
        .await?
        > 0
    {
        return Err(Error::Conflict(format!(
            "You already own a project named \"{name}\"."
        )));
    }
    let limit = if actor.is_admin {
        None
    } else {
        Some(project_limit(store).await?)
    };
    let project = store.project_create(name, &actor.user_id, limit).await?;
    audit(
        store,
        actor,
        Some(&project.id),
        "project.create",
        &format!("project:{name}"),
        Outcome::Success,
        "",
    )
    .await?;
    Ok(project)
}

/// The project with the caller's role, for anyone who may view it.
pub async fn get(store: &Store, actor: &Actor, project_id: &str) -> Result<(Project, Role)> {
    authorize(store, actor, project_id, Action::View).await
}

/// Projects the actor belongs to.
pub async fn list_for(store: &Store, user: &User) -> Result<Vec<ProjectWithRole>> {
    store.project_list_for_user(&user.id).await
}

pub async fn update_description(
    store: &Store,
    actor: &Actor,
    project_id: &str,
    description: &str,
) -> Result<()> {
    let (project, _) = guarded(store, actor, project_id, Action::Mutate, "project.update").await?;
    let description = description.trim();
    if description.chars().count() > DESCRIPTION_MAX {
        return Err(Error::invalid(
            "description",
            format!("Description is too long (at most {DESCRIPTION_MAX} characters)."),
        ));
    }
    store
        .project_update_description(&project.id, description)
        .await?;
    audit(
        store,
        actor,
        Some(&project.id),
        "project.update",
        &format!("project:{}", project.name),
        Outcome::Success,
        "",
    )
    .await
}

pub async fn members(store: &Store, actor: &Actor, project_id: &str) -> Result<Vec<Member>> {
    authorize(store, actor, project_id, Action::View).await?;
    store.member_list(project_id).await
}

/// Adds someone by email: a member already has their role changed (the last owner
/// cannot be demoted); anyone else is invited (see [`crate::invitations`]), with the
/// same answer whether or not an account uses the email.
pub async fn member_set(
    store: &Store,
    actor: &Actor,
    project_id: &str,
    email: &str,
    role: &str,
) -> Result<crate::invitations::MemberSet> {
    use crate::invitations::MemberSet;
    let (project, _) = guarded(
        store,
        actor,
        project_id,
        Action::ManageMembers,
        "member.set",
    )
    .await?;
    let role: Role = role.parse()?;
    let email = crate::accounts::validate_email(email)?;
    let member = store
        .member_list(project_id)
        .await?
        .into_iter()
        .find(|m| m.email == email);
    let (done, action) = match member {
        Some(m) => {
            // The store refuses a change that would leave no owner, in the same
            // transaction.
            store.member_upsert(project_id, &m.user_id, role).await?;
            (MemberSet::RoleChanged, "member.set")
        }
        None => {
            crate::invitations::invite(store, actor, project_id, &email, role).await?;
            (MemberSet::Invited, "member.invite")
        }
    };
    audit(
        store,
        actor,
        Some(project_id),
        action,
        &format!("project:{} member:{email}", project.name),
        Outcome::Success,
        role.as_str(),
    )
    .await?;
    Ok(done)
}

pub async fn member_remove(
    store: &Store,
    actor: &Actor,
    project_id: &str,
    user_id: &str,
) -> Result<()> {
    let (project, _) = guarded(
        store,
        actor,
        project_id,
        Action::ManageMembers,
        "member.remove",
    )
    .await?;
    if store.membership_role(project_id, user_id).await?.is_none() {
        return Err(Error::NotFound("No such member.".into()));
    }
    let email = store
        .user_by_id(user_id)
        .await?
        .map(|u| u.email)
        .unwrap_or_default();
    // The store refuses a removal that would leave no owner, in the same transaction.
    store.member_remove(project_id, user_id).await?;
    audit(
        store,
        actor,
        Some(project_id),
        "member.remove",
        &format!("project:{} member:{email}", project.name),
        Outcome::Success,
        "",
    )
    .await
}

/// Admin: grant or revoke admin, disable or enable a user. An admin cannot lock
/// themselves out.
pub async fn admin_update_user(
    store: &Store,
    actor: &Actor,
    user_id: &str,
    change: &str,
) -> Result<()> {
    require_admin(actor)?;
    let user = store
        .user_by_id(user_id)
        .await?
        .ok_or_else(|| Error::NotFound("No such user.".into()))?;
    if user.id == actor.user_id && matches!(change, "revoke_admin" | "disable") {
        return Err(Error::Conflict(
            "You cannot remove your own admin role or disable yourself.".into(),
        ));
    }
    match change {
        "make_admin" => store.user_set_admin(&user.id, true).await?,
        "revoke_admin" => store.user_set_admin(&user.id, false).await?,
        "disable" => store.user_set_disabled(&user.id, true).await?,
        "enable" => store.user_set_disabled(&user.id, false).await?,
        _ => {
            return Err(Error::invalid(
                "action",
                "Unknown change; use make_admin, revoke_admin, disable or enable.",
            ))
        }
    }
    audit(
        store,
        actor,
        None,
        &format!("user.{change}"),
        &format!("user:{}", user.email),
        Outcome::Success,
        "",
    )
    .await
}

/// Refuses to take the owner role from `user_id` when they are the last owner.
/// Authorizes, and audits a refusal.
async fn guarded(
    store: &Store,
    actor: &Actor,
    project_id: &str,
    action: Action,
    audit_action: &str,
) -> Result<(Project, Role)> {
    match authorize(store, actor, project_id, action).await {
        Ok(ok) => Ok(ok),
        Err(e @ (Error::Forbidden(_) | Error::NotFound(_))) => {
            audit(
                store,
                actor,
                None,
                audit_action,
                &format!("project:{project_id}"),
                Outcome::Denied,
                &e.to_string(),
            )
            .await?;
            Err(e)
        }
        Err(e) => Err(e),
    }
}
