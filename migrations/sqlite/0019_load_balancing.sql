-- Load balancing: target groups (a team's, or an admin's when of no team), listeners (ports
-- of the load balancer, so one listener per port across clusters), their rules, and the health
-- the load balancer last saw of each target.
CREATE TABLE target_groups (
    arn         TEXT PRIMARY KEY,
    cluster     TEXT NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    team        TEXT REFERENCES teams (name) ON DELETE SET NULL,
    config      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (cluster, name)
);

CREATE TABLE listeners (
    port                  BIGINT PRIMARY KEY,
    cluster               TEXT NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
    default_target_group  TEXT REFERENCES target_groups (arn),
    created_at            TEXT NOT NULL
);

CREATE TABLE listener_rules (
    port          BIGINT NOT NULL REFERENCES listeners (port) ON DELETE CASCADE,
    priority      BIGINT NOT NULL,
    target_group  TEXT NOT NULL REFERENCES target_groups (arn),
    conditions    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (port, priority)
);
CREATE INDEX listener_rules_by_target_group ON listener_rules (target_group);

CREATE TABLE target_health (
    target_group  TEXT NOT NULL REFERENCES target_groups (arn) ON DELETE CASCADE,
    task_id       TEXT NOT NULL,
    address       TEXT NOT NULL,
    state         TEXT NOT NULL,
    reason        TEXT,
    description   TEXT,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (target_group, task_id, address)
);
CREATE INDEX target_health_by_task ON target_health (task_id);

-- The address the load balancer reaches an instance's tasks at: where its agent connects from.
ALTER TABLE container_instances ADD COLUMN private_ip_address TEXT;
-- A task leaving its target groups (DEACTIVATING) is stopped once drained, at the latest then.
ALTER TABLE tasks ADD COLUMN deregister_by TEXT;
CREATE INDEX tasks_deregistering ON tasks (cluster, deregister_by) WHERE deregister_by IS NOT NULL;
