//! [`ServePlan`]: `conveyor serve`'s flags checked and resolved from the raw
//! [`cli::ServeArgs`], as [`RunPlan`](crate::cmd::run::RunPlan) does for `run`. Mistakes are [`UsageError`]s
//! (exit 2) found before anything is bound or opened.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli;
use crate::cli::values::{duration_flag, parse_metrics_addr, workers_flag};
use crate::exit::UsageError;
use crate::http::{BODY_TIMEOUT, HEADER_TIMEOUT};

/// A checked `conveyor serve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServePlan {
    /// Where the HTTP listener binds (port 0: any free port).
    pub listen: SocketAddr,
    /// Jobs running at once (≥ 1).
    pub workers: usize,
    /// The pool's queue capacity (≥ 1).
    pub capacity: usize,
    /// The global ledger, if any.
    pub ledger: Option<PathBuf>,
    /// The bearer token required on `POST`, if any.
    pub token: Option<String>,
    /// Largest request body, in bytes.
    pub max_body: usize,
    /// How long running jobs may finish after the first signal.
    pub grace: Duration,
    /// Allow `shell` jobs.
    pub allow_shell: bool,
    /// Seed for `fail` jobs.
    pub seed: u64,
    /// The spool folder (`--spool`), if any.
    pub spool: Option<PathBuf>,
    /// How long finished jobs stay in the job table (`--keep`).
    pub keep: Duration,
    /// A listener of its own for `/metrics` (`--metrics-addr`), if any.
    pub metrics_addr: Option<SocketAddr>,
    /// How long a client may take to send a request's headers (hidden `--header-timeout`).
    pub header_timeout: Duration,
    /// How long a client may take to send a request's body (hidden `--body-timeout`).
    pub body_timeout: Duration,
    /// The most HTTP connections open at once (hidden `--max-connections`); `None`: the
    /// default, from the open-file limit when the server starts.
    pub max_connections: Option<usize>,
}

impl ServePlan {
    /// Checks and resolves `args`.
    ///
    /// # Errors
    ///
    /// A [`UsageError`] naming the flag and how to fix it; in particular a listen address
    /// that is not loopback without `--token`.
    ///
    /// # Examples
    ///
    /// ```
    /// use clap::Parser;
    /// use conveyor::cli::{Cli, Command};
    /// use conveyor::cmd::serve::ServePlan;
    ///
    /// let plan = |argv: &[&str]| {
    ///     let Command::Serve(args) = Cli::parse_from(argv).command else { unreachable!() };
    ///     ServePlan::from_args(args)
    /// };
    /// assert_eq!(plan(&["conveyor", "serve"]).unwrap().listen.to_string(), "127.0.0.1:9480");
    /// assert_eq!(plan(&["conveyor", "serve", "--listen", "0"]).unwrap().listen.port(), 0);
    /// let err = plan(&["conveyor", "serve", "--listen", "0.0.0.0:9480"]).unwrap_err();
    /// assert!(err.to_string().contains("needs --token"));
    /// assert!(plan(&["conveyor", "serve", "--listen", "0.0.0.0:9480", "--token", "s3"]).is_ok());
    /// ```
    pub fn from_args(args: cli::ServeArgs) -> Result<ServePlan, UsageError> {
        let listen = parse_metrics_addr(&args.listen).map_err(|_| {
            UsageError::new(format!(
                "--listen {:?}: expected a port (9480, binds 127.0.0.1) or HOST:PORT (0.0.0.0:9480)",
                args.listen
            ))
        })?;
        let token = args.token.filter(|t| !t.is_empty());
        if !listen.ip().is_loopback() && token.is_none() {
            return Err(UsageError::new(format!(
                "--listen {listen}: a non-loopback address needs --token TOKEN (anyone who can \
                 reach it could run jobs); or listen on 127.0.0.1"
            )));
        }
        let workers = workers_flag(args.workers)?;
        if args.capacity == 0 {
            return Err(UsageError::new("--capacity must be at least 1"));
        }
        if args.max_body == 0 {
            return Err(UsageError::new("--max-body must be at least 1 (bytes)"));
        }
        let grace = duration_flag("--grace", &args.grace)?;
        let metrics_addr = args.metrics_addr.as_deref().map(parse_metrics_addr).transpose()?;
        if let Some(dir) = &args.spool
            && dir.as_os_str().is_empty()
        {
            return Err(UsageError::new("--spool needs a folder"));
        }
        let keep = duration_flag("--keep", &args.keep)?;
        let timeout = |flag: &str, given: Option<&str>, default: Duration| match given {
            None => Ok(default),
            Some(text) => match duration_flag(flag, text)? {
                Duration::ZERO => Err(UsageError::new(format!("{flag} must be longer than 0s"))),
                d => Ok(d),
            },
        };
        let header_timeout = timeout("--header-timeout", args.header_timeout.as_deref(), HEADER_TIMEOUT)?;
        let body_timeout = timeout("--body-timeout", args.body_timeout.as_deref(), BODY_TIMEOUT)?;
        if args.max_connections == Some(0) {
            return Err(UsageError::new("--max-connections must be at least 1"));
        }
        Ok(ServePlan {
            header_timeout,
            body_timeout,
            max_connections: args.max_connections,
            listen,
            keep,
            spool: args.spool,
            metrics_addr,
            workers,
            capacity: args.capacity,
            ledger: args.ledger,
            token,
            max_body: args.max_body,
            grace,
            allow_shell: args.allow_shell,
            seed: args.seed.unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn plan(args: &[&str]) -> Result<ServePlan, UsageError> {
        let mut argv = vec!["conveyor", "serve"];
        argv.extend_from_slice(args);
        let Command::Serve(serve) = Cli::try_parse_from(argv).unwrap().command else { unreachable!() };
        ServePlan::from_args(serve)
    }

    #[test]
    fn defaults() {
        let p = plan(&[]).unwrap();
        assert_eq!(p.listen.to_string(), "127.0.0.1:9480");
        assert_eq!(p.max_body, 16 * 1024 * 1024);
        assert_eq!(p.grace, Duration::from_secs(10));
        assert_eq!(p.keep, Duration::from_secs(24 * 3600));
        assert_eq!((p.header_timeout, p.body_timeout), (Duration::from_secs(10), Duration::from_secs(60)));
        assert_eq!(p.max_connections, None);
        assert!(p.token.is_none() && p.ledger.is_none() && !p.allow_shell);
    }

    #[test]
    fn bad_flags_say_how_to_fix_them() {
        let msg = |args: &[&str]| plan(args).unwrap_err().to_string();
        assert!(msg(&["--listen", "nowhere"]).starts_with("--listen \"nowhere\": expected a port"));
        assert!(msg(&["--listen", "[::]:80"]).contains("needs --token"));
        assert!(msg(&["--listen", "10.0.0.1:80", "--token", ""]).contains("needs --token"));
        assert_eq!(msg(&["-w", "0"]), "--workers must be at least 1");
        assert!(msg(&["--max-body", "0"]).contains("at least 1"));
        assert!(msg(&["--grace", "soon"]).starts_with("--grace \"soon\""));
        assert!(msg(&["--keep", "forever"]).starts_with("--keep \"forever\""));
        assert_eq!(msg(&["--header-timeout", "0s"]), "--header-timeout must be longer than 0s");
        assert_eq!(msg(&["--max-connections", "0"]), "--max-connections must be at least 1");
    }

    #[test]
    fn loopback_needs_no_token() {
        assert!(plan(&["--listen", "[::1]:0"]).is_ok());
        assert!(plan(&["--listen", "localhost:0"]).is_ok());
    }
}
