-- While a scale-up runs, the count its group may grow to: quota usage counts the larger
-- of this and node_count, so the claim holds from the request until the operation ends.
ALTER TABLE node_groups ADD COLUMN claimed_count INTEGER;
