-- Failures are told by the exact words their reasons begin with. LIKE ignores case on SQLite
-- and not on PostgreSQL, so the same reason counted as a failure on one and not the other.
DROP INDEX tasks_failed_by_cluster;
CREATE INDEX tasks_failed_by_cluster ON tasks (cluster, stopped_at) WHERE last_status = 'STOPPED' AND (substr(stopped_reason, 1, 34) = 'Essential container in task exited' OR substr(stopped_reason, 1, 25) = 'CannotStartContainerError' OR substr(stopped_reason, 1, 15) = 'DependencyError' OR substr(stopped_reason, 1, 51) = 'Task is no longer running on its container instance');
