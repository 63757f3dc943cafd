-- A registered host authenticates with its own credential; only its hash is stored.
ALTER TABLE container_instances ADD COLUMN credential_hash TEXT;
ALTER TABLE container_instances ADD COLUMN join_token_id TEXT;
