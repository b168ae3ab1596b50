-- The conveyor queue: jobs, their attempts, per-key limits and live workers.
-- Applied by `conveyor-postgres` itself (sqlx's versioned migrations, recorded in
-- _sqlx_migrations and run under an advisory lock, so concurrent workers starting at once
-- apply it exactly once).

-- Every lease is a fresh number from this sequence: the token that fences an attempt's
-- writes (heartbeat, completion, release). It is never reused, so a worker that lost its
-- lease can never match a later attempt's token.
CREATE SEQUENCE conveyor_lease_seq;

CREATE TABLE conveyor_jobs (
    id               text PRIMARY KEY,
    -- FIFO order among equal priorities: submit order.
    seq              bigserial NOT NULL UNIQUE,
    name             text,
    kind             text NOT NULL,
    priority         integer NOT NULL DEFAULT 0,
    -- The job as `conveyor validate` resolved it (canonical JSON, defaults applied).
    spec             jsonb NOT NULL,
    spec_hash        text NOT NULL,
    concurrency_key  text,
    -- The key has a concurrency or rate limit: claimed through the limited path.
    limited          boolean NOT NULL DEFAULT false,
    state            text NOT NULL DEFAULT 'available' CHECK (state IN
                       ('available', 'running', 'succeeded', 'failed', 'panicked', 'timed_out', 'cancelled')),
    -- Not claimable before this instant (delay, not_before, retry backoff).
    run_at           timestamptz NOT NULL DEFAULT now(),
    -- Attempts started (claims), including those lost with their worker.
    attempts         integer NOT NULL DEFAULT 0,
    max_attempts     integer NOT NULL DEFAULT 1,
    -- Attempts that ended without an outcome of the job's own: the lease expired (worker
    -- killed, frozen, cut off) or the worker released the job on shutdown.
    lost             integer NOT NULL DEFAULT 0,
    lease_token      bigint,
    lease_expires_at timestamptz,
    -- The worker of the current (or last) attempt.
    worker           text,
    queued_at        timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    run_seconds      double precision NOT NULL DEFAULT 0,
    error            text,
    exit_code        integer,
    output_tail      text,
    CHECK ((state = 'running') = (lease_token IS NOT NULL))
);

-- The claim index: only waiting jobs, in claim order (priority, then FIFO).
CREATE INDEX conveyor_jobs_claim ON conveyor_jobs (priority, seq) WHERE state = 'available';
-- The limited claim path: waiting jobs per key, in claim order.
CREATE INDEX conveyor_jobs_claim_key ON conveyor_jobs (concurrency_key, priority, seq)
    WHERE state = 'available' AND limited;
-- Running jobs per key (concurrency limits).
CREATE INDEX conveyor_jobs_running_key ON conveyor_jobs (concurrency_key) WHERE state = 'running';
-- The rescuer: running jobs by lease expiry.
CREATE INDEX conveyor_jobs_lease ON conveyor_jobs (lease_expires_at) WHERE state = 'running';
-- Retention: finished jobs by age.
CREATE INDEX conveyor_jobs_finished ON conveyor_jobs (finished_at) WHERE finished_at IS NOT NULL;

-- One row per attempt (claim): who ran it and when, and how it ended. `outcome` is the
-- job's outcome, `lost` (lease expired, rescued) or `released` (worker shut down).
CREATE TABLE conveyor_attempts (
    token           bigint PRIMARY KEY,
    job_id          text NOT NULL,
    attempt         integer NOT NULL,
    worker          text NOT NULL,
    concurrency_key text,
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz,
    outcome         text
);
CREATE INDEX conveyor_attempts_job ON conveyor_attempts (job_id);
CREATE INDEX conveyor_attempts_key ON conveyor_attempts (concurrency_key, started_at)
    WHERE concurrency_key IS NOT NULL;

-- Per-key limits from job files' `limits` (the last submit to set a key wins).
CREATE TABLE conveyor_limits (
    key            text PRIMARY KEY,
    concurrency    integer,
    rate_count     integer,
    rate_period_ms bigint
);

-- Workers and their liveness (heartbeats).
CREATE TABLE conveyor_workers (
    name       text PRIMARY KEY,
    started_at timestamptz NOT NULL DEFAULT now(),
    last_seen  timestamptz NOT NULL DEFAULT now(),
    lease_ms   bigint NOT NULL,
    stopped_at timestamptz
);
