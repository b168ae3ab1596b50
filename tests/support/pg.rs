//! A database of its own for each PostgreSQL test, and `conveyor worker` processes.
//!
//! The server comes from `CONVEYOR_TEST_DATABASE_URL` (a URL of a database on it that the
//! tests may `CREATE DATABASE` from, e.g. `postgres://postgres@127.0.0.1:PORT/postgres`);
//! `tests/run.sh` starts one and sets it. Without it the tests are skipped, unless
//! `CONVEYOR_TEST_SERVERS=required` (CI), which makes them fail.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use sqlx::AssertSqlSafe;
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::{Dir, conveyor, finish, signal};

/// How long any one wait may take before the test fails.
pub const LIMIT: Duration = Duration::from_secs(60);

/// The server's URL, or `None` (after saying so) when the test should be skipped.
///
/// # Panics
///
/// When `CONVEYOR_TEST_SERVERS=required` and no server is given.
pub fn server_url() -> Option<String> {
    match std::env::var("CONVEYOR_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CONVEYOR_TEST_SERVERS").as_deref() != Ok("required"),
                "CONVEYOR_TEST_SERVERS=required but CONVEYOR_TEST_DATABASE_URL is not set: \
                 start PostgreSQL and set it (bash tests/run.sh does both)"
            );
            eprintln!("skipped: CONVEYOR_TEST_DATABASE_URL not set (run bash tests/run.sh)");
            None
        }
    }
}

/// Replaces the database of `url` (its path) with `db`.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// A fresh database, dropped at the end of the test, with a client for checks.
pub struct TestDb {
    /// The database's URL, for `--queue`.
    pub url: String,
    admin: String,
    name: String,
    rt: tokio::runtime::Runtime,
    pool: PgPool,
}

impl TestDb {
    /// Creates a database with a random name on the test server; `None` if skipped.
    pub fn create() -> Option<TestDb> {
        let admin = server_url()?;
        Some(TestDb::create_on(&admin))
    }

    /// Creates a database with a random name on the server of `admin`.
    pub fn create_on(admin: &str) -> TestDb {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        // Made of digits here, never from input: safe to put in the statement.
        let name = format!("conveyor_test_{}_{nanos}", std::process::id());
        rt.block_on(async {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .connect(admin)
                .await
                .expect("connect to the test server");
            sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&pool)
                .await
                .expect("CREATE DATABASE");
            pool.close().await;
        });
        let url = with_database(admin, &name);
        let pool = rt
            .block_on(PgPoolOptions::new().max_connections(2).connect(&url))
            .expect("connect to the test database");
        TestDb { url, admin: admin.to_owned(), name, rt, pool }
    }

    /// The first column of the first row of `sql`, as an i64.
    pub fn int(&self, sql: &str) -> i64 {
        self.rt
            .block_on(sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql.to_owned())).fetch_one(&self.pool))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The first column of every row of `sql`, as text.
    pub fn texts(&self, sql: &str) -> Vec<String> {
        self.rt
            .block_on(sqlx::query_scalar::<_, String>(AssertSqlSafe(sql.to_owned())).fetch_all(&self.pool))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Like [`int`](Self::int), but `None` while the query fails (the server restarting).
    pub fn try_int(&self, sql: &str) -> Option<i64> {
        self.rt
            .block_on(sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql.to_owned())).fetch_one(&self.pool))
            .ok()
    }

    /// Waits until `sql` (an integer) is at least `n`.
    pub fn wait_at_least(&self, sql: &str, n: i64, limit: Duration) {
        let start = Instant::now();
        loop {
            let got = self.try_int(sql);
            if got.is_some_and(|v| v >= n) {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "timed out after {limit:?} waiting for `{sql}` >= {n} (last: {got:?})"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        self.rt.block_on(async {
            self.pool.close().await;
            if let Ok(pool) = PgPoolOptions::new().max_connections(1).connect(&admin).await {
                let _ = sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                    .execute(&pool)
                    .await;
                pool.close().await;
            }
        });
    }
}

/// Runs `conveyor ARGS...` to the end.
pub fn conveyor_out(dir: &Dir, args: &[&str]) -> Output {
    let out = dir.cmd(conveyor()).args(args).stdin(Stdio::null()).output().expect("spawn conveyor");
    eprintln!("$ conveyor {}\n{}", args.join(" "), crate::describe(&out));
    out
}

/// A running `conveyor worker`, its stderr in a file; killed if dropped still running.
pub struct Worker {
    child: Option<Child>,
    /// Its `--name`.
    pub name: String,
    stderr: PathBuf,
}

impl Worker {
    /// Starts `conveyor worker --queue URL --name NAME ARGS...` in `dir`.
    pub fn start(dir: &Dir, url: &str, name: &str, args: &[&str]) -> Worker {
        let stderr = dir.join(&format!("{name}.stderr"));
        let file = File::create(&stderr).expect("stderr file");
        let child = dir
            .cmd(conveyor())
            .args(["worker", "--queue", url, "--name", name])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("spawn conveyor worker");
        Worker { child: Some(child), name: name.to_owned(), stderr }
    }

    /// What it printed on stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Sends `sig` (`TERM`, `KILL`, `STOP`, `CONT`).
    pub fn signal(&self, sig: &str) {
        if let Some(child) = &self.child {
            signal(child, sig);
        }
    }

    /// Waits until its stderr contains `text`.
    pub fn wait_for_stderr(&self, text: &str, limit: Duration) {
        crate::wait_until(limit, &format!("{} to print {text:?}", self.name), || {
            self.stderr().contains(text)
        });
    }

    /// Waits for it to exit (killing it after `limit`); returns its exit code.
    pub fn finish(mut self, limit: Duration) -> Option<i32> {
        let child = self.child.take().expect("running");
        let out = finish(child, limit);
        eprintln!("--- {} stderr\n{}", self.name, self.stderr());
        out.status.code()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-CONT").arg(child.id().to_string()).status();
            let _ = child.kill();
            let _ = child.wait();
            eprintln!("--- {} stderr (killed at the end)\n{}", self.name, self.stderr());
        }
    }
}

