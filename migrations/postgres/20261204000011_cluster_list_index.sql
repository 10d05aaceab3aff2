-- The console's clusters list (`Store::cluster_search`): a project's live clusters,
-- newest first, a page at a time. In this order, with the columns the list filters on
-- (status, name), the page is read off the index up to its rows, with no sort, and the
-- count from the index alone. It replaces `clusters_project`: every query that looks up
-- a project's clusters asks for live ones.
CREATE INDEX clusters_live_list ON clusters (project_id, created_at DESC, id, status, name)
    WHERE deleted_at IS NULL;
DROP INDEX clusters_project;
