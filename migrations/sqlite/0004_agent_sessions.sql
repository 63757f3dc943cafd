-- What a task reserves on its instance, and the spec its agent runs (resent after reconnects).
ALTER TABLE tasks ADD COLUMN cpu BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN memory BIGINT NOT NULL DEFAULT 0;
-- Host ports held while the task is not STOPPED, as ["tcp:8080", …].
ALTER TABLE tasks ADD COLUMN host_ports TEXT NOT NULL DEFAULT '[]';
ALTER TABLE tasks ADD COLUMN spec TEXT;
ALTER TABLE container_instances ADD COLUMN runtime TEXT;
ALTER TABLE container_instances ADD COLUMN deregistered_at TEXT;
CREATE INDEX tasks_by_instance_desired ON tasks (container_instance_id, desired_status);
