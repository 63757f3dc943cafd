-- Service auto scaling, in Application Auto Scaling's model: a service's scalable target (its
-- bounds and suspend flags), its scaling policies with when each last scaled, its scheduled
-- actions with the run they last made, the activities (every decision, with its numbers) and
-- a short history of the service's metrics, sampled every few seconds.
CREATE TABLE scalable_targets (
    service_id  TEXT PRIMARY KEY REFERENCES services (id) ON DELETE CASCADE,
    config      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE scaling_policies (
    service_id      TEXT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    config          TEXT NOT NULL,
    -- Unix seconds of the policy's last scale-out and scale-in: its cooldowns run from them.
    last_scale_out  BIGINT,
    last_scale_in   BIGINT,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (service_id, name)
);

CREATE TABLE scheduled_actions (
    service_id  TEXT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    config      TEXT NOT NULL,
    -- Unix seconds of the run it last made (the scheduled time, not when it was noticed).
    last_run    BIGINT,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (service_id, name)
);

CREATE TABLE scaling_activities (
    seq          BIGSERIAL PRIMARY KEY,
    service_id   TEXT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    at           BIGINT NOT NULL,
    created_at   TEXT NOT NULL,
    description  TEXT NOT NULL,
    cause        TEXT NOT NULL,
    -- Successful (the count moved) or Held (a cooldown, a bound or a flag held it back).
    status_code  TEXT NOT NULL,
    policy       TEXT,
    from_count   BIGINT NOT NULL,
    to_count     BIGINT NOT NULL
);
CREATE INDEX scaling_activities_by_service ON scaling_activities (service_id, seq);

CREATE TABLE service_metrics (
    service_id    TEXT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    at            BIGINT NOT NULL,
    desired       BIGINT NOT NULL,
    running       BIGINT NOT NULL,
    cpu_average     DOUBLE PRECISION,
    cpu_maximum     DOUBLE PRECISION,
    memory_average  DOUBLE PRECISION,
    memory_maximum  DOUBLE PRECISION,
    -- ALBRequestCountPerTarget: requests per target over the last minute.
    requests_per_target DOUBLE PRECISION,
    PRIMARY KEY (service_id, at)
);
CREATE INDEX service_metrics_by_time ON service_metrics (at);

-- What each container instance's host used, sampled with the services.
CREATE TABLE instance_metrics (
    instance_id  TEXT NOT NULL REFERENCES container_instances (id) ON DELETE CASCADE,
    at           BIGINT NOT NULL,
    cpu          BIGINT NOT NULL,
    memory       BIGINT NOT NULL,
    PRIMARY KEY (instance_id, at)
);
CREATE INDEX instance_metrics_by_time ON instance_metrics (at);
