//! `exec`: run a program directly, without a shell.

use std::collections::BTreeMap;
use std::path::Path;

use conveyor_pool::JobContext;
use tokio::process::Command;

use super::process::{self, What};
use super::{KindEnv, KindError, KindOutput};

/// Runs `program` with `args`, the runner's environment plus `vars`, in `cwd` (the
/// runner's working directory when `None`), as job `id`; see [`process`] for the process
/// group and the output.
pub(super) async fn run(
    id: &str,
    program: &str,
    args: &[String],
    vars: &BTreeMap<String, String>,
    cwd: Option<&Path>,
    ctx: &JobContext,
    env: &KindEnv,
) -> Result<KindOutput, KindError> {
    let mut cmd = Command::new(program);
    cmd.args(args).envs(vars);
    if let Some(cwd) = cwd {
        cmd.current_dir(cwd);
    }
    process::run(cmd, What::Program { program, cwd }, id, ctx, env).await
}
