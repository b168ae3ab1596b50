//! `exec`: run a program directly, without a shell.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use conveyor_pool::JobContext;
use tokio::process::Command;

use super::process::{self, What};
use super::table::Attempt;
use super::{KindEnv, KindError, KindOutput};
use crate::spec::JobKind;
use crate::spec::hash::{Param, Params};
use crate::spec::wire::{Env, NoNul, NonEmpty, job_wire};

job_wire! {
    /// `exec`: run `program` with `args`, without a shell.
    ExecWire {
        /// The program to run (looked up in PATH when it has no `/`).
        program: NonEmpty,
        /// Its arguments.
        #[serde(default)]
        args: Vec<NoNul>,
        /// Environment variables to add.
        #[serde(default)]
        env: Env,
        /// Working directory.
        cwd: Option<NonEmpty>,
    } => JobKind::Exec {
        program: program.0,
        args: args.into_iter().map(|a| a.0).collect(),
        env: env.0,
        cwd: cwd.map(|c| c.0.into()),
    }
}

pub(super) const USES_A_CORE: bool = true;
pub(super) const SPAWNS_PROCESS: bool = true;

pub(super) fn canonical<'a>(
    program: &'a str,
    args: &'a [String],
    env: &'a BTreeMap<String, String>,
    cwd: &'a Option<PathBuf>,
    out: &mut Params<'a>,
) {
    out.push("program", Param::Str(program));
    out.push("args", Param::List(args));
    out.push("env", Param::Map(env));
    out.push_some("cwd", cwd.as_deref().map(Param::Path));
}

/// One attempt: [`exec`], boxed.
pub(super) fn run<'a>(
    at: Attempt<'a>,
    program: &'a str,
    args: &'a [String],
    vars: &'a BTreeMap<String, String>,
    cwd: &'a Option<PathBuf>,
) -> Pin<Box<impl Future<Output = Result<KindOutput, KindError>> + 'a>> {
    Box::pin(exec(at.id, program, args, vars, cwd.as_deref(), at.ctx, at.env))
}

/// Runs `program` with `args`, the runner's environment plus `vars`, in `cwd` (the
/// runner's working directory when `None`), as job `id`; see [`process`] for the process
/// group and the output.
async fn exec(
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
