//! The flags of `conveyor submit`, `worker`, `status`, `ledger` and `console` (clap structs, used by
//! [`Command`](super::Command)).

use std::path::PathBuf;

use clap::Args;

use crate::cli::Format;

/// The environment variable `--queue` falls back to (the flag wins when both are given). Its
/// value never shows in `--help`: it holds a password.
pub const QUEUE_URL_ENV: &str = "CONVEYOR_QUEUE_URL";

/// The flags of `conveyor submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The queue: a PostgreSQL URL, postgres://USER:PASSWORD@HOST:PORT/DATABASE.
    #[arg(long, value_name = "URL", env = QUEUE_URL_ENV, hide_env_values = true)]
    pub queue: String,

    /// Job files: *.json documents, *.jsonl JSON Lines, folders of them, or `-` for stdin.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,

    /// Attempts in all (first included) for jobs that set no `retry.max_attempts`
    /// [default: 1]. Attempts lost with a worker (lease expired) are retried regardless.
    #[arg(long, value_name = "N")]
    pub max_attempts: Option<u32>,

    /// Error format, as `conveyor validate`; with `json` the ids are printed as one JSON
    /// object `{"ids": [...]}`.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = Format::Human)]
    pub format: Format,
}

/// The flags of `conveyor worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The queue: a PostgreSQL URL, postgres://USER:PASSWORD@HOST:PORT/DATABASE.
    #[arg(long, value_name = "URL", env = QUEUE_URL_ENV, hide_env_values = true)]
    pub queue: String,

    /// How many jobs run at once, per queue [default: 256, made for jobs that wait on
    /// I/O]. `--queues NAME=SLOTS` sets it per queue.
    #[arg(short = 'w', long, value_name = "N")]
    pub workers: Option<usize>,

    /// The most claimed jobs kept ready beyond the running ones, per queue [default: 4096].
    /// The prefetch adapts below it: it starts at --workers, doubles while the jobs held
    /// when a claim is sent end within two claim round trips (quick jobs: larger claims;
    /// quadruples when all of them end before it returns), halves when they last more than
    /// eight (jobs sit waiting) or a claim comes back short. 0 claims only for free
    /// workers. Jobs prefetched but not started when the worker stops are given back
    /// without counting an attempt.
    #[arg(long, value_name = "N")]
    pub prefetch: Option<usize>,

    /// Claim only from these named queues, each with its own slots: NAME[=SLOTS],…
    /// [default: every queue, sharing --workers].
    #[arg(long, value_name = "NAME[=SLOTS],…")]
    pub queues: Option<String>,

    /// Serve GET /metrics and /healthz on ADDR (a bare port binds 127.0.0.1; port 0 picks a
    /// free one, printed on stderr).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,

    /// How long a claimed job stays ours without a heartbeat; heartbeats renew it every
    /// third of it. A worker that stops heartbeating loses its jobs after this long.
    #[arg(long, value_name = "DUR", default_value = "30s")]
    pub lease: String,

    /// After SIGTERM or Ctrl-C, how long running jobs may still finish; the rest are
    /// cancelled and given back to the queue.
    #[arg(long, value_name = "DUR", default_value = "10s")]
    pub grace: String,

    /// This worker's name in the queue (the ledger's `worker`) [default: HOSTNAME-PID].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Most jobs taken in one claim.
    #[arg(long, value_name = "N", default_value_t = 2000)]
    pub batch: usize,

    /// Look for jobs at least this often even without a notification.
    #[arg(long, value_name = "DUR", default_value = "1s")]
    pub poll: String,

    /// Time limit per attempt for jobs that set no `timeout` [default: none].
    #[arg(long, value_name = "DUR")]
    pub timeout: Option<String>,

    /// Delete jobs this long after they finished (in batches, by any worker).
    #[arg(long, value_name = "DUR", default_value = "7d")]
    pub retention: String,

    /// Exit (0) once the whole queue has nothing waiting, scheduled or running.
    #[arg(long)]
    pub exit_when_idle: bool,

    /// Make this worker's commits (claims, heartbeats, outcomes) wait for the server's WAL
    /// flush. Off by default: a commit lost in a server crash only makes a job run again
    /// (lease tokens fence every write), and waiting for each flush caps throughput.
    #[arg(long)]
    pub synchronous_commit: bool,

    /// Allow `shell` jobs (scripts run with `sh -c`); without it a worker does not claim them.
    #[arg(long)]
    pub allow_shell: bool,

    /// Seed for the randomness of `fail` jobs [default: 0].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
}

/// The flags of `conveyor status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The queue: a PostgreSQL URL.
    #[arg(long, value_name = "URL", env = QUEUE_URL_ENV, hide_env_values = true)]
    pub queue: String,

    /// A table for people, or one JSON object.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = Format::Human)]
    pub format: Format,

    /// Count only the jobs of these named queues: NAME,… [default: every queue].
    #[arg(long, value_name = "NAME,…")]
    pub queues: Option<String>,
}

/// The flags of `conveyor ledger`.
#[derive(Debug, Args)]
pub struct LedgerArgs {
    /// The queue: a PostgreSQL URL.
    #[arg(long, value_name = "URL", env = QUEUE_URL_ENV, hide_env_values = true)]
    pub queue: String,

    /// Only the jobs of these named queues: NAME,… [default: every queue].
    #[arg(long, value_name = "NAME,…")]
    pub queues: Option<String>,
}

/// The flags of `conveyor console`.
#[derive(Debug, Args)]
pub struct ConsoleArgs {
    /// The queue: a PostgreSQL URL.
    #[arg(long, value_name = "URL", env = QUEUE_URL_ENV, hide_env_values = true)]
    pub queue: String,

    /// Where the console listens: a port (binds 127.0.0.1) or HOST:PORT. A non-loopback
    /// address needs --token-file.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9482")]
    pub listen: String,

    /// A file holding the bearer token that cancel and retry need (its first line). Without
    /// it, anyone who can reach the listener can cancel and retry jobs.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
}
