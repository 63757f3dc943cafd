-- A service's live tasks in id order, a page at a time: its own partial index, so a page of
-- one service is read straight rather than by walking every live task of the cluster.
CREATE INDEX tasks_live_by_group ON tasks (cluster, task_group, id) WHERE last_status <> 'STOPPED';
