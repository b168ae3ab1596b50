//! Job kinds: what each `kind` of a job file does when it runs.
//!
//! [`run`] turns one [`JobSpec`] into one attempt's work, the async body of a pool job:
//! the runner wraps it in [`Job::new`](conveyor_pool::Job::new) and maps its result to the
//! ledger — [`KindOutput`] on success, [`KindError`] (whose `Display` is the ledger's
//! `error`) on failure, both carrying `exit_code` and `output_tail` for `exec` and `shell`.
//! [`KindEnv`] holds what all jobs of a run share: `--allow-shell`, `--seed`, the output
//! bound, where output is shown ([`Output`], `--output`) and the HTTP client.
//!
//! ```
//! use conveyor::kind::{self, KindEnv};
//! use conveyor::spec::{parse_str, ParseOptions};
//! use conveyor_pool::{Job, Pool};
//! use std::sync::Arc;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> anyhow::Result<()> {
//! let batch = parse_str("jobs.jsonl", r#"{"id": "n", "kind": "noop"}"#, &ParseOptions::default())
//!     .unwrap();
//! let spec = Arc::new(batch.jobs[0].clone());
//! let env = KindEnv::new(false, 42)?;
//!
//! let pool = Pool::builder().workers(1).build();
//! let handle = pool
//!     .submit(Job::new(move |ctx| {
//!         let (spec, env) = (spec.clone(), env.clone());
//!         async move { kind::run(&spec, &ctx, &env).await }
//!     }))
//!     .await?;
//! let output = handle.await?;
//! assert_eq!(output.exit_code, None);
//! # Ok(())
//! # }
//! ```
//!
//! # The kinds
//!
//! | kind | does | fails when |
//! |---|---|---|
//! | `sleep` | waits `duration` | cancelled |
//! | `noop` | nothing, without allocating | never |
//! | `fail` | fails with chance `probability`, seeded by `--seed`, the job id and the attempt | the draw says so |
//! | `cpu` | `rounds` of SHA-256 on tokio's blocking threads | cancelled |
//! | `exec` | runs `program` with `args`, `env`, `cwd`, no shell | not startable, non-zero exit, signal, cancelled |
//! | `shell` | runs `sh -c script` | without `--allow-shell`; as `exec` |
//! | `http` | one request: `method`, `url`, `headers`, `body` | transport error, status not `expect_status` (any 2xx by default), cancelled |
//!
//! # One table of kinds
//!
//! A kind is declared once: a row of the table below (`kinds!`), which names its
//! [`JobKind`] variant and fields, its name in job files and its module. From the rows come
//! [`JobKind`], [`KindName`] (every list of kind names, [`KindName::fields`],
//! [`KindName::uses_a_core`], [`KindName::spawns_process`]), the schema's `Job` enum, and
//! the dispatch on the kind of the parser (full parser, JSON Lines fast path, check pass),
//! of [`spec_hash`](crate::spec::spec_hash) and of [`run`]. What one kind does lives in its
//! own file, `kind/NAME.rs`, which provides (see `table.rs` for the signatures):
//!
//! - `Wire`, its job struct as written, with `job_wire!` (`spec/wire/kind.rs`): the
//!   parameters' types check the values, their docs are the schema's descriptions, and
//!   `=> expr` builds the [`JobKind`] from them;
//! - `USES_A_CORE`, `SPAWNS_PROCESS`;
//! - `canonical`, which pushes its parameters for the spec hash (a test checks it pushes
//!   exactly its `Wire`'s fields);
//! - `run`, one attempt, whose future is small (box a large one).
//!
//! **Adding a kind**: write `kind/NAME.rs` (copy `cpu.rs`), add `mod NAME;` and a row to the
//! table. Nothing else in the code lists the kinds; the tests that do (the hash's reference
//! writer, whose `match` the compiler points at, and `each_kind_hashes_its_own_parameters`)
//! want a case each. A new kind's hashes are new, so no existing hash changes. The PostgreSQL
//! queue stores a job as its canonical JSON and reads it back with the parser, so it needs
//! nothing either.
//!
//! # Cancellation
//!
//! Every kind stops when [`JobContext::cancelled`] fires (the pool fires it for a cancel, a
//! timeout and a shutdown) and returns [`KindError`] `"cancelled"`; the pool then reports
//! the job as cancelled or timed out, whatever the error says.
//!
//! `cpu` runs on tokio's blocking threads through `spawn_blocking` *inside* [`run`], so the
//! runner submits every kind the same way, with [`Job::new`](conveyor_pool::Job::new); the
//! hashing loop checks [`JobContext::is_cancelled`] every 4096 rounds.
//!
//! # Processes (`exec`, `shell`)
//!
//! A program runs as the leader of its own process group, stdin from `/dev/null`, stdout and
//! stderr into one pipe (as `2>&1` does, so they interleave in the order they were written),
//! read as it arrives into a buffer that keeps the last [`KindEnv::output_limit`] bytes.
//!
//! With [`KindEnv::output`] in [`OutputMode::Grouped`] or [`OutputMode::Tagged`]
//! (`conveyor run --output`), stdout and stderr get a pipe each, and are shown on the
//! runner's stdout and stderr as GNU parallel shows them:
//!
//! - `grouped`: an attempt's stdout, then its stderr, printed whole when the attempt ends
//!   (however it ends), never interleaved with another job's. Up to 64 KiB per stream are
//!   held in memory, the rest in an unlinked temporary file in `$TMPDIR`, so a job that
//!   prints gigabytes costs disk, not memory. If that file cannot be written, the output is
//!   cut there, with a note.
//! - `tagged`: each line as it arrives, prefixed with the job's id and a tab; lines of two
//!   jobs never mix. A line is printed once whole (a line longer than 64 KiB goes out in
//!   pieces, each a line of its own), and the partial last line when the attempt ends.
//!
//! In both, output that does not end with a newline gets one, so the next job's output (and
//! `conveyor run`'s summary) starts on a line of its own. Each attempt of a retried job
//! shows its output: the kind cannot know whether the pool will retry, and a flaky job's
//! failed attempts are what one wants to see. The tail is kept as without `--output`, but
//! from two pipes read side by side: writes to stdout and stderr made at nearly the same
//! moment may sit in it in either order.
//! The whole group is stopped — `SIGTERM`, then `SIGKILL` after [`KindEnv::kill_grace`] —
//! when the attempt is cancelled or times out, and also when the program exits while
//! processes it started in its group still run (a job is its process group, as a systemd
//! unit is its cgroup): no job leaves processes behind, and its output always ends. If the
//! future is dropped (the pool's grace period ran out), the group gets `SIGKILL` at once.
//! A program that must outlive its job has to leave the group (`setsid`).
//!
//! Exit code 0 succeeds. Anything else fails, with the ledger's `exit_code` set: ``"`make`
//! exited with code 2"`` (`"shell script exited with code 2"` for `shell`). A program
//! killed by a signal has no exit code: ``"`make` was killed by SIGKILL"``. A program that
//! cannot start says why: ``"program `convert` not found in PATH"``, ``"working directory
//! `out` not found"``.
//!
//! # Cancel safety
//!
//! Dropping the future of [`run`] abandons the attempt: a process group is killed
//! (`SIGKILL`), an HTTP request is aborted, a `sleep` just ends. A `cpu` loop cannot be
//! interrupted: it runs on its blocking thread until its next check sees the attempt
//! cancelled (the pool signals before it drops), or to its end.

