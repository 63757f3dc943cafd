-- Tasks not yet RUNNING, oldest first, for the start timeout that every scheduling pass
-- checks: a handful of rows, whatever the number of running tasks.
CREATE INDEX tasks_starting_by_age ON tasks (created_at) WHERE last_status IN ('PROVISIONING', 'PENDING', 'ACTIVATING');
