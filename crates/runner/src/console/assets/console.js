// The console of `conveyor serve` and of `conveyor console` (a PostgreSQL queue): the job
// list (/) and a job's page (/job?id=ID). The queue's server adds per-queue counts to
// /stats ("queues"), which turns on the queue and worker panels and the queue filter; its
// jobs have a "queue" field, which turns "re-run" into the queue's own retry.
// Everything shown comes from users (ids, names, errors, output): it is set with
// textContent and attributes, never parsed as HTML. Data comes from the JSON API
// (GET /stats, GET /jobs, GET /jobs/ID, GET /jobs/ID/spec), polled once a second.
"use strict";

const OUTCOMES = ["succeeded", "failed", "panicked", "timed_out", "cancelled"];
const FINAL = new Set(OUTCOMES);
// Every status word of serve, as GET /jobs?status= takes them; the queue console's words
// come from its /stats counts.
const STATES = ["queued", "scheduled", "running", "retrying", ...OUTCOMES, "periodic", "stopped"];
const COLOURS = { succeeded: "#2e7d32", failed: "#c62828", panicked: "#6a1b9a", timed_out: "#ef6c00", cancelled: "#757575" };
const SVG = "http://www.w3.org/2000/svg";
const POLL_MS = 1000;

// --- small helpers -------------------------------------------------------------------

function $(id) { return document.getElementById(id); }

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  return node;
}

function stateBadge(status, tag) {
  return el(tag || "span", { class: "state state-" + status, text: status });
}

function seconds(value) {
  if (value === null || value === undefined) return "—";
  if (value < 0.001) return (value * 1e6).toFixed(0) + " µs";
  if (value < 1) return (value * 1000).toFixed(1) + " ms";
  if (value < 60) return value.toFixed(2) + " s";
  const m = Math.floor(value / 60);
  return m + " m " + (value - m * 60).toFixed(0) + " s";
}

function token() { return sessionStorage.getItem("conveyor-token") || ""; }

function authHeaders() {
  const t = token();
  return t ? { Authorization: "Bearer " + t } : {};
}

async function getJson(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.error || response.status + " " + response.statusText);
    error.status = response.status;
    throw error;
  }
  return body;
}

function setLive(ok, text) {
  const live = $("live");
  live.textContent = ok ? "live · updated " + new Date().toLocaleTimeString() : "not connected: " + text;
}

// Runs `step` now and then POLL_MS after each run ends. Calling the returned function runs
// it again at once (or right after the run in flight): never two runs at a time.
function every(step) {
  let timer = null, running = false, again = false;
  const run = async () => {
    clearTimeout(timer);
    timer = null;
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      await step();
      setLive(true);
    } catch (e) {
      setLive(false, e.message);
    }
    running = false;
    if (again) {
      again = false;
      run();
    } else {
      timer = setTimeout(run, POLL_MS);
    }
  };
  run();
  return run;
}

function jobHref(id) { return "/job?id=" + encodeURIComponent(id); }

// --- the token -------------------------------------------------------------------------

function setupToken() {
  $("token").value = token();
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem("conveyor-token", $("token").value.trim());
    $("token-box").open = false;
  });
}

// --- charts: SVG drawn from /stats --------------------------------------------------------

const W = 600, H = 160, PAD_L = 34, PAD_B = 16, PAD_T = 6;

function axes(chart, max, label) {
  chart.replaceChildren();
  const plotH = H - PAD_B - PAD_T;
  for (const frac of [0, 0.5, 1]) {
    const y = PAD_T + plotH * (1 - frac);
    chart.append(svg("line", { x1: PAD_L, x2: W, y1: y, y2: y, class: "axis" }));
    const text = svg("text", { x: PAD_L - 4, y: y + 4, "text-anchor": "end" });
    text.textContent = label(max * frac);
    chart.append(text);
  }
  const left = svg("text", { x: PAD_L, y: H - 3 });
  left.textContent = "−2 min";
  const right = svg("text", { x: W - 2, y: H - 3, "text-anchor": "end" });
  right.textContent = "now";
  chart.append(left, right);
  return plotH;
}

function niceMax(value) {
  if (value <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(value)));
  for (const m of [1, 2, 5, 10]) if (value <= m * p) return m * p;
  return 10 * p;
}

