//! Compile-time checks: the public types and the futures of the public async methods are
//! `Send` (and `Sync` and `Unpin` where a user needs it), as tokio/tests/async_send_sync.rs
//! checks for tokio's. A regression here fails to compile.

#![allow(dead_code)]

use std::future::Ready;
use std::time::Duration;

use conveyor_pool::{
    Async, AttemptError, Backoff, Blocking, CancelHandle, Event, Events, Finished, Job, JobContext, JobError,
    JobHandle, JobId, JobInfo, JobStatus, Missed, Outcome, Pool, PoolBuilder, RetryPolicy, Schedule,
    ShutdownReport, Started, SubmitError,
};

fn send<T: Send>() {}
fn sync<T: Sync>() {}
fn unpin<T: Unpin>() {}
fn all<T: Send + Sync + Unpin>() {}
fn send_val<T: Send>(_: &T) {}
fn all_val<T: Send + Sync + Unpin>(_: &T) {}

type AsyncBody = fn(JobContext) -> Ready<Result<u32, std::io::Error>>;
type BlockingBody = fn(JobContext) -> Result<u32, std::io::Error>;

#[test]
fn public_types_are_send_sync_and_unpin() {
    all::<Pool>();
    all::<PoolBuilder>();
    all::<JobHandle<u32>>();
    all::<JobHandle<String>>();
    all::<CancelHandle>();
    all::<JobContext>();
    all::<JobId>();
    all::<JobStatus>();
    all::<JobError>();
    all::<Outcome>();
    all::<Job<Async<AsyncBody>>>();
    all::<Job<Blocking<BlockingBody>>>();
    all::<SubmitError<Job<Async<AsyncBody>>>>();
    all::<SubmitError<Job<Blocking<BlockingBody>>>>();
    all::<RetryPolicy>();
    all::<Backoff>();
    all::<AttemptError<'static>>();
    all::<Event>();
    all::<JobInfo>();
    all::<Finished>();
    all::<ShutdownReport>();
    all::<Missed>();
    all::<Started<'static>>();
    all::<Schedule>();
    send::<Events>();
    unpin::<Events>();
    sync::<Events>();
}

/// `JobHandle<T>` is `Send` for any `Send` result, even one that is not `Sync`.
#[test]
fn a_handle_is_send_for_a_send_result() {
    send::<JobHandle<std::cell::Cell<u32>>>();
    sync::<JobHandle<std::cell::Cell<u32>>>();
}

/// Never called: it only has to compile.
fn futures_are_send(pool: Pool, ctx: JobContext, handle: JobHandle<u32>) {
    send_val(&pool.submit(Job::new(|_| async { Ok::<_, std::io::Error>(1u32) })));
    send_val(&pool.submit(Job::blocking(|_| Ok::<_, std::io::Error>(1u32))));
    send_val(&pool.join());
    send_val(&pool.shutdown(Duration::ZERO));
    send_val(&pool.shutdown_now());
    send_val(&ctx.cancelled());
    send_val(&handle);
    send_val(&handle.started());
    send_val(&handle.cancel_handle().started());
    all_val(&handle.started());
    all_val(&ctx.cancellation_token());
}

#[tokio::test]
async fn a_submit_can_be_spawned() {
    let pool = Pool::builder().workers(1).build();
    let p = pool.clone();
    let handle =
        tokio::spawn(async move { p.submit(Job::new(|_| async { Ok::<_, std::io::Error>(3u32) })).await })
            .await
            .unwrap()
            .unwrap();
    assert_eq!(tokio::spawn(handle).await.unwrap().unwrap(), 3);
    let _ = futures_are_send;
}
