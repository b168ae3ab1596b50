//! The in-process kinds: `noop`, `sleep`, `fail`, `cpu`.

mod kind_support;

use std::time::Duration;

use conveyor::kind::KindOutput;
use conveyor_pool::JobError;
use kind_support::{env, kind_error, pool, run, spec, submit};
use tokio::time::Instant;

#[tokio::test]
async fn noop_succeeds_with_no_output() {
    let output = run(r#"{"kind": "noop"}"#, &env(false)).await.unwrap();
    assert_eq!(output, KindOutput::default());
}

#[tokio::test(start_paused = true)]
async fn sleep_waits_its_duration() {
    let start = Instant::now();
    let output = run(r#"{"kind": "sleep", "duration": "90s"}"#, &env(false)).await.unwrap();
    assert_eq!(output, KindOutput::default());
    assert!(start.elapsed() >= Duration::from_secs(90), "{:?}", start.elapsed());
}

#[tokio::test(start_paused = true)]
async fn sleep_stops_at_its_timeout() {
    let start = Instant::now();
    let err = run(r#"{"kind": "sleep", "duration": "1h", "timeout": "5s"}"#, &env(false)).await.unwrap_err();
    assert!(matches!(err, JobError::TimedOut), "{err:?}");
    // The pool's grace is 60 s: ending at 5 s means the sleep saw the cancellation itself.
    assert!(start.elapsed() < Duration::from_secs(30), "{:?}", start.elapsed());
}

#[tokio::test(start_paused = true)]
async fn sleep_stops_when_cancelled() {
    let pool = pool();
    let handle = submit(&pool, spec(r#"{"kind": "sleep", "duration": "1h"}"#), &env(false)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let start = Instant::now();
    handle.cancel();
    let err = handle.await.unwrap_err();
    assert!(matches!(err, JobError::Cancelled), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(30), "{:?}", start.elapsed());
}

#[tokio::test]
async fn fail_fails_with_its_message() {
    let err = run(r#"{"kind": "fail", "message": "disk on fire"}"#, &env(false)).await.unwrap_err();
    let kind = kind_error(&err);
    assert_eq!(kind.to_string(), "disk on fire");
    assert_eq!((kind.exit_code, kind.output_tail.as_deref()), (None, None));
}

#[tokio::test]
async fn fail_without_message_says_so() {
    let err = run(r#"{"kind": "fail", "probability": 1}"#, &env(false)).await.unwrap_err();
    assert_eq!(kind_error(&err).to_string(), "failed on purpose");
}

#[tokio::test]
async fn fail_with_probability_zero_succeeds() {
    run(r#"{"kind": "fail", "probability": 0}"#, &env(false)).await.unwrap();
}

/// Which of `n` jobs (`probability` 0.5) fail with `seed`.
async fn failures(seed: u64, n: usize) -> Vec<bool> {
    let mut env = env(false);
    env.seed = seed;
    let pool = pool();
    let mut handles = Vec::new();
    for i in 0..n {
        let json = format!(r#"{{"id": "job-{i}", "kind": "fail", "probability": 0.5}}"#);
        handles.push(submit(&pool, spec(&json), &env).await);
    }
    let mut failed = Vec::new();
    for handle in handles {
        failed.push(handle.await.is_err());
    }
    failed
}

#[tokio::test]
async fn fail_is_deterministic_for_a_seed() {
    let first = failures(1, 200).await;
    assert_eq!(first, failures(1, 200).await, "same seed, same failures");
    assert_ne!(first, failures(2, 200).await, "another seed, other failures");
    let count = first.iter().filter(|&&f| f).count();
    assert!((60..140).contains(&count), "{count} of 200 failed at probability 0.5");
}

#[tokio::test]
async fn fail_draws_anew_for_each_attempt() {
    // Were the draw the same for every attempt, a job failing its first would fail all 30.
    let pool = pool();
    let env = env(false);
    let mut handles = Vec::new();
    for i in 0..50 {
        let json = format!(
            r#"{{"id": "job-{i}", "kind": "fail", "probability": 0.5, "retry": {{"max_attempts": 30}}}}"#
        );
        handles.push(submit(&pool, spec(&json), &env).await);
    }
    for handle in handles {
        handle.await.unwrap();
    }
}

#[tokio::test]
async fn cpu_hashes_its_rounds() {
    let output = run(r#"{"kind": "cpu", "rounds": 20000}"#, &env(false)).await.unwrap();
    assert_eq!(output, KindOutput::default());
}

#[tokio::test]
async fn cpu_stops_when_cancelled() {
    // Hours of hashing; the timeout must stop it well before the pool's 60 s grace.
    let start = std::time::Instant::now();
    let json = r#"{"kind": "cpu", "rounds": 100000000000, "timeout": "100ms"}"#;
    let err = tokio::time::timeout(Duration::from_secs(30), run(json, &env(false)))
        .await
        .expect("the cpu job ignored its cancellation")
        .unwrap_err();
    assert!(matches!(err, JobError::TimedOut), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(10), "{:?}", start.elapsed());
}

#[tokio::test(flavor = "current_thread")]
async fn cpu_does_not_block_the_async_workers() {
    // On a one-thread runtime, hashing on that thread would hold up the sleep job's timer.
    let pool = pool();
    let env = env(false);
    let cpu = submit(&pool, spec(r#"{"kind": "cpu", "rounds": 100000000000, "timeout": "3s"}"#), &env).await;
    let start = std::time::Instant::now();
    submit(&pool, spec(r#"{"kind": "sleep", "duration": "10ms"}"#), &env).await.await.unwrap();
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    cpu.cancel();
    assert!(cpu.await.is_err());
}

#[test]
fn run_future_is_send_and_small() {
    fn assert_send<T: Send>(_: &T) {}
    let spec = spec(r#"{"kind": "noop"}"#);
    let env = env(false);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let pool = pool();
        let handle = pool
            .submit(conveyor_pool::Job::new(move |ctx| {
                let (spec, env) = (spec.clone(), env.clone());
                async move {
                    let fut = conveyor::kind::run(&spec, &ctx, &env);
                    assert_send(&fut);
                    let size = std::mem::size_of_val(&fut);
                    fut.await?;
                    Ok::<_, conveyor::kind::KindError>(size)
                }
            }))
            .await
            .unwrap();
        let size = handle.await.unwrap();
        // sleep, exec, shell and http box their state (a timer alone is hundreds of bytes), so a
        // noop job does not pay for the largest kind.
        assert!(size <= 128, "kind::run's future is {size} bytes");
    });
}

#[test]
fn public_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<conveyor::kind::KindEnv>();
    assert_send_sync::<conveyor::kind::KindOutput>();
    assert_send_sync::<conveyor::kind::KindError>();
}
