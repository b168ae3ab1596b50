-- Named queues (issue 19): every job belongs to one queue, `default` unless it names
-- another; a worker claims from the queues it serves, each with slots of its own.
ALTER TABLE conveyor_jobs ADD COLUMN queue text NOT NULL DEFAULT 'default';
-- The claim index, per queue: waiting jobs in claim order (priority, then FIFO). It
-- replaces the queue-blind one, whose order it keeps within each queue.
CREATE INDEX conveyor_jobs_claim_queue ON conveyor_jobs (queue, priority, seq) WHERE state = 'available';
