-- Wharf's store on PostgreSQL. Timestamps are RFC 3339 UTC text (sortable); JSON is text.
CREATE TABLE clusters (
    name        TEXT PRIMARY KEY,
    tags        TEXT NOT NULL DEFAULT '[]',
    created_at  TEXT NOT NULL
);

-- One row per family: the revision counter, bumped in the same transaction as the insert.
CREATE TABLE task_definition_families (
    family           TEXT PRIMARY KEY,
    latest_revision  BIGINT NOT NULL
);

CREATE TABLE task_definitions (
    family           TEXT NOT NULL REFERENCES task_definition_families (family),
    revision         BIGINT NOT NULL,
    status           TEXT NOT NULL,
    document         TEXT NOT NULL,
    registered_at    TEXT NOT NULL,
    deregistered_at  TEXT,
    PRIMARY KEY (family, revision)
);
CREATE INDEX task_definitions_by_status ON task_definitions (family, status, revision);

CREATE TABLE services (
    id          TEXT PRIMARY KEY,
    cluster     TEXT NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    status      TEXT NOT NULL,
    config      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
-- A name is taken while the service is not INACTIVE (deleted services stay describable).
CREATE UNIQUE INDEX services_live_name ON services (cluster, name) WHERE status <> 'INACTIVE';

CREATE TABLE deployments (
    id                    TEXT PRIMARY KEY,
    service_id            TEXT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    status                TEXT NOT NULL,
    task_definition       TEXT NOT NULL,
    desired_count         BIGINT NOT NULL,
    failed_tasks          BIGINT NOT NULL DEFAULT 0,
    rollout_state         TEXT NOT NULL,
    rollout_state_reason  TEXT,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL
);
CREATE INDEX deployments_by_service ON deployments (service_id, created_at);

CREATE TABLE service_events (
    seq         BIGSERIAL PRIMARY KEY,
    service_id  TEXT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    message     TEXT NOT NULL
);
CREATE INDEX service_events_by_service ON service_events (service_id, seq);

CREATE TABLE container_instances (
    id                   TEXT PRIMARY KEY,
    cluster              TEXT NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
    name                 TEXT NOT NULL,
    status               TEXT NOT NULL,
    agent_connected      BIGINT NOT NULL DEFAULT 0,
    registered_resources TEXT NOT NULL DEFAULT '[]',
    remaining_resources  TEXT NOT NULL DEFAULT '[]',
    attributes           TEXT NOT NULL DEFAULT '[]',
    version_info         TEXT NOT NULL DEFAULT '{}',
    registered_at        TEXT NOT NULL,
    last_heartbeat_at    TEXT
);
CREATE INDEX container_instances_by_cluster ON container_instances (cluster, id);

CREATE TABLE tasks (
    id                     TEXT PRIMARY KEY,
    cluster                TEXT NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
    task_definition        TEXT NOT NULL,
    container_instance_id  TEXT,
    service_id             TEXT,
    task_group             TEXT,
    started_by             TEXT,
    last_status            TEXT NOT NULL,
    desired_status         TEXT NOT NULL,
    stopped_reason         TEXT,
    containers             TEXT NOT NULL DEFAULT '[]',
    created_at             TEXT NOT NULL,
    started_at             TEXT,
    stopped_at             TEXT
);
CREATE INDEX tasks_by_cluster ON tasks (cluster, id);
CREATE INDEX tasks_by_service ON tasks (service_id, last_status);
CREATE INDEX tasks_by_instance ON tasks (container_instance_id, last_status);