function drawThroughput(series) {
  const chart = $("chart-throughput");
  const totals = series.map((s) => OUTCOMES.reduce((n, o) => n + s[o], 0));
  const max = niceMax(Math.max(0, ...totals));
  const plotH = axes(chart, max, (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1)));
  const barW = (W - PAD_L) / series.length;
  series.forEach((s, i) => {
    let y = PAD_T + plotH;
    for (const o of OUTCOMES) {
      if (!s[o]) continue;
      const h = (s[o] / max) * plotH;
      y -= h;
      const bar = svg("rect", { x: PAD_L + i * barW, y, width: Math.max(barW - 0.5, 0.5), height: h, fill: COLOURS[o] });
      const title = svg("title");
      title.textContent = s[o] + " " + o;
      bar.append(title);
      chart.append(bar);
    }
  });
  const last = series.slice(-10);
  const sums = OUTCOMES.map((o) => [o, last.reduce((n, s) => n + s[o], 0)]);
  const total = sums.reduce((n, [, v]) => n + v, 0);
  $("throughput-text").textContent = "Last 10 s: " + (total === 0 ? "nothing finished" :
    sums.filter(([, v]) => v > 0).map(([o, v]) => v + " " + o).join(", ") + " (" + (total / 10).toFixed(1) + " jobs/s)");
}

function drawWait(series) {
  const chart = $("chart-wait");
  const maxes = series.map((s) => s.wait_max).filter((v) => v !== null);
  const max = niceMax(Math.max(0, ...maxes));
  const plotH = axes(chart, max, (v) => (v > 0 && v < 1 ? v.toFixed(2) : String(+v.toFixed(1))));
  const step = (W - PAD_L) / series.length;
  for (const [field, colour, dash] of [["wait_mean", "#1565c0", ""], ["wait_max", "#ef6c00", "4 3"]]) {
    let d = "";
    series.forEach((s, i) => {
      if (s[field] === null) return;
      const x = PAD_L + (i + 0.5) * step;
      const y = PAD_T + plotH * (1 - s[field] / max);
      d += (d ? " L" : "M") + x.toFixed(1) + " " + y.toFixed(1);
    });
    if (d) chart.append(svg("path", { d, fill: "none", stroke: colour, "stroke-width": 1.8, "stroke-dasharray": dash || "none", class: "series-" + field }));
  }
  const recent = series.slice(-10).filter((s) => s.wait_mean !== null);
  $("wait-text").textContent = recent.length === 0 ? "No job started and finished in the last 10 s." :
    "Last 10 s: mean wait " + seconds(recent.reduce((n, s) => n + s.wait_mean, 0) / recent.length) +
    ", max " + seconds(Math.max(...recent.map((s) => s.wait_max)));
}

// --- the list view ----------------------------------------------------------------------

// The options of a <select>: "any", then `values`; keeps the choice (or `wanted`).
function setOptions(select, values, wanted) {
  const keep = wanted !== undefined ? wanted : select.value;
  const now = Array.from(select.options).slice(1).map((o) => o.value);
  if (now.length === values.length && now.every((v, i) => v === values[i])) return;
  select.replaceChildren(el("option", { value: "", text: "any" }), ...values.map((v) => el("option", { value: v, text: v })));
  if (keep && !values.includes(keep)) select.append(el("option", { value: keep, text: keep }));
  select.value = keep || "";
}

function drawQueues(queues) {
  $("queues-panel").hidden = false;
  $("queue-filter").hidden = false;
  setOptions($("queue"), queues.map((q) => q.queue));
  $("queues").tBodies[0].replaceChildren(...queues.map((q) => el("tr", { "data-queue": q.queue },
    el("th", { scope: "row" }, el("a", { href: "/?queue=" + encodeURIComponent(q.queue), text: q.queue })),
    el("td", { class: "num", "data-count": "waiting", text: String(q.waiting) }),
    el("td", { class: "num col-optional", "data-count": "scheduled", text: String(q.scheduled) }),
    el("td", { class: "num", "data-count": "running", text: String(q.running) }),
    el("td", { class: "num", "data-count": "stuck", text: String(q.stuck) }),
    el("td", { class: "num", "data-count": "failed", text: String(q.failed) }),
    el("td", { class: "num", text: seconds(q.oldest_waiting_seconds) }))));
}

