-- Task start throttling (ECS backs off a service whose tasks keep failing to start) and the
-- latest reason its tasks could not be placed.
ALTER TABLE services ADD COLUMN start_failures BIGINT NOT NULL DEFAULT 0;
ALTER TABLE services ADD COLUMN throttled_until TEXT;
ALTER TABLE services ADD COLUMN pending_reason TEXT;
-- One server schedules at a time: whoever holds the lease and renews it before it expires.
CREATE TABLE scheduler_leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE INDEX tasks_live_by_cluster ON tasks (cluster, last_status);
