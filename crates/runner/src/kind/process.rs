//! The engine under `exec` and `shell`: a child in its own process group, its output read
//! into a bounded [`Tail`] (and shown, with `--output`, through an [`Echo`]), and the whole
//! group stopped when the attempt ends.
//!
//! # Invariants
//!
//! - The child leads its own process group (`process_group(0)`), so its pid is the group's
//!   id. A pid that is still some group's id is not handed out again, so signalling the
//!   group is safe while any member lives (zombies included). Once the group is seen empty
//!   (`ESRCH`), or has had its `SIGKILL`, the [`Group`] is disarmed and signals it no more.
//!   The one gap: between tokio reaping an exited leader that left nothing behind and our
//!   `SIGTERM` finding the group empty, its id is free; the pid space would have to wrap in
//!   those microseconds for a stranger's group to be hit.
//! - Every way out of [`run`] after the spawn stops the group: the normal paths through
//!   [`stop_group`], a dropped future through [`Group`]'s `Drop` (`SIGKILL`) and the child's
//!   `kill_on_drop` (tokio then reaps it in the background).
//! - Output is read by the same future that waits for the child (no detached task), all
//!   along, so a child never blocks on a full pipe while the job waits for it (with
//!   `--output tagged`, each read first waits for the previous lines to be printed: a slow
//!   reader of the runner's stdout holds the child back, as a terminal would). Without
//!   `--output`, stdout and stderr share one pipe; with it, each has its own, to be shown
//!   apart. A pipe's end comes when every process holding it is gone.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use conveyor_pool::JobContext;
use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::process::{Child, Command};
use tokio::time::Instant;

use super::echo::{Echo, Stream};
use super::tail::Tail;
use super::{KindEnv, KindError, KindOutput};

/// How long output is still read after the group is gone, for pipes held open by a process
/// that left the group (`setsid`): the job does not wait for such a process.
const LINGER: Duration = Duration::from_millis(500);

/// How often a stopping group is checked for members that are still alive (the first
/// check comes at once; the wait doubles up to this).
const MAX_POLL: Duration = Duration::from_millis(50);

/// What is being run, for messages.
#[derive(Debug, Clone, Copy)]
pub(super) enum What<'a> {
    /// `exec`: a program, and the working directory it was given.
    Program { program: &'a str, cwd: Option<&'a Path> },
    /// `shell`: `sh -c script`.
    Shell,
}

impl What<'_> {
    /// How the message names the process: "`convert`" or "shell script".
    fn name(&self) -> String {
        match self {
            What::Program { program, .. } => format!("`{program}`"),
            What::Shell => "shell script".to_owned(),
        }
    }

    fn spawn_error(&self, err: &io::Error) -> KindError {
        let message = match (self, err.kind()) {
            (What::Program { cwd: Some(cwd), .. }, io::ErrorKind::NotFound) if !cwd.is_dir() => {
                format!("working directory `{}` not found", cwd.display())
            }
            (What::Program { program, .. }, io::ErrorKind::NotFound) => {
                if program.contains('/') {
                    format!("program `{program}` not found")
                } else {
                    format!("program `{program}` not found in PATH")
                }
            }
            (What::Program { program, .. }, io::ErrorKind::PermissionDenied) => {
                format!("program `{program}` cannot be run: permission denied")
            }
            (What::Program { program, .. }, _) => format!("cannot start `{program}`: {err}"),
            (What::Shell, _) => format!("cannot start `sh`: {err}"),
        };
        KindError::new(message)
    }
}

