//! `shell`: run a script with `sh -c`, only with `--allow-shell`.

use conveyor_pool::JobContext;
use tokio::process::Command;

use super::process::{self, What};
use super::{KindEnv, KindError, KindOutput};

/// What a `shell` job fails with when the run did not pass `--allow-shell`.
const REFUSED: &str = "the shell kind needs --allow-shell";

/// Runs `sh -c script` as job `id`, as [`exec`](super::exec) runs a program, if
/// `env.allow_shell`.
pub(super) async fn run(
    id: &str,
    script: &str,
    ctx: &JobContext,
    env: &KindEnv,
) -> Result<KindOutput, KindError> {
    if !env.allow_shell {
        return Err(KindError::new(REFUSED));
    }
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script);
    process::run(cmd, What::Shell, id, ctx, env).await
}
