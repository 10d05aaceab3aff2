-- Membership invitations: adding someone to a project invites their email, whether or
-- not it has an account, and they join when they accept; the inviter cannot tell which.
CREATE TABLE project_invitations (
    project_id TEXT NOT NULL,
    email      TEXT NOT NULL,
    role       TEXT NOT NULL,
    invited_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, email)
);
CREATE INDEX project_invitations_email ON project_invitations(email);
