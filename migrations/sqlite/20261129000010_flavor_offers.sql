-- Which of the cloud's flavors tenants may choose for new clusters and node groups.
-- A flavor with no row here is on offer; admins disable one with enabled = 0. Node
-- groups already on a disabled flavor keep it (and still scale).
CREATE TABLE flavor_offers (
    name TEXT PRIMARY KEY,
    enabled BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
