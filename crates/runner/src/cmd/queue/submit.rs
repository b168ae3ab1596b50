//! `conveyor submit`: validate, then enqueue in one transaction.

use std::io::Write as _;

use anyhow::Context as _;
use conveyor_postgres::{Error as QueueError, KeyLimit};

use super::convert::new_job;
use crate::cli::Format;
use crate::cli::queue::SubmitArgs;
use crate::exit::{Exit, UsageError};
use crate::spec::print_errors;
use crate::spec::{Loader, ParseOptions};

/// `conveyor submit --queue URL PATH...`: checks the files exactly as `conveyor validate`
/// does (every error printed, exit 2, nothing enqueued), then enqueues every job and the
/// files' `limits` in one transaction with one `NOTIFY`, and prints the ids, one a line
/// (`--format json`: `{"ids": [...]}`). An id already in the queue enqueues nothing
/// (exit 2).
///
/// # Errors
///
/// The queue cannot be reached or a statement fails (nothing is enqueued then).
pub fn submit(args: SubmitArgs) -> anyhow::Result<Exit> {
    if args.max_attempts == Some(0) {
        return Err(UsageError::new("--max-attempts must be at least 1 (1 means no retries)").into());
    }
    let validated = match Loader::new(ParseOptions::default()).paths(&args.paths).validate() {
        Ok(v) => v,
        Err(errors) => {
            print_errors(&errors, args.format)?;
            return Ok(Exit::Usage);
        }
    };
    let default_attempts = args.max_attempts.unwrap_or(1);
    let limits: Vec<KeyLimit> = {
        let l = validated.limits();
        let mut keys: std::collections::BTreeSet<&String> = l.concurrency.keys().collect();
        keys.extend(l.rate.keys());
        keys.into_iter()
            .map(|k| {
                KeyLimit::new(
                    k.clone(),
                    l.concurrency.get(k).copied(),
                    l.rate.get(k).map(|r| (r.count, r.period)),
                )
            })
            .collect()
    };
    let runtime = super::small_runtime()?;
    let ids = runtime.block_on(async {
        let queue = super::connect(&args.queue, super::SMALL_POOL, true).await?;
        let mut submission = queue.submission().await?;
        submission.limits(&limits).await?;
        for spec in &validated {
            let spec = spec.map_err(|e| anyhow::anyhow!("{e} (the file changed while it was read)"))?;
            submission.add(new_job(&spec, default_attempts)).await?;
        }
        Ok::<_, anyhow::Error>(submission.commit().await?)
    });
    let ids = match ids {
        Ok(ids) => ids,
        Err(e) => {
            if let Some(QueueError::DuplicateId(id)) = e.downcast_ref::<QueueError>() {
                return Err(UsageError::new(format!(
                    "job id `{id}` is already in the queue; nothing was enqueued (give the job another id)"
                ))
                .into());
            }
            return Err(e.context("enqueueing; nothing was enqueued"));
        }
    };
    let mut out = std::io::stdout().lock();
    let written = match args.format {
        Format::Human => ids.iter().try_for_each(|id| writeln!(out, "{id}")),
        Format::Json => writeln!(out, "{}", serde_json::json!({ "ids": ids })),
    }
    .and_then(|()| out.flush());
    match written {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.context("printing the ids")?,
    }
    Ok(Exit::Success)
}
