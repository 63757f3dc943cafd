-- Attributes placement trusts come from a host's join token, not from what the host says.
-- Clusters made before this trusted their hosts' word and keep doing so until an admin names
-- what to trust; new clusters are created trusting only join tokens for the zone.
ALTER TABLE clusters ADD COLUMN trusted_attributes TEXT NOT NULL DEFAULT '[]';
ALTER TABLE join_tokens ADD COLUMN attributes TEXT NOT NULL DEFAULT '[]';
