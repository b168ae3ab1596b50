//! A running `conveyor serve` and a minimal HTTP/1.1 client for talking to it.

use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::net::TcpStream;
use std::process::{Child, Command, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{Dir, binary, conveyor, finish, signal};

/// How long any one wait may take before the test fails.
pub const LIMIT: Duration = Duration::from_secs(30);

/// A running `conveyor serve`.
pub struct Server {
    child: Child,
    /// The loopback address it listens on (`127.0.0.1:PORT`).
    pub addr: String,
    /// What it printed on stderr before its address (logs, a metrics listener's address).
    pub preamble: String,
    stderr: JoinHandle<String>,
}

impl Server {
    /// Starts `conveyor serve --listen 127.0.0.1:0 ARGS...` in `dir` and reads the bound
    /// address from its first stderr line.
    pub fn start(dir: &Dir, args: &[&str]) -> Server {
        Server::start_on(dir, "127.0.0.1:0", args)
    }

    /// Starts `conveyor console --queue URL --listen 127.0.0.1:0 ARGS...` (the PostgreSQL
    /// queue's console) in `dir`.
    pub fn start_console(dir: &Dir, url: &str, args: &[&str]) -> Server {
        let mut cmd = dir.cmd(conveyor());
        cmd.args(["console", "--queue", url, "--listen", "127.0.0.1:0"]).args(args);
        Server::spawn(cmd)
    }

    /// Starts `conveyor serve --listen LISTEN ARGS...` in `dir`.
    pub fn start_on(dir: &Dir, listen: &str, args: &[&str]) -> Server {
        let mut cmd = dir.cmd(conveyor());
        cmd.args(["serve", "--listen", listen]).args(args);
        Server::spawn(cmd)
    }

    /// Starts `conveyor serve --listen 127.0.0.1:0 ARGS...` in `dir` with its open-file
    /// limit lowered to `open_files` (`ulimit -n`), as on a host with a low limit.
    pub fn start_with_open_files(dir: &Dir, open_files: u32, args: &[&str]) -> Server {
        let mut cmd = dir.cmd(Command::new("sh"));
        // The same environment as `conveyor()` gives the binary.
        for (key, value) in conveyor().get_envs() {
            match value {
                Some(value) => cmd.env(key, value),
                None => cmd.env_remove(key),
            };
        }
        cmd.args(["-c", "ulimit -n \"$1\" && shift && exec \"$@\"", "sh", &open_files.to_string()])
            .arg(binary())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args);
        Server::spawn(cmd)
    }

    fn spawn(mut cmd: Command) -> Server {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn conveyor serve");
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
        // Log lines (spool recovery, a metrics listener) may come first.
        let mut before = String::new();
        let bound = loop {
            let mut line = String::new();
            let n = stderr.read_line(&mut line).expect("read stderr");
            if let Some(bound) = line.trim().strip_prefix("conveyor: serving on http://") {
                break bound.to_owned();
            }
            before.push_str(&line);
            if n == 0 || before.lines().count() > 50 {
                let _ = child.kill();
                let mut rest = String::new();
                let _ = stderr.read_to_string(&mut rest);
                panic!("conveyor serve did not say where it listens:\n{before}{rest}");
            }
        };
        // Listening on 0.0.0.0: talk to it over loopback.
        let port = bound.rsplit(':').next().expect("port");
        let addr = format!("127.0.0.1:{port}");
        let preamble = before.clone();
        let stderr = std::thread::spawn(move || {
            let mut rest = before;
            let _ = stderr.read_to_string(&mut rest);
            rest
        });
        Server { child, addr, preamble, stderr }
    }

    /// `GET path`: the status and the body.
    pub fn get(&self, path: &str) -> (u16, String) {
        request(&self.addr, "GET", path, &[], b"")
    }

    /// `POST /jobs` with `body`: the status and the JSON answer.
    pub fn post(&self, body: &str) -> (u16, Value) {
        self.post_with(&[], body)
    }

    /// `POST /jobs` with extra headers.
    pub fn post_with(&self, headers: &[(&str, &str)], body: &str) -> (u16, Value) {
        let (status, text) = request(&self.addr, "POST", "/jobs", headers, body.as_bytes());
        let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
        (status, value)
    }

    /// A raw connection, for requests sent slowly or never finished.
    pub fn connect(&self) -> TcpStream {
        TcpStream::connect(&self.addr).unwrap_or_else(|e| panic!("connect {}: {e}", self.addr))
    }

    /// `GET /jobs/{id}` until its status is final.
    pub fn wait_final(&self, id: &str) -> Value {
        let start = Instant::now();
        loop {
            let (status, text) = self.get(&format!("/jobs/{id}"));
            assert_eq!(status, 200, "{text}");
            let v: Value = serde_json::from_str(&text).expect("status JSON");
            if !matches!(v["status"].as_str(), Some("queued" | "scheduled" | "running" | "retrying")) {
                return v;
            }
            assert!(start.elapsed() < LIMIT, "{id} not final after {LIMIT:?}: {v}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `sig` and waits for the exit; stderr is in the output.
    pub fn stop(self, sig: &str) -> Output {
        self.signal(sig);
        self.wait()
    }

    /// Sends `sig` (`TERM`, `INT`, …) without waiting.
    pub fn signal(&self, sig: &str) {
        signal(&self.child, sig);
    }

    /// Waits for the exit (bounded); stderr is in the output.
    pub fn wait(self) -> Output {
        let mut out = finish(self.child, LIMIT);
        out.stderr = self.stderr.join().expect("stderr thread").into_bytes();
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        out
    }
}

/// One HTTP/1.1 exchange (`Connection: close`); returns the status and the body.
///
/// # Panics
///
/// If the server cannot be reached or does not answer HTTP.
pub fn request(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    crate::servers::http(addr, method, path, headers, body).unwrap_or_else(|e| panic!("{e}"))
}

/// Reads what the server sends on `stream` until it closes the connection; returns it.
///
/// # Errors
///
/// If the connection is still open after `within` (with what was read so far).
pub fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Result<Vec<u8>, String> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("still open after {within:?}; got {:?}", String::from_utf8_lossy(&got)));
        }
        stream.set_read_timeout(Some(left)).map_err(|e| e.to_string())?;
        match stream.read(&mut buf) {
            Ok(0) => return Ok(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            // A close with unread data in the server's buffer arrives as a reset.
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(got),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(format!("reading: {e}")),
        }
    }
}

/// Reads a response's head (status line and headers) from `stream`; returns the status.
///
/// # Errors
///
/// If no whole head came within `within`, or the connection closed first.
pub fn read_status(stream: &mut TcpStream, within: Duration) -> Result<u16, String> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("no answer within {within:?}; got {:?}", String::from_utf8_lossy(&got)));
        }
        stream.set_read_timeout(Some(left)).map_err(|e| e.to_string())?;
        match stream.read(&mut buf) {
            Ok(0) => {
                return Err(format!("closed before a whole answer: {:?}", String::from_utf8_lossy(&got)));
            }
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(format!("reading: {e}")),
        }
    }
    status_of(&got).ok_or_else(|| format!("no status in {:?}", String::from_utf8_lossy(&got)))
}

/// The status code of the response at the start of `answer`, if any.
pub fn status_of(answer: &[u8]) -> Option<u16> {
    let line = answer.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    line.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}