function drawWorkers(body) {
  $("workers-panel").hidden = false;
  $("workers").tBodies[0].replaceChildren(...body.workers.map((w) => el("tr", { "data-worker": w.name },
    el("td", { class: "id", text: w.name }),
    el("td", {}, stateBadge(w.alive ? "live" : "silent")),
    el("td", { class: "num", text: String(w.running) }),
    el("td", { class: "num col-optional", text: w.last_seen ? new Date(w.last_seen).toLocaleTimeString() : "—" }),
    el("td", { class: "id" }, ...w.jobs.flatMap((id, i) => [i ? ", " : "", el("a", { href: jobHref(id), text: id })])))));
  $("no-workers").hidden = body.workers.length > 0;
  $("stuck").replaceChildren(...(body.stuck.length === 0 ? [el("li", { text: "none" })] :
    body.stuck.map((j) => el("li", {}, el("a", { href: jobHref(j.id), text: j.id }),
      " in " + j.queue + ", held by " + j.worker + ", lease expired " + seconds(j.lease_expired_seconds) + " ago"))));
}

function listView() {
  $("list-view").hidden = false;
  document.title = "Jobs · Conveyor console";
  const params = new URLSearchParams(location.search);
  $("status").append(...STATES.map((s) => el("option", { value: s, text: s })));
  $("status").value = params.get("status") || "";
  $("q").value = params.get("q") || "";
  setOptions($("queue"), [], params.get("queue") || "");
  const cursors = [null]; // cursors[i]: the `after` of page i
  let page = 0, next = null;

  const legend = $("throughput-legend");
  legend.replaceChildren(...OUTCOMES.map((o) => {
    const swatch = el("span", { class: "swatch" });
    swatch.style.background = COLOURS[o];
    return el("li", {}, swatch, o);
  }));

  function query() {
    const q = new URLSearchParams();
    if ($("status").value) q.set("status", $("status").value);
    if ($("q").value.trim()) q.set("q", $("q").value.trim());
    if ($("queue").value) q.set("queue", $("queue").value);
    return q;
  }

  function drawCounts(stats) {
    const items = [el("li", { class: "total" }, el("a", { href: "/", text: "all" }), el("b", { text: String(stats.total) }))];
    for (const [status, n] of Object.entries(stats.counts)) {
      if (n === 0 && !["queued", "running", "succeeded", "failed"].includes(status)) continue;
      const link = el("a", { href: "/?status=" + encodeURIComponent(status) }, stateBadge(status));
      items.push(el("li", { "data-status": status }, link, el("b", { text: String(n) })));
    }
    $("counts").replaceChildren(...items);
  }

  function drawRows(body) {
    const rows = body.jobs.map((job) => el("tr", { "data-id": job.id },
      el("td", { class: "id" }, el("a", { href: jobHref(job.id), text: job.id })),
      el("td", {}, stateBadge(job.status)),
      ...("queue" in job ? [el("td", { text: job.queue })] : []),
      el("td", { text: job.kind || "—" }),
      el("td", { class: "num", text: job.priority === null ? "—" : String(job.priority) }),
      el("td", { class: "num", text: job.attempts === null ? "—" : String(job.attempts) }),
      el("td", { class: "num", text: seconds(job.wait_seconds) }),
      el("td", { class: "num", text: seconds(job.run_seconds) }),
      el("td", { class: "error", text: job.error || "" })));
    $("queue-col").hidden = !body.jobs.some((job) => "queue" in job);
    $("jobs").tBodies[0].replaceChildren(...rows);
    $("empty").hidden = rows.length > 0;
    next = body.next;
    $("older").disabled = !next;
    $("newest").disabled = page === 0;
    $("page-no").textContent = "page " + (page + 1);
  }

  async function refresh() {
    const q = query();
    q.set("limit", "50");
    if (cursors[page]) q.set("after", cursors[page]);
    const [stats, list] = await Promise.all([getJson("/stats"), getJson("/jobs?" + q)]);
    setOptions($("status"), Object.keys(stats.counts));
    if (Array.isArray(stats.queues)) {
      drawQueues(stats.queues);
      drawWorkers(await getJson("/workers"));
    }
    drawCounts(stats);
    drawThroughput(stats.seconds);
    drawWait(stats.seconds);
    drawRows(list);
  }

  const poll = every(refresh);
  function restart() {
    cursors.length = 1;
    page = 0;
    const q = query().toString();
    history.replaceState(null, "", q ? "/?" + q : "/");
    poll();
  }
  $("status").addEventListener("change", restart);
  $("queue").addEventListener("change", restart);
  $("q").addEventListener("input", restart);
  $("filter").addEventListener("submit", (event) => { event.preventDefault(); restart(); });
  $("newest").addEventListener("click", restart);
  $("older").addEventListener("click", () => {
    if (!next) return;
    cursors[page + 1] = next;
    page += 1;
    poll();
  });
}

// --- the job view -----------------------------------------------------------------------

