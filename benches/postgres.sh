#!/usr/bin/env bash
# Throughput and wake-up latency of the PostgreSQL queue (issue 9), with the in-memory
# runner's figure measured in the same run. Prints the machine and one markdown table on
# stdout; progress goes to stderr.
#
#   benches/postgres.sh                           # starts a private PostgreSQL if needed
#   PG_URL=postgres://postgres@127.0.0.1:5432/postgres benches/postgres.sh
#   PG_JOBS=50000 PG_REPS=3 benches/postgres.sh   # jobs per run (default 20000), repetitions
#   PG_SLOTS=64 benches/postgres.sh               # --workers of each process (default 256)
#
# 1. No-op jobs through PostgreSQL: PG_JOBS no-op jobs are submitted (not timed), then 1, 2
#    and 4 `conveyor worker --workers $PG_SLOTS --exit-when-idle` processes are started at once;
#    the time is from their start to the last one's exit (every job succeeded, checked).
# 2. The same jobs through `conveyor run --workers 64` (in memory), from its JSON summary.
# 3. Idle wake-up latency: one idle worker; 20 single-job enqueues (insert + NOTIFY in one
#    transaction, as submit does) one after another; per job, the claim's clock_timestamp()
#    minus the enqueue's commit timestamp (track_commit_timestamp, on in the private server;
#    on another server, minus the enqueue's start). LISTEN/NOTIFY; the 1 s poll would show
#    as ~500 ms.
#
# PG_URL (or CONVEYOR_TEST_DATABASE_URL) names a server where databases may be created;
# without it a private server is started from /usr/lib/postgresql/*/bin (as the `postgres`
# user when run as root) in a temporary folder on a free loopback port, and stopped at the
# end. Needs: cargo, psql, awk.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."

jobs="${PG_JOBS:-20000}"
slots="${PG_SLOTS:-256}"
reps="${PG_REPS:-1}"
target="${CARGO_TARGET_DIR:-target}"
log() { echo "postgres-bench: $*" >&2; }

tmp="$(mktemp -d)"
pgdir=""
cleanup() {
    if [[ -n "$pgdir" ]]; then
        if [[ $EUID -eq 0 ]]; then
            runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdir/data" -m immediate stop >/dev/null 2>&1 || true
        else
            "$pgbin/pg_ctl" -D "$pgdir/data" -m immediate stop >/dev/null 2>&1 || true
        fi
        rm -rf "$pgdir"
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

url="${PG_URL:-${CONVEYOR_TEST_DATABASE_URL:-}}"
if [[ -z "$url" ]]; then
    pgbin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
    [[ -x "$pgbin/initdb" ]] || { log "no PG_URL and no PostgreSQL in /usr/lib/postgresql (apt-get install postgresql)"; exit 2; }
    pgdir="$(mktemp -d /tmp/conveyor-pgbench.XXXXXX)"
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 55433)"
    as_pg=()
    if [[ $EUID -eq 0 ]]; then chown postgres "$pgdir"; as_pg=(runuser -u postgres --); fi
    log "starting a private PostgreSQL on 127.0.0.1:$port"
    "${as_pg[@]}" "$pgbin/initdb" -D "$pgdir/data" -A trust -U postgres >/dev/null
    "${as_pg[@]}" "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $pgdir -c max_connections=200 -c track_commit_timestamp=on" start >/dev/null
    url="postgres://postgres@127.0.0.1:$port/postgres"
fi
base="${url%%\?*}"; base="${base%/*}"

log "building conveyor (release)"
cargo build --release --quiet -p conveyor --bin conveyor
bin="$target/release/conveyor"

fresh_db() {
    local name="bench_$1_$$"
    psql "$url" -qAtc "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name" >/dev/null
    echo "$base/$name"
}
now() { date +%s.%N; }

seq 1 "$jobs" | awk '{printf "{\"id\":\"n%d\",\"kind\":\"noop\"}\n", $1}' >"$tmp/noop.jsonl"

declare -A rate
for w in 1 2 4; do
    best=0
    for r in $(seq 1 "$reps"); do
        db="$(fresh_db "w$w")"
        "$bin" submit --queue "$db" "$tmp/noop.jsonl" >/dev/null
        log "$jobs no-op jobs, $w worker process(es), run $r"
        start="$(now)"
        pids=()
        for i in $(seq 1 "$w"); do
            "$bin" worker --queue "$db" --workers "$slots" --exit-when-idle --name "bench-$i" 2>"$tmp/w$i.err" &
            pids+=($!)
        done
        for p in "${pids[@]}"; do wait "$p"; done
        end="$(now)"
        done_n="$(psql "$db" -Atc "SELECT count(*) FROM conveyor_jobs WHERE state = 'succeeded'")"
        [[ "$done_n" == "$jobs" ]] || { log "only $done_n of $jobs succeeded"; exit 1; }
        r_now="$(awk -v n="$jobs" -v s="$start" -v e="$end" 'BEGIN { printf "%.0f", n / (e - s) }')"
        (( r_now > best )) && best="$r_now"
    done
    rate[$w]="$best"
