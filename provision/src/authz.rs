//! Per-object authorization: every read and write of a project's objects goes through
//! [`authorize`], which answers "not found" to outsiders so that existence never leaks.

use crate::domain::{Actor, Project, ProjectWithRole, Role};
use crate::{Error, Result, Store};

/// What an actor wants to do inside a project.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Read the project and its objects.
    View,
    /// Create, change or delete the project's objects (clusters, node groups, ...).
    Mutate,
    /// Manage members and roles.
    ManageMembers,
}

impl Role {
    /// The role matrix: viewers read, members also change objects, owners also
    /// manage members.
    pub fn allows(self, action: Action) -> bool {
        match action {
            Action::View => true,
            Action::Mutate => self >= Role::Member,
            Action::ManageMembers => self == Role::Owner,
        }
    }
}

/// [`authorize`] for a project whose membership the caller has just read (a signed-in
/// page reads the user's projects first): no query.
pub fn authorize_member(actor: &Actor, project: &ProjectWithRole, action: Action) -> Result<Role> {
    let role = if actor.is_admin {
        Role::Owner
    } else {
        project.role
    };
    if !role.allows(action) {
        return Err(forbidden(role, action));
    }
    Ok(role)
}

fn forbidden(role: Role, action: Action) -> Error {
    Error::Forbidden(match action {
        Action::View => "You cannot view this project.".into(),
        Action::Mutate => format!(
            "Your role in this project is {role}; only members and owners can make changes."
        ),
        Action::ManageMembers => {
            format!("Your role in this project is {role}; only owners can manage members.")
        }
    })
}

/// Checks that `actor` may do `action` in `project_id`; returns the project and the
/// actor's role (admins act as owners everywhere).
pub async fn authorize(
    store: &Store,
    actor: &Actor,
    project_id: &str,
    action: Action,
) -> Result<(Project, Role)> {
    let not_found = || Error::NotFound("No such project.".into());
    // One query: the project and the caller's membership of it.
    let (project, membership) = store
        .project_with_role(project_id, &actor.user_id)
        .await?
        .ok_or_else(not_found)?;
    let role = match membership {
        _ if actor.is_admin => Role::Owner,
        Some(role) => role,
        None => return Err(not_found()),
    };
    if !role.allows(action) {
        return Err(forbidden(role, action));
    }
    Ok((project, role))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_matrix() {
        use Action::*;
        assert!(Role::Viewer.allows(View));
        assert!(!Role::Viewer.allows(Mutate));
        assert!(!Role::Viewer.allows(ManageMembers));
        assert!(Role::Member.allows(Mutate));
        assert!(!Role::Member.allows(ManageMembers));
        assert!(Role::Owner.allows(ManageMembers));
    }
}
