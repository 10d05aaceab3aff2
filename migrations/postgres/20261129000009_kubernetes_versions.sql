-- The Kubernetes versions on offer, managed by admins: a version can be disabled (no
-- new clusters) without touching the clusters that run it. Each boots from an image.
CREATE TABLE kubernetes_versions (
    version TEXT PRIMARY KEY,
    image TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
INSERT INTO kubernetes_versions (version, image, enabled, created_at, updated_at) VALUES
    ('v1.30.14', 'ubuntu-22.04-k8s-v1.30', 1, 0, 0),
    ('v1.31.12', 'ubuntu-22.04-k8s-v1.31', 1, 0, 0),
    ('v1.32.8', 'ubuntu-22.04-k8s-v1.32', 1, 0, 0),
    ('v1.33.4', 'ubuntu-22.04-k8s-v1.33', 1, 0, 0);
