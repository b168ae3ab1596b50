//! The raw command line, as clap parses it: no checks beyond types. [`crate::cmd`] turns it
//! into a checked plan (ripgrep's low-args → high-args split), so clap stays out of the rest.

pub mod queue;
pub mod values;

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

const ROOT_EXAMPLES: &str = "\
Examples:
  conveyor run jobs/                          run every *.json / *.jsonl file in jobs/
  conveyor run -w 8 --ledger run.ledger.jsonl batch.jsonl
  conveyor validate jobs/ --format json       check files, errors as JSON Lines
  conveyor report run.ledger.jsonl            an HTML page about a run (conveyor-report.html)
  conveyor schema > conveyor.schema.json      the JSON Schema of job files
  conveyor serve --ledger serve.ledger.jsonl  a daemon: POST job files to /jobs
  conveyor submit --queue postgres://HOST/DB jobs/   enqueue into a PostgreSQL queue
  conveyor worker --queue postgres://HOST/DB -w 16   run jobs from it (on any machine)

Exit codes: 0 all jobs succeeded, 1 some job did not succeed, 2 invalid input or usage
(nothing ran), 3 stopped because the ledger could not be written (jobs may have run; the
summary says which), 130 interrupted by SIGINT, 143 stopped by SIGTERM.";

const QUEUE_EXAMPLES: &str = "\
Examples (one queue, any number of workers on any machines):
  export QUEUE=postgres://conveyor:secret@db.internal/conveyor
  conveyor submit --queue \"$QUEUE\" jobs/            # one transaction; prints the ids
  conveyor worker --queue \"$QUEUE\" -w 16 --listen 9481   # /metrics and /healthz on :9481
  conveyor status --queue \"$QUEUE\" --format json
  conveyor ledger --queue \"$QUEUE\" > queue.ledger.jsonl
  conveyor console --queue \"$QUEUE\"                # the web console on http://127.0.0.1:9482
  export CONVEYOR_QUEUE_URL=\"$QUEUE\"; conveyor status   # --queue from the environment:
                                                     # the password stays out of `ps`

The schema is created and migrated by the tool itself. A worker's jobs have leases that its
heartbeat renews; a killed worker's jobs run again once their lease expires (--lease, 30s).";

const RUN_EXAMPLES: &str = "\
Examples:
  conveyor run jobs/
  conveyor run --workers 16 --timeout 30s --max-attempts 3 batch.jsonl
  conveyor run --ledger run.ledger.jsonl batch.jsonl      # then, after a crash or Ctrl-C:
  conveyor run --ledger run.ledger.jsonl --resume batch.jsonl
  generate-jobs | conveyor run --format json -             # JSON Lines on stdin

The first Ctrl-C (or SIGTERM) stops taking jobs, lets running ones finish within --grace,
cancels the rest and still writes every ledger line and the summary (exit 130, or 143 after
SIGTERM); a second Ctrl-C cancels running jobs at once.";

const VALIDATE_EXAMPLES: &str = "\
Examples:
  conveyor validate jobs/
  conveyor validate --format json a.json b.jsonl | jq -r .message

