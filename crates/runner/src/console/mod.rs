//! What the web consoles of `conveyor serve` and `conveyor console` (the PostgreSQL queue's)
//! share: the embedded pages and their headers ([`pages`]), the write checks (token and
//! cross-site, [`guard`]) and the list API's query ([`query`]).
//!
//! Both consoles are the same page and script: the script reads `/stats` and shows the
//! per-queue and worker panels only when the server says it has them (`"queues": true`),
//! so each server answers the same JSON shape from its own store (serve's job table, or
//! the queue's tables).

pub(crate) mod guard;
pub(crate) mod pages;
pub(crate) mod query;

pub(crate) use guard::{error, refuse_write};
pub(crate) use query::{ListQuery, cursor};
