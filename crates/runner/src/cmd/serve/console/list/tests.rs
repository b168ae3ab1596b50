//! The list API's query checks and pages, over a real [`JobTable`].

use std::collections::HashSet;

use tokio::sync::mpsc;

use super::super::super::state::{Batch, JobTable};
use super::*;
use crate::spec::{ParseOptions, parse_str};

fn table() -> (JobTable, mpsc::UnboundedReceiver<Batch>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (JobTable::new(tx, None), rx)
}

fn add(table: &JobTable, ids: impl IntoIterator<Item = String>) {
    let text: String =
        ids.into_iter().map(|id| format!("{{\"id\": \"{id}\", \"kind\": \"noop\"}}\n")).collect();
    let jobs = parse_str("request", &text, &ParseOptions::default()).unwrap().jobs;
    table.accept(jobs, None).unwrap();
}

/// One page as `GET /jobs?QUERY` gives it: the rows' JSON and the `next` cursor.
fn page(table: &JobTable, query: &str) -> (Vec<Value>, Option<String>) {
    let query = parse(Some(query)).unwrap();
    let (rows, next) = table.list(query.before, query.limit, |id, status| keeps(&query, id, status));
    (rows.into_iter().map(row_json).collect(), next.map(cursor))
}

fn ids(rows: &[Value]) -> Vec<&str> {
    rows.iter().map(|r| r["id"].as_str().unwrap()).collect()
}

#[test]
fn jobs_come_newest_first_with_their_fields() {
    let (table, _rx) = table();
    add(&table, ["a", "b", "c"].map(String::from));
    assert!(table.finish("b", |m| m.unstarted("stopped by the test")).is_some());
    let (rows, next) = page(&table, "");
    assert_eq!(ids(&rows), ["c", "b", "a"]);
    assert_eq!(next, None);
    assert_eq!(rows[0]["status"], "queued");
    assert_eq!(rows[0]["kind"], "noop");
    assert_eq!(rows[0]["priority"], 0);
    assert_eq!(rows[0]["attempts"], Value::Null);
    let b = &rows[1];
    assert_eq!(
        (&b["status"], &b["attempts"], &b["error"]),
        (&json!("cancelled"), &json!(0), &json!("stopped by the test"))
    );
    assert!(b["finished_at"].is_string() && b["wait_seconds"].is_number(), "{b}");
}

#[test]
fn status_and_id_search_filter() {
    let (table, _rx) = table();
    add(&table, ["thumb-1", "thumb-2", "mail-1", "Thumb-3"].map(String::from));
    assert!(table.finish("thumb-2", |m| m.unstarted("x")).is_some());
    assert!(table.finish("mail-1", |m| m.unstarted("x")).is_some());
    assert_eq!(ids(&page(&table, "status=cancelled").0), ["mail-1", "thumb-2"]);
    assert_eq!(ids(&page(&table, "status=queued").0), ["Thumb-3", "thumb-1"]);
    assert_eq!(ids(&page(&table, "status=queued,cancelled&q=THUMB").0), ["Thumb-3", "thumb-2", "thumb-1"]);
    assert_eq!(ids(&page(&table, "q=mail&status=queued").0), Vec::<&str>::new());
    assert_eq!(ids(&page(&table, "status=succeeded").0), Vec::<&str>::new());
}

