-- Fewer row writes per job (issue 19). The running attempt lives on its job's row, which
-- the claim writes anyway: its lease token, number (`attempts`), worker and lease expiry
-- were there already; its start is `attempt_started_at` (the current or last attempt's).
-- `conveyor_attempts` now holds ended attempts only, each inserted once, when its attempt
-- ends (outcome, release, rescue, cancel). A job then costs two updates of its row and
-- one insert, instead of two updates of its row, one insert and one update.
ALTER TABLE conveyor_jobs ADD COLUMN attempt_started_at timestamptz;

-- Jobs running at the upgrade: their open attempt row moves to the job row.
UPDATE conveyor_jobs j SET attempt_started_at = a.started_at
FROM conveyor_attempts a
WHERE a.token = j.lease_token AND j.state = 'running';
DELETE FROM conveyor_attempts WHERE finished_at IS NULL;
-- An attempt whose worker or start its job row does not know (a row set running by hand,
-- say) is recorded with NULLs: the statement that ends it, perhaps a rescue of many jobs,
-- must not fail on it.
ALTER TABLE conveyor_attempts ALTER COLUMN worker DROP NOT NULL, ALTER COLUMN started_at DROP NOT NULL;

-- An ended attempt is written once and never updated: its job's attempts are read by
-- `job_id`, in token order, which the primary key now serves on its own (one index to
-- maintain per insert instead of two).
ALTER TABLE conveyor_attempts DROP CONSTRAINT conveyor_attempts_pkey;
ALTER TABLE conveyor_attempts ADD PRIMARY KEY (job_id, token);
DROP INDEX conveyor_attempts_job;
-- Read by no statement (the concurrency limit counts running jobs, not attempts).
DROP INDEX conveyor_attempts_key;

-- Running jobs per key, for the limits: only jobs that have a key (an index entry per
-- claim of an unkeyed job was written for nothing). The rate limit counts the starts
-- within its period of ended attempts (conveyor_attempts_rate) and of running ones (here).
DROP INDEX conveyor_jobs_running_key;
CREATE INDEX conveyor_jobs_running_key ON conveyor_jobs (concurrency_key)
    WHERE state = 'running' AND concurrency_key IS NOT NULL;
CREATE INDEX conveyor_jobs_running_rate ON conveyor_jobs (coalesce(rate_key, concurrency_key), attempt_started_at)
    WHERE state = 'running' AND coalesce(rate_key, concurrency_key) IS NOT NULL;

-- The look for runnable limited jobs before each claim: without an index of its own it
-- read every waiting job (the limited claim indexes lead with a key it does not name).
CREATE INDEX conveyor_jobs_limited_run_at ON conveyor_jobs (run_at) WHERE state = 'available' AND limited;

-- Every update of a job row changes `state`, which indexes name, so none is HOT; with room
-- left on each page, the new version still goes to the same page (a smaller WAL record)
-- and the dead ones are pruned in place instead of the table growing by one row a write:
-- 22% less WAL per job and a table 30% smaller after a drain, for the same CPU. Only pages
-- written from now on are filled to it.
ALTER TABLE conveyor_jobs SET (fillfactor = 50);
