//! The HTTP listener of `conveyor serve`, `conveyor console` and of the metrics endpoints (`run --metrics-addr`,
//! the queue worker's `--listen`): accepts connections and runs HTTP/1.1 on each (hyper,
//! with an axum [`Router`] as the service), within limits that keep a slow or idle client
//! from holding the server (see #18).
//!
//! axum's own `serve` sets no header timeout and no connection cap: a client that never
//! finished its headers was held forever, and enough idle sockets starved `/healthz` (and,
//! at the open-file limit, every `accept` and the jobs' own files). Hence this loop:
//!
//! - **Slow headers.** A connection must send a request's whole head within
//!   [`HEADER_TIMEOUT`] (10 s) of opening, or of its previous response when kept alive;
//!   else it gets `408` and is closed (hyper's `header_read_timeout`).
//! - **Slow bodies.** A body must arrive within [`BODY_TIMEOUT`] (60 s) of its head, or
//!   the request gets `408` and the connection is closed. Only `serve`'s `POST /jobs` reads
//!   a body, and only once the token and `Content-Length` are checked (see its routes).
//! - **A connection cap.** At most [`MAX_CONNECTIONS`] (1024) connections are open, fewer
//!   when the open-file limit is low: half of it, so that jobs, the ledger and the spool keep
//!   theirs. A connection that arrives at the cap makes room by closing the **oldest
//!   connection that is waiting for a request** (just opened, kept alive between requests,
//!   or part-way through its headers): such a client has nothing in progress and can open
//!   again, while the newest connection is the likeliest to be a real request, such as a
//!   health check. A connection with a request in progress (its head read, its handler not
//!   yet answered) is never closed to make room; when every one is like that, the new
//!   connection waits (accepting pauses) until one ends, which the body timeout bounds.
//!   Rejected alternative: a reserve of slots for `/healthz` cannot work, since which path
//!   a connection asks for is unknown until its headers arrive.
//!
//! On shutdown the listener closes, connections finish the request they are serving (idle
//! ones close at once), and [`serve`] returns when the last one has closed.

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, oneshot, watch};

/// How long a client may take to send a request's head (request line and headers).
pub(crate) const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's body, counted from its head.
pub(crate) const BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// The most connections open at once (fewer under a low open-file limit).
pub(crate) const MAX_CONNECTIONS: usize = 1024;

/// The listener's limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// See [`HEADER_TIMEOUT`].
    pub(crate) header_timeout: Duration,
    /// The most connections open at once (≥ 1).
    pub(crate) max_connections: usize,
}

/// [`MAX_CONNECTIONS`], or half the soft open-file limit when that is lower (at least 1).
pub(crate) fn default_max_connections() -> usize {
    use nix::sys::resource::{Resource, getrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, _)) => usize::try_from(soft / 2).unwrap_or(usize::MAX).clamp(1, MAX_CONNECTIONS),
        Err(_) => MAX_CONNECTIONS,
    }
}

/// Serves `router` on `listener` until `close` fires (or its sender is dropped), then waits
/// for the open connections to finish their requests and close. A failed `accept` is
/// logged and retried.
///
/// # Cancel safety
///
/// Dropping the future stops accepting; connections already spawned run on.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    mut close: oneshot::Receiver<()>,
) {
    let open = Arc::new(Open::new(limits.max_connections));
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    // Every connection task holds a receiver (told to finish) and a sender (dropped when it
    // ends, so that `alive_rx` sees `None` once the last one has gone).
    let (closing_tx, closing_rx) = watch::channel(());
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
    loop {
        let accepted = tokio::select! {
            biased;
            _ = &mut close => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // EMFILE and its kin: another file may close soon; a tight retry loop
                // would only burn the CPU (as hyper 0.14 and axum do).
                tracing::error!(error = %e, "cannot accept a connection; retrying in 1s");
                tokio::select! {
                    biased;
                    _ = &mut close => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        let admitted = tokio::select! {
            biased;
            _ = &mut close => break,
            admitted = open.admit() => admitted,
        };
        tokio::spawn(connection(
            stream,
            builder.clone(),
            TowerToHyperService::new(router.clone()),
            admitted,
            open.clone(),
            closing_rx.clone(),
            alive_tx.clone(),
        ));
    }
    drop(listener);
    drop(closing_rx);
    drop(alive_tx);
    let _ = closing_tx.send(());
    let _ = alive_rx.recv().await;
}

/// Errors about the one connection being accepted (the client gave up): nothing to wait for.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// Runs one connection until it ends, is evicted, or finishes after the server's close.
async fn connection(
    stream: TcpStream,
    builder: http1::Builder,
    service: TowerToHyperService<Router>,
    (key, conn): (u64, Arc<Conn>),
    open: Arc<Open>,
    mut closing: watch::Receiver<()>,
    _alive: mpsc::Sender<()>,
) {
    let service = {
        let (conn, open) = (conn.clone(), open.clone());
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let busy = Busy::start(conn.clone(), open.clone());
            let answer = service.call(request);
            async move {
                let answer = answer.await;
                drop(busy);
                answer
            }
        })
    };
    {
        let served = builder.serve_connection(TokioIo::new(stream), service);
        tokio::pin!(served);
        let mut finishing = false;
        loop {
            tokio::select! {
                ended = served.as_mut() => {
                    if let Err(e) = ended {
                        tracing::debug!(error = %e, "connection ended");
                    }
                    break;
                }
                () = conn.evicted.notified() => {
                    tracing::debug!("closed a connection waiting for a request: at the connection cap");
                    break;
                }
                _ = closing.changed(), if !finishing => {
                    finishing = true;
                    served.as_mut().graceful_shutdown();
                }
            }
        }
        // `served` (the socket) is dropped here, before the slot is given back.
    }
    open.remove(key);
}

