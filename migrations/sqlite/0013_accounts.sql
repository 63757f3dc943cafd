-- People, teams and their credentials. Passwords are kept as argon2id hashes; session ids
-- and API tokens (high-entropy random secrets) as SHA-256 hashes.
CREATE TABLE users (
    username            TEXT PRIMARY KEY,
    password_hash       TEXT NOT NULL,
    admin               BIGINT NOT NULL DEFAULT 0,
    disabled            BIGINT NOT NULL DEFAULT 0,
    created_at          TEXT NOT NULL,
    password_changed_at TEXT NOT NULL
);

CREATE TABLE teams (
    name        TEXT PRIMARY KEY,
    created_at  TEXT NOT NULL
);

CREATE TABLE team_members (
    team      TEXT NOT NULL REFERENCES teams (name) ON DELETE CASCADE,
    username  TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    role      TEXT NOT NULL,
    PRIMARY KEY (team, username)
);
CREATE INDEX team_members_by_user ON team_members (username);

-- Which teams may use a cluster (an admin shares it).
CREATE TABLE cluster_teams (
    cluster  TEXT NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
    team     TEXT NOT NULL REFERENCES teams (name) ON DELETE CASCADE,
    PRIMARY KEY (cluster, team)
);

CREATE TABLE sessions (
    id_hash       TEXT PRIMARY KEY,
    username      TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    csrf_token    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    revoked_at    TEXT
);
CREATE INDEX sessions_by_user ON sessions (username);

-- A token acts for a user (capped at its role) or for a team (with its role).
CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY,
    secret_hash   TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL DEFAULT '',
    username      TEXT REFERENCES users (username) ON DELETE CASCADE,
    team          TEXT REFERENCES teams (name) ON DELETE CASCADE,
    role          TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT,
    revoked_at    TEXT,
    last_used_at  TEXT
);

-- Failed sign-ins, per account and per address, for throttling.
CREATE TABLE login_failures (
    subject  TEXT NOT NULL,
    at       TEXT NOT NULL
);
CREATE INDEX login_failures_by_subject ON login_failures (subject, at);

-- What belongs to which team: a family; its services and tasks belong to its team. Families
-- made before teams existed belong to none, and only an admin sees them.
ALTER TABLE task_definition_families ADD COLUMN team TEXT;

-- Every change and every refused attempt: who, when, what, from where, with what result.
CREATE TABLE audit_log (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    at       TEXT NOT NULL,
    actor    TEXT NOT NULL,
    team     TEXT,
    action   TEXT NOT NULL,
    target   TEXT NOT NULL,
    source   TEXT NOT NULL,
    result   TEXT NOT NULL,
    detail   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_by_team ON audit_log (team, seq);
