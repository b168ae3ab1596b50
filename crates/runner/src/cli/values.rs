//! Flag values shared by several commands, checked: durations, `--workers`, the metrics
//! address, the Pushgateway URL. Each mistake is a [`UsageError`] naming the flag (exit 2).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::exit::UsageError;
use crate::spec::parse_duration;

/// `FLAG DUR`: a duration, or a usage error naming the flag and the text.
pub(crate) fn duration_flag(flag: &str, text: &str) -> Result<Duration, UsageError> {
    parse_duration(text).map_err(|e| UsageError::new(format!("{flag} {text:?}: {e}")))
}

/// `conveyor run`'s `--workers` when not given: one per core when the files have jobs that
/// keep a core busy (`exec`, `shell`, `cpu`: more at once gains nothing), else
/// [`DEFAULT_WORKERS`](conveyor_pool::DEFAULT_WORKERS) (`sleep`, `http`, `noop`, `fail` mostly
/// wait: 3,000 `sleep 20ms` jobs take 0.3 s instead of 30 s on two cores).
///
/// # Examples
///
/// ```
/// assert_eq!(conveyor::cli::values::default_workers(0), conveyor_pool::DEFAULT_WORKERS);
/// assert!(conveyor::cli::values::default_workers(1) <= 1024);
/// ```
pub fn default_workers(core_jobs: u64) -> usize {
    if core_jobs > 0 { cores() } else { conveyor_pool::DEFAULT_WORKERS }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// `-w/--workers N` of `run`, `serve` and `worker`: at least 1; the number of CPUs when
/// not given.
pub(crate) fn workers_flag(workers: Option<usize>) -> Result<usize, UsageError> {
    match workers {
        Some(0) => Err(UsageError::new("--workers must be at least 1")),
        Some(n) => Ok(n),
        None => Ok(cores()),
    }
}

/// `ADDR` of `--metrics-addr`: `HOST:PORT`, `[V6]:PORT`, or a bare port (loopback).
///
/// # Errors
///
/// A [`UsageError`] when it is none of those.
///
/// # Examples
///
/// ```
/// use conveyor::cli::values::parse_metrics_addr;
/// assert_eq!(parse_metrics_addr("9184").unwrap().to_string(), "127.0.0.1:9184");
/// assert_eq!(parse_metrics_addr("0.0.0.0:9184").unwrap().to_string(), "0.0.0.0:9184");
/// assert!(parse_metrics_addr("localhost").is_err());
/// ```
pub fn parse_metrics_addr(text: &str) -> Result<SocketAddr, UsageError> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Some(port) = text.strip_prefix("localhost:").and_then(|p| p.parse().ok()) {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    Err(UsageError::new(format!(
        "--metrics-addr {text:?}: expected a port (9184, binds 127.0.0.1) or HOST:PORT \
         (0.0.0.0:9184)"
    )))
}

/// `URL` of `--pushgateway`: an `http://` URL; `/metrics/job/conveyor` is appended unless
/// the path already names a job (`/metrics/job/NAME...`).
///
/// # Errors
///
/// A [`UsageError`] for anything but an `http` URL with a host.
///
/// # Examples
///
/// ```
/// use conveyor::cli::values::parse_pushgateway;
/// assert_eq!(parse_pushgateway("http://127.0.0.1:9091").unwrap().as_str(),
///            "http://127.0.0.1:9091/metrics/job/conveyor");
/// assert_eq!(parse_pushgateway("http://pg:9091/metrics/job/nightly").unwrap().path(),
///            "/metrics/job/nightly");
/// assert!(parse_pushgateway("https://pg:9091").is_err());
/// ```
pub fn parse_pushgateway(text: &str) -> Result<url::Url, UsageError> {
    let bad = |why: &str| UsageError::new(format!("--pushgateway {text:?}: {why}"));
    let mut url = url::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
    if url.scheme() != "http" {
        return Err(bad("only http:// URLs are supported (no TLS)"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("the URL has no host"));
    }
    if !url.path().contains("/metrics/job/") {
        let base = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base}/metrics/job/conveyor"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_addr_forms() {
        assert_eq!(parse_metrics_addr("[::1]:80").unwrap().to_string(), "[::1]:80");
        assert_eq!(parse_metrics_addr("localhost:80").unwrap().to_string(), "127.0.0.1:80");
    }
}
