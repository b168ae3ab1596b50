//! Shared by the `kind_*` tests: job specs from JSON, and running them through a real pool.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use conveyor::kind::{self, KindEnv, KindError, KindOutput};
use conveyor::spec::{JobSpec, ParseOptions, parse_str};
use conveyor_pool::{Job, JobError, JobHandle, Pool, RetryPolicy};

/// One job spec from one JSON Lines line.
pub fn spec(json: &str) -> JobSpec {
    match parse_str("test.jsonl", json, &ParseOptions::default()) {
        Ok(mut batch) => batch.jobs.remove(0),
        Err(errors) => panic!("bad test job {json}: {errors:?}"),
    }
}

/// A pool whose grace period is long: a kind that ignores cancellation makes the test wait
/// for it, so the tests below notice (they bound their waits).
pub fn pool() -> Pool {
    Pool::builder().workers(4).grace(Duration::from_secs(60)).build()
}

/// Submits `spec` as the runner does: its timeout and retries applied, the body `kind::run`.
pub async fn submit(pool: &Pool, spec: JobSpec, env: &KindEnv) -> JobHandle<KindOutput> {
    let timeout = spec.timeout;
    let attempts = spec.retry.max_attempts;
    let env = env.clone();
    let mut job = Job::new(move |ctx| {
        let (spec, env) = (spec.clone(), env.clone());
        async move { kind::run(&spec, &ctx, &env).await }
    });
    if let Some(timeout) = timeout {
        job = job.timeout(timeout);
    }
    if let Some(attempts) = attempts {
        job = job.retry(RetryPolicy::fixed(attempts, Duration::from_millis(1)));
    }
    pool.submit(job).await.expect("submit")
}

/// Runs `json` as one job in a fresh pool.
pub async fn run(json: &str, env: &KindEnv) -> Result<KindOutput, JobError> {
    submit(&pool(), spec(json), env).await.await
}

/// The [`KindError`] inside a failed job's error.
pub fn kind_error(err: &JobError) -> &KindError {
    match err {
        JobError::Failed(inner) => {
            inner.downcast_ref::<KindError>().unwrap_or_else(|| panic!("not a KindError: {inner:?}"))
        }
        other => panic!("expected a failed job, got {other:?}"),
    }
}

/// The default settings with the shell allowed or not.
pub fn env(allow_shell: bool) -> KindEnv {
    KindEnv::new(allow_shell, 42).expect("kind env")
}

/// JSON string literal of `s` (for building job lines).
pub fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("json string")
}
