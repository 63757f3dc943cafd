-- Join tokens let a host register into a cluster. Only a hash of the secret is stored.
CREATE TABLE join_tokens (
    id           TEXT PRIMARY KEY,
    cluster      TEXT NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
    description  TEXT NOT NULL DEFAULT '',
    secret_hash  TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    revoked_at   TEXT,
    last_used_at TEXT
);
CREATE INDEX join_tokens_by_cluster ON join_tokens (cluster, created_at);
