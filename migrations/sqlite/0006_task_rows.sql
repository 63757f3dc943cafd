-- A task's runtime spec is derived from its immutable task definition revision when an agent
-- needs it again; storing it with every task made each row several times larger.
ALTER TABLE tasks DROP COLUMN spec;

-- Task indexes keyed on columns that do not change as a task runs: an index on a status
-- moves an entry on every state change agents report, which doubled the cost of each report.
DROP INDEX tasks_by_service;
DROP INDEX tasks_by_instance;
DROP INDEX tasks_by_instance_desired;
DROP INDEX tasks_live_by_cluster;
CREATE INDEX tasks_by_service ON tasks (service_id);
CREATE INDEX tasks_by_instance ON tasks (container_instance_id);
