-- Autoscaling per node group (cluster-autoscaler semantics): when set, Shipyard's
-- autoscaler keeps the group between min_node_count and max_node_count, and manual
-- resizes are refused. A 0/1 flag like the others.
ALTER TABLE node_groups ADD COLUMN autoscale BIGINT NOT NULL DEFAULT 0;
