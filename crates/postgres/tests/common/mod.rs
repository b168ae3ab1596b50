//! A queue in a fresh database of the test server (`CONVEYOR_TEST_DATABASE_URL`), shared by
//! this crate's test binaries. Without the variable a test is skipped with a message, or
//! fails when `CONVEYOR_TEST_SERVERS=required`.

#![allow(dead_code)] // each test binary uses a part of it

use conveyor_postgres::Queue;
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgPoolOptions;

/// A queue in a database of its own; [`Fresh::done`] drops the database.
pub(crate) struct Fresh {
    /// The queue, connected.
    pub(crate) queue: Queue,
    /// The database's URL.
    pub(crate) url: String,
    admin: String,
    name: String,
}

/// An empty database of its own, not yet migrated: [`Empty::connect`] makes it a [`Fresh`].
pub(crate) struct Empty {
    /// The database's URL.
    pub(crate) url: String,
    admin: String,
    name: String,
}

impl Empty {
    /// Creates `PREFIX_PID_NANOS`.
    pub(crate) async fn new(prefix: &str) -> Option<Empty> {
        let Ok(admin) = std::env::var("CONVEYOR_TEST_DATABASE_URL") else {
            assert!(
                std::env::var("CONVEYOR_TEST_SERVERS").as_deref() != Ok("required"),
                "CONVEYOR_TEST_SERVERS=required but CONVEYOR_TEST_DATABASE_URL is not set"
            );
            eprintln!("skipped: CONVEYOR_TEST_DATABASE_URL not set (run bash tests/run.sh)");
            return None;
        };
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let name = format!("{prefix}_{}_{nanos}", std::process::id());
        let pool = PgPoolOptions::new().max_connections(1).connect(&admin).await.unwrap();
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&pool).await.unwrap();
        pool.close().await;
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b).to_owned();
        let url = format!("{base}/{name}");
        Some(Empty { url, admin, name })
    }

    /// Connects a queue with `connections` connections (which migrates the schema).
    pub(crate) async fn connect(self, connections: u32) -> Fresh {
        let queue = Queue::connect(&self.url, connections).await.unwrap();
        Fresh { queue, url: self.url, admin: self.admin, name: self.name }
    }
}

impl Fresh {
    /// Creates `PREFIX_PID_NANOS` and connects a queue to it with `connections` connections.
    pub(crate) async fn new(prefix: &str, connections: u32) -> Option<Fresh> {
        Some(Empty::new(prefix).await?.connect(connections).await)
    }

    /// One integer from `sql`.
    pub(crate) async fn int(&self, sql: &str) -> i64 {
        sqlx::query_scalar(AssertSqlSafe(sql.to_owned())).fetch_one(self.queue.pool()).await.unwrap()
    }

    /// Closes the queue's connections and drops the database.
    pub(crate) async fn done(self) {
        self.queue.pool().close().await;
        let pool = PgPoolOptions::new().max_connections(1).connect(&self.admin).await.unwrap();
        let _ = sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)))
            .execute(&pool)
            .await;
    }
}