/// The open connections, oldest first.
///
/// Invariant: `conns.len() <= cap`, and every open socket but the one being admitted is in
/// `conns`: a connection leaves the map only once its task has closed the socket (an
/// evicted one stays, marked, until then). Counting the evicted ones still closing matters:
/// the accept loop can outrun their tasks, and would otherwise hold far more sockets than
/// the cap, up to the open-file limit.
struct Open {
    cap: usize,
    inner: Mutex<OpenInner>,
    /// Signalled when a connection closes or finishes a request: room may have been made.
    changed: Notify,
}

struct OpenInner {
    next: u64,
    conns: BTreeMap<u64, Arc<Conn>>,
}

/// One connection's state, shared between its task, its requests and the accept loop.
struct Conn {
    /// Requests in progress (0 or 1 with HTTP/1.1), or [`EVICTED`].
    requests: AtomicUsize,
    /// Tells the connection task to drop the connection.
    evicted: Notify,
}

/// `Conn::requests` once the accept loop has chosen the connection to close. A request that
/// starts in the moment between choice and close is cut, as a client racing a keep-alive
/// close would be anyway.
const EVICTED: usize = usize::MAX / 2;

impl Open {
    fn new(cap: usize) -> Open {
        Open {
            cap: cap.max(1),
            inner: Mutex::new(OpenInner { next: 0, conns: BTreeMap::new() }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, OpenInner> {
        // Nothing panics while holding the lock; if something did, the map is still whole.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a new connection. At the cap, closes the oldest connection waiting for a
    /// request and waits until its socket is closed; waits too while every open connection
    /// has a request in progress.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: nothing is registered until it returns.
    async fn admit(&self) -> (u64, Arc<Conn>) {
        loop {
            let changed = self.changed.notified();
            if let Some(admitted) = self.try_admit() {
                return admitted;
            }
            tracing::debug!(
                cap = self.cap,
                "every connection has a request in progress; waiting for one to end"
            );
            changed.await;
        }
    }

    /// Registers a new connection if below the cap; else, unless one is already closing,
    /// tells the oldest connection waiting for a request to close (its task's `remove` then
    /// signals `changed`).
    fn try_admit(&self) -> Option<(u64, Arc<Conn>)> {
        let mut inner = self.lock();
        if inner.conns.len() >= self.cap {
            if !inner.conns.values().any(|conn| conn.is_evicted()) {
                // The first idle one, in age order; none: wait for a request to end.
                let _ = inner.conns.values().find(|conn| conn.evict());
            }
            return None;
        }
        let key = inner.next;
        inner.next += 1;
        let conn = Arc::new(Conn { requests: AtomicUsize::new(0), evicted: Notify::new() });
        inner.conns.insert(key, conn.clone());
        Some((key, conn))
    }

    fn remove(&self, key: u64) {
        self.lock().conns.remove(&key);
        self.changed.notify_one();
    }
}

impl Conn {
    fn is_evicted(&self) -> bool {
        self.requests.load(Ordering::Acquire) >= EVICTED
    }

    /// Marks the connection evicted and tells its task, if no request is in progress.
    fn evict(&self) -> bool {
        let idle = self.requests.compare_exchange(0, EVICTED, Ordering::AcqRel, Ordering::Acquire).is_ok();
        if idle {
            // notify_one keeps the wake-up if the task is not waiting yet.
            self.evicted.notify_one();
        }
        idle
    }
}

/// A request in progress on a connection, from its head to its handler's answer (the
/// answer being written does not count: a client that does not read it may be closed).
struct Busy {
    conn: Arc<Conn>,
    open: Arc<Open>,
}

impl Busy {
    fn start(conn: Arc<Conn>, open: Arc<Open>) -> Busy {
        conn.requests.fetch_add(1, Ordering::AcqRel);
        Busy { conn, open }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.conn.requests.fetch_sub(1, Ordering::AcqRel);
        self.open.changed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_cap_the_oldest_idle_connection_makes_room() {
        let open = Arc::new(Open::new(2));
        let (first_key, first) = open.try_admit().unwrap();
        let (second_key, second) = open.try_admit().unwrap();
        let busy = Busy::start(first.clone(), open.clone());
        // The oldest is busy: the second is told to close, and room comes once it has.
        assert!(open.try_admit().is_none());
        assert!(second.is_evicted() && !first.is_evicted());
        assert!(open.try_admit().is_none(), "room before the evicted socket closed");
        open.remove(second_key);
        let (third_key, third) = open.try_admit().unwrap();
        assert!(third_key > first_key);
        // Both busy: nobody is told to close until a request ends.
        let busy_third = Busy::start(third.clone(), open.clone());
        assert!(open.try_admit().is_none());
        assert!(!first.is_evicted() && !third.is_evicted());
        drop(busy);
        assert!(open.try_admit().is_none());
        assert!(first.is_evicted() && !third.is_evicted());
        drop(busy_third);
    }

    #[test]
    fn the_default_cap_leaves_half_the_open_files() {
        let cap = default_max_connections();
        assert!((1..=MAX_CONNECTIONS).contains(&cap));
    }
}
