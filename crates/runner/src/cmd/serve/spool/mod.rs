//! `--spool DIR`: job files dropped into `DIR/inbox` are run, then moved to `DIR/done` (every
//! job succeeded) or `DIR/failed` (some did not, or the file is invalid), with
//! `NAME.ledger.jsonl` (the file's own ledger: one line per job) or `NAME.errors.txt` (why the
//! file was not run: the located errors of an invalid file) beside them.
//!
//! # Taking a file only when it is complete
//!
//! Writers must write elsewhere (or under a hidden or `.tmp` name) and then **rename** the
//! file into `inbox` — the rename is atomic, so the server never sees half a file. It only
//! takes `*.json` and `*.jsonl` names that do not start with `.` (`x.ledger.jsonl` too: the
//! spool's own files never live in `inbox`); anything else in `inbox` is left alone (with one
//! warning per name). The folder is scanned every [`SCAN_EVERY`].
//!
//! # Life of a file
//!
//! ```text
//!  inbox/NAME ──rename──► work/N/NAME ──(every job has its line)──► done/NAME   + done/NAME.ledger.jsonl
//!                         work/N/.ledger.jsonl                       failed/NAME + failed/NAME.ledger.jsonl
//! ```
//!
//! The claim is a rename too, so a file is taken once. Each file in flight has a slot of its
//! own, `work/N/`, holding it under its own name and its ledger under a name no job file can
//! have, so the spool's bookkeeping never collides with a user's file name ([`dirs`]). Its
//! jobs join the server's job table (ids unique across the server, as for `POST /jobs`;
//! generated ids start with the file's stem) and the global ledger. When the last job's line
//! is written the ledger is renamed beside its file first, then the file, so a reader that
//! sees `done/NAME` finds the whole ledger. A name already in `done`/`failed` gets `-2`, `-3`,
//! … before its extension.
//!
//! # Files that cannot be run
//!
//! Each goes to `failed` with its reason in `NAME.errors.txt`, logged once: a file whose jobs
//! the server already has (a duplicate `id`), one that holds periodic jobs (`every`/`cron`:
//! post those to `POST /jobs`, they never end), an invalid or unreadable one (permission
//! denied, a dangling symlink), something that is not a regular file (a directory or FIFO
//! named `x.json`: never opened in a way that could block), and a name longer than 242 bytes
//! (`NAME.ledger.jsonl` must fit the 255-byte limit of a name). Names in `done`/`failed` are
//! kept within that limit with their suffixes: a longer one (with its `-2`) has its stem cut
//! at a character, and its errors file names the original. A file that cannot even be
//! claimed (renamed into `work`) is logged once and left in `inbox` until it is renamed or the
//! server restarts.
//!
//! # Restarts
//!
//! Files still in `work` when the server starts (it was killed mid-file) go back to `inbox`
//! and run again — at-least-once, like `conveyor run --resume` after a crash. Recovery deletes
//! only what the spool made (a slot's ledger, the emptied slot) and leaves anything else in
//! `work` alone, with a warning. One server per spool folder.

use std::time::Duration;

mod dirs;
mod names;
mod read;
mod task;

pub(crate) use dirs::SpoolDirs;
pub(crate) use task::run;

/// How often `inbox` is scanned for new files.
pub(crate) const SCAN_EVERY: Duration = Duration::from_millis(200);
