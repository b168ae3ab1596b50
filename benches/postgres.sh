#!/usr/bin/env bash
# The PostgreSQL queue beside its peers (issue 19): `conveyor worker` at default flags and
# tuned, River's Rust bench (`riverqueue bench`, crate riverqueue-cli 0.5.0) and
# graphile-worker 0.17.3, on one PostgreSQL server in one run, plus conveyor's idle claim
# latency. Prints the machine and markdown tables with ratios and the issue's targets (✓/✗)
# on stdout; progress goes to stderr.
#
#   bash benches/postgres.sh                      # ~2.5 minutes on 2 cores after the build
#   PG_BENCH_JOBS=50000 bash benches/postgres.sh  # no-op jobs per run (default 20000)
#   PG_BENCH_ROUNDS=3 bash benches/postgres.sh    # rounds, interleaved; best taken (default 2)
#   PG_BENCH_LATENCY_JOBS=500 ...                 # single jobs of the latency probe (200)
#   PG_BENCH_PROFILE=1 bash benches/postgres.sh   # also: statements and CPU per job
#   PG_URL=postgres://USER@HOST:PORT/DB ...       # use that server instead of a private one
#   PG_BENCH_CONVEYOR=path/to/conveyor ...        # use that binary instead of building one
#
# The server: without PG_URL, a private PostgreSQL (the newest /usr/lib/postgresql/*/bin) is
# initialised in a temporary folder and started on a free loopback port with its stock
# settings (initdb's postgresql.conf; only the address, port and socket folder are set, so
# fsync and synchronous_commit are on), as the `postgres` user when run as root, and stopped
# at the end. This is tests/run.sh's approach, not its server: that one runs with fsync off.
# Every contestant gets a fresh database per round, created and dropped here.
#
# Throughput. For each round (PG_BENCH_ROUNDS, default 2) and contestant, in turn:
#   - conveyor (each row of `conveyor_rows` below): `conveyor submit` enqueues PG_BENCH_JOBS
#     no-op jobs (not timed); then two `conveyor worker --exit-when-idle` processes start at
#     once and drain them.
#   - River: `riverqueue migrate-up`, then ONE `riverqueue bench -n PG_BENCH_JOBS` process:
#     it truncates river_job, inserts the N jobs (insert_many, 5,000 a batch), starts one
#     client (default queue, 2,000 workers, 50 connections, fetch cooldown 2 ms, poll 20 ms),
#     and stops once it has seen N completions. It cannot be run as two processes: each
#     would truncate the table, insert its own N jobs and wait for N completions of its own.
#   - graphile-worker: benches/postgres/graphile.mjs migrates and adds the N jobs in one
#     `graphile_worker.add_jobs` call (not timed); then two `graphile.mjs work` processes
#     (runOnce: 10 jobs at once, a local queue of 500, completeJobBatchDelay 0,
#     NO_LOG_SUCCESS=1) start at once and drain them.
# Every run is checked: all N jobs succeeded (conveyor: state; River: completed rows, and its
# own check for failed jobs; graphile: no row left, as completed jobs are deleted).
#
# What is compared: the BUSY WINDOW, from the first job's start to the last job's end, on
# the one machine clock: conveyor from its tables (conveyor_attempts, the ended attempts:
# min started_at, the claim's clock_timestamp(), to max finished_at, the outcome write's
# now()); River from river_job (min attempted_at to max finalized_at); graphile from its own events in each
# process (first `job:start` to last `job:complete`, across both processes). jobs/s =
# N / busy window; the best round counts. This is what River's own figure measures (its
# clock runs from the client's start to the last completion event), so River is measured as
# it measures itself, and nobody is charged for process start-up, connecting or migrating.
# The `wall s` column is informational: for conveyor and graphile the two worker processes
# from their start to the last exit (start-up and the idle check included); for River the
# `running` time it prints (its client start to the last completion).
#
# Idle claim latency (conveyor rows): one idle `conveyor worker` (no --exit-when-idle); then
# PG_BENCH_LATENCY_JOBS single jobs, one at a time, PG_BENCH_LATENCY_GAP apart (25 ms), each
# enqueued as `conveyor submit` does (insert + NOTIFY, one transaction) by a DO block that
# reads clock_timestamp() right after its COMMIT returns. Latency = the claim's started_at
# (conveyor_jobs.started_at, its first attempt's start) minus that instant; p50/p90/max.
#
# PG_BENCH_PROFILE=1 (private server only: it restarts it with pg_stat_statements loaded):
# after the tables, one more run per contestant with pg_stat_statements reset before it;
# prints statements per job (calls of every statement in the contestant's database / N; the
# load before the run is excluded, and so are River's inserts, which run in its bench
# process), the statements that make them, and CPU per job: the worker processes' user+sys
# (/usr/bin/time) and the server's (postmaster with its reaped children plus its live ones,
# from /proc, before and after).
#
# Peers that are not installed are skipped with a message saying how to install them:
#   cargo install riverqueue-cli --version 0.5.0 --locked      # `riverqueue` in PATH
#   (cd benches/postgres && npm ci)                              # graphile-worker, Node 20
# Needs: cargo (unless PG_BENCH_CONVEYOR), psql, awk; /usr/bin/time for the profile.
# CI does not run it.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."

