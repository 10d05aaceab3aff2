-- Each cluster's certificate authorities: the active one (retired_at NULL) signs
-- kubeconfigs; rotation retires it and adds the next generation. The private key is
-- sealed with the server's secret key (AES-256-GCM), never stored in the clear.
CREATE TABLE cluster_cas (
    cluster_id TEXT NOT NULL REFERENCES clusters (id),
    generation BIGINT NOT NULL,
    common_name TEXT NOT NULL,
    cert_pem TEXT NOT NULL,
    key_sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    retired_at BIGINT,
    PRIMARY KEY (cluster_id, generation)
);
CREATE UNIQUE INDEX cluster_cas_active ON cluster_cas (cluster_id) WHERE retired_at IS NULL;

-- Every kubeconfig issued: whose, signed by which CA generation, until when.
CREATE TABLE kubeconfigs_issued (
    serial TEXT PRIMARY KEY,
    cluster_id TEXT NOT NULL REFERENCES clusters (id),
    ca_generation BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    groups TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    not_after BIGINT NOT NULL
);
CREATE INDEX kubeconfigs_issued_cluster ON kubeconfigs_issued (cluster_id, issued_at);