mod cpu;
mod echo;
mod env;
mod error;
mod exec;
mod fail;
mod http;
mod noop;
mod output;
mod process;
mod shell;
mod sleep;
mod table;
mod tail;

pub use env::{DEFAULT_KILL_GRACE, DEFAULT_OUTPUT_LIMIT, KindEnv};
pub use error::{KindError, KindOutput};
pub use output::{Captured, Output, OutputMode};

use conveyor_pool::JobContext;

use crate::spec::JobSpec;

table::kinds! {
    /// `sleep`: wait, like simulated I/O.
    Sleep = "sleep" in sleep {
        /// How long.
        duration: std::time::Duration,
    };
    /// `exec`: run a program directly, without a shell.
    Exec = "exec" in exec {
        /// The program (looked up in `PATH` when it has no `/`).
        program: String,
        /// Its arguments.
        args: Vec<String>,
        /// Environment variables added to the runner's.
        env: std::collections::BTreeMap<String, String>,
        /// Working directory, if not the runner's.
        cwd: Option<std::path::PathBuf>,
    };
    /// `shell`: run a script with `sh -c` (only with `--allow-shell`).
    Shell = "shell" in shell {
        /// The script.
        script: String,
    };
    /// `http`: make one HTTP request.
    Http = "http" in http {
        /// Upper-case method, `GET` when not given.
        method: String,
        /// An `http` or `https` URL, normalised by the `url` crate.
        url: String,
        /// Header names (lower-cased) and values.
        headers: std::collections::BTreeMap<String, String>,
        /// Request body, if any.
        body: Option<String>,
        /// The status that counts as success; `None` means any 2xx.
        expect_status: Option<u16>,
    };
    /// `cpu`: CPU-bound hashing on a blocking thread.
    Cpu = "cpu" in cpu {
        /// Hashing rounds.
        rounds: u64,
    };
    /// `noop`: nothing, for measuring throughput.
    Noop = "noop" in noop;
    /// `fail`: fail on purpose, for testing retries and dashboards.
    Fail = "fail" in fail {
        /// Chance of failing, 0 to 1 (1 when not given).
        probability: f64,
        /// The error message, if given.
        message: Option<String>,
    };
}

