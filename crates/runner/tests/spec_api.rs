//! Compile-time promises of the `spec` API: which types cross threads.

use conveyor::spec::{
    Backoff, IntoJobs, JobBatch, JobKind, JobSpec, Jobs, Limits, Loader, Origin, ParseOptions, Rate,
    RetrySpec, Schedule, SpecError, StartAt, Validated,
};

fn send_sync_unpin<T: Send + Sync + Unpin>() {}
fn send_unpin<T: Send + Unpin>() {}

#[test]
fn public_types_are_send_and_sync() {
    send_sync_unpin::<JobSpec>();
    send_sync_unpin::<JobKind>();
    send_sync_unpin::<RetrySpec>();
    send_sync_unpin::<Backoff>();
    send_sync_unpin::<StartAt>();
    send_sync_unpin::<Schedule>();
    send_sync_unpin::<Origin>();
    send_sync_unpin::<SpecError>();
    send_sync_unpin::<Limits>();
    send_sync_unpin::<Rate>();
    send_sync_unpin::<ParseOptions>();
    send_sync_unpin::<JobBatch>();
    send_sync_unpin::<Validated>();
}

#[test]
fn loaders_and_iterators_can_move_between_threads() {
    // Not `Sync`: they own readers (stdin, open files), used from one thread at a time.
    send_unpin::<Loader>();
    send_unpin::<Jobs<'static>>();
    send_unpin::<IntoJobs>();
}
