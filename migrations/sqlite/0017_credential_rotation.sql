-- An instance's credential is replaced from time to time. The new one is kept beside the old
-- until the agent says it has saved it (or signs in with it), so a crash on either side
-- between the two steps never locks the host out.
ALTER TABLE container_instances ADD COLUMN next_credential_hash TEXT;
ALTER TABLE container_instances ADD COLUMN credential_issued_at TEXT;
