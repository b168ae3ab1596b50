//! Logs: [`tracing`] events on stderr, for people or (`--log-format json`) one JSON object
//! per line for log shippers.
//!
//! What is shown: `RUST_LOG` when it is set (full [`EnvFilter`] syntax, e.g.
//! `RUST_LOG=conveyor=debug`); otherwise a level from the command: `serve` logs `info`
//! (start, accepted files, drain) and `run`/`validate` log `warn` (their output is the
//! summary, the errors and the progress bar), each `-v` one level more (`debug`, `trace`),
//! each `-q` one less (`error`, then nothing).
//!
//! Logs are about the process; the per-job record is the ledger (`debug` adds a line per
//! finished job).

use std::io::IsTerminal as _;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// The level `-v`/`-q` give, from the command's default.
///
/// # Examples
///
/// ```
/// use conveyor::logging::level;
/// use tracing::level_filters::LevelFilter;
///
/// assert_eq!(level(LevelFilter::WARN, 0, 0), LevelFilter::WARN);
/// assert_eq!(level(LevelFilter::WARN, 1, 0), LevelFilter::INFO);
/// assert_eq!(level(LevelFilter::INFO, 5, 0), LevelFilter::TRACE);
/// assert_eq!(level(LevelFilter::INFO, 0, 2), LevelFilter::ERROR);
/// assert_eq!(level(LevelFilter::WARN, 0, 2), LevelFilter::OFF);
/// ```
pub fn level(default: LevelFilter, verbose: u8, quiet: u8) -> LevelFilter {
    const LEVELS: [LevelFilter; 6] = [
        LevelFilter::OFF,
        LevelFilter::ERROR,
        LevelFilter::WARN,
        LevelFilter::INFO,
        LevelFilter::DEBUG,
        LevelFilter::TRACE,
    ];
    let at = LEVELS.iter().position(|l| *l == default).unwrap_or(2) as i32;
    let at = (at + i32::from(verbose) - i32::from(quiet)).clamp(0, LEVELS.len() as i32 - 1);
    LEVELS[at as usize]
}

/// Installs the global subscriber: `RUST_LOG` if set, else `level` for every target.
/// Does nothing if one is installed already (a test harness, say).
///
/// # Examples
///
/// ```
/// use conveyor::cli::LogFormat;
/// use tracing::level_filters::LevelFilter;
///
/// conveyor::logging::init(LevelFilter::WARN, LogFormat::Json);
/// tracing::warn!(jobs = 3, "shown on stderr as one JSON object");
/// ```
pub fn init(level: LevelFilter, format: LogFormat) {
    let filter = filter(level, std::env::var("RUST_LOG").ok().as_deref());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.with_target(false).with_ansi(std::io::stderr().is_terminal()).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
    };
}

/// `rust_log` (`RUST_LOG`) when set and not blank, else `level` for everything.
fn filter(level: LevelFilter, rust_log: Option<&str>) -> EnvFilter {
    match rust_log {
        Some(spec) if !spec.trim().is_empty() => {
            EnvFilter::builder().with_default_directive(level.into()).parse_lossy(spec)
        }
        _ => EnvFilter::default().add_directive(level.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_wins_over_the_flags() {
        assert_eq!(filter(LevelFilter::WARN, None).max_level_hint(), Some(LevelFilter::WARN));
        assert_eq!(filter(LevelFilter::WARN, Some(" ")).max_level_hint(), Some(LevelFilter::WARN));
        assert_eq!(filter(LevelFilter::WARN, Some("debug")).max_level_hint(), Some(LevelFilter::DEBUG));
        assert_eq!(
            filter(LevelFilter::INFO, Some("conveyor=trace")).max_level_hint(),
            Some(LevelFilter::TRACE)
        );
        assert_eq!(filter(LevelFilter::INFO, Some("off")).max_level_hint(), Some(LevelFilter::OFF));
    }
}
