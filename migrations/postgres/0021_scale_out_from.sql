-- The desired count a policy's last scale-out started from: within its scale-out cooldown the
-- policy asks again from there, so what that scale-out added counts toward the next.
ALTER TABLE scaling_policies ADD COLUMN last_scale_out_from BIGINT;