Prints every error as PATH:LINE:COL: FIELD: message on stderr (with --format json: one JSON
object {\"path\",\"line\",\"column\",\"field\",\"message\"} per line on stdout) and exits 0
when all files are valid, 2 otherwise. Runs nothing.";

const SERVE_EXAMPLES: &str = "\
Examples:
  conveyor serve --ledger serve.ledger.jsonl             # http://127.0.0.1:9480
  curl --data-binary @jobs/batch.jsonl http://127.0.0.1:9480/jobs    # 202 {\"ids\": [...]}
  curl http://127.0.0.1:9480/jobs/thumb-17                # {\"id\", \"status\", ...}
  conveyor serve --listen 0.0.0.0:9480 --token \"$TOKEN\" -w 16
  curl -H \"Authorization: Bearer $TOKEN\" --data-binary @batch.json http://HOST:9480/jobs
  conveyor serve --spool spool     # then: mv batch.jsonl spool/inbox/ (write, then rename)

Endpoints: POST /jobs (a job file, JSON or JSON Lines: 202 {\"ids\"}, 400 {\"errors\"}
located as by `validate`, 409 for an id the server already accepted, 401 without the
--token, 413 over --max-body, 503 while stopping), GET /jobs/ID (status: queued,
scheduled, running, retrying, periodic, or the outcome with the ledger fields; 404 if
unknown), DELETE /jobs/ID (cancel a job or stop a periodic entry; token as for POST),
GET /metrics (Prometheus), GET /healthz. Jobs with `every` or `cron` run on
schedule, never overlapping; each run has its own id, ID@TIME.

SIGTERM (or Ctrl-C) stops intake (POST answers 503), lets running jobs finish within
--grace, cancels the rest, writes every ledger line and exits 143 (130 after SIGINT).";

const REPORT_EXAMPLES: &str = "\
Examples:
  conveyor run --ledger run.ledger.jsonl jobs/ ; conveyor report run.ledger.jsonl
  conveyor report -o nightly.html a.ledger.jsonl b.ledger.jsonl   # one page for both
  conveyor ledger --queue \"$QUEUE\" | conveyor report -o - - > queue.html

One self-contained HTML page (no script, no request to the network; opens from a file):
totals by outcome, throughput over time, wait and run time distributions, failures by kind
and error, the slowest jobs, retries. An id on several lines (a --resume'd run, overlapping
ledgers) counts once in the totals, at its latest line; the charts count every line. A line
that is not a ledger line is an error (PATH:LINE:COL, exit 2); a torn last line (a killed
run) is skipped with a warning.";

const SCHEMA_EXAMPLES: &str = "\
Examples:
  conveyor schema > conveyor.schema.json
  # VS Code settings.json: \"json.schemas\": [{\"fileMatch\": [\"jobs/*.json\"],
  #                                          \"url\": \"./conveyor.schema.json\"}]";

/// `conveyor`: run batches of jobs from job files.
#[derive(Debug, Parser)]
#[command(
    name = "conveyor",
    version,
    about = "Run batches of jobs from JSON / JSON Lines job files on a worker pool",
    after_help = ROOT_EXAMPLES,
    propagate_version = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,

    /// More log output on stderr, once per level (-v, -vv); `serve` logs `info` by default,
    /// the others `warn`. RUST_LOG, when set, decides instead.
    #[arg(short = 'v', long, action = ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Less log output (-q errors only, -qq none).
    #[arg(short = 'q', long, action = ArgAction::Count, global = true, conflicts_with = "verbose")]
    pub quiet: u8,

    /// Log format on stderr: lines for people, or one JSON object per event.
    #[arg(long, value_enum, value_name = "FORMAT", global = true, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the jobs of job files; exit 0 if all succeeded, 1 if some did not.
    #[command(after_help = RUN_EXAMPLES)]
    Run(RunArgs),
    /// Check job files and print every error; run nothing. Exit 0 or 2.
    #[command(after_help = VALIDATE_EXAMPLES)]
    Validate(ValidateArgs),
    /// Run as a daemon: take job files over HTTP, run them, serve status and metrics.
    #[command(after_help = SERVE_EXAMPLES)]
    Serve(ServeArgs),
    /// Print the JSON Schema of job files (for editors).
    #[command(after_help = SCHEMA_EXAMPLES)]
    Schema,
    /// Enqueue job files into a PostgreSQL queue, all or nothing; print the ids.
    #[command(after_help = QUEUE_EXAMPLES)]
    Submit(queue::SubmitArgs),
    /// Take jobs from a PostgreSQL queue and run them (any number of workers, any machines).
    #[command(after_help = QUEUE_EXAMPLES)]
    Worker(queue::WorkerArgs),
    /// Show a PostgreSQL queue: jobs by state, live workers, the oldest wait.
    #[command(after_help = QUEUE_EXAMPLES)]
    Status(queue::StatusArgs),
    /// Print a PostgreSQL queue's finished jobs as ledger lines (JSON Lines, as `run`).
    #[command(after_help = QUEUE_EXAMPLES)]
    Ledger(queue::LedgerArgs),
    /// Serve a web console for a PostgreSQL queue: every named queue, live workers, stuck
    /// jobs; cancel and retry.
    #[command(after_help = QUEUE_EXAMPLES)]
    Console(queue::ConsoleArgs),
    /// Write one self-contained HTML page about a run from its ledgers.
    #[command(after_help = REPORT_EXAMPLES)]
    Report(ReportArgs),
}

/// The flags of `conveyor report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Ledgers: `run --ledger` files or `conveyor ledger` exports, or `-` for stdin; several
    /// are merged into one page.
    #[arg(value_name = "LEDGER", required = true)]
    pub ledgers: Vec<PathBuf>,

    /// Where to write the page (replaced whole, never left half-written); `-` for stdout.
    #[arg(short = 'o', long, value_name = "FILE", default_value = "conveyor-report.html")]
    pub output: PathBuf,
}

/// The flags of `conveyor run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Job files: *.json documents, *.jsonl JSON Lines, folders of them, or `-` for stdin.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,

    /// How many jobs run at once [default: from the kinds in the files: one per CPU when
    /// they have exec, shell or cpu jobs, else 256; the summary's first line names it].
    #[arg(short = 'w', long, value_name = "N")]
    pub workers: Option<usize>,

    /// How many submitted jobs may wait in the queue; input is read no faster than this
    /// drains, so memory stays bounded for any input size.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub capacity: usize,

    /// Append one JSON line per finished job to PATH (created if missing).
    #[arg(long, value_name = "PATH")]
    pub ledger: Option<PathBuf>,

    /// With --ledger: skip jobs whose id already has a `succeeded` line for the same spec
    /// (an edited job runs again). A torn last line is tolerated.
    #[arg(long)]
    pub resume: bool,

    /// Stop at the first job that does not succeed: cancel the rest and exit 1.
    #[arg(long)]
    pub fail_fast: bool,

    /// Time limit per attempt for jobs that set no `timeout`, e.g. 30s or 1m30s
    /// [default: none].
    #[arg(long, value_name = "DUR")]
    pub timeout: Option<String>,

    /// Attempts in all (first included) for jobs that set no `retry.max_attempts`
    /// [default: 1].
    #[arg(long, value_name = "N")]
    pub max_attempts: Option<u32>,

    /// Serve Prometheus metrics on http://ADDR/metrics while the run lasts; a bare port
    /// binds 127.0.0.1 (port 0 picks a free one; the address is printed on stderr).
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<String>,

    /// Push the final metrics to a Prometheus Pushgateway at URL when the run ends
    /// (http:// only; `/metrics/job/conveyor` is added when URL has no `/metrics/job/`).
    #[arg(long, value_name = "URL")]
    pub pushgateway: Option<String>,

    /// Summary format: a table for people, or one JSON object as the last line of stdout.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = Format::Human)]
    pub format: Format,

    /// Progress bar on stderr: `auto` shows it when stderr is a terminal.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ProgressWhen::Auto)]
    pub progress: ProgressWhen,

    /// Seed for the randomness of `fail` jobs (same seed, same failures) [default: 0].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Allow `shell` jobs (scripts run with `sh -c`). Without it a file with a `shell` job is
    /// refused before anything runs (exit 2).
    #[arg(long)]
    pub allow_shell: bool,

    /// After Ctrl-C or SIGTERM, how long running jobs may still finish before they are
    /// cancelled.
    #[arg(long, value_name = "DUR", default_value = "10s")]
    pub grace: String,

    /// fsync the ledger after each batch of lines (survives a machine crash, slower).
    #[arg(long)]
    pub fsync: bool,

    /// How exec and shell jobs' output is shown: whole per job when it ends (`grouped`, as
    /// GNU parallel does by default), line by line after the job id and a tab (`tagged`),
    /// or not at all (`none`).
    ///
    /// `grouped` prints each attempt's stdout to stdout and its stderr to stderr, whole,
    /// when the attempt ends, never mixed with another job's output: GNU parallel's
    /// default, hence ours. `tagged` prints lines as they come, each prefixed with the job
    /// id and a tab (`parallel --tag --line-buffer`). `none` shows nothing. The ledger's
    /// output_tail is kept either way. Output beyond 64 KiB per stream waits in a
    /// temporary file; every attempt of a retried job is shown; the summary comes after
    /// all of it (with --format json, still the last line of stdout).
    #[arg(long, value_enum, value_name = "HOW", default_value_t = OutputWhen::Grouped)]
    pub output: OutputWhen,
}

