-- Per-project limits, checked before any cloud call; a project without a row has the
-- defaults (provision::quotas::Quota::default).
CREATE TABLE project_quotas (
    project_id TEXT PRIMARY KEY REFERENCES projects (id),
    clusters BIGINT NOT NULL,
    vcpus BIGINT NOT NULL,
    ram_mib BIGINT NOT NULL,
    volume_gib BIGINT NOT NULL,
    load_balancers BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
