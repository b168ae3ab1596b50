//! The writer thread and what feeds it: group commit, batching, and write faults.

use std::fs::File;
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::thread::JoinHandle;

use super::record::{Entry, Record};
use super::timestamp::Timestamps;

/// Records in flight between the pool and a [`Writer::spawn`] writer; the sender waits when
/// the writer is this far behind (a stalled disk), which bounds memory.
const IN_FLIGHT: usize = 16 * 1024;
/// Batches in flight to a [`Writer::spawn_batched`] writer: the same bound in records.
const IN_FLIGHT_BATCHES: usize = IN_FLIGHT / BATCH_RECORDS;
/// Records a [`RecordBatcher`] gathers before it hands them over without waiting to be
/// flushed.
const BATCH_RECORDS: usize = 512;
/// Most bytes handed to one `write` (more lines wait for the next batch).
const BATCH_BYTES: usize = 1 << 20;

/// What goes to the writer thread.
enum Msg<T> {
    One(T),
    Many(Vec<T>),
    End,
}

/// Sends [`Entry`]s to a [`Writer`]; cheap to clone. Waits when the writer is [`IN_FLIGHT`]
/// records behind.
#[derive(Debug)]
pub struct RecordSender<T>(SyncSender<Msg<T>>);

// By hand: a derived `Clone` would ask the entries to be `Clone` too.
impl<T> Clone for RecordSender<T> {
    fn clone(&self) -> Self {
        RecordSender(self.0.clone())
    }
}

impl<T: Entry> RecordSender<T> {
    /// Hands `record` to the writer (dropped if the writer has finished).
    pub fn send(&self, record: T) {
        // The writer only goes away after `finish`, when no job is left to report.
        let _ = self.0.send(Msg::One(record));
    }

    /// Hands `records` to the writer in one message (nothing if empty).
    fn send_batch(&self, records: Vec<T>) {
        if !records.is_empty() {
            let _ = self.0.send(Msg::Many(records));
        }
    }
}

/// Gathers the records of one busy thread and hands them to the writer [`BATCH_RECORDS`]
/// at a time, or whenever [`flush`](Self::flush) is called — `conveyor run` calls it each
/// time its runtime thread runs out of work, just before it sleeps. Under load that is one
/// channel message (and at most one wake-up of the writer) per batch instead of per job;
/// when idle, every record is handed over as soon as nothing else is left to do (no timer).
///
/// # Examples
///
/// ```
/// use conveyor::ledger::{Record, RecordBatcher, Writer};
/// let (tx, writer) =
///     Writer::<u64, Record<'static>>::spawn(None, false, 0, |n: &mut u64, _record| *n += 1);
/// let batcher = RecordBatcher::new(tx);
/// batcher.flush(); // nothing gathered: nothing sent
/// let (seen, end) = writer.finish();
/// assert_eq!(seen, 0);
/// end.result().unwrap();
/// ```
#[derive(Debug)]
pub struct RecordBatcher<T> {
    pending: std::sync::Mutex<Vec<T>>,
    tx: RecordSender<T>,
}

