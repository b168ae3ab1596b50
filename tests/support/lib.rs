//! Support for the end-to-end tests of the `conveyor` binary (ripgrep's `tests/util.rs`
//! shape): a temporary folder per test, a command with a scrubbed environment, and readers
//! for ledgers and JSON summaries.
//!
//! The binary is the real one. It is built once per test process with
//! `cargo build -p conveyor --bin conveyor` (cargo does not build another package's binaries
//! for a test, and `CARGO_BIN_EXE_*` exists only inside the binary's own package), into the
//! target folder the tests themselves were built in.

pub mod browser;
pub mod pg;
pub mod server;
pub mod servers;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The repository's root folder.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// The path of the `conveyor` binary, built on first use.
///
/// # Panics
///
/// If it cannot be built.
pub fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // The test executable lives in <target>/<profile>/deps/; the binary goes to
        // <target>/<profile>/.
        let exe = std::env::current_exe().expect("current_exe");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test executable in <target>/<profile>/deps")
            .to_path_buf();
        let target_dir = profile_dir.parent().expect("<target>").to_path_buf();
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .current_dir(repo())
            .args(["build", "--quiet", "-p", "conveyor", "--bin", "conveyor"])
            .env("CARGO_TARGET_DIR", &target_dir);
        if release {
            build.arg("--release");
        }
        let status = build.status().expect("running cargo build");
        assert!(status.success(), "cargo build -p conveyor failed");
        let bin = profile_dir.join("conveyor");
        assert!(bin.exists(), "{} missing after the build", bin.display());
        bin
    })
}

/// A `conveyor` command: `CONVEYOR_*` and `NO_COLOR` scrubbed, `NO_COLOR=1` set.
pub fn conveyor() -> Command {
    let mut cmd = Command::new(binary());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("CONVEYOR_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

/// `conveyor run --progress never ARGS...`.
pub fn run(args: &[&str]) -> Command {
    let mut cmd = conveyor();
    cmd.args(["run", "--progress", "never"]).args(args);
    cmd
}

/// A temporary folder for one test; commands run inside it.
#[derive(Debug)]
pub struct Dir {
    tmp: tempfile::TempDir,
}

impl Default for Dir {
    fn default() -> Self {
        Dir::new()
    }
}

impl Dir {
    /// A new empty folder.
    pub fn new() -> Dir {
        Dir { tmp: tempfile::Builder::new().prefix("conveyor-e2e-").tempdir().expect("tempdir") }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// `name` inside the folder.
    pub fn join(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// Writes `name` (creating parent folders).
    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, content).expect("write");
        path
    }

    /// `cmd` set to run inside this folder.
    pub fn cmd(&self, mut cmd: Command) -> Command {
        cmd.current_dir(self.path());
        cmd
    }

    /// Runs `conveyor run --progress never ARGS...` here and returns its output.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.cmd(run(args)).output().expect("spawn conveyor");
        eprintln!("$ conveyor run {}\n{}", args.join(" "), describe(&out));
        out
    }

    /// Starts `conveyor run --progress never ARGS...` here, stdout and stderr piped.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(run(args))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn conveyor")
    }
}

/// The exit code, stdout and stderr, for failure messages.
pub fn describe(out: &Output) -> String {
    format!(
        "exit: {:?}\n--- stdout\n{}--- stderr\n{}---",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The exit code (panics if the process was killed by a signal).
pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or_else(|| panic!("killed by a signal\n{}", describe(out)))
}

/// The last line of stdout, parsed as JSON (the `--format json` summary).
pub fn summary(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_else(|| panic!("no stdout\n{}", describe(out)));
    serde_json::from_str(last).unwrap_or_else(|e| panic!("summary not JSON ({e}): {last}"))
}

/// Every line of a ledger, parsed.
pub fn ledger(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad ledger line ({e}): {l}")))
        .collect()
}

/// Ledger lines per id.
pub fn by_id(lines: &[Value]) -> BTreeMap<String, Vec<Value>> {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for l in lines {
        out.entry(l["id"].as_str().expect("id").to_owned()).or_default().push(l.clone());
    }
    out
}

/// Lines in the file at `path` now (0 if missing).
pub fn line_count(path: &Path) -> usize {
    std::fs::File::open(path).map(|f| BufReader::new(f).lines().count()).unwrap_or(0)
}

/// Waits until `cond` holds, checking every 20 ms.
///
/// # Panics
///
/// If it does not hold within `limit`.
pub fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `signal` (`INT`, `TERM`, `KILL`) to `child`.
pub fn signal(child: &Child, signal: &str) {
    let status =
        Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status().expect("kill");
    assert!(status.success(), "kill -{signal} failed");
}

/// Waits for `child` to exit, killing it after `limit`; returns its output.
///
/// # Panics
///
/// If it had to be killed.
pub fn finish(child: Child, limit: Duration) -> Output {
    let id = child.id();
    let start = Instant::now();
    let waiter = std::thread::spawn(move || child.wait_with_output().expect("wait"));
    while !waiter.is_finished() {
        if start.elapsed() > limit {
            let _ = Command::new("kill").arg("-KILL").arg(id.to_string()).status();
            let out = waiter.join().expect("waiter");
            panic!("conveyor did not exit within {limit:?}\n{}", describe(&out));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = waiter.join().expect("waiter");
    eprintln!("{}", describe(&out));
    out
}

/// `n` JSON Lines jobs made by `f(i)`.
pub fn jsonl(n: usize, f: impl Fn(usize) -> Value) -> String {
    let mut out = String::new();
    for i in 0..n {
        out.push_str(&f(i).to_string());
        out.push('\n');
    }
    out
}
