-- What each cluster's tasks may do. Clusters made before policies existed ran anything, and
-- keep doing so until an admin tightens them; new clusters are created restricted.
ALTER TABLE clusters ADD COLUMN task_policy TEXT NOT NULL DEFAULT '{"level":"privileged"}';
