-- Attributes an admin gives an instance (ECS PutAttributes): like its join token's, they
-- override what the host says of itself, and they outlive its hellos.
ALTER TABLE container_instances ADD COLUMN admin_attributes TEXT NOT NULL DEFAULT '[]';
