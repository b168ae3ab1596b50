//! The process kinds, `exec` and `shell`, with real processes: exit codes, output tails,
//! and no process left behind, whichever way the job ends.

mod kind_support;

use std::path::Path;
use std::time::{Duration, Instant};

use conveyor::kind::{Captured, KindEnv, Output, OutputMode};
use conveyor_pool::{Job, JobError};
use kind_support::{env, kind_error, pool, quote, run, spec, submit};
use nix::errno::Errno;
use nix::sys::signal::killpg;
use nix::unistd::Pid;

/// An `exec` job line running `sh -c script` with `args` as `$1`, `$2`, … (so `exec` is
/// tested without the `shell` kind).
fn sh(script: &str, args: &[&str], extra: &str) -> String {
    let mut all = vec![quote("-c"), quote(script), quote("sh")];
    all.extend(args.iter().map(|a| quote(a)));
    format!(r#"{{"kind": "exec", "program": "sh", "args": [{}]{extra}}}"#, all.join(", "))
}

/// Waits, as a safety net bounded to 10 s, until `path` holds a whole line, and returns it.
async fn wait_for_line(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Some((line, _)) = text.split_once('\n')
        {
            return line.to_owned();
        }
        assert!(Instant::now() < deadline, "{} was never written", path.display());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Asserts that process group `pgid` has no member left (`kill(-pgid, 0)` fails with
/// `ESRCH`). Killed members are zombies until init reaps them, which can take a moment:
/// the check is retried for up to 10 s.
async fn assert_group_gone(pgid: i32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match killpg(Pid::from_raw(pgid), None) {
            Err(Errno::ESRCH) => return,
            result => {
                if Instant::now() >= deadline {
                    let ps = std::process::Command::new("ps")
                        .args(["-o", "pid,pgid,stat,args", "-g", &pgid.to_string()])
                        .output()
                        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                        .unwrap_or_default();
                    panic!("process group {pgid} still exists ({result:?}):\n{ps}");
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A script that starts two long sleeps in its group, then writes its pid (= the group id)
/// to `$1` and waits.
const TWO_SLEEPERS: &str = r#"sleep 1000 & sleep 1000 & echo $$ > "$1"; wait"#;

#[tokio::test]
async fn exec_succeeds_with_exit_code_and_output() {
    let output = run(&sh("printf hello; printf ' world' >&2", &[], ""), &env(false)).await.unwrap();
    assert_eq!(output.exit_code, Some(0));
    assert_eq!(output.output_tail.as_deref(), Some("hello world"));
}

#[tokio::test]
async fn exec_passes_args_env_and_cwd() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().canonicalize().unwrap();
    let extra =
        format!(r#", "env": {{"CONVEYOR_TEST_VAR": "a value"}}, "cwd": {}"#, quote(cwd.to_str().unwrap()));
    let job = sh(r#"printf '%s|%s|%s' "$1" "$CONVEYOR_TEST_VAR" "$(pwd -P)""#, &["one arg"], &extra);
    let output = run(&job, &env(false)).await.unwrap();
    assert_eq!(output.output_tail.unwrap(), format!("one arg|a value|{}", cwd.display()));
}

#[tokio::test]
async fn exec_runs_without_a_shell() {
    // `*` and `$HOME` reach the program as they are: no shell expands them.
    let job = r#"{"kind": "exec", "program": "printf", "args": ["%s %s", "*", "$HOME"]}"#;
    let output = run(job, &env(false)).await.unwrap();
    assert_eq!(output.output_tail.as_deref(), Some("* $HOME"));
}

#[tokio::test]
async fn exec_stdin_is_empty() {
    let output = run(&sh("cat; echo end", &[], ""), &env(false)).await.unwrap();
    assert_eq!(output.output_tail.as_deref(), Some("end\n"));
}

#[tokio::test]
async fn exec_nonzero_exit_fails_with_code_and_output() {
    let err = run(&sh("echo working; echo oops >&2; exit 7", &[], ""), &env(false)).await.unwrap_err();
    let kind = kind_error(&err);
    assert_eq!(kind.to_string(), "`sh` exited with code 7");
    assert_eq!(kind.exit_code, Some(7));
    assert_eq!(kind.output_tail.as_deref(), Some("working\noops\n"));
}

#[tokio::test]
async fn exec_killed_by_a_signal_fails_without_exit_code() {
    let err = run(&sh("echo bye; kill -KILL $$", &[], ""), &env(false)).await.unwrap_err();
    let kind = kind_error(&err);
    assert_eq!(kind.to_string(), "`sh` was killed by SIGKILL");
    assert_eq!(kind.exit_code, None);
    assert_eq!(kind.output_tail.as_deref(), Some("bye\n"));
}

#[tokio::test]
async fn exec_program_not_found_names_it() {
    let job = r#"{"kind": "exec", "program": "conveyor-no-such-program", "args": ["x"]}"#;
    let err = run(job, &env(false)).await.unwrap_err();
    let kind = kind_error(&err);
    assert_eq!(kind.to_string(), "program `conveyor-no-such-program` not found in PATH");
    assert_eq!((kind.exit_code, kind.output_tail.as_deref()), (None, None));

    let job = r#"{"kind": "exec", "program": "./conveyor-no-such-program"}"#;
    let err = run(job, &env(false)).await.unwrap_err();
    assert_eq!(kind_error(&err).to_string(), "program `./conveyor-no-such-program` not found");
}

#[tokio::test]
async fn exec_missing_cwd_is_named() {
    let job = r#"{"kind": "exec", "program": "true", "cwd": "/conveyor/no/such/dir"}"#;
    let err = run(job, &env(false)).await.unwrap_err();
    assert_eq!(kind_error(&err).to_string(), "working directory `/conveyor/no/such/dir` not found");
}

#[tokio::test]
async fn exec_output_tail_is_bounded() {
    let mut env = env(false);
    env.output_limit = 100;
    let script = r#"i=1; while [ $i -le 5000 ]; do echo "line $i"; echo "err $i" >&2; i=$((i+1)); done"#;
    let output = run(&sh(script, &[], ""), &env).await.unwrap();
    let tail = output.output_tail.unwrap();
    assert!(tail.len() <= 100, "{} bytes: {tail:?}", tail.len());
    assert!(tail.len() >= 90, "{} bytes: {tail:?}", tail.len());
    assert!(tail.ends_with("err 5000\n") || tail.ends_with("line 5000\n"), "{tail:?}");
    assert!(tail.contains("4999"), "{tail:?}");
}

#[tokio::test]
async fn exec_large_output_on_both_pipes_does_not_deadlock() {
    // 1 MB on each pipe: more than a pipe buffer, so both must be read while the child runs.
    let script = "head -c 1000000 /dev/zero | tr '\\0' a; head -c 1000000 /dev/zero | tr '\\0' b >&2; echo";
    let output = tokio::time::timeout(Duration::from_secs(30), run(&sh(script, &[], ""), &env(false)))
        .await
        .expect("the job hung")
        .unwrap();
    let tail = output.output_tail.unwrap();
    assert_eq!(tail.len(), 4096);
    assert!(tail.trim_end().chars().all(|c| c == 'b'), "{tail:?}");
}

#[tokio::test]
async fn exec_timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pgid");
    let job = sh(TWO_SLEEPERS, &[pidfile.to_str().unwrap()], r#", "timeout": "1s""#);
    let start = Instant::now();
    let err = run(&job, &env(false)).await.unwrap_err();
    assert!(matches!(err, JobError::TimedOut), "{err:?}");
    // Well under the pool's 60 s grace: the kind stopped the group itself.
    assert!(start.elapsed() < Duration::from_secs(20), "{:?}", start.elapsed());
    let pgid: i32 = wait_for_line(&pidfile).await.parse().unwrap();
    assert_group_gone(pgid).await;
}

#[tokio::test]
async fn exec_cancel_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pgid");
    let pool = pool();
    let handle = submit(&pool, spec(&sh(TWO_SLEEPERS, &[pidfile.to_str().unwrap()], "")), &env(false)).await;
    let pgid: i32 = wait_for_line(&pidfile).await.parse().unwrap();
    assert!(killpg(Pid::from_raw(pgid), None).is_ok(), "the group should be running");
    handle.cancel();
    let err = tokio::time::timeout(Duration::from_secs(20), handle).await.expect("cancel hung").unwrap_err();
    assert!(matches!(err, JobError::Cancelled), "{err:?}");
    assert_group_gone(pgid).await;
}

#[tokio::test]
async fn exec_group_ignoring_sigterm_gets_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pgid");
    // Ignored signals stay ignored in children: the sleeps shrug off SIGTERM too.
    let script = format!("trap '' TERM; {TWO_SLEEPERS}");
    let mut env = env(false);
    env.kill_grace = Duration::from_millis(300);
    let pool = pool();
    let handle = submit(&pool, spec(&sh(&script, &[pidfile.to_str().unwrap()], "")), &env).await;
    let pgid: i32 = wait_for_line(&pidfile).await.parse().unwrap();
    handle.cancel();
    let err = tokio::time::timeout(Duration::from_secs(20), handle).await.expect("cancel hung").unwrap_err();
    assert!(matches!(err, JobError::Cancelled), "{err:?}");
    assert_group_gone(pgid).await;
}

#[tokio::test]
async fn exec_dropped_mid_run_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pgid");
    let spec = spec(&sh(TWO_SLEEPERS, &[pidfile.to_str().unwrap()], ""));
    let env = env(false);
    let pidfile2 = pidfile.clone();
    let pool = pool();
    // The job drops `kind::run`'s future as soon as the group is up, as the pool does when
    // its grace period runs out.
    let handle = pool
        .submit(Job::new(move |ctx| {
            let (spec, env, pidfile) = (spec.clone(), env.clone(), pidfile2.clone());
            async move {
                tokio::select! {
                    result = conveyor::kind::run(&spec, &ctx, &env) => result.map(|_| "finished"),
                    _ = wait_for_line(&pidfile) => Ok("dropped"),
                }
            }
        }))
        .await
        .unwrap();
    assert_eq!(handle.await.unwrap(), "dropped");
    let pgid: i32 = wait_for_line(&pidfile).await.parse().unwrap();
    assert_group_gone(pgid).await;
}

#[tokio::test]
async fn exec_exit_stops_what_it_left_running() {
    // The sleep keeps the output pipe open: without stopping it, the job would wait for it.
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pgid");
    let job = sh(r#"sleep 1000 & echo $$ > "$1"; echo done"#, &[pidfile.to_str().unwrap()], "");
    let output = tokio::time::timeout(Duration::from_secs(20), run(&job, &env(false)))
        .await
        .expect("the job waited for its leftover process")
        .unwrap();
    assert_eq!(output.output_tail.as_deref(), Some("done\n"));
    let pgid: i32 = wait_for_line(&pidfile).await.parse().unwrap();
    assert_group_gone(pgid).await;
}

#[tokio::test]
async fn shell_is_refused_without_allow_shell() {
    let err = run(r#"{"kind": "shell", "script": "echo hi"}"#, &env(false)).await.unwrap_err();
    let kind = kind_error(&err);
    assert_eq!(kind.to_string(), "the shell kind needs --allow-shell");
    assert_eq!((kind.exit_code, kind.output_tail.as_deref()), (None, None));
}

#[tokio::test]
async fn shell_runs_its_script_with_allow_shell() {
    let output =
        run(r#"{"kind": "shell", "script": "x=$((6*7)); echo $x | tr 4 5"}"#, &env(true)).await.unwrap();
    assert_eq!((output.exit_code, output.output_tail.as_deref()), (Some(0), Some("52\n")));

    let err = run(r#"{"kind": "shell", "script": "echo hi; exit 3"}"#, &env(true)).await.unwrap_err();
    let kind = kind_error(&err);
    assert_eq!(kind.to_string(), "shell script exited with code 3");
    assert_eq!((kind.exit_code, kind.output_tail.as_deref()), (Some(3), Some("hi\n")));
}

#[tokio::test]
async fn shell_timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pgid");
    let script = TWO_SLEEPERS.replace("\"$1\"", &format!("'{}'", pidfile.display()));
    let job = format!(r#"{{"kind": "shell", "script": {}, "timeout": "1s"}}"#, quote(&script));
    let err = run(&job, &env(true)).await.unwrap_err();
    assert!(matches!(err, JobError::TimedOut), "{err:?}");
    let pgid: i32 = wait_for_line(&pidfile).await.parse().unwrap();
    assert_group_gone(pgid).await;
}

// `--output`: what the runner shows of process jobs' output, captured in memory.

/// A settings with the shell allowed and output in `mode`, and what it prints.
fn printing(mode: OutputMode) -> (KindEnv, Captured) {
    let (output, captured) = Output::in_memory(mode);
    let mut env = env(true);
    env.output = output;
    (env, captured)
}

/// Two jobs that print three lines each to stdout, with pauses between (so that their
/// lines would interleave if printed as they came), and one line to stderr.
const TWO_CHATTY: [&str; 2] = [
    r#"{"id": "a", "kind": "shell", "script": "echo a1; sleep 0.05; echo a2; echo a-err >&2; sleep 0.05; echo a3"}"#,
    r#"{"id": "b", "kind": "shell", "script": "echo b1; sleep 0.05; echo b2; echo b-err >&2; sleep 0.05; echo b3"}"#,
];

/// Runs both of [`TWO_CHATTY`] at once in one pool.
async fn run_two_chatty(env: &KindEnv) {
    let pool = pool();
    let a = submit(&pool, spec(TWO_CHATTY[0]), env).await;
    let b = submit(&pool, spec(TWO_CHATTY[1]), env).await;
    a.await.unwrap();
    b.await.unwrap();
}

fn lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes).lines().map(str::to_owned).collect()
}

#[tokio::test]
async fn grouped_output_prints_each_job_whole_stdout_and_stderr_apart() {
    let (env, captured) = printing(OutputMode::Grouped);
    run_two_chatty(&env).await;
    // However the two interleaved while running, each job's lines are contiguous.
    let out = lines(&captured.stdout());
    let a = ["a1", "a2", "a3"].map(str::to_owned);
    let b = ["b1", "b2", "b3"].map(str::to_owned);
    assert!(out == [a.clone(), b.clone()].concat() || out == [b, a].concat(), "{out:?}");
    let mut err = lines(&captured.stderr());
    err.sort();
    assert_eq!(err, ["a-err", "b-err"]);
}

#[tokio::test]
async fn tagged_output_prefixes_every_line_with_the_job_id() {
    let (env, captured) = printing(OutputMode::Tagged);
    run_two_chatty(&env).await;
    let out = lines(&captured.stdout());
    for id in ["a", "b"] {
        let mine: Vec<&str> = out.iter().filter_map(|l| l.strip_prefix(&format!("{id}\t"))).collect();
        assert_eq!(mine, [format!("{id}1"), format!("{id}2"), format!("{id}3")], "{out:?}");
    }
    assert_eq!(out.len(), 6, "{out:?}");
    let mut err = lines(&captured.stderr());
    err.sort();
    assert_eq!(err, ["a\ta-err", "b\tb-err"]);
}

#[tokio::test]
async fn tagged_output_ends_the_partial_last_line() {
    let (env, captured) = printing(OutputMode::Tagged);
    run(r#"{"id": "p", "kind": "shell", "script": "echo one; printf two"}"#, &env).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&captured.stdout()), "p\tone\np\ttwo\n");
}

#[tokio::test]
async fn no_output_mode_prints_nothing() {
    let (env, captured) = printing(OutputMode::None);
    run_two_chatty(&env).await;
    assert!(captured.stdout().is_empty() && captured.stderr().is_empty());
}

#[tokio::test]
async fn output_mode_keeps_the_tail() {
    let job = r#"{"id": "t", "kind": "shell", "script": "echo working; printf done"}"#;
    let (plain, _) = printing(OutputMode::None);
    let want = run(job, &plain).await.unwrap();
    assert_eq!(want.output_tail.as_deref(), Some("working\ndone"));
    for mode in [OutputMode::Grouped, OutputMode::Tagged] {
        let (env, _) = printing(mode);
        assert_eq!(run(job, &env).await.unwrap(), want, "{mode:?}");
    }
}

#[tokio::test]
async fn grouped_output_larger_than_memory_arrives_whole() {
    let (mut env, captured) = printing(OutputMode::Grouped);
    env.output_limit = 100;
    // 3 MB, past the 64 KiB held in memory: the rest waits in a temporary file. 1 MB on
    // stderr meanwhile: both pipes are read all along.
    let script =
        "head -c 1000000 /dev/zero | tr '\\0' e >&2; head -c 3000000 /dev/zero | tr '\\0' a; echo; echo end";
    let job = format!(r#"{{"id": "big", "kind": "shell", "script": {}}}"#, quote(script));
    let output = run(&job, &env).await.unwrap();
    let out = captured.stdout();
    assert_eq!(out.len(), 3_000_000 + 1 + 4);
    assert!(out[..3_000_000].iter().all(|&b| b == b'a') && out.ends_with(b"\nend\n"));
    assert_eq!(captured.stderr().len(), 1_000_000 + 1, "ended with a newline");
    assert!(output.output_tail.unwrap().len() <= 100, "the tail stays bounded");
}

#[tokio::test]
async fn every_attempt_of_a_retried_job_is_printed() {
    let (env, captured) = printing(OutputMode::Grouped);
    let job = r#"{"id": "r", "kind": "shell", "script": "echo try; exit 1", "retry": {"max_attempts": 2}}"#;
    let err = run(job, &env).await.unwrap_err();
    assert_eq!(kind_error(&err).output_tail.as_deref(), Some("try\n"));
    assert_eq!(String::from_utf8_lossy(&captured.stdout()), "try\ntry\n");
}

#[tokio::test]
async fn grouped_output_of_a_cancelled_job_is_printed() {
    let (env, captured) = printing(OutputMode::Grouped);
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("started");
    let script = r#"echo started; echo up > "$1"; exec sleep 1000"#;
    let pool = pool();
    let handle = submit(&pool, spec(&sh(script, &[marker.to_str().unwrap()], "")), &env).await;
    wait_for_line(&marker).await;
    handle.cancel();
    let err = tokio::time::timeout(Duration::from_secs(20), handle).await.expect("cancel hung").unwrap_err();
    assert!(matches!(err, JobError::Cancelled), "{err:?}");
    assert_eq!(String::from_utf8_lossy(&captured.stdout()), "started\n");
}

#[test]
fn output_types_are_send_sync_and_unpin() {
    fn send_sync_unpin<T: Send + Sync + Unpin + 'static>() {}
    send_sync_unpin::<Output>();
    send_sync_unpin::<Captured>();
    send_sync_unpin::<OutputMode>();
}
