//! `shell`: run a script with `sh -c`, only with `--allow-shell`.

use std::pin::Pin;

use conveyor_pool::JobContext;
use tokio::process::Command;

use super::process::{self, What};
use super::table::Attempt;
use super::{KindEnv, KindError, KindOutput};
use crate::spec::JobKind;
use crate::spec::hash::{Param, Params};
use crate::spec::wire::{NonEmpty, job_wire};

job_wire! {
    /// `shell`: run `script` with `sh -c` (only with `--allow-shell`).
    ShellWire {
        /// The shell script.
        script: NonEmpty,
    } => JobKind::Shell { script: script.0 }
}

pub(super) const USES_A_CORE: bool = true;
pub(super) const SPAWNS_PROCESS: bool = true;

pub(super) fn canonical<'a>(script: &'a str, out: &mut Params<'a>) {
    out.push("script", Param::Str(script));
}

/// One attempt: [`shell`], boxed.
pub(super) fn run<'a>(
    at: Attempt<'a>,
    script: &'a str,
) -> Pin<Box<impl Future<Output = Result<KindOutput, KindError>> + 'a>> {
    Box::pin(shell(at.id, script, at.ctx, at.env))
}

/// What a `shell` job fails with when the run did not pass `--allow-shell`.
const REFUSED: &str = "the shell kind needs --allow-shell";

/// Runs `sh -c script` as job `id`, as [`exec`](super::exec) runs a program, if
/// `env.allow_shell`.
async fn shell(id: &str, script: &str, ctx: &JobContext, env: &KindEnv) -> Result<KindOutput, KindError> {
    if !env.allow_shell {
        return Err(KindError::new(REFUSED));
    }
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script);
    process::run(cmd, What::Shell, id, ctx, env).await
}