# =======================================================================================
# The contestants' invocations: the one place to change when their flags change.
# =======================================================================================

# conveyor: each row is `conveyor worker --queue URL --exit-when-idle --name NAME FLAGS`.
conveyor_rows=(default tuned)
# shellcheck disable=SC2016 # backticks: markdown
declare -A conveyor_label=(
  [default]='`conveyor worker` default flags'
  [tuned]='`conveyor worker --workers 1024 --prefetch 2048 --batch 2000`'
)
declare -A conveyor_flags=(
  [default]=''
  [tuned]='--workers 1024 --prefetch 2048 --batch 2000'
)
# conveyor_load URL FILE: enqueues the jobs (not timed).
conveyor_load() { "$conveyor" submit --queue "$1" "$2" > /dev/null; }
# conveyor_cmd URL ROW NAME [--idle]: sets CMD to one worker process's command line; it
# exits once the queue is empty, or with --idle runs until SIGTERM.
conveyor_cmd() {
  local -a flags=()
  read -r -a flags <<< "${conveyor_flags[$2]}"
  CMD=("$conveyor" worker --queue "$1" --name "$3" "${flags[@]}")
  [[ ${4:-} == --idle ]] || CMD+=(--exit-when-idle)
}
# SQL on a conveyor database: succeeded jobs; the busy window (s); whether a worker is up;
# the latency probe's enqueue of one job named by the PL/pgSQL variable `job` (as submit
# does: insert + NOTIFY in one transaction), and the claim time of a job.
conveyor_done_sql="SELECT count(*) FROM conveyor_jobs WHERE state = 'succeeded'"
conveyor_busy_sql="SELECT extract(epoch FROM max(finished_at) - min(started_at)) FROM conveyor_attempts"
conveyor_ready_sql="SELECT count(*) FROM conveyor_workers WHERE stopped_at IS NULL"
conveyor_enqueue_plpgsql="INSERT INTO conveyor_jobs (id, kind, spec, spec_hash)
      VALUES (job, 'noop', jsonb_build_object('id', job, 'kind', 'noop'), '-');
    PERFORM pg_notify('conveyor_jobs', '');"
conveyor_claimed_sql="SELECT id, started_at AS claimed_at FROM conveyor_jobs WHERE started_at IS NOT NULL"

# River's Rust client: its own bench binary.
river_bin="${PG_BENCH_RIVERQUEUE:-riverqueue}"
river_version=0.5.0
river_migrate() { "$river_bin" migrate-up --database-url "$1" > /dev/null; }
river_cmd() { CMD=("$river_bin" bench --database-url "$1" -n "$2"); } # URL JOBS
river_done_sql="SELECT count(*) FROM river_job WHERE state = 'completed'"
river_busy_sql="SELECT extract(epoch FROM max(finalized_at) - min(attempted_at)) FROM river_job"
# The profile leaves out the statements of River's load phase (in its bench process): its
# insert, one statement per job (SQL LIKE pattern).
river_load_like='WITH inserted AS (INSERT INTO "river_job"%'

# graphile-worker: benches/postgres/graphile.mjs (its configuration is in that file).
graphile_dir=benches/postgres
graphile_version=0.17.3
graphile_cmd() { CMD=(env NO_LOG_SUCCESS=1 node "$graphile_dir/graphile.mjs" "$@"); } # MODE URL [N]
graphile() { graphile_cmd "$@" && "${CMD[@]}"; }

# =======================================================================================

jobs="${PG_BENCH_JOBS:-20000}"
rounds="${PG_BENCH_ROUNDS:-2}"
latency_jobs="${PG_BENCH_LATENCY_JOBS:-200}"
latency_gap="${PG_BENCH_LATENCY_GAP:-0.025}"
profile="${PG_BENCH_PROFILE:-0}"
processes=2
target="${CARGO_TARGET_DIR:-target}"

