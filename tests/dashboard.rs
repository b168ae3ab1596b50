//! The Grafana dashboard in `dashboards/conveyor.json`: every panel query parses as PromQL,
//! and every metric it selects is present in a real scrape of `conveyor serve`.

use std::collections::BTreeSet;

use conveyor_e2e::server::Server;
use conveyor_e2e::servers::{dashboard, dashboard_exprs, substitute};
use conveyor_e2e::{Dir, code, describe};
use promql_parser::parser::{self, Expr};
use serde_json::Value;

/// Parses every dashboard expression; panics naming the ones that do not parse.
fn parsed(dash: &Value) -> Vec<(String, String, Expr)> {
    let all = dashboard_exprs(dash);
    assert!(!all.is_empty(), "the dashboard has no panel targets");
    let mut bad = Vec::new();
    let mut good = Vec::new();
    for (title, expr) in all {
        let text = substitute(&expr, ".*");
        match parser::parse(&text) {
            Ok(ast) => good.push((title, expr, ast)),
            Err(e) => bad.push(format!("{title}: {text}: {e}")),
        }
    }
    assert!(bad.is_empty(), "expressions that do not parse:\n{}", bad.join("\n"));
    good
}

/// The metric names an expression selects.
fn selected(expr: &Expr, out: &mut BTreeSet<String>) {
    match expr {
        Expr::VectorSelector(vs) => {
            let name = vs.name.clone().expect("every selector names its metric");
            out.insert(name);
        }
        Expr::MatrixSelector(ms) => {
            let name = ms.vs.name.clone().expect("every selector names its metric");
            out.insert(name);
        }
        Expr::Aggregate(a) => {
            selected(&a.expr, out);
            if let Some(param) = &a.param {
                selected(param, out);
            }
        }
        Expr::Unary(u) => selected(&u.expr, out),
        Expr::Binary(b) => {
            selected(&b.lhs, out);
            selected(&b.rhs, out);
        }
        Expr::Paren(p) => selected(&p.expr, out),
        Expr::Subquery(s) => selected(&s.expr, out),
        Expr::Call(c) => {
            for arg in &c.args.args {
                selected(arg, out);
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// The metric names in a Prometheus text exposition.
fn scraped(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split(['{', ' ']).next().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn the_dashboard_has_its_inputs_variables_and_panels() {
    let dash = dashboard();
    let inputs = dash["__inputs"].as_array().expect("__inputs");
    assert!(
        inputs.iter().any(|i| i["name"] == "DS_PROMETHEUS"
            && i["type"] == "datasource"
            && i["pluginId"] == "prometheus"),
        "no DS_PROMETHEUS input: {inputs:?}"
    );
    let vars = dash["templating"]["list"].as_array().expect("templating.list");
    let var =
        |name: &str| vars.iter().find(|v| v["name"] == name).unwrap_or_else(|| panic!("no {name} variable"));
    let ds = var("datasource");
    assert_eq!(ds["type"], "datasource");
    assert_eq!(ds["query"], "prometheus");
    let instance = var("instance");
    assert_eq!(instance["type"], "query");
    let query =
        instance["query"]["query"].as_str().or_else(|| instance["query"].as_str()).expect("instance query");
    assert_eq!(query, "label_values(conveyor_workers, instance)");

    let panels = dash["panels"].as_array().expect("panels");
    for panel in panels {
        let uid = panel["datasource"]["uid"].as_str().unwrap_or_default();
        assert!(
            matches!(uid, "${DS_PROMETHEUS}" | "${datasource}"),
            "{}: datasource {uid:?}",
            panel["title"]
        );
        assert!(matches!(panel["type"].as_str(), Some("timeseries" | "stat")), "{}", panel["title"]);
    }
    for (title, expr, _) in parsed(&dash) {
        assert!(expr.contains("instance=~\"$instance\""), "{title}: {expr} ignores $instance");
    }
}

#[test]
fn every_dashboard_query_parses_and_selects_metrics_a_real_scrape_has() {
    let dash = dashboard();
    let queries = parsed(&dash);
    let mut wanted = BTreeSet::new();
    for (_, _, ast) in &queries {
        selected(ast, &mut wanted);
    }
    for metric in [
        "conveyor_jobs_finished_total",
        "conveyor_job_wait_seconds_bucket",
        "conveyor_job_run_seconds_bucket",
        "conveyor_queue_depth",
        "conveyor_jobs_running",
        "conveyor_workers",
        "conveyor_job_retries_total",
    ] {
        assert!(wanted.contains(metric), "no panel selects {metric}: {wanted:?}");
    }

    let dir = Dir::new();
    let server = Server::start(&dir, &["-w", "2"]);
    let body = concat!(
        "{\"id\": \"nothing\", \"kind\": \"noop\"}\n",
        "{\"id\": \"doomed\", \"kind\": \"fail\", \"probability\": 1, \"message\": \"always\", ",
        "\"retry\": {\"max_attempts\": 2, \"backoff\": \"fixed\", \"initial\": \"10ms\"}}\n",
        "{\"id\": \"nap\", \"kind\": \"sleep\", \"duration\": \"50ms\"}\n",
    );
    let (status, answer) = server.post(body);
    assert_eq!(status, 202, "{answer}");
    for (id, want) in [("nothing", "succeeded"), ("doomed", "failed"), ("nap", "succeeded")] {
        let v = server.wait_final(id);
        assert_eq!(v["status"], want, "{v}");
    }
    let (status, metrics) = server.get("/metrics");
    assert_eq!(status, 200, "{metrics}");
    let have = scraped(&metrics);
    let missing: Vec<_> = wanted.iter().filter(|m| !have.contains(*m)).collect();
    assert!(missing.is_empty(), "selected by the dashboard, absent from the scrape: {missing:?}\n{metrics}");

    let out = server.stop("TERM");
    assert_eq!(code(&out), 143, "{}", describe(&out));
}