impl<T: Entry> RecordBatcher<T> {
    /// A batcher that sends to `tx`.
    pub fn new(tx: RecordSender<T>) -> RecordBatcher<T> {
        RecordBatcher { pending: std::sync::Mutex::new(Vec::new()), tx }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Vec<T>> {
        self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds `record`; sends the batch when it is full.
    pub fn push(&self, record: T) {
        let full = {
            let mut pending = self.pending();
            if pending.capacity() == 0 {
                pending.reserve_exact(BATCH_RECORDS);
            }
            pending.push(record);
            (pending.len() >= BATCH_RECORDS).then(|| std::mem::take(&mut *pending))
        };
        if let Some(batch) = full {
            self.tx.send_batch(batch);
        }
    }

    /// Sends what has been gathered, if anything.
    pub fn flush(&self) {
        let batch = std::mem::take(&mut *self.pending());
        self.tx.send_batch(batch);
    }
}

/// The writer thread: receives [`Entry`]s, writes their [`Record`]s' ledger lines with group
/// commit, and shows every record to an observer (the summary, the progress bar).
///
/// A write that fails does not end the thread: it reports the error at once through
/// [`fault`](Self::fault) (so that the run can stop taking jobs), keeps observing every
/// record, and tries each later batch again on a line of its own (a disk that was full may
/// have room again), counting the records whose lines were lost.
#[derive(Debug)]
pub struct Writer<S, T> {
    thread: JoinHandle<(S, WriteEnd)>,
    end: SyncSender<Msg<T>>,
    fault: Fault,
}

/// How a [`Writer`] ended: the first write error, if any, and how many records have no line.
#[derive(Debug, Default)]
pub struct WriteEnd {
    /// The first write error.
    pub error: Option<Arc<io::Error>>,
    /// Records whose lines could not be written.
    pub lost: u64,
}

impl WriteEnd {
    /// `Ok` when every line was written.
    ///
    /// # Errors
    ///
    /// The first write error, when some line was not written.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(conveyor::ledger::WriteEnd::default().result().is_ok());
    /// ```
    pub fn result(&self) -> io::Result<()> {
        match &self.error {
            None => Ok(()),
            Some(e) => Err(io::Error::new(e.kind(), e.to_string())),
        }
    }
}

/// The first write error of a [`Writer`], seen as soon as it happens: a ledger that cannot
/// be written stops `conveyor run` and makes `serve` unhealthy. Cheap to clone.
///
/// # Examples
///
/// ```
/// use conveyor::ledger::{Record, Writer};
/// let (_tx, writer) = Writer::<(), Record<'static>>::spawn_batched(None, false, (), |_, _| {});
/// assert!(writer.fault().error().is_none());
/// # let _ = writer.finish();
/// ```
#[derive(Debug, Clone)]
pub struct Fault(tokio::sync::watch::Receiver<Option<Arc<io::Error>>>);

impl Fault {
    /// The first write error, if one happened.
    ///
    /// # Examples
    ///
    /// ```
    /// # use conveyor::ledger::{Record, Writer};
    /// # let (_tx, writer) = Writer::<(), Record<'static>>::spawn_batched(None, false, (), |_, _| {});
    /// assert!(writer.fault().error().is_none());
    /// # let _ = writer.finish();
    /// ```
    pub fn error(&self) -> Option<Arc<io::Error>> {
        self.0.borrow().clone()
    }

    /// Waits for the first write error; pending forever if the writer ends without one.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only reads a shared value.
    ///
    /// # Examples
    ///
    /// ```
    /// # use conveyor::ledger::{Record, Writer};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (_tx, writer) = Writer::<(), Record<'static>>::spawn_batched(None, false, (), |_, _| {});
    /// let fault = writer.fault();
    /// let waited = tokio::time::timeout(std::time::Duration::from_millis(1), fault.occurred()).await;
    /// assert!(waited.is_err(), "no write failed");
    /// # let _ = writer.finish();
    /// # });
    /// ```
    pub async fn occurred(&self) -> Arc<io::Error> {
        let mut rx = self.0.clone();
        let seen = rx.wait_for(Option::is_some).await.ok().and_then(|e| e.clone());
        match seen {
            Some(e) => e,
            // The writer ended without an error.
            None => std::future::pending().await,
        }
    }
}

impl<S: Send + 'static, T: Entry> Writer<S, T> {
    /// Starts the thread; `file` is `None` for runs without a ledger (records are then only
    /// observed): `observe(&mut state, record)` sees every record, on the writer thread.
    ///
    /// # Panics
    ///
    /// If the thread cannot be started.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::ledger::{Record, Writer};
    /// let (tx, writer) =
    ///     Writer::<u64, Record<'static>>::spawn(None, false, 0, |n: &mut u64, _record| *n += 1);
    /// drop(tx);
    /// let (seen, end) = writer.finish();
    /// assert_eq!(seen, 0);
    /// end.result().unwrap();
    /// ```
    pub fn spawn(
        file: Option<File>,
        fsync: bool,
        state: S,
        observe: fn(&mut S, &Record<'_>),
    ) -> (RecordSender<T>, Writer<S, T>) {
        Self::spawn_with(IN_FLIGHT, file, fsync, state, observe)
    }

    /// As [`spawn`](Self::spawn), for records sent through a [`RecordBatcher`] (which this
    /// returns): the writer is allowed as many records behind, counted in batches.
    ///
    /// # Panics
    ///
    /// If the thread cannot be started.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::ledger::Writer;
    /// use conveyor::ledger::Record;
    /// let (batcher, writer) =
    ///     Writer::<u64, Record<'static>>::spawn_batched(None, false, 0, |n: &mut u64, _record| *n += 1);
    /// batcher.flush();
    /// let (seen, end) = writer.finish();
    /// assert_eq!(seen, 0);
    /// end.result().unwrap();
    /// ```
    pub fn spawn_batched(
        file: Option<File>,
        fsync: bool,
        state: S,
        observe: fn(&mut S, &Record<'_>),
    ) -> (RecordBatcher<T>, Writer<S, T>) {
        let (tx, writer) = Self::spawn_with(IN_FLIGHT_BATCHES, file, fsync, state, observe);
        (RecordBatcher::new(tx), writer)
    }

    fn spawn_with(
        in_flight: usize,
        file: Option<File>,
        fsync: bool,
        state: S,
        observe: fn(&mut S, &Record<'_>),
    ) -> (RecordSender<T>, Writer<S, T>) {
        let (tx, rx) = sync_channel(in_flight);
        let (fault_tx, fault_rx) = tokio::sync::watch::channel(None);
        let thread = std::thread::Builder::new()
            .name("conveyor-ledger".into())
            .spawn(move || write_loop(rx, file, fsync, state, observe, &fault_tx))
            .unwrap_or_else(|e| panic!("cannot start the ledger thread: {e}"));
        (RecordSender(tx.clone()), Writer { thread, end: tx, fault: Fault(fault_rx) })
    }

    /// The writer's [`Fault`]: its first write error, as soon as it happens.
    pub fn fault(&self) -> Fault {
        self.fault.clone()
    }

    /// Writes every record sent so far, stops the thread, and gives back the observer's
    /// state and how the writing went. Records sent after this are dropped.
    pub fn finish(self) -> (S, WriteEnd) {
        let _ = self.end.send(Msg::End);
        match self.thread.join() {
            Ok(out) => out,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

fn write_loop<S, T: Entry>(
    rx: Receiver<Msg<T>>,
    mut file: Option<File>,
    fsync: bool,
    mut state: S,
    observe: fn(&mut S, &Record<'_>),
    fault: &tokio::sync::watch::Sender<Option<Arc<io::Error>>>,
) -> (S, WriteEnd) {
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut stamps = Timestamps::default();
    let mut end = WriteEnd::default();
    let mut done = false;
    while !done {
        let Ok(first) = rx.recv() else { break };
        // Records in `buf`, counted only while a write has failed (to report what was lost).
        let mut lines = 0u64;
        let counting = end.error.is_some();
        if counting {
            // The failed write may have left part of a line: start on a line of our own (the
            // empty line this makes when it did not is skipped by every reader).
            buf.push(b'\n');
        }
        let mut take = |msg: Msg<T>, buf: &mut Vec<u8>| {
            let mut one = |entry: &T| {
                let r = entry.record();
                observe(&mut state, &r);
                if file.is_some() {
                    r.write_line_with(buf, &mut stamps);
                    lines += u64::from(counting);
                }
            };
            match msg {
                Msg::One(r) => one(&r),
                Msg::Many(records) => records.iter().for_each(one),
                Msg::End => return true,
            }
            false
        };
        done = take(first, &mut buf);
        while !done && buf.len() < BATCH_BYTES {
            match rx.try_recv() {
                Ok(msg) => done = take(msg, &mut buf),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        if let Some(f) = &mut file
            && buf.len() > usize::from(counting)
        {
            let written = f.write_all(&buf).and_then(|()| if fsync { f.sync_data() } else { Ok(()) });
            match written {
                Ok(()) => {}
                Err(e) if end.error.is_none() => {
                    // The batch's lines are lost: count them (a partial write's whole lines
                    // may be there; a reader skips the line it cut), and tell the run now.
                    end.lost += buf.iter().filter(|&&b| b == b'\n').count() as u64;
                    let e = Arc::new(e);
                    end.error = Some(e.clone());
                    fault.send_replace(Some(e));
                }
                Err(_) => end.lost += lines,
            }
        }
        buf.clear();
    }
    (state, end)
}

#[cfg(test)]
mod tests {
    use std::fs::OpenOptions;

    use super::*;
    use crate::ledger::test_support::record;
    use crate::ledger::{ResumeSet, open_for_append};
    use conveyor_pool::Outcome;

    #[test]
    fn a_batcher_holds_records_until_full_or_flushed_and_keeps_their_order() {
        // The observer reports each id it sees; a record sent straight after a batcher call
        // is a marker: the channel is FIFO, so once the marker is seen, everything the batcher
        // had sent before it has been seen too.
        let (seen_tx, seen) = std::sync::mpsc::channel::<String>();
        let (tx, writer) =
            Writer::spawn(None, false, seen_tx, |out: &mut std::sync::mpsc::Sender<String>, r| {
                let _ = out.send(r.id.to_string());
            });
        let batcher = RecordBatcher::new(tx.clone());
        let until_marker = |marker: &str| -> Vec<String> {
            tx.send(record(marker, Outcome::Succeeded));
            let mut got = Vec::new();
            loop {
                let id = seen.recv().unwrap();
                if id == marker {
                    return got;
                }
                got.push(id);
            }
        };
        for i in 0..BATCH_RECORDS - 1 {
            batcher.push(record(&format!("a{i}"), Outcome::Succeeded));
        }
        assert!(until_marker("m1").is_empty(), "a batch short of full waits for a flush");
        batcher.push(record("last", Outcome::Failed));
        let full = until_marker("m2");
        assert_eq!(full.len(), BATCH_RECORDS);
        assert_eq!(full[0], "a0");
        assert_eq!(full[BATCH_RECORDS - 1], "last");
        batcher.flush();
        assert!(until_marker("m3").is_empty(), "flushing nothing sends nothing");
        for id in ["x", "y", "z"] {
            batcher.push(record(id, Outcome::Cancelled));
        }
        batcher.flush();
        assert_eq!(until_marker("m4"), ["x", "y", "z"]);
        drop((batcher, tx));
        let (_, end) = writer.finish();
        end.result().unwrap();
    }

    /// Regression (issue 18): a failed write was noticed only at the end of the run.
    #[test]
    fn a_failed_write_is_reported_at_once_and_counts_the_lost_lines() {
        let full = OpenOptions::new().append(true).open("/dev/full").unwrap();
        let (tx, writer) = Writer::spawn(Some(full), false, 0u32, |n: &mut u32, _r| *n += 1);
        let fault = writer.fault();
        assert!(fault.error().is_none());
        tx.send(record("a", Outcome::Succeeded));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let e = runtime.block_on(fault.occurred());
        assert_eq!(e.raw_os_error(), Some(28), "ENOSPC: {e}");
        tx.send(record("b", Outcome::Succeeded));
        tx.send(record("c", Outcome::Failed));
        drop(tx);
        let (seen, end) = writer.finish();
        assert_eq!(seen, 3, "every record is still observed");
        assert_eq!(end.lost, 3);
        assert!(end.result().is_err());
    }

    #[test]
    fn writer_writes_every_record_once_and_resume_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.jsonl");
        let file = open_for_append(&path).unwrap();
        let (tx, writer) = Writer::spawn(Some(file), true, 0u32, |n: &mut u32, _r| *n += 1);
        let senders: Vec<_> = (0..4)
            .map(|t| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for i in 0..500 {
                        let outcome = if i % 2 == 0 { Outcome::Succeeded } else { Outcome::Failed };
                        tx.send(record(&format!("{t}-{i}"), outcome));
                    }
                })
            })
            .collect();
        drop(tx);
        for s in senders {
            s.join().unwrap();
        }
        let (seen, end) = writer.finish();
        end.result().unwrap();
        assert_eq!(seen, 2000);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2000);
        let set = ResumeSet::read(&path).unwrap();
        assert_eq!(set.len(), 1000);
        assert!(set.contains("3-498", "abc"));
        assert!(!set.contains("3-499", "abc"));
        assert_eq!(set.unreadable, 0);
    }
}