/// Runs `cmd`, job `id`'s attempt, to its end (or the attempt's), as described in the
/// [module docs](self).
pub(super) async fn run(
    mut cmd: Command,
    what: What<'_>,
    id: &str,
    ctx: &JobContext,
    env: &KindEnv,
) -> Result<KindOutput, KindError> {
    if ctx.is_cancelled() {
        // Cancelled before it started: do not start a process only to stop it.
        return Err(KindError::cancelled());
    }
    let echo = Echo::new(&env.output, id);
    let pipe_error = |err: io::Error| KindError::new(format!("cannot make a pipe: {err}"));
    // Without `--output`, one pipe for stdout and stderr, as `2>&1` does: the tail shows
    // them interleaved in the order they were written, which two pipes read side by side
    // cannot promise. With it, two: the streams are shown apart (GNU parallel's way), and
    // the tail interleaves them in the order they were read.
    let (reader, writer) = io::pipe().map_err(pipe_error)?;
    let (err_reader, err_writer) = if echo.is_on() {
        let (r, w) = io::pipe().map_err(pipe_error)?;
        (Some(r), w)
    } else {
        (None, writer.try_clone().map_err(pipe_error)?)
    };
    cmd.process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::from(err_writer))
        .kill_on_drop(true);
    let spawned = cmd.spawn();
    // The command holds our copies of the pipes' write ends: drop them, or the pipes would
    // never reach their end.
    drop(cmd);
    let mut child = spawned.map_err(|err| what.spawn_error(&err))?;
    // The guard exists from the spawn on; a pid that does not fit (never on Unix) or is
    // missing (only after a wait) leaves it disarmed, with `kill_on_drop` still in place.
    let mut group = Group::new(child.id().and_then(|pid| i32::try_from(pid).ok()).map(Pid::from_raw));
    let receiver = |fd: io::PipeReader| pipe::Receiver::from_owned_fd(OwnedFd::from(fd));
    let pipes = receiver(reader).and_then(|out| Ok((out, err_reader.map(receiver).transpose()?)));
    let (out_pipe, err_pipe) = pipes.map_err(|err| {
        group.kill();
        KindError::new(format!("cannot read the output of {}: {err}", what.name()))
    })?;
    let mut output = Capture::new(out_pipe, err_pipe, env.output_limit, echo);

    let exited = loop {
        tokio::select! {
            biased;
            () = ctx.cancelled() => break None,
            status = child.wait() => break Some(status),
            () = output.read_some(), if !output.is_done() => {}
        }
    };
    let cancelled = exited.is_none();
    let status = match exited {
        // Even after the leader exits, what it left running in its group is stopped.
        Some(Ok(status)) => {
            stop_group(&mut group, &mut child, Some(status), &mut output, env.kill_grace).await
        }
        Some(Err(err)) => {
            group.kill();
            return Err(KindError::new(format!("cannot wait for {}: {err}", what.name())));
        }
        None => stop_group(&mut group, &mut child, None, &mut output, env.kill_grace).await,
    };
    output.linger().await;
    // A grouped attempt's output is printed now, whatever the outcome (a timed-out job's
    // output shows why it hung); the attempt ends once it is printed.
    output.echo.finish().await;
    let output_tail = Some(output.into_string());
    let exit_code = status.and_then(|s| s.code());

    if cancelled {
        return Err(KindError { exit_code, output_tail, ..KindError::cancelled() });
    }
    match status {
        Some(status) if status.success() => Ok(KindOutput { exit_code, output_tail }),
        Some(status) => {
            let message = match (status.code(), status.signal()) {
                (Some(code), _) => format!("{} exited with code {code}", what.name()),
                (None, Some(signal)) => format!("{} was killed by {}", what.name(), signal_name(signal)),
                (None, None) => format!("{} ended with {status}", what.name()),
            };
            Err(KindError { message, exit_code, output_tail })
        }
        // The leader could not be reaped (an error from waitpid, never seen in practice).
        None => Err(KindError { message: format!("{} did not exit", what.name()), exit_code, output_tail }),
    }
}

fn signal_name(signal: i32) -> String {
    match Signal::try_from(signal) {
        Ok(signal) => signal.as_str().to_owned(),
        Err(_) => format!("signal {signal}"),
    }
}

