//! Domain types of accounts and tenancy. Row types here hold secrets and are not
//! `Serialize`; the console maps them to its own wire types.

use std::fmt;
use std::str::FromStr;

/// A user as stored, including the password hash. Never sent to a browser, and its
/// `Debug` leaves the hash out.
#[derive(Clone)]
pub struct User {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub is_admin: bool,
    pub disabled: bool,
    pub must_change_password: bool,
    /// Moves on with every password change; a session begun at an older epoch is over.
    pub session_epoch: i64,
    pub created_at: i64,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("password_hash", &"<hidden>")
            .field("is_admin", &self.is_admin)
            .field("disabled", &self.disabled)
            .field("must_change_password", &self.must_change_password)
            .field("session_epoch", &self.session_epoch)
            .field("created_at", &self.created_at)
            .finish()
    }
}

#[cfg(test)]
mod debug_tests {
    #[test]
    fn a_users_debug_leaves_the_hash_out() {
        let u = super::User {
            id: "u1".into(),
            email: "a@example.com".into(),
            password_hash: "$argon2id$v=19$secret".into(),
            is_admin: false,
            disabled: false,
            must_change_password: false,
            session_epoch: 0,
            created_at: 0,
        };
        let shown = format!("{u:?}");
        assert!(
            shown.contains("a@example.com") && !shown.contains("argon2"),
            "{shown}"
        );
    }
}

/// A project is a tenant: it owns clusters and has members with roles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub description: String,
    pub personal_of: Option<String>,
    pub created_at: i64,
}

/// A member's role in one project.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Viewer,
    Member,
    Owner,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Owner, Role::Member, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Member => "member",
            Role::Owner => "owner",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "member" => Ok(Role::Member),
            "owner" => Ok(Role::Owner),
            _ => Err(crate::Error::invalid(
                "role",
                "Role must be owner, member or viewer.",
            )),
        }
    }
}

/// A project as one user sees it: with that user's role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectWithRole {
    pub project: Project,
    pub role: Role,
}

/// A member of a project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub user_id: String,
    pub email: String,
    pub role: Role,
    pub created_at: i64,
}

/// Who is acting: a signed-in user, or the owner of an API token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub user_id: String,
    pub email: String,
    pub is_admin: bool,
    /// The client address, for the audit log.
    pub client_addr: String,
    /// How the actor proved who they are.
    pub credential: Credential,
}

impl Actor {
    pub fn new(user: &User, client_addr: String, credential: Credential) -> Self {
        Actor {
            user_id: user.id.clone(),
            email: user.email.clone(),
            is_admin: user.is_admin,
            client_addr,
            credential,
        }
    }
}

/// How an actor proved who they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A console session (signed in with the password).
    Session,
    /// An API token: a read-only one may only read (the REST API lets it make GET and
    /// HEAD requests only).
    Token { id: String, read_only: bool },
}

/// Whether an audited action succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

/// One audit log entry as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub actor_id: Option<String>,
    pub actor_email: String,
    pub project_id: Option<String>,
    pub action: String,
    pub object: String,
    pub outcome: String,
    pub client_addr: String,
    pub detail: String,
}

/// An audit record to write.
#[derive(Clone, Debug)]
pub struct NewAudit<'a> {
    pub actor_id: Option<&'a str>,
    pub actor_email: &'a str,
    pub project_id: Option<&'a str>,
    pub action: &'a str,
    pub object: &'a str,
    pub outcome: Outcome,
    pub client_addr: &'a str,
    pub detail: &'a str,
}

/// Filters for reading the audit log; `None` means any.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub actor_email: Option<String>,
    pub project_id: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub limit: i64,
}