log() { echo "postgres-bench: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}
for v in "$jobs" "$rounds" "$latency_jobs"; do
  [[ $v =~ ^[1-9][0-9]*$ ]] || die "PG_BENCH_JOBS, PG_BENCH_ROUNDS and PG_BENCH_LATENCY_JOBS must be positive integers"
done
[[ $latency_gap =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "PG_BENCH_LATENCY_GAP must be seconds, e.g. 0.025"

# --- Cleanup: worker processes, the private server, temporary folders ------------------

work="$(mktemp -d /tmp/conveyor-pgbench.XXXXXX)"
bg_pids=()
pg_started=0
pg_data=""
as_pg=()
cleanup() {
  local status=$? pid
  trap - EXIT INT TERM
  for pid in ${bg_pids[@]+"${bg_pids[@]}"}; do
    # With the profile, PID is /usr/bin/time: its child first.
    pkill -TERM -P "$pid" 2> /dev/null || true
    kill -TERM "$pid" 2> /dev/null || true
  done
  for pid in ${bg_pids[@]+"${bg_pids[@]}"}; do
    wait "$pid" 2> /dev/null || true
  done
  if ((pg_started)); then
    (cd "$work" && "${as_pg[@]}" "$pg_bin/pg_ctl" stop -D "$pg_data" -m fast -w -t 30) > /dev/null 2>&1 ||
      log "warning: pg_ctl stop failed"
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts CMD... in the background, output to LOG; sets PID and remembers it for cleanup.
spawn() { # LOG CMD...
  local out=$1
  shift
  "$@" > "$out" 2>&1 &
  PID=$!
  bg_pids+=("$PID")
}
forget() { # PID: no longer to be stopped by cleanup
  local p kept=()
  for p in "${bg_pids[@]}"; do [[ $p == "$1" ]] || kept+=("$p"); done
  bg_pids=(${kept[@]+"${kept[@]}"})
}
# Waits for PID (started by spawn); fails with LOG's tail if it did not exit 0.
reap() { # PID LOG WHAT
  local rc=0
  wait "$1" || rc=$?
  forget "$1"
  if ((rc != 0)); then
    log "FAILED ($rc): $3"
    tail -n 20 "$2" >&2 || true
    exit 1
  fi
}

# --- The server ---------------------------------------------------------------------------

pg_bin_dir() { # the newest /usr/lib/postgresql/VERSION/bin with the server's programs
  local dir best=""
  for dir in /usr/lib/postgresql/*/bin; do
    [[ -x $dir/initdb && -x $dir/pg_ctl && -x $dir/pg_isready ]] || continue
    if [[ -z $best ]] || [[ $(printf '%s\n%s\n' "$best" "$dir" | sort -V | tail -n 1) == "$dir" ]]; then
      best=$dir
    fi
  done
  printf '%s' "$best"
}
pick_port() { # a loopback port nothing listens on, below the ephemeral range
  local port _
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 12000))
    if ! (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; then
      printf '%s' "$port"
      return 0
    fi
  done
  die "no free port found"
}
command -v psql > /dev/null || die "psql is needed (apt-get install postgresql-client)"
q() { PGOPTIONS='-c client_min_messages=warning' psql "$1" -X -A -t -q -v ON_ERROR_STOP=1 -c "$2"; }

pg_port=""
start_server() { # [EXTRA -c SETTINGS...]: starts (or restarts) the private server
  local extra="$*" attempt
  if ((pg_started)); then
    (cd "$work" && "${as_pg[@]}" "$pg_bin/pg_ctl" stop -D "$pg_data" -m fast -w -t 60) > /dev/null
    pg_started=0
  fi
  for attempt in 1 2 3; do
    [[ -n $pg_port ]] || pg_port=$(pick_port)
    if (cd "$work" && "${as_pg[@]}" "$pg_bin/pg_ctl" start -D "$pg_data" -l "$work/pg/postgres.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $pg_port -c unix_socket_directories='$work/pg' $extra") \
      >> "$work/pg_ctl.log" 2>&1; then
      pg_started=1
      return 0
    fi
    log "PostgreSQL did not start on port $pg_port (attempt $attempt)"
    pg_port=""
  done
  die "PostgreSQL did not start: $(tail -n 5 "$work/pg/postgres.log" 2> /dev/null)"
}

private=0
if [[ -n ${PG_URL:-} ]]; then
  url=$PG_URL
  log "using the server of PG_URL"
else
  private=1
  pg_bin=$(pg_bin_dir)
  [[ -n $pg_bin ]] || die "no PostgreSQL server in /usr/lib/postgresql/*/bin: apt-get install postgresql (or set PG_URL)"
  mkdir -p "$work/pg"
  if [[ $(id -u) -eq 0 ]]; then
    id postgres > /dev/null 2>&1 || die "no \`postgres\` user to run PostgreSQL as"
    as_pg=(runuser -u postgres --)
    chown -R postgres: "$work/pg"
    chmod 755 "$work"
  fi
  pg_data="$work/pg/data"
  (cd "$work" && "${as_pg[@]}" "$pg_bin/initdb" -D "$pg_data" -U postgres -A trust -E UTF8 --locale=C) \
    > "$work/initdb.log" 2>&1 || die "initdb failed: $(cat "$work/initdb.log")"
  start_server
  url="postgres://postgres@127.0.0.1:$pg_port/postgres"
  log "private PostgreSQL (stock settings) on 127.0.0.1:$pg_port"
fi
q "$url" 'SELECT 1' > /dev/null || die "cannot query $url"
# URL of database NAME on the same server (same user, host and query parameters).
db_url() {
  local base=${url%%\?*} params=""
  [[ $url == *\?* ]] && params="?${url#*\?}"
  printf '%s/%s%s' "${base%/*}" "$1" "$params"
}
fresh_db() { # NAME: (re)creates the database, prints its URL
  q "$url" "DROP DATABASE IF EXISTS $1 WITH (FORCE)" > /dev/null
  q "$url" "CREATE DATABASE $1" > /dev/null
  db_url "$1"
}
drop_db() { q "$url" "DROP DATABASE IF EXISTS $1 WITH (FORCE)" > /dev/null; }

# --- The contestants ------------------------------------------------------------------------

if [[ -n ${PG_BENCH_CONVEYOR:-} ]]; then
  conveyor=$PG_BENCH_CONVEYOR
  [[ -x $conveyor ]] || die "PG_BENCH_CONVEYOR=$conveyor is not an executable"
else
  log "building: cargo build --release -p conveyor --bin conveyor"
  cargo build --release -p conveyor --bin conveyor >&2
  conveyor="$target/release/conveyor"
fi

notes=()
contestants=()
for row in "${conveyor_rows[@]}"; do contestants+=("conveyor:$row"); done
have_river=0
if command -v "$river_bin" > /dev/null 2>&1; then
  have_river=1
  river_v=$("$river_bin" --version 2> /dev/null | awk '{ print $2 }')
  if [[ $river_v != "$river_version" ]]; then
    notes+=("riverqueue is $river_v, not the $river_version the issue measured")
  fi
  contestants+=(river)
else
  notes+=("River's bench is not installed: \`cargo install riverqueue-cli --version $river_version --locked\` (puts \`riverqueue\` in ~/.cargo/bin); row skipped")
fi
have_graphile=0
if ! command -v node > /dev/null 2>&1; then
  notes+=("graphile-worker needs Node.js (20): apt-get install nodejs, then \`(cd $graphile_dir && npm ci)\`; row skipped")
elif [[ ! -f $graphile_dir/node_modules/graphile-worker/package.json ]]; then
  notes+=("graphile-worker is not installed: \`(cd $graphile_dir && npm ci)\` (graphile-worker $graphile_version, on Node 20); row skipped")
else
  have_graphile=1
  g_v=$(node -p "require('./$graphile_dir/node_modules/graphile-worker/package.json').version")
  [[ $g_v == "$graphile_version" ]] || notes+=("graphile-worker is $g_v, not the $graphile_version the issue measured")
  contestants+=(graphile)
fi
for note in ${notes[@]+"${notes[@]}"}; do log "$note"; done

awk -v n="$jobs" 'BEGIN { for (i = 0; i < n; i++) printf "{\"id\":\"noop-%d\",\"kind\":\"noop\"}\n", i }' > "$work/noop.jsonl"

# --- Measuring ------------------------------------------------------------------------------

declare -A busy wall extra
add() { # KEY BUSY WALL: keeps the round with the shortest busy window
  if [[ -z ${busy[$1]:-} ]] || awk -v a="$2" -v b="${busy[$1]}" 'BEGIN { exit !(a < b) }'; then
    busy[$1]=$2
    wall[$1]=$3
  fi
}
check_count() { # GOT WHAT
  [[ $1 == "$jobs" ]] || die "$2: $1 of $jobs jobs succeeded"
}
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }

# Each measure_* runs one round of a contestant in a fresh database NAME and sets RUN_BUSY
# and RUN_WALL. With the profile on, `before_run NAME` runs just before the timed part and
# each worker process runs under /usr/bin/time, into NAME-I.time.
before_run=""
profiling=0
hook() { [[ -z $before_run ]] || "$before_run" "$1"; }
timed() { # FILE: sets PRE, the prefix of a worker process's command
  PRE=()
  ((profiling)) && PRE=(/usr/bin/time -f '%U %S' -o "$1")
  return 0
}
measure_conveyor() { # ROW NAME
  local row=$1 name=$2 db t0 t1 i pids=() logs=()
  db=$(fresh_db "$name")
  conveyor_load "$db" "$work/noop.jsonl"
  hook "$name"
  t0=$EPOCHREALTIME
  for i in $(seq 1 "$processes"); do
    conveyor_cmd "$db" "$row" "bench-$i"
    timed "$work/$name-$i.time"
    spawn "$work/$name-$i.log" ${PRE[@]+"${PRE[@]}"} "${CMD[@]}"
    pids+=("$PID")
    logs+=("$work/$name-$i.log")
  done
  for i in "${!pids[@]}"; do reap "${pids[$i]}" "${logs[$i]}" "conveyor worker ($row)"; done
  t1=$EPOCHREALTIME
  check_count "$(q "$db" "$conveyor_done_sql")" "conveyor ($row)"
  RUN_BUSY=$(q "$db" "$conveyor_busy_sql")
  RUN_WALL=$(elapsed "$t0" "$t1")
}
measure_river() { # NAME
  local name=$1 db line
  db=$(fresh_db "$name")
  river_migrate "$db"
  hook "$name"
  river_cmd "$db" "$jobs"
  timed "$work/$name-1.time"
  spawn "$work/$name.log" ${PRE[@]+"${PRE[@]}"} "${CMD[@]}"
  reap "$PID" "$work/$name.log" "riverqueue bench"
  check_count "$(q "$db" "$river_done_sql")" "River"
  RUN_BUSY=$(q "$db" "$river_busy_sql")
  # bench: total jobs worked [ N ], total jobs inserted [ N ], overall job/sec [ R ], p95 [ S ], running Ts
  line=$(grep 'overall job/sec' "$work/$name.log" | tail -n 1)
  RUN_WALL=$(sed -n 's/.*running \([0-9.]*\)s.*/\1/p' <<< "$line")
  RIVER_OWN=$(sed -n 's/.*overall job\/sec \[ *\([0-9.]*\) *\].*/\1/p' <<< "$line")
}
measure_graphile() { # NAME
  local name=$1 db t0 t1 i done_n pids=() logs=()
  db=$(fresh_db "$name")
  graphile prepare "$db" "$jobs" > "$work/$name-prepare.log" 2>&1 ||
    die "graphile-worker prepare failed: $(tail -n 5 "$work/$name-prepare.log")"
  hook "$name"
  t0=$EPOCHREALTIME
  for i in $(seq 1 "$processes"); do
    graphile_cmd work "$db"
    timed "$work/$name-$i.time"
    spawn "$work/$name-$i.log" ${PRE[@]+"${PRE[@]}"} "${CMD[@]}"
    pids+=("$PID")
    logs+=("$work/$name-$i.log")
  done
  for i in "${!pids[@]}"; do reap "${pids[$i]}" "${logs[$i]}" "graphile-worker"; done
  t1=$EPOCHREALTIME
  [[ $(graphile left "$db") == 0 ]] || die "graphile-worker left jobs in the table"
  # Each process's last line: JOBS FIRST_START LAST_END.
  read -r done_n RUN_BUSY < <(for i in "${!logs[@]}"; do tail -n 1 "${logs[$i]}"; done | awk '
    { n += $1; if ($1 > 0) { if (!s || $2 < s) s = $2; if ($3 > e) e = $3 } }
    END { printf "%d %.6f\n", n, e - s }')
  check_count "$done_n" "graphile-worker"
  RUN_WALL=$(elapsed "$t0" "$t1")
}
measure() { # CONTESTANT NAME
  case $1 in
    conveyor:*) measure_conveyor "${1#conveyor:}" "$2" ;;
    river) measure_river "$2" ;;
    graphile) measure_graphile "$2" ;;
  esac
}
db_name() { printf 'bench_%s_%s' "${1//:/_}" "$2"; }

load_start="$(cut -d' ' -f1-3 /proc/loadavg 2> /dev/null || echo '?')"
for round in $(seq 1 "$rounds"); do
  for c in "${contestants[@]}"; do
    log "round $round of $rounds: $c, $jobs no-op jobs"
    name=$(db_name "$c" "$round")
    measure "$c" "$name"
    add "$c" "$RUN_BUSY" "$RUN_WALL"
    [[ $c == river ]] && extra[river_own_$round]=$RIVER_OWN
    log "  busy $RUN_BUSY s, wall $RUN_WALL s"
    drop_db "$name"
  done
done

# --- Idle claim latency ----------------------------------------------------------------------

declare -A lat
for row in "${conveyor_rows[@]}"; do
  log "idle claim latency: $row, $latency_jobs single jobs ${latency_gap}s apart"
  name="bench_latency_$row"
  db=$(fresh_db "$name")
  conveyor_cmd "$db" "$row" idle-1 --idle
  spawn "$work/$name.log" "${CMD[@]}"
  idle=$PID
  ready=0
  for _ in $(seq 1 200); do
    if [[ $(q "$db" "$conveyor_ready_sql" 2> /dev/null || echo 0) -ge 1 ]]; then
      ready=1
      break
    fi
    kill -0 "$idle" 2> /dev/null || break
    sleep 0.05
  done
  ((ready)) || die "the idle worker did not come up: $(tail -n 5 "$work/$name.log")"
  sleep 0.5 # let it reach its idle wait
  q "$db" "DO \$probe\$
DECLARE
  ids text[] := '{}';
  marks timestamptz[] := '{}';
  job text;
BEGIN
  FOR i IN 1..$latency_jobs LOOP
    job := 'probe-' || i;
    $conveyor_enqueue_plpgsql
    COMMIT;
    ids := ids || job;
    marks := marks || clock_timestamp();
    PERFORM pg_sleep($latency_gap);
  END LOOP;
  CREATE TABLE bench_probe AS SELECT * FROM unnest(ids, marks) AS t(id, committed_at);
END
\$probe\$" > /dev/null
  for _ in $(seq 1 100); do
    [[ $(q "$db" "SELECT count(*) FROM ($conveyor_claimed_sql) c JOIN bench_probe p USING (id)") == "$latency_jobs" ]] && break
    sleep 0.05
  done
  kill -TERM "$idle"
  wait "$idle" || true
  forget "$idle"
  IFS='|' read -r n p50 p90 pmax < <(q "$db" "
    SELECT count(*),
           round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms))::numeric, 2),
           round((percentile_cont(0.9) WITHIN GROUP (ORDER BY ms))::numeric, 2),
           round(max(ms)::numeric, 2)
    FROM (SELECT extract(epoch FROM c.claimed_at - p.committed_at) * 1000 AS ms
          FROM bench_probe p JOIN ($conveyor_claimed_sql) c USING (id)) t")
  [[ $n == "$latency_jobs" ]] || die "latency probe: $n of $latency_jobs jobs claimed"
  lat[$row]="$p50 $p90 $pmax"
  drop_db "$name"