/// Stops the process group: `SIGTERM`, then, if members remain after `grace`, `SIGKILL`.
/// `status` is the leader's exit status if it has exited (and been reaped) already; returns
/// it, waiting for the leader if need be. Output is read all along, so no member blocks on
/// a full pipe while it shuts down.
async fn stop_group(
    group: &mut Group,
    child: &mut Child,
    mut status: Option<ExitStatus>,
    output: &mut Capture,
    grace: Duration,
) -> Option<ExitStatus> {
    if !group.signal(Signal::SIGTERM) {
        // The group is empty: the leader has exited, and been reaped (it would still be a
        // member otherwise), and left nothing behind. The common case of a finished job.
        return status;
    }
    let deadline = Instant::now() + grace;
    let mut poll = Duration::from_millis(1);
    let mut leader_failed = false;
    // Whether to look for live members on this pass: at first, when the leader is reaped and
    // at each timer tick — not after every read of output, since a look may list `/proc`.
    let mut look = true;
    loop {
        let leader_done = status.is_some() || leader_failed;
        if leader_done && look && !group.has_live_members().await {
            break;
        }
        look = false;
        if Instant::now() >= deadline {
            group.kill();
            if !leader_done {
                status = child.wait().await.ok();
            }
            break;
        }
        let next = (Instant::now() + poll).min(deadline);
        tokio::select! {
            biased;
            waited = child.wait(), if !leader_done => {
                match waited {
                    Ok(s) => status = Some(s),
                    Err(_) => leader_failed = true,
                }
                look = true;
            }
            () = output.read_some(), if !output.is_done() => {}
            () = tokio::time::sleep_until(next) => {
                poll = (poll * 2).min(MAX_POLL);
                look = true;
            }
        }
    }
    group.disarm();
    status
}

/// A process group that gets `SIGKILL` when dropped, unless disarmed.
#[derive(Debug)]
struct Group {
    pgid: Option<Pid>,
}

impl Group {
    fn new(pgid: Option<Pid>) -> Group {
        Group { pgid }
    }

    /// Sends `signal` to the group; `false` if it has no members left (and then disarms).
    fn signal(&mut self, signal: Signal) -> bool {
        let Some(pgid) = self.pgid else { return false };
        match killpg(pgid, signal) {
            Err(Errno::ESRCH) => {
                self.pgid = None;
                false
            }
            // EPERM: some member is not ours to signal (it changed its credentials); it is
            // alive all the same.
            _ => true,
        }
    }

    /// Whether any member is still running. Zombies do not count: a member that exited is a
    /// zombie until its parent — usually init, once the leader is gone — reaps it, which
    /// some inits do late (this one: about a second) and none does when the runner is
    /// itself PID 1 of a container; the job should not wait for that. On Linux the members'
    /// states are read from `/proc`; elsewhere, or if it cannot be read, every member counts.
    /// The `/proc` listing reads a file per process on the machine, so it runs on tokio's
    /// blocking threads: `conveyor run` has one runtime thread, which every job shares.
    async fn has_live_members(&mut self) -> bool {
        let Some(pgid) = self.pgid else { return false };
        if let Err(Errno::ESRCH) = killpg(pgid, None) {
            self.pgid = None;
            return false;
        }
        let pgid = pgid.as_raw();
        tokio::task::spawn_blocking(move || live_member_in_proc(pgid)).await.ok().flatten().unwrap_or(true)
    }

    /// `SIGKILL` to the whole group, then disarms: nothing survives it.
    fn kill(&mut self) {
        self.signal(Signal::SIGKILL);
        self.disarm();
    }

    /// Stop watching the group: it is gone, or has had its `SIGKILL`.
    fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // The attempt was dropped mid-way (the pool's grace ran out, or its caller gave up):
        // no time for SIGTERM, and nothing may outlive the job.
        self.kill();
    }
}

/// Whether `/proc` lists a process of group `pgid` that is not a zombie; `None` if `/proc`
/// cannot be read.
fn live_member_in_proc(pgid: i32) -> Option<bool> {
    for entry in std::fs::read_dir("/proc").ok()? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let Some(pid) = name.to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())) else {
            continue;
        };
        // A process may exit between the listing and the read: skip it.
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        if let Some((state, group)) = parse_stat(&stat)
            && group == pgid
            && state != 'Z'
            && state != 'X'
        {
            return Some(true);
        }
    }
    Some(false)
}

