//! [`RunPlan`]: `conveyor run`'s flags checked and resolved, from the raw [`cli::RunArgs`]
//! (ripgrep's low-args → high-args). Everything a user can get wrong on the command line is
//! found here, before any job file is read, and reported as a [`UsageError`] (exit 2).

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::values::{duration_flag, parse_metrics_addr, parse_pushgateway, workers_flag};
use crate::cli::{self, Format, OutputWhen, ProgressWhen};
use crate::exit::UsageError;
use crate::kind::OutputMode;

/// The ledger settings of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerPlan {
    /// The ledger file (appended to).
    pub path: PathBuf,
    /// Skip jobs the ledger already shows as succeeded with the same spec.
    pub resume: bool,
    /// `sync_data` after every batch of lines.
    pub fsync: bool,
}

/// A checked `conveyor run`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunPlan {
    /// Job files, folders and `-`.
    pub paths: Vec<PathBuf>,
    /// Jobs running at once (≥ 1); `None`: chosen from the kinds in the files (see
    /// [`default_workers`](crate::cli::values::default_workers)).
    pub workers: Option<usize>,
    /// Queue capacity (≥ 1).
    pub capacity: usize,
    /// The ledger, if any.
    pub ledger: Option<LedgerPlan>,
    /// Stop at the first job that does not succeed.
    pub fail_fast: bool,
    /// Timeout per attempt for jobs that set none.
    pub default_timeout: Option<Duration>,
    /// Attempts for jobs that set no `retry.max_attempts` (≥ 1).
    pub max_attempts: u32,
    /// Where to serve `/metrics`.
    pub metrics_addr: Option<SocketAddr>,
    /// Where to push the final metrics (a full Pushgateway URL).
    pub pushgateway: Option<url::Url>,
    /// Summary format.
    pub format: Format,
    /// Draw a progress bar on stderr.
    pub progress: bool,
    /// Seed for `fail` jobs.
    pub seed: u64,
    /// Allow `shell` jobs.
    pub allow_shell: bool,
    /// How long running jobs may finish after the first signal.
    pub grace: Duration,
    /// How `exec` and `shell` jobs' output is shown (`--output`, default grouped).
    pub output: OutputMode,
}

impl RunPlan {
    /// Checks and resolves `args`.
    ///
    /// # Errors
    ///
    /// A [`UsageError`] naming the flag and how to fix it.
    ///
    /// # Examples
    ///
    /// ```
    /// use clap::Parser;
    /// use conveyor::cli::{Cli, Command};
    /// use conveyor::cmd::run::RunPlan;
    ///
    /// let Command::Run(args) = Cli::parse_from(["conveyor", "run", "--resume", "a.json"]).command
    /// else { unreachable!() };
    /// let err = RunPlan::from_args(args).unwrap_err();
    /// assert_eq!(err.to_string(), "--resume needs --ledger PATH (the ledger to resume from)");
    /// ```
    pub fn from_args(args: cli::RunArgs) -> Result<RunPlan, UsageError> {
        let workers = args.workers.map(|n| workers_flag(Some(n))).transpose()?;
        if args.capacity == 0 {
            return Err(UsageError::new("--capacity must be at least 1"));
        }
        if args.resume && args.ledger.is_none() {
            return Err(UsageError::new("--resume needs --ledger PATH (the ledger to resume from)"));
        }
        if args.fsync && args.ledger.is_none() {
            return Err(UsageError::new("--fsync needs --ledger PATH (it syncs the ledger)"));
        }
        let ledger = args.ledger.map(|path| LedgerPlan { path, resume: args.resume, fsync: args.fsync });
        let default_timeout = match &args.timeout {
            Some(text) => {
                let t = duration_flag("--timeout", text)?;
                if t.is_zero() {
                    return Err(UsageError::new(
                        "--timeout must be greater than zero (leave it out for no timeout)",
                    ));
                }
                Some(t)
            }
            None => None,
        };
        let max_attempts = match args.max_attempts {
            Some(0) => {
                return Err(UsageError::new("--max-attempts must be at least 1 (1 means no retries)"));
            }
            Some(n) => n,
            None => 1,
        };
        let metrics_addr = args.metrics_addr.as_deref().map(parse_metrics_addr).transpose()?;
        let pushgateway = args.pushgateway.as_deref().map(parse_pushgateway).transpose()?;
        let grace = duration_flag("--grace", &args.grace)?;
        let progress = match args.progress {
            ProgressWhen::Always => true,
            ProgressWhen::Never => false,
            ProgressWhen::Auto => std::io::stderr().is_terminal(),
        };
        Ok(RunPlan {
            paths: args.paths,
            workers,
            capacity: args.capacity,
            ledger,
            fail_fast: args.fail_fast,
            default_timeout,
            max_attempts,
            metrics_addr,
            pushgateway,
            format: args.format,
            progress,
            seed: args.seed.unwrap_or(0),
            allow_shell: args.allow_shell,
            grace,
            output: match args.output {
                OutputWhen::None => OutputMode::None,
                OutputWhen::Grouped => OutputMode::Grouped,
                OutputWhen::Tagged => OutputMode::Tagged,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn plan(args: &[&str]) -> Result<RunPlan, UsageError> {
        let mut argv = vec!["conveyor", "run"];
        argv.extend_from_slice(args);
        argv.push("jobs.json");
        let Command::Run(run) = Cli::try_parse_from(argv).unwrap().command else { unreachable!() };
        RunPlan::from_args(run)
    }

    #[test]
    fn defaults() {
        let p = plan(&["--progress", "never"]).unwrap();
        assert_eq!(p.capacity, 1024);
        assert_eq!(p.max_attempts, 1);
        assert_eq!(p.grace, Duration::from_secs(10));
        assert_eq!(p.default_timeout, None);
        assert!(p.ledger.is_none() && !p.progress);
        assert_eq!(p.workers, None, "chosen from the kinds in the files");
        assert_eq!(p.output, OutputMode::Grouped, "GNU parallel's default");
    }

    #[test]
    fn output_modes_resolve() {
        assert_eq!(plan(&["--output", "none"]).unwrap().output, OutputMode::None);
        assert_eq!(plan(&["--output", "tagged"]).unwrap().output, OutputMode::Tagged);
    }

    #[test]
    fn bad_flags_say_how_to_fix_them() {
        let msg = |args: &[&str]| plan(args).unwrap_err().to_string();
        assert_eq!(msg(&["-w", "0"]), "--workers must be at least 1");
        assert_eq!(
            msg(&["--timeout", "soon"]),
            "--timeout \"soon\": expected a number followed by a unit, such as \"250ms\" or \"1m30s\""
        );
        assert!(msg(&["--max-attempts", "0"]).contains("at least 1"));
        assert!(msg(&["--fsync"]).contains("--ledger"));
        assert!(msg(&["--metrics-addr", "x"]).contains("expected a port"));
        assert!(msg(&["--timeout", "0s"]).contains("greater than zero"));
    }

    #[test]
    fn ledger_flags_resolve() {
        let p = plan(&["--ledger", "l.jsonl", "--resume", "--fsync"]).unwrap();
        assert_eq!(p.ledger, Some(LedgerPlan { path: "l.jsonl".into(), resume: true, fsync: true }));
    }
}