done
load_end="$(cut -d' ' -f1-3 /proc/loadavg 2> /dev/null || echo '?')"

# --- Profile: statements and CPU per job ----------------------------------------------------

declare -A prof_stmts prof_worker prof_server prof_top prof_busy
clk_tck=$(getconf CLK_TCK 2> /dev/null || echo 100)
server_ticks() { # CPU ticks of the server: postmaster (with its reaped children) + live children
  local pm child kids total=0
  pm=$(head -n 1 "$pg_data/postmaster.pid")
  total=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pm/stat")
  kids=$(cat "/proc/$pm/task/"*/children 2> /dev/null || true)
  for child in $kids; do
    total=$((total + $(awk '{ print $14 + $15 }' "/proc/$child/stat" 2> /dev/null || echo 0)))
  done
  printf '%s' "$total"
}
profile_reset() { # NAME: called just before the timed part of a profiled run
  q "$url" "SELECT pg_stat_statements_reset()" > /dev/null
  sleep 0.2
  ticks_before=$(server_ticks)
}
if [[ $profile == 1 ]]; then
  if ((!private)); then
    notes+=("PG_BENCH_PROFILE needs the private server (it restarts it with pg_stat_statements): profile skipped")
  elif [[ ! -x /usr/bin/time ]]; then
    notes+=("PG_BENCH_PROFILE needs /usr/bin/time (apt-get install time): profile skipped")
  else
    log "profile: restarting the server with shared_preload_libraries=pg_stat_statements"
    start_server -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.max=1000
    q "$url" "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" > /dev/null
    profiling=1
    before_run=profile_reset
    for c in "${contestants[@]}"; do
      log "profile: $c, $jobs no-op jobs"
      name=$(db_name "$c" profile)
      rm -f "$work/$name"-*.time
      measure "$c" "$name"
      sleep 0.3 # let the postmaster reap the workers' backends
      ticks_after=$(server_ticks)
      dbid=$(q "$url" "SELECT oid FROM pg_database WHERE datname = '$name'")
      not_load=""
      [[ $c == river ]] && not_load="AND query NOT LIKE '${river_load_like//\'/\'\'}'"
      prof_stmts[$c]=$(q "$url" "SELECT round(coalesce(sum(calls), 0)::numeric / $jobs, 3) FROM pg_stat_statements
        WHERE dbid = $dbid AND query NOT LIKE '%pg_stat_statements%' $not_load")
      prof_top[$c]=$(q "$url" "SELECT to_char(calls::numeric / $jobs, 'FM99990.000') || ' × ' ||
          to_char(mean_exec_time * 1000, 'FM9999990') || ' µs · ' ||
          left(regexp_replace(query, '\s+', ' ', 'g'), 90)
        FROM pg_stat_statements WHERE dbid = $dbid AND query NOT LIKE '%pg_stat_statements%' $not_load
        ORDER BY calls DESC, total_exec_time DESC LIMIT 6" | sed 's/|/\\|/g; s/`/\x27/g' | paste -sd '\t' -)
      prof_worker[$c]=$(cat "$work/$name"-*.time | awk -v n="$jobs" '{ s += $1 + $2 } END { printf "%.1f", s / n * 1e6 }')
      prof_server[$c]=$(awk -v a="$ticks_before" -v b="$ticks_after" -v hz="$clk_tck" -v n="$jobs" \
        'BEGIN { printf "%.1f", (b - a) / hz / n * 1e6 }')
      prof_busy[$c]=$RUN_BUSY
      drop_db "$name"
    done
    profiling=0
    before_run=""
  fi
fi

# --- Report ------------------------------------------------------------------------------------

calc() { awk "BEGIN { $1 }"; }
rate() { calc "printf \"%.0f\", $jobs / $1"; }
group() { awk -v x="$1" 'BEGIN { s = sprintf("%.0f", x); o = ""; while (length(s) > 3) { o = "," substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) }; print s o }'; }
mark() { if [[ $(calc "print ($1) ? 1 : 0") == 1 ]]; then echo "✓"; else echo "✗"; fi; }

best_peer=""
best_peer_rate=0
for c in river graphile; do
  [[ -n ${busy[$c]:-} ]] || continue
  r=$(rate "${busy[$c]}")
  if ((r > best_peer_rate)); then
    best_peer_rate=$r
    best_peer=$c
  fi
done
ratio() { # CONTESTANT
  if ((best_peer_rate > 0)); then calc "printf \"%.2fx\", $(rate "${busy[$1]}") / $best_peer_rate"; else echo "—"; fi
}
declare -A label=(
  [river]="River's Rust client, \`riverqueue bench -n $jobs\` (1 process, 2,000 workers)"
  [graphile]="graphile-worker $graphile_version, $processes processes × 10 jobs at once, local queue 500, \`completeJobBatchDelay: 0\`"
)
for row in "${conveyor_rows[@]}"; do label[conveyor:$row]="${conveyor_label[$row]} ($processes processes)"; done

cpu_model="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2> /dev/null || true)"
[[ -n $cpu_model ]] || cpu_model="$(uname -m)"
mem="$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo 2> /dev/null || echo '?')"
commit="$(git rev-parse --short HEAD 2> /dev/null || echo '?')"
if [[ -n "$(git status --porcelain --untracked-files=no 2> /dev/null)" ]]; then commit="$commit (dirty tree)"; fi
pg_version=$(q "$url" 'SHOW server_version')
pg_settings=$(q "$url" "SELECT string_agg(name || '=' || setting || coalesce(unit, ''), ', ' ORDER BY name) FROM pg_settings
  WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers', 'max_connections')")
peers=""
((have_river)) && peers+=", riverqueue $river_v"
((have_graphile)) && peers+=", graphile-worker $g_v on Node $(node -v)"
if ((private)); then server_desc="a private server started by the script, stock settings"; else server_desc="PG_URL's server"; fi

echo "Machine: $(nproc) CPUs (nproc), $cpu_model, $mem, $(rustc -V 2> /dev/null || echo 'rustc ?'), commit $commit$peers"
echo "PostgreSQL $pg_version ($server_desc: $pg_settings), one server for every contestant, a fresh database per run."
echo "Load average (1/5/15 min): $load_start at start, $load_end at end. Best of $rounds rounds (interleaved) of $jobs no-op jobs."
echo "Command: bash benches/postgres.sh (jobs/s = jobs / busy window, first job start to last job end; see the script's header)"
for note in ${notes[@]+"${notes[@]}"}; do echo "Note: $note"; done
echo
echo "| contestant | jobs | busy s | wall s | jobs/s | ratio vs the faster peer |"
echo "|---|--:|--:|--:|--:|--:|"
for c in "${contestants[@]}"; do
  [[ -n ${busy[$c]:-} ]] || continue
  w=$(calc "printf \"%.3f\", ${wall[$c]}")
  [[ $c == river ]] && w="$w (its own clock)"
  echo "| ${label[$c]} | $jobs | $(calc "printf \"%.3f\", ${busy[$c]}") | $w | $(group "$(rate "${busy[$c]}")") | $(ratio "$c") |"
done
((have_river)) || echo "| River's Rust client (\`riverqueue bench\`) | — | — | — | — | skipped: \`cargo install riverqueue-cli --version $river_version --locked\` |"
((have_graphile)) || echo "| graphile-worker $graphile_version | — | — | — | — | skipped: \`(cd $graphile_dir && npm ci)\` |"
echo
if ((have_river)); then
  own=""
  for round in $(seq 1 "$rounds"); do own+="${own:+, }$(group "${extra[river_own_$round]}")"; done
  echo "River's own figure (\"overall job/sec\") per round: $own."
  echo
fi
echo "| idle claim latency (commit → claim), $latency_jobs single jobs | p50 ms | p90 ms | max ms |"
echo "|---|--:|--:|--:|"
for row in "${conveyor_rows[@]}"; do
  read -r p50 p90 pmax <<< "${lat[$row]}"
  echo "| ${conveyor_label[$row]} | $p50 | $p90 | $pmax |"
done
echo
read -r d_p50 _ <<< "${lat[default]:-0 0}"
if ((best_peer_rate > 0)); then
  d_ratio=$(calc "printf \"%.2f\", $(rate "${busy[conveyor:default]}") / $best_peer_rate")
  t_ratio=$(calc "printf \"%.2f\", $(rate "${busy[conveyor:tuned]}") / $best_peer_rate")
  echo "Targets (vs the faster peer, $best_peer): default flags ≥ 0.8x $(mark "$d_ratio >= 0.8") (${d_ratio}x) · tuned ≥ 1.0x $(mark "$t_ratio >= 1.0") (${t_ratio}x; aim 1.5x $(mark "$t_ratio >= 1.5")) · idle claim latency p50 ≤ 5 ms $(mark "$d_p50 <= 5") (${d_p50} ms)"
else
  echo "Targets: no peer measured, so no ratios (install one, see above) · idle claim latency p50 ≤ 5 ms $(mark "$d_p50 <= 5") (${d_p50} ms)"
fi

if [[ -n ${prof_stmts[*]:-} ]]; then
  echo
  echo "Profile (PG_BENCH_PROFILE=1, one run each with pg_stat_statements loaded): per job, statements the server ran in the contestant's database, CPU of the worker processes (user+sys, /usr/bin/time) and of the whole server (/proc). River's statements leave out its load phase (its insert, one statement per job), but its CPU figures include it."
  echo
  echo "| contestant | busy s | statements/job | worker CPU µs/job | server CPU µs/job |"
  echo "|---|--:|--:|--:|--:|"
  for c in "${contestants[@]}"; do
    [[ -n ${prof_stmts[$c]:-} ]] || continue
    echo "| ${label[$c]} | $(calc "printf \"%.3f\", ${prof_busy[$c]}") | ${prof_stmts[$c]} | ${prof_worker[$c]} | ${prof_server[$c]} |"
  done
  echo
  echo "| contestant | calls/job × mean server time · statement (most called first) |"
  echo "|---|---|"
  for c in "${contestants[@]}"; do
    [[ -n ${prof_top[$c]:-} ]] || continue
    echo "| ${label[$c]} | ${prof_top[$c]//$'\t'/<br>} |"
  done
fi
