//! [`KindEnv`]: the settings all jobs of a run share.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::Output;

/// How many bytes of a process's output [`KindEnv::new`] keeps: 4096.
pub const DEFAULT_OUTPUT_LIMIT: usize = 4096;

/// How long [`KindEnv::new`] lets a process group clean up after `SIGTERM` before `SIGKILL`:
/// 2 seconds.
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(2);

/// Settings shared by all jobs of a run. Cheap to clone (the HTTP client is shared).
///
/// # Examples
///
/// ```
/// use conveyor::kind::{KindEnv, DEFAULT_OUTPUT_LIMIT};
///
/// let mut env = KindEnv::new(true, 42)?;
/// assert_eq!(env.output_limit, DEFAULT_OUTPUT_LIMIT);
/// env.output_limit = 64 * 1024; // keep more of each process's output
/// # anyhow::Ok(())
/// ```
#[derive(Clone, Debug)]
pub struct KindEnv {
    /// Whether the `shell` kind may run (`--allow-shell`); without it a `shell` job fails
    /// with "the shell kind needs --allow-shell".
    pub allow_shell: bool,
    /// The `--seed` the `fail` kind draws from, with the job id and the attempt number.
    pub seed: u64,
    /// How many bytes of an `exec`/`shell` job's output (stdout and stderr, interleaved as
    /// they arrive) are kept for the ledger's `output_tail`: the last ones. Default
    /// [`DEFAULT_OUTPUT_LIMIT`].
    pub output_limit: usize,
    /// How long a process group may take to exit after `SIGTERM` before it gets `SIGKILL`.
    /// Default [`DEFAULT_KILL_GRACE`]. Keep it below the pool's grace period, or the pool
    /// drops the attempt first (which kills the group with `SIGKILL` at once).
    pub kill_grace: Duration,
    /// Where `exec` and `shell` jobs' output is shown besides the tail (`conveyor run
    /// --output`). Default: [`OutputMode::None`](super::OutputMode::None), nothing shown.
    pub output: Output,
    /// The client of the `http` kind, built by the first `http` job (see [`http`](Self::http)).
    http: Arc<OnceLock<Result<reqwest::Client, String>>>,
}

impl KindEnv {
    /// Settings with `--allow-shell` and `--seed` as given and the defaults for the rest.
    ///
    /// # Errors
    ///
    /// None today (the HTTP client is built on first use, see [`http`](Self::http)); the
    /// `Result` stays for settings that may fail.
    ///
    /// # Examples
    ///
    /// ```
    /// let env = conveyor::kind::KindEnv::new(false, 1)?;
    /// assert!(!env.allow_shell);
    /// assert_eq!(env.seed, 1);
    /// # anyhow::Ok(())
    /// ```
    pub fn new(allow_shell: bool, seed: u64) -> anyhow::Result<KindEnv> {
        Ok(KindEnv {
            allow_shell,
            seed,
            output_limit: DEFAULT_OUTPUT_LIMIT,
            kill_grace: DEFAULT_KILL_GRACE,
            output: Output::default(),
            http: Arc::default(),
        })
    }

    /// The client of the `http` kind: built once, by the first `http` job, and shared by all
    /// clones of this `KindEnv`, so connections are reused across jobs. rustls with the
    /// platform's certificate store; no system OpenSSL.
    ///
    /// Built lazily because loading the certificate store costs ~20M instructions (several
    /// milliseconds) that a run without `http` jobs need not pay.
    ///
    /// # Errors
    ///
    /// When the client cannot be set up (its TLS configuration failed): the message, which
    /// every `http` job of the run then fails with.
    ///
    /// # Examples
    ///
    /// ```
    /// let env = conveyor::kind::KindEnv::new(false, 1)?;
    /// assert!(env.http().is_ok());
    /// # anyhow::Ok(())
    /// ```
    pub fn http(&self) -> Result<&reqwest::Client, &str> {
        self.http
            .get_or_init(|| {
                reqwest::Client::builder()
                    .user_agent(concat!("conveyor/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| format!("cannot set up the HTTP client: {e}"))
            })
            .as_ref()
            .map_err(String::as_str)
    }
}
