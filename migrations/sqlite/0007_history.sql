-- Reads of live tasks stay as cheap as on an empty history: partial indexes hold only tasks
-- that have not stopped, so a task's entry moves once (when it stops), not on every report.
CREATE INDEX tasks_live_by_cluster ON tasks (cluster, id) WHERE last_status <> 'STOPPED';
CREATE INDEX tasks_live_by_instance ON tasks (container_instance_id) WHERE last_status <> 'STOPPED';
CREATE INDEX tasks_live_by_service ON tasks (service_id) WHERE last_status <> 'STOPPED';
-- The live tasks that hold host ports, for an instance's ports in use.
CREATE INDEX tasks_holding_ports ON tasks (container_instance_id) WHERE last_status <> 'STOPPED' AND host_ports <> '[]';

-- Instances are listed by name, a page at a time.
CREATE INDEX container_instances_by_name ON container_instances (cluster, name, id);
-- Stopped tasks are kept for a while (ECS: at least an hour), then deleted oldest first.
CREATE INDEX tasks_stopped_by_age ON tasks (stopped_at) WHERE last_status = 'STOPPED';
-- Failed tasks (the dashboard's list), newest first, without reading the rest of the history.
-- The condition is `store::tasks::FAILED`, word for word.
CREATE INDEX tasks_failed_by_cluster ON tasks (cluster, stopped_at) WHERE last_status = 'STOPPED' AND (stopped_reason LIKE 'Essential container in task exited%' OR stopped_reason LIKE 'CannotStartContainerError%' OR stopped_reason LIKE 'DependencyError%' OR stopped_reason LIKE 'Task is no longer running on its container instance%');

-- ECS RunTask's clientToken: the same token in a cluster returns the same tasks.
CREATE TABLE run_task_tokens (
    cluster     TEXT NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
    token       TEXT NOT NULL,
    request     TEXT NOT NULL,
    task_ids    TEXT NOT NULL,
    failures    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (cluster, token)
);
CREATE INDEX run_task_tokens_by_age ON run_task_tokens (created_at);