done

log "$jobs no-op jobs in memory (conveyor run --workers $slots)"
mem="$("$bin" run --workers "$slots" --progress never --format json "$tmp/noop.jsonl" | tail -1 |
       sed -E 's/.*"jobs_per_second":([0-9.]+).*/\1/')"
mem="$(awk -v m="$mem" 'BEGIN { printf "%.0f", m }')"

log "idle wake-up latency (20 submissions to one idle worker)"
db="$(fresh_db latency)"
"$bin" worker --queue "$db" --workers 4 --name idle 2>"$tmp/idle.err" &
idle=$!
for i in $(seq 1 50); do
    [[ "$(psql "$db" -Atc "SELECT count(*) FROM conveyor_workers" 2>/dev/null || echo 0)" == "1" ]] && break
    sleep 0.1
done
sleep 0.5 # let it reach its idle wait
commit_ts="$(psql "$db" -Atc 'SHOW track_commit_timestamp')"
if [[ "$commit_ts" == "on" ]]; then
    # Enqueue like `submit` does (insert + NOTIFY in one transaction), noting the
    # transaction id, so that the latency starts at the enqueue's commit.
    psql "$db" -qc "CREATE TABLE bench_marks (id text, x xid8)"
fi
for i in $(seq 1 20); do
    if [[ "$commit_ts" == "on" ]]; then
        psql "$db" -q -c "BEGIN" \
            -c "INSERT INTO conveyor_jobs (id, kind, spec, spec_hash) VALUES ('l$i', 'noop', '{\"id\": \"l$i\", \"kind\": \"noop\"}', '-')" \
            -c "INSERT INTO bench_marks VALUES ('l$i', pg_current_xact_id())" \
            -c "NOTIFY conveyor_jobs" -c "COMMIT" >/dev/null
    else
        echo "{\"id\":\"l$i\",\"kind\":\"noop\"}" >"$tmp/one.jsonl"
        "$bin" submit --queue "$db" "$tmp/one.jsonl" >/dev/null
    fi
    for t in $(seq 1 100); do
        [[ "$(psql "$db" -Atc "SELECT count(*) FROM conveyor_jobs WHERE id = 'l$i' AND state = 'succeeded'")" == "1" ]] && break
        sleep 0.02
    done
done
kill -TERM "$idle"; wait "$idle" || true
if [[ "$commit_ts" == "on" ]]; then
    since="pg_xact_commit_timestamp(m.x::text::xid)"
    from="conveyor_attempts a JOIN bench_marks m ON m.id = a.job_id"
    what="enqueue commit → claim"
else
    since="j.queued_at"
    from="conveyor_attempts a JOIN conveyor_jobs j ON j.id = a.job_id"
    what="enqueue start → claim (track_commit_timestamp is off: includes the submit's commit)"
fi
read -r p50 pmax < <(psql "$db" -Atc "
    SELECT round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms))::numeric, 2),
           round(max(ms)::numeric, 2)
    FROM (SELECT extract(epoch FROM a.started_at - $since) * 1000 AS ms FROM $from) t" | tr '|' ' ')

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "machine: $(nproc) CPU ($cpu), $(psql "$url" -Atc 'SHOW server_version'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo
echo "| workload | jobs/s | vs in-memory | target |"
echo "|---|---:|---:|---|"
for w in 1 2 4; do
    ratio="$(awk -v a="${rate[$w]}" -v b="$mem" 'BEGIN { printf "%.3fx", a / b }')"
    target=""
    if [[ $w == 2 ]]; then
        target="$(awk -v a="${rate[$w]}" 'BEGIN { print (a >= 5000 ? "≥ 5,000 ✓" : "≥ 5,000 ✗") }')"
    fi
    echo "| $jobs no-op, PostgreSQL, $w worker process(es) × $slots | ${rate[$w]} | $ratio | $target |"
done
echo "| $jobs no-op, in memory (conveyor run -w $slots) | $mem | 1.000x | |"
echo
echo "| idle wake-up ($what), 20 jobs | p50 ${p50} ms | max ${pmax} ms | $(awk -v a="$p50" 'BEGIN { print (a < 10 ? "< 10 ms ✓" : "< 10 ms ✗") }') |"
