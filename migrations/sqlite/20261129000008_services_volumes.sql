-- What a cluster's cloud controller manager and CSI driver would make: services
-- exposed on a cloud load balancer, and persistent volumes on block storage. Deleted
-- rows keep deleted_at; names are unique among a cluster's live ones.
CREATE TABLE cluster_services (
    id TEXT PRIMARY KEY,
    cluster_id TEXT NOT NULL REFERENCES clusters (id),
    name TEXT NOT NULL,
    ports TEXT NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT,
    vip TEXT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE UNIQUE INDEX cluster_services_live_name ON cluster_services (cluster_id, name) WHERE deleted_at IS NULL;

CREATE TABLE cluster_volumes (
    id TEXT PRIMARY KEY,
    cluster_id TEXT NOT NULL REFERENCES clusters (id),
    name TEXT NOT NULL,
    size_gib BIGINT NOT NULL,
    volume_type TEXT,
    status TEXT NOT NULL,
    status_reason TEXT,
    volume_id TEXT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE UNIQUE INDEX cluster_volumes_live_name ON cluster_volumes (cluster_id, name) WHERE deleted_at IS NULL;
