-- Clusters and their node groups. A deleted cluster keeps its row (deleted_at set) so
-- that its operations and audit entries still point somewhere; names are unique among
-- a project's live clusters.
CREATE TABLE clusters (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id),
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT,
    kubernetes_version TEXT NOT NULL,
    master_count BIGINT NOT NULL,
    master_flavor TEXT NOT NULL,
    pod_cidr TEXT NOT NULL,
    service_cidr TEXT NOT NULL,
    api_endpoint TEXT NOT NULL,
    api_address TEXT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE UNIQUE INDEX clusters_live_name ON clusters (project_id, name) WHERE deleted_at IS NULL;
CREATE INDEX clusters_project ON clusters (project_id, created_at);

CREATE TABLE node_groups (
    id TEXT PRIMARY KEY,
    cluster_id TEXT NOT NULL REFERENCES clusters (id),
    name TEXT NOT NULL,
    flavor TEXT NOT NULL,
    node_count BIGINT NOT NULL,
    min_node_count BIGINT NOT NULL,
    max_node_count BIGINT NOT NULL,
    boot_volume_gib BIGINT NOT NULL,
    labels TEXT NOT NULL,
    taints TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX node_groups_name ON node_groups (cluster_id, name);
