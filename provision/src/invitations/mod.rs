//! Membership invitations. Adding someone to a project by email invites that email: the
//! same answer whether or not an account uses it, so the form cannot be used to find
//! out who has an account. The invitee sees the invitation on their Project page (once
//! signed in or signed up with that email) and accepts or declines it. An invitation
//! lasts [`VALIDITY_MS`]; inviting again renews it with the new role.

use crate::accounts::audit;
use crate::authz::{authorize, Action};
use crate::domain::{Actor, Outcome, Role};
use crate::{now_ms, Error, Result, Store};

/// How long an invitation waits to be accepted.
pub const VALIDITY_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// An invitation to a project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invitation {
    pub project_id: String,
    pub project_name: String,
    pub email: String,
    pub role: Role,
    pub invited_by: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// What adding someone to a project did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberSet {
    /// They were a member already; their role is now the one asked for.
    RoleChanged,
    /// Their email is invited (whether or not it has an account).
    Invited,
}

/// The project's open invitations (anyone who can see the project).
pub async fn of_project(store: &Store, actor: &Actor, project_id: &str) -> Result<Vec<Invitation>> {
    authorize(store, actor, project_id, Action::View).await?;
    store.invitations_of_project(project_id, now_ms()).await
}

/// The caller's open invitations, by their email.
pub async fn mine(store: &Store, actor: &Actor) -> Result<Vec<Invitation>> {
    store.invitations_for_email(&actor.email, now_ms()).await
}

/// Invites `email` with `role` (or renews its invitation); inside the project's member
/// change rules (the caller manages members).
pub(crate) async fn invite(
    store: &Store,
    actor: &Actor,
    project_id: &str,
    email: &str,
    role: Role,
) -> Result<()> {
    let now = now_ms();
    store
        .invitation_upsert(
            project_id,
            email,
            role,
            &actor.user_id,
            now,
            now + VALIDITY_MS,
        )
        .await
}

/// Withdraws an invitation (the caller manages members).
pub async fn revoke(store: &Store, actor: &Actor, project_id: &str, email: &str) -> Result<()> {
    let (project, _) = authorize(store, actor, project_id, Action::ManageMembers).await?;
    let email = email.trim().to_lowercase();
    if !store.invitation_delete(project_id, &email).await? {
        return Err(Error::NotFound("No such invitation.".into()));
    }
    audit(
        store,
        actor,
        Some(project_id),
        "member.invite_revoke",
        &format!("project:{} member:{email}", project.name),
        Outcome::Success,
        "",
    )
    .await
}

/// Accepts the caller's invitation to `project_id`: they join with its role (one who is
/// a member already keeps their role). Answers the project's name.
pub async fn accept(store: &Store, actor: &Actor, project_id: &str) -> Result<String> {
    let invitation = store
        .invitation_for(project_id, &actor.email, now_ms())
        .await?
        .ok_or_else(|| Error::NotFound("No such invitation (it may have expired).".into()))?;
    let role = store
        .invitation_accept(project_id, &actor.email, &actor.user_id, invitation.role)
        .await?;
    audit(
        store,
        actor,
        Some(project_id),
        "member.join",
        &format!("project:{} member:{}", invitation.project_name, actor.email),
        Outcome::Success,
        role.as_str(),
    )
    .await?;
    Ok(invitation.project_name)
}

/// Declines the caller's invitation to `project_id`.
pub async fn decline(store: &Store, actor: &Actor, project_id: &str) -> Result<()> {
    let invitation = store
        .invitation_for(project_id, &actor.email, now_ms())
        .await?
        .ok_or_else(|| Error::NotFound("No such invitation (it may have expired).".into()))?;
    store.invitation_delete(project_id, &actor.email).await?;
    audit(
        store,
        actor,
        Some(project_id),
        "member.decline",
        &format!("project:{} member:{}", invitation.project_name, actor.email),
        Outcome::Success,
        "",
    )
    .await
}
