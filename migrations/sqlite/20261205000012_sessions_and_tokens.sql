-- Sessions end when their user's password changes: a session keeps the epoch its user
-- had when it began, and is signed out once the user's epoch has moved on.
ALTER TABLE users ADD COLUMN session_epoch INTEGER NOT NULL DEFAULT 0;
-- API tokens may expire (NULL: never) and may be read-only (GET and HEAD only).
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
ALTER TABLE api_tokens ADD COLUMN read_only INTEGER NOT NULL DEFAULT 0;
-- Sign-up attempts per client address, for its throttle (pruned like login_failures).
CREATE TABLE signup_attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    client_addr TEXT NOT NULL,
    at          INTEGER NOT NULL
);
CREATE INDEX signup_attempts_addr ON signup_attempts(client_addr, at);