#[test]
fn pages_neither_repeat_nor_skip_while_jobs_arrive() {
    let (table, _rx) = table();
    add(&table, (0..95).map(|i| format!("old-{i:03}")));
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut arrivals = 0;
    loop {
        let query = match &after {
            Some(c) => format!("limit=10&after={c}"),
            None => "limit=10".to_owned(),
        };
        let (rows, next) = page(&table, &query);
        assert!(rows.len() <= 10);
        seen.extend(ids(&rows).into_iter().map(String::from));
        // Jobs keep arriving between pages; they belong on the first page, not on these.
        add(&table, (0..7).map(|i| format!("new-{arrivals}-{i}")));
        arrivals += 1;
        match next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let expected: Vec<String> = (0..95).rev().map(|i| format!("old-{i:03}")).collect();
    assert_eq!(seen, expected);
    assert_eq!(arrivals, 10, "95 jobs in pages of 10, the last page has no `next`");
    // An exact multiple of the page size ends without an empty page.
    let (rows, next) = page(&table, "q=old-00&limit=10");
    assert_eq!((rows.len(), next), (10, None), "old-000..old-009 are 10");
}

#[test]
fn filtered_pages_cover_every_match_once() {
    let (table, _rx) = table();
    add(&table, (0..60).map(|i| format!("j{i}")));
    for i in (0..60).step_by(3) {
        assert!(table.finish(&format!("j{i}"), |m| m.unstarted("x")).is_some());
    }
    let mut seen = HashSet::new();
    let mut query = "status=cancelled&limit=7".to_owned();
    loop {
        let (rows, next) = page(&table, &query);
        for id in ids(&rows) {
            assert!(seen.insert(id.to_owned()), "{id} twice");
        }
        let Some(next) = next else { break };
        query = format!("status=cancelled&limit=7&after={next}");
    }
    assert_eq!(seen.len(), 20);
}

#[test]
fn limits_default_and_are_capped() {
    assert_eq!(parse(None).unwrap().limit, DEFAULT_LIMIT);
    assert_eq!(parse(Some("limit=7")).unwrap().limit, 7);
    assert_eq!(parse(Some("limit=100000")).unwrap().limit, MAX_LIMIT);
    let (table, _rx) = table();
    add(&table, (0..MAX_LIMIT + 5).map(|i| format!("j{i}")));
    let (rows, next) = page(&table, "limit=999999");
    assert_eq!(rows.len(), MAX_LIMIT);
    assert!(next.is_some());
}

#[test]
fn bad_parameters_are_refused_with_a_reason() {
    let cases = [
        ("limit=0", "`limit` must be a whole number from 1 to 500, not `0`"),
        ("limit=ten", "`limit` must be a whole number from 1 to 500, not `ten`"),
        ("limit=-1", "`limit` must be a whole number from 1 to 500, not `-1`"),
        (
            "status=done",
            "unknown status `done`; expected one of queued, scheduled, running, retrying, succeeded, failed, panicked, timed_out, cancelled, periodic, stopped",
        ),
        ("after=12", "`after` is not a cursor from a `next`: `12`"),
        ("after=cxyz", "`after` is not a cursor from a `next`: `cxyz`"),
        ("after=c", "`after` is not a cursor from a `next`: `c`"),
        ("stat=queued", "unknown parameter `stat`; expected status, q, limit or after"),
        ("limit=1&limit=2", "`limit` given twice"),
    ];
    for (query, message) in cases {
        assert_eq!(parse(Some(query)).unwrap_err(), message, "{query}");
    }
    let long = format!("q={}", "x".repeat(257));
    assert_eq!(parse(Some(&long)).unwrap_err(), "`q` is too long (at most 256 bytes)");
    // Cursors round-trip; an empty status list or search means "any".
    assert_eq!(parse_cursor(&cursor(u64::MAX)), Some(u64::MAX));
    assert_eq!(
        parse(Some("status=&q=")).unwrap(),
        ListQuery { limit: DEFAULT_LIMIT, ..ListQuery::default() }
    );
}

#[test]
fn expired_and_reused_ids_appear_once() {
    let (table, _rx) = table();
    add(&table, ["a", "b"].map(String::from));
    assert!(table.finish("a", |m| m.unstarted("x")).is_some());
    assert_eq!(table.expire(std::time::Instant::now()), 1);
    add(&table, ["a".to_owned()]);
    assert_eq!(ids(&page(&table, "").0), ["a", "b"], "a is new again: newest");
}
