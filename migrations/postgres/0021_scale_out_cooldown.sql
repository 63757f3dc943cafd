-- The scale-out that started a policy's scale-out cooldown, and the desired count it started
-- from: within the cooldown the policy asks again from there, so what that scale-out added
-- counts toward the next. (`last_scale_out` stays the latest, from which scale-in waits.)
ALTER TABLE scaling_policies ADD COLUMN scale_out_cooldown_start BIGINT;
ALTER TABLE scaling_policies ADD COLUMN scale_out_cooldown_from BIGINT;
