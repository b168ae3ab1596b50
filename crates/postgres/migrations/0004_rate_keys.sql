-- A job's `rate_key` (issue 21): the key whose rate limit the job obeys instead of its
-- `concurrency_key`'s. Attempts record the key their start counts against (the rate key, or
-- the concurrency key without one), so that a rate window counts per key.
ALTER TABLE conveyor_jobs ADD COLUMN rate_key text;
ALTER TABLE conveyor_attempts ADD COLUMN rate_key text;
UPDATE conveyor_attempts SET rate_key = concurrency_key WHERE rate_key IS NULL;
CREATE INDEX conveyor_attempts_rate ON conveyor_attempts (rate_key, started_at) WHERE rate_key IS NOT NULL;
-- The limited claim path, by rate key.
CREATE INDEX conveyor_jobs_claim_rate ON conveyor_jobs (rate_key, priority, seq)
    WHERE state = 'available' AND limited;