/// Runs one attempt of `spec`: the async body of the job's pool job.
///
/// Call it once per attempt (the closure given to [`Job::new`](conveyor_pool::Job::new) is
/// called once per attempt); the `fail` kind draws anew for each attempt.
///
/// The future is small (64 bytes): the kinds that need much state (`sleep` — a timer —,
/// `exec`, `shell`, `http`) box their own, so a `noop` job costs neither an allocation nor
/// a large future.
///
/// # Errors
///
/// [`KindError`] when the job failed; its `Display` is the ledger's `error` text, and for
/// `exec` and `shell` it carries the exit code and output tail. See the [module
/// docs](self) for when each kind fails.
///
/// # Cancel safety
///
/// Dropping the future abandons the attempt and cleans up: see the [module docs](self).
///
/// # Examples
///
/// ```
/// use conveyor::kind::{self, KindEnv};
/// use conveyor::spec::{parse_str, ParseOptions};
/// use conveyor_pool::{Job, JobError, Pool};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> anyhow::Result<()> {
/// let text = r#"{"id": "f", "kind": "fail", "message": "disk on fire"}"#;
/// let spec = parse_str("jobs.jsonl", text, &ParseOptions::default()).unwrap().jobs.remove(0);
/// let env = KindEnv::new(false, 7)?;
///
/// let pool = Pool::builder().build();
/// let handle = pool
///     .submit(Job::new(move |ctx| {
///         let (spec, env) = (spec.clone(), env.clone());
///         async move { kind::run(&spec, &ctx, &env).await }
///     }))
///     .await?;
/// let Err(JobError::Failed(err)) = handle.await else { panic!("should fail") };
/// assert_eq!(err.to_string(), "disk on fire");
/// # Ok(())
/// # }
/// ```
pub fn run<'a>(
    spec: &'a JobSpec,
    ctx: &'a JobContext,
    env: &'a KindEnv,
) -> impl Future<Output = Result<KindOutput, KindError>> + Send + 'a {
    // Not an `async fn`: the kind's dispatch is the whole future, with no layer around it.
    run_kind(spec, ctx, env)
}
