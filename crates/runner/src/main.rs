//! The `conveyor` command line: parse the arguments, run the command, print errors once.
//!
//! Errors print as `conveyor: message: cause` (anyhow's `{:#}`, control characters escaped)
//! and exit 2; a closed stdout (`conveyor validate … | head`) exits 0. See
//! [`conveyor::exit`] for every exit code.

use std::process::ExitCode;

use clap::Parser;
use conveyor::cli::{Cli, Command};
use conveyor::cmd::run::RunPlan;
use conveyor::cmd::serve::ServePlan;
use conveyor::cmd::{queue, report, run, serve, validate};
use conveyor::exit::{Exit, is_broken_pipe};
use conveyor::spec::error::escape_controls;
use tracing::level_filters::LevelFilter;

// mimalloc rather than the system allocator: a job's specs, handles and ledger records are
// allocated on one thread and freed on another (reader → pool → ledger writer), which glibc's
// malloc serves through its arenas' slow paths. With it, malloc and free were ~2.8k of a
// no-op job's ~20k instructions (callgrind, 20k jobs); the measurement is in the git history of README.md (issue 8).
// The library half installs no allocator: embedding programs choose their own.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // `--help` and `--version` exit 0, usage errors 2.
            let code = if e.use_stderr() { Exit::Usage.code() } else { 0 };
            if e.print().is_err() {
                return ExitCode::SUCCESS;
            }
            return ExitCode::from(code);
        }
    };
    let default_level = match cli.command {
        Command::Serve(_) => LevelFilter::INFO,
        _ => LevelFilter::WARN,
    };
    conveyor::logging::init(conveyor::logging::level(default_level, cli.verbose, cli.quiet), cli.log_format);
    let result = match cli.command {
        Command::Run(args) => RunPlan::from_args(args).map_err(anyhow::Error::from).and_then(run::run),
        Command::Validate(args) => validate::validate(args),
        Command::Serve(args) => {
            ServePlan::from_args(args).map_err(anyhow::Error::from).and_then(serve::serve)
        }
        Command::Schema => validate::schema(),
        Command::Submit(args) => queue::submit(args),
        Command::Worker(args) => queue::worker(args),
        Command::Status(args) => queue::status(args),
        Command::Ledger(args) => queue::ledger(args),
        Command::Report(args) => report::report(args),
        Command::Console(args) => queue::console(args),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // Messages quote input (paths, ids, a server's words): its control characters are
            // shown escaped, not sent to the terminal. Our own line breaks stay.
            let message = format!("{e:#}");
            let lines: Vec<_> = message.split('\n').map(escape_controls).collect();
            eprintln!("conveyor: {}", lines.join("\n"));
            Exit::Usage.into()
        }
    }
}