/// The flags of `conveyor validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Job files: *.json documents, *.jsonl JSON Lines, folders of them, or `-` for stdin.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,

    /// Error format: `PATH:LINE:COL: FIELD: message` lines on stderr, or one JSON object
    /// per error per line on stdout.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = Format::Human)]
    pub format: Format,
}

/// The flags of `conveyor serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address of the HTTP listener: HOST:PORT, or a bare port (binds 127.0.0.1; port 0
    /// picks a free one, printed on stderr). A non-loopback address needs --token.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9480")]
    pub listen: String,

    /// How many jobs run at once [default: the number of CPUs].
    #[arg(short = 'w', long, value_name = "N")]
    pub workers: Option<usize>,

    /// How many submitted jobs may wait in the pool's queue (accepted jobs beyond it wait
    /// in the server, still `queued`).
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub capacity: usize,

    /// Append one JSON line per finished job to PATH (created if missing), as `run` does.
    #[arg(long, value_name = "PATH")]
    pub ledger: Option<PathBuf>,

    /// Require `Authorization: Bearer TOKEN` on POST requests (needed off loopback).
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,

    /// Largest request body accepted, in bytes; larger ones get 413.
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_body: usize,

    /// After SIGTERM or Ctrl-C, how long running jobs may still finish before they are
    /// cancelled.
    #[arg(long, value_name = "DUR", default_value = "10s")]
    pub grace: String,

    /// Allow `shell` jobs (scripts run with `sh -c`). Without it a submission with a `shell`
    /// job is refused whole (HTTP 400; a spooled file goes to failed/ with its errors).
    #[arg(long)]
    pub allow_shell: bool,

    /// Seed for the randomness of `fail` jobs [default: 0].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Run job files dropped (written, then renamed) into DIR/inbox; each moves to DIR/done
    /// or DIR/failed with NAME.ledger.jsonl (or NAME.errors.txt) beside it.
    #[arg(long, value_name = "DIR")]
    pub spool: Option<PathBuf>,

    /// How long `GET /jobs/{id}` remembers a finished job (its id may then be used again;
    /// the ledger keeps every line).
    #[arg(long, value_name = "DUR", default_value = "24h")]
    pub keep: String,

    /// Also serve `/metrics` (only) on ADDR, e.g. for a scrape port apart from the API; a
    /// bare port binds 127.0.0.1. `/metrics` is on --listen in any case.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<String>,

    /// How long a client may take to send a request's headers [default: 10s]. Hidden: for
    /// tests, which cannot wait the default.
    #[arg(long, value_name = "DUR", hide = true)]
    pub header_timeout: Option<String>,

    /// How long a client may take to send a request's body [default: 60s]. Hidden, as
    /// --header-timeout.
    #[arg(long, value_name = "DUR", hide = true)]
    pub body_timeout: Option<String>,

    /// The most HTTP connections open at once [default: 1024, or half the open-file limit
    /// if lower]. Hidden, as --header-timeout.
    #[arg(long, value_name = "N", hide = true)]
    pub max_connections: Option<usize>,
}

