-- Secrets a team keeps for its tasks: the value is sealed (AES-256-GCM under the server's
-- secrets key, bound to the name); nothing here is readable without that key.
CREATE TABLE secrets (
    name             TEXT PRIMARY KEY,
    team             TEXT REFERENCES teams (name) ON DELETE CASCADE,
    description      TEXT NOT NULL DEFAULT '',
    sealed_value     TEXT NOT NULL,
    version          BIGINT NOT NULL DEFAULT 1,
    created_by       TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    last_changed_at  TEXT NOT NULL
);
CREATE INDEX secrets_by_team ON secrets (team);
