//! Enqueue jobs inside your own transaction, then work them with a typed handler.
//!
//! ```text
//! CONVEYOR_QUEUE_URL=postgres://postgres@127.0.0.1/app cargo run -p conveyor-postgres --example transactional
//! ```
//!
//! An order row and its confirmation e-mail job are written in one transaction: both exist,
//! or (rolled back) neither does. A worker with a handler for `send_confirmation` then runs
//! the committed jobs and exits once the queue has none left.

use std::time::Duration;

use conveyor_postgres::{JobArgs, Queue, Worker};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct SendConfirmation {
    order: i64,
    to: String,
}

impl JobArgs for SendConfirmation {
    const KIND: &'static str = "send_confirmation";
    const MAX_ATTEMPTS: u32 = 3;
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url =
        std::env::var("CONVEYOR_QUEUE_URL").map_err(|_| "set CONVEYOR_QUEUE_URL to a PostgreSQL URL")?;
    let queue = Queue::connect(&url, 8).await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS example_orders (id bigint PRIMARY KEY, email text NOT NULL)")
        .execute(queue.pool())
        .await?;
    let base: i64 =
        sqlx::query_scalar("SELECT coalesce(max(id), 0) FROM example_orders").fetch_one(queue.pool()).await?;

    // Committed: the orders and their jobs.
    let mut tx = queue.pool().begin().await?;
    for n in 1..=3 {
        let (id, to) = (base + n, format!("buyer{n}@example.com"));
        sqlx::query("INSERT INTO example_orders (id, email) VALUES ($1, $2)")
            .bind(id)
            .bind(&to)
            .execute(&mut *tx)
            .await?;
        conveyor_postgres::insert(&mut *tx, &SendConfirmation { order: id, to }).await?;
    }
    tx.commit().await?;

    // Rolled back: no order, and no e-mail about it.
    let mut tx = queue.pool().begin().await?;
    conveyor_postgres::insert(&mut *tx, &SendConfirmation { order: -1, to: "nobody@example.com".into() })
        .await?;
    tx.rollback().await?;

    let worker = Worker::builder(queue.clone())
        .handle(|job: SendConfirmation, ctx| async move {
            println!("order {}: confirmation to {} (attempt {})", job.order, job.to, ctx.attempt());
            Ok::<(), String>(())
        })
        .exit_when_idle(true)
        .build();
    let running = worker.start().await?;
    running.idle().await;
    running.stop(Duration::from_secs(10), std::future::pending()).await;
    Ok(())
}
