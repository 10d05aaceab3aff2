-- Operations: every mutation of a cluster is a durable saga. One row per operation,
-- one per step (its state, attempts and output), and an append-only event log.
CREATE TABLE operations (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    state TEXT NOT NULL,
    spec TEXT NOT NULL,
    steps_done BIGINT NOT NULL DEFAULT 0,
    steps_total BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    retryable BIGINT,
    abort_requested BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX operations_claimable ON operations (state, lease_until);
CREATE INDEX operations_target ON operations (target_id, created_at);
CREATE INDEX operations_project ON operations (project_id, created_at);
-- At most one unfinished operation per target (cluster): the database enforces it.
CREATE UNIQUE INDEX operations_one_active ON operations (target_id)
    WHERE state IN ('pending', 'running', 'unwinding');

CREATE TABLE operation_steps (
    operation_id TEXT NOT NULL REFERENCES operations (id) ON DELETE CASCADE,
    step TEXT NOT NULL,
    position BIGINT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    output TEXT,
    error TEXT,
    started_at BIGINT,
    finished_at BIGINT,
    PRIMARY KEY (operation_id, step)
);

CREATE TABLE operation_events (
    operation_id TEXT NOT NULL REFERENCES operations (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    step TEXT,
    event TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (operation_id, seq)
);
