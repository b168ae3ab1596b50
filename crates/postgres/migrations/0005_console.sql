-- The console (issue 22): its job list is a keyset page, newest first (`seq` descending),
-- filtered by state or by queue; these indexes let such a page stop after `limit` rows
-- whatever the table's size, instead of scanning past every job of other states or queues.
CREATE INDEX conveyor_jobs_state_seq ON conveyor_jobs (state, seq);
CREATE INDEX conveyor_jobs_queue_seq ON conveyor_jobs (queue, seq);
