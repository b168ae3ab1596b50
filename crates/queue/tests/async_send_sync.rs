//! Compile-time checks that the queue's handle, futures, stream and permit can cross tasks
//! and threads (in the style of tokio's tests/async_send_sync.rs): if one of these auto
//! traits goes missing, this file stops compiling.

#![allow(dead_code, clippy::extra_unused_type_parameters)]

use conveyor_queue::{Key, Permit, Pop, PopStream, Push, Queue, Reserve};

fn require_send<T: Send>() {}
fn require_sync<T: Sync>() {}
fn require_unpin<T: Unpin>() {}

/// An item type that is `Send + Sync` but not `Unpin`: the queue never pins its items.
struct NotUnpin(std::marker::PhantomPinned);

macro_rules! assert_send_sync_unpin {
    ($($t:ty),* $(,)?) => {
        $(
            require_send::<$t>();
            require_sync::<$t>();
            require_unpin::<$t>();
        )*
    };
}

macro_rules! assert_send_sync {
    ($($t:ty),* $(,)?) => {
        $(
            require_send::<$t>();
            require_sync::<$t>();
        )*
    };
}

#[test]
fn public_types_are_send_sync_unpin() {
    assert_send_sync_unpin!(
        Queue<String>,
        Push<'static, String>,
        Pop<'static, String>,
        Reserve<'static, String>,
        PopStream<String>,
        Key,
        Queue<NotUnpin>,
        Push<'static, NotUnpin>,
        Pop<'static, NotUnpin>,
        Reserve<'static, NotUnpin>,
        PopStream<NotUnpin>,
    );
    assert_send_sync!(Permit<'static, String>, Permit<'static, NotUnpin>);
}

#[tokio::test]
async fn futures_can_be_spawned() {
    // `tokio::spawn` needs `Send + 'static` futures holding these types across awaits.
    let q: Queue<String> = Queue::bounded(1);
    let handle = tokio::spawn({
        let q = q.clone();
        async move {
            let permit = q.reserve().await.unwrap();
            tokio::task::yield_now().await;
            permit.push(String::from("sent"), 0);
            q.pop().await
        }
    });
    assert_eq!(handle.await.unwrap().as_deref(), Some("sent"));
}