/// The state and process group of a `/proc/PID/stat` line: `PID (COMM) STATE PPID PGRP …`,
/// where COMM may hold spaces and parentheses (hence the last `)`).
fn parse_stat(stat: &str) -> Option<(char, i32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

/// The child's output pipes, read into a [`Tail`] and an [`Echo`].
struct Capture {
    /// stdout, and stderr too when it has no pipe of its own.
    out: Source,
    /// stderr, when it has a pipe of its own (`--output grouped|tagged`).
    err: Source,
    tail: Tail,
    echo: Echo,
}

/// One pipe and the buffer it is read into.
struct Source {
    pipe: Option<pipe::Receiver>,
    buf: Box<[u8]>,
}

/// Bytes read from a pipe at once.
const READ_CHUNK: usize = 8 * 1024;

impl Source {
    fn new(pipe: Option<pipe::Receiver>) -> Source {
        let buf = if pipe.is_some() { vec![0; READ_CHUNK].into_boxed_slice() } else { Box::default() };
        Source { pipe, buf }
    }

    fn is_open(&self) -> bool {
        self.pipe.is_some()
    }

    /// Reads once: how many bytes, `None` (and the pipe closed) at its end. Cancel safe.
    async fn read(&mut self) -> Option<usize> {
        let pipe = self.pipe.as_mut()?;
        let n = read(pipe, &mut self.buf).await;
        if n.is_none() {
            self.pipe = None;
        }
        n
    }
}

impl Capture {
    fn new(out: pipe::Receiver, err: Option<pipe::Receiver>, limit: usize, echo: Echo) -> Capture {
        Capture { out: Source::new(Some(out)), err: Source::new(err), tail: Tail::new(limit), echo }
    }

    /// Every pipe has reached its end (or failed): every writer has closed it.
    fn is_done(&self) -> bool {
        !self.out.is_open() && !self.err.is_open()
    }

    /// Waits for the echo's last print, then reads once. Cancel safe: a dropped read has
    /// read nothing.
    async fn read_some(&mut self) {
        self.echo.ready().await;
        self.read_pipes().await;
    }

    /// Reads once from whichever pipe has bytes first. Cancel safe.
    async fn read_pipes(&mut self) {
        let (stream, n) = tokio::select! {
            n = self.out.read(), if self.out.is_open() => (Stream::Out, n),
            n = self.err.read(), if self.err.is_open() => (Stream::Err, n),
            else => return,
        };
        let Some(n) = n else { return };
        let bytes = match stream {
            Stream::Out => &self.out.buf[..n],
            Stream::Err => &self.err.buf[..n],
        };
        self.tail.push(bytes);
        self.echo.push(stream, bytes);
    }

    /// Reads what is left, for at most [`LINGER`] — not counting the time spent waiting
    /// for the echo's prints, so that a slow reader of stdout does not cut off output
    /// already in the pipe.
    async fn linger(&mut self) {
        let mut deadline = Instant::now() + LINGER;
        while !self.is_done() {
            let waiting = Instant::now();
            self.echo.ready().await;
            deadline += waiting.elapsed();
            if tokio::time::timeout_at(deadline, self.read_pipes()).await.is_err() {
                break;
            }
        }
    }

    fn into_string(self) -> String {
        self.tail.into_string()
    }
}

/// One read; `None` at the end of the stream or on an error (the output is then cut short,
/// which only shortens the tail).
async fn read(pipe: &mut pipe::Receiver, buf: &mut [u8]) -> Option<usize> {
    loop {
        match pipe.read(buf).await {
            Ok(0) => return None,
            Ok(n) => return Some(n),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{live_member_in_proc, parse_stat};

    #[test]
    fn parses_stat_lines() {
        assert_eq!(parse_stat("123 (sleep) S 1 123 123 0 -1 4194304"), Some(('S', 123)));
        assert_eq!(parse_stat("77 (a) (b c) Z 5 70 70 0"), Some(('Z', 70)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn finds_our_own_group_alive() {
        let ours = nix::unistd::getpgrp().as_raw();
        assert_eq!(live_member_in_proc(ours), Some(true));
    }
}
