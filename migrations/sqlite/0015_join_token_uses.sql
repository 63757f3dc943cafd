-- A join token may be limited to a number of hosts; each registration counts.
ALTER TABLE join_tokens ADD COLUMN max_uses BIGINT;
ALTER TABLE join_tokens ADD COLUMN uses BIGINT NOT NULL DEFAULT 0;