/// A PostgreSQL server of the test's own (so that the test may stop and restart it), from
/// the Debian package's binaries, in a temporary folder, on a free loopback port. Stopped
/// (`immediate`) and removed when dropped.
pub struct PrivateServer {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl PrivateServer {
    /// Starts one; `None` (after saying why) when the binaries are not installed.
    pub fn start() -> Option<PrivateServer> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .filter(|b| b.join("initdb").exists())
            .max();
        let Some(bin) = bin else {
            eprintln!("skipped: no PostgreSQL binaries in /usr/lib/postgresql (apt-get install postgresql)");
            return None;
        };
        let dir = tempfile::Builder::new().prefix("conveyor-pg-").tempdir().expect("tempdir");
        // initdb refuses to run as root: run the server as `postgres` then.
        let as_postgres = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        if as_postgres {
            let ok =
                Command::new("chown").arg("postgres").arg(dir.path()).status().is_ok_and(|s| s.success());
            assert!(ok, "chown postgres {}", dir.path().display());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let server = PrivateServer { bin, dir, port, as_postgres };
        let data = server.dir.path().join("data");
        let data = data.to_str().expect("utf-8 path");
        server.run("initdb", &["-D", data, "-A", "trust", "-U", "postgres"]);
        server.start_again();
        Some(server)
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd.args(args).stdin(Stdio::null()).output().expect("run a PostgreSQL tool");
        assert!(out.status.success(), "{tool} {args:?} failed\n{}", crate::describe(&out));
    }

    /// Starts the (stopped) server again on the same port; returns once it accepts
    /// connections.
    pub fn start_again(&self) {
        let data = self.dir.path().join("data");
        let log = self.dir.path().join("log");
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c max_connections=100 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().expect("utf-8"),
                "-l",
                log.to_str().expect("utf-8"),
                "-w",
                "-o",
                &opts,
                "start",
            ],
        );
    }

    /// Stops the server at once (`immediate`: as a crash, no checkpoint, clients cut off).
    pub fn stop(&self) {
        let data = self.dir.path().join("data");
        self.run("pg_ctl", &["-D", data.to_str().expect("utf-8"), "-m", "immediate", "-w", "stop"]);
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let exe = self.bin.join("pg_ctl");
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let _ = cmd.arg("-D").arg(&data).args(["-m", "immediate", "stop"]).output();
    }
}
