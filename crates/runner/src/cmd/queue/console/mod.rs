//! `conveyor console --queue URL`: the web console of a PostgreSQL queue — every named
//! queue, live workers, stuck jobs, the job list, a job's attempts; cancel and retry.
//!
//! It is the console of `conveyor serve` (the same embedded page and script, the same
//! headers, write checks and list query: [`crate::console`]) answering from the queue's
//! tables ([`conveyor_postgres::Queue::jobs_page`] and its neighbours) instead of a job
//! table in memory.
//!
//! A command of its own rather than a page on `conveyor worker --listen`: it needs no
//! worker running (a queue whose workers are all down is when one looks), it can sit on
//! any machine that reaches the database, and a worker's listener stays two small
//! endpoints (`/metrics`, `/healthz`) — as River UI and asynqmon are separate programs.
//!
//! - [`routes`]: the routes and the write gate.
//! - [`api`]: the JSON answers.

mod api;
mod routes;

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context as _;
use tokio::sync::oneshot;

use super::{SMALL_POOL, connect, redact};
use crate::cli::queue::ConsoleArgs;
use crate::cli::values::parse_metrics_addr;
use crate::exit::Exit;

/// Runs `conveyor console` until Ctrl-C or SIGTERM.
///
/// # Errors
///
/// A bad flag, an unreadable token file, a queue that cannot be reached, or an address
/// that cannot be bound.
pub fn console(args: ConsoleArgs) -> anyhow::Result<Exit> {
    let listen = parse_metrics_addr(&args.listen).map_err(|_| {
        anyhow::anyhow!("--listen {:?}: expected a port (9482, binds 127.0.0.1) or HOST:PORT", args.listen)
    })?;
    let token = args.token_file.as_deref().map(read_token).transpose()?;
    if !listen.ip().is_loopback() && token.is_none() {
        anyhow::bail!(
            "--listen {listen}: a non-loopback address needs --token-file PATH (anyone who can reach \
             it could cancel and retry jobs); or listen on 127.0.0.1"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(serve(&args.queue, listen, token))
}

/// The token: the file's first line, trimmed; refused when empty.
fn read_token(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("--token-file {}", path.display()))?;
    let token = text.lines().next().unwrap_or("").trim().to_owned();
    if token.is_empty() {
        anyhow::bail!("--token-file {}: the file's first line is empty", path.display());
    }
    Ok(token)
}

async fn serve(url: &str, listen: SocketAddr, token: Option<String>) -> anyhow::Result<Exit> {
    let queue = connect(url, SMALL_POOL * 2, true).await?;
    let listener =
        tokio::net::TcpListener::bind(listen).await.with_context(|| format!("--listen {listen}"))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    eprintln!("conveyor: the console of {}", redact(url));
    eprintln!("conveyor: serving on http://{bound}");
    let app = routes::App { queue, token: token.map(Into::into) };
    let limits = crate::listener::Limits {
        header_timeout: crate::listener::HEADER_TIMEOUT,
        max_connections: crate::listener::default_max_connections(),
    };
    let (close_tx, close_rx) = oneshot::channel();
    let server = tokio::spawn(crate::listener::serve(listener, routes::router(app), limits, close_rx));
    stopped().await;
    let _ = close_tx.send(());
    let _ = server.await;
    Ok(Exit::Success)
}

/// Waits for Ctrl-C or SIGTERM.
async fn stopped() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