/// Log format on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Lines for people.
    Human,
    /// One JSON object per event (`timestamp`, `level`, `message`, fields).
    Json,
}

/// Output format for people or programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Text for people.
    Human,
    /// JSON for programs.
    Json,
}

/// How `conveyor run` shows process jobs' output (`--output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputWhen {
    /// Not at all (the ledger's output_tail only).
    None,
    /// Each attempt's output whole when it ends, one job at a time.
    Grouped,
    /// Line by line as it arrives, each line after the job id and a tab.
    Tagged,
}

/// When to show the progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressWhen {
    /// When stderr is a terminal.
    Auto,
    /// Always (drawn on stderr even when it is not a terminal).
    Always,
    /// Never.
    Never,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_takes_every_flag() {
        let cli = Cli::try_parse_from([
            "conveyor",
            "run",
            "-w",
            "3",
            "--capacity",
            "9",
            "--ledger",
            "l.jsonl",
            "--resume",
            "--fail-fast",
            "--timeout",
            "1s",
            "--max-attempts",
            "2",
            "--metrics-addr",
            "9000",
            "--format",
            "json",
            "--progress",
            "never",
            "--seed",
            "7",
            "--allow-shell",
            "--grace",
            "2s",
            "--fsync",
            "a.json",
            "-",
        ])
        .unwrap();
        let Command::Run(run) = cli.command else { panic!("not run") };
        assert_eq!(run.workers, Some(3));
        assert_eq!(run.paths, [PathBuf::from("a.json"), PathBuf::from("-")]);
        assert_eq!(run.format, Format::Json);
        assert!(run.resume && run.fail_fast && run.allow_shell && run.fsync);
    }

    #[test]
    fn serve_takes_every_flag() {
        let cli = Cli::try_parse_from([
            "conveyor",
            "serve",
            "--listen",
            "0",
            "-w",
            "2",
            "--capacity",
            "5",
            "--ledger",
            "l.jsonl",
            "--token",
            "t",
            "--max-body",
            "10",
            "--grace",
            "1s",
            "--allow-shell",
            "--seed",
            "3",
            "--spool",
            "spool",
            "--metrics-addr",
            "9100",
            "--keep",
            "1h",
            "-v",
            "--log-format",
            "json",
        ])
        .unwrap();
        assert_eq!((cli.verbose, cli.quiet, cli.log_format), (1, 0, LogFormat::Json));
        let Command::Serve(serve) = cli.command else { panic!("not serve") };
        assert_eq!(serve.spool, Some(PathBuf::from("spool")));
        assert_eq!(serve.metrics_addr.as_deref(), Some("9100"));
        assert_eq!((serve.listen.as_str(), serve.workers, serve.max_body), ("0", Some(2), 10));
        assert!(serve.allow_shell && serve.token.is_some());
    }

    #[test]
    fn run_needs_a_path() {
        assert!(Cli::try_parse_from(["conveyor", "run"]).is_err());
    }
}
