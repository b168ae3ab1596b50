//! `cargo run --release -p conveyor-benches --bin spawn-loop -- N CONCURRENCY`
//!
//! The floor for process jobs in `benches/e2e.sh`: a bare `tokio::process` loop that runs
//! `true` N times (default 1000) with at most CONCURRENCY (default 4) children in flight,
//! on the default multi-thread tokio runtime (as `conveyor` uses). No pipes, no process
//! group, no output capture: stdin, stdout and stderr are `/dev/null`. Checks every child
//! exited with 0 and prints the seconds taken on stdout.

use std::process::{ExitCode, Stdio};
use std::time::Instant;

use tokio::process::Command;
use tokio::task::JoinSet;

async fn run_true() -> bool {
    let status =
        Command::new("true").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status().await;
    matches!(status, Ok(s) if s.success())
}

fn arg(args: &[String], i: usize, default: usize) -> Result<usize, String> {
    match args.get(i) {
        None => Ok(default),
        Some(s) => s.parse().map_err(|_| format!("spawn-loop: not a count: `{s}`")),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (n, concurrency) = match (arg(&args, 0, 1000), arg(&args, 1, 4)) {
        (Ok(n), Ok(c)) if c > 0 => (n, c),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{e}\nusage: spawn-loop [N] [CONCURRENCY]");
            return ExitCode::from(2);
        }
        _ => {
            eprintln!("spawn-loop: CONCURRENCY must be at least 1");
            return ExitCode::from(2);
        }
    };

    let start = Instant::now();
    let mut in_flight = JoinSet::new();
    let mut ok = 0usize;
    for _ in 0..n {
        if in_flight.len() >= concurrency
            && let Some(done) = in_flight.join_next().await
        {
            ok += usize::from(done.unwrap_or(false));
        }
        in_flight.spawn(run_true());
    }
    while let Some(done) = in_flight.join_next().await {
        ok += usize::from(done.unwrap_or(false));
    }
    let elapsed = start.elapsed();

    if ok != n {
        eprintln!("spawn-loop: {} of {n} runs of `true` failed", n - ok);
        return ExitCode::FAILURE;
    }
    println!("{:.6}", elapsed.as_secs_f64());
    ExitCode::SUCCESS
}
