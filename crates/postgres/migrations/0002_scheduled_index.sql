-- Waiting jobs by the time they become runnable: lets a worker sleep exactly until the next
-- delayed job or retry is due instead of until its next poll.
CREATE INDEX conveyor_jobs_run_at ON conveyor_jobs (run_at) WHERE state = 'available';