const FIELD_ORDER = ["id", "status", "queue", "name", "kind", "priority", "outcome", "attempts", "queued_at", "started_at",
  "finished_at", "wait_seconds", "run_seconds", "error", "exit_code", "spec_hash", "runs", "skipped", "last_run"];

function jobView(id) {
  $("job-view").hidden = false;
  document.title = id + " · Conveyor console";
  $("job-title").textContent = id;
  const url = "/jobs/" + encodeURIComponent(id);
  let final = false, queued = false;

  function drawJob(job) {
    const status = $("job-status");
    status.textContent = job.status;
    status.className = "state state-" + job.status;
    final = FINAL.has(job.status) || job.status === "stopped";
    queued = "queue" in job;
    $("cancel").hidden = final;
    // The queue retries failed and cancelled jobs under their id; serve re-runs any final job.
    $("rerun").hidden = queued ? !FINAL.has(job.status) || job.status === "succeeded" : !FINAL.has(job.status);
    $("rerun").textContent = queued ? "Retry (same id, one more attempt)" : "Re-run as a new job";
    const hidden = ["output_tail", "attempts_run"];
    const keys = FIELD_ORDER.filter((k) => k in job).concat(Object.keys(job).filter((k) => !FIELD_ORDER.includes(k) && !hidden.includes(k)));
    $("job-fields").replaceChildren(...keys.flatMap((k) => {
      let value = job[k];
      if (k.endsWith("_seconds") && typeof value === "number") value = value + " s (" + seconds(value) + ")";
      else if (value === null) value = "null";
      else if (typeof value === "object") value = JSON.stringify(value);
      return [el("dt", { text: k }), el("dd", { "data-field": k, text: String(value) })];
    }));
    if (Array.isArray(job.attempts_run)) {
      $("attempts-box").hidden = false;
      $("attempts").tBodies[0].replaceChildren(...job.attempts_run.map((a) => el("tr", {},
        el("td", { class: "num", text: String(a.attempt) }),
        el("td", { class: "id", text: a.worker }),
        el("td", { text: a.started_at || "—" }),
        el("td", { text: a.finished_at || "—" }),
        el("td", {}, a.outcome ? stateBadge(a.outcome) : stateBadge("running")))));
    }
    $("job-output").textContent = job.output_tail ? job.output_tail :
      (final ? "(no output captured: only exec and shell jobs keep an output tail)" : "(the output tail comes with the ledger line, when the job ends)");
  }

  const poll = every(async () => {
    if (final) return;
    try {
      drawJob(await getJson(url));
    } catch (e) {
      if (e.status !== 404) throw e;
      // Unknown, or forgotten after --keep: nothing more will come.
      final = true;
      $("job-status").textContent = "unknown to this server";
      $("job-status").className = "state";
      $("job-output").textContent = e.message;
    }
  });
  getJson(url + "/spec").then((spec) => { $("job-spec").textContent = JSON.stringify(spec, null, 2); },
    (e) => { $("job-spec").textContent = "(" + e.message + ")"; });

  async function act(button, method, target, done) {
    button.disabled = true;
    const result = $("action-result");
    try {
      const response = await fetch(target, { method, headers: authHeaders() });
      const body = await response.json().catch(() => ({}));
      if (response.status === 401) {
        result.textContent = "This server needs its token: enter it under “Token” at the top, then try again.";
        $("token-box").open = true;
      } else if (!response.ok) {
        result.textContent = "Refused (" + response.status + "): " + (body.error || (body.errors || []).map((e) => e.message).join("; "));
      } else {
        done(body);
      }
    } catch (e) {
      result.textContent = "Failed: " + e.message;
    } finally {
      button.disabled = false;
    }
  }
  $("cancel").addEventListener("click", () => act($("cancel"), "DELETE", url, (body) => {
    $("action-result").textContent = "Cancel requested: " + body.status + ".";
    final = false;
    poll();
  }));
  $("rerun").addEventListener("click", () => {
    if (queued) {
      act($("rerun"), "POST", url + "/retry", () => {
        $("action-result").textContent = "Queued again under the same id.";
        final = false;
        poll();
      });
      return;
    }
    act($("rerun"), "POST", url + "/rerun", (body) => {
      const newId = body.ids[0];
      $("action-result").replaceChildren("Queued again as ", el("a", { href: jobHref(newId), text: newId }), ".");
    });
  });
}

// --- start --------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  setupToken();
  if (location.pathname === "/job") {
    const id = new URLSearchParams(location.search).get("id");
    if (id) jobView(id);
    else location.replace("/");
  } else {
    listView();
  }
});
