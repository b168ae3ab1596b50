#!/usr/bin/env bash
# End-to-end benchmark of the `conveyor` runner against what a user would use instead
# (issue 8). Everything is measured in the same run; prints the machine and ONE markdown
# table with ratios and the issue's targets (✓/✗) on stdout; progress goes to stderr.
#
#   benches/e2e.sh                 # about 1–2 minutes on 2 cores, after the build
#   E2E_REPS=5 benches/e2e.sh      # repetitions per measurement (median taken; default 3)
#   E2E_RSS=proc benches/e2e.sh    # force the peak-RSS method: time | proc | rusage
#
# 1. No-op jobs end to end: 200k no-op jobs from a JSONL file through
#    `conveyor run --workers 4 --progress never --ledger L` (wall time of the whole process)
#    beside an asyncio PriorityQueue pool (4 worker tasks, no-op `async def` jobs,
#    `queue.join()`, in memory: its own timer, interpreter start-up excluded) run by python3.
# 2. Process jobs: 1,000 runs of `true` through `conveyor run` (exec kind, --workers 4,
#    with a ledger) beside `parallel -j4 true` (GNU parallel; skipped with a message if it is
#    not installed — this script installs nothing), `xargs -P4 -n1 true` and a bare
#    tokio::process loop with at most 4 children in flight (benches/src/spawn_loop.rs).
#    Wall time of each whole process.
# 3. Scale: 10k, 100k and 1M no-op JSONL jobs through `conveyor run --workers 4 --ledger`:
#    wall time and peak RSS (/usr/bin/time -v if present, else polling /proc/PID/status,
#    else getrusage of the child via benches/e2e/maxrss.py).
#
# Every measurement runs E2E_REPS times (repetitions interleaved, so a burst of load from
# elsewhere hits every contestant alike) and the median is reported. Each conveyor run must
# exit 0 and leave exactly one ledger line per job.
#
# Needs: cargo, python3, awk, seq, xargs. Optional: GNU parallel, /usr/bin/time.
# Uses CARGO_TARGET_DIR if set.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."

reps="${E2E_REPS:-3}"
target="${CARGO_TARGET_DIR:-target}"
workers=4
noop_n=200000
proc_n=1000
scale_ns=(10000 100000 1000000)

log() { echo "e2e: $*" >&2; }

log "building: cargo build --release -p conveyor -p conveyor-benches"
cargo build --release -p conveyor -p conveyor-benches >&2
conveyor="$target/release/conveyor"
spawn_loop="$target/release/spawn-loop"

command -v python3 > /dev/null || { log "python3 is needed for the asyncio baseline"; exit 2; }
python="$(command -v python3)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# ---------------------------------------------------------------------------------------
# Peak-RSS method.
rss_method="${E2E_RSS:-}"
if [ -z "$rss_method" ]; then
  if [ -x /usr/bin/time ] && /usr/bin/time -v true > /dev/null 2>&1; then
    rss_method=time
  elif [ -r /proc/self/status ] && grep -q '^VmHWM:' /proc/self/status; then
    rss_method=proc
  else
    rss_method=rusage
  fi
fi
case "$rss_method" in
  time) rss_desc="/usr/bin/time -v (Maximum resident set size)" ;;
  proc) rss_desc="polling VmHWM in /proc/PID/status every 10 ms" ;;
  rusage) rss_desc="getrusage(RUSAGE_CHILDREN).ru_maxrss via benches/e2e/maxrss.py" ;;
  *) log "E2E_RSS must be time, proc or rusage (got '$rss_method')"; exit 2 ;;
esac

# GNU parallel (not moreutils' parallel, which takes other arguments).
have_parallel=0
parallel_note=""
if command -v parallel > /dev/null 2>&1; then
  if parallel --version 2> /dev/null | grep -q 'GNU parallel'; then
    have_parallel=1
  else
    parallel_note="the \`parallel\` in PATH is not GNU parallel (moreutils?): apt-get install parallel to compare; row skipped"
  fi
else
  parallel_note="GNU parallel is not installed: apt-get install parallel to compare; row skipped"
fi
[ -n "$parallel_note" ] && log "$parallel_note"

# ---------------------------------------------------------------------------------------
# Inputs.
gen_noop() { # N FILE
  awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf "{\"id\":\"noop-%d\",\"kind\":\"noop\"}\n", i }' > "$2"
}
log "generating inputs in $work"
gen_noop "$noop_n" "$work/noop-$noop_n.jsonl"
for n in "${scale_ns[@]}"; do
  [ -e "$work/noop-$n.jsonl" ] || gen_noop "$n" "$work/noop-$n.jsonl"
done
awk -v n="$proc_n" 'BEGIN { for (i = 0; i < n; i++) printf "{\"id\":\"true-%d\",\"kind\":\"exec\",\"program\":\"true\"}\n", i }' \
  > "$work/true-$proc_n.jsonl"
sleep_n=3000
awk -v n="$sleep_n" 'BEGIN { for (i = 0; i < n; i++) printf "{\"id\":\"nap-%d\",\"kind\":\"sleep\",\"duration\":\"20ms\"}\n", i }' \
  > "$work/sleep-$sleep_n.jsonl"

# ---------------------------------------------------------------------------------------
# Measuring.
fail() { # LOG CMD...
  local out="$1"; shift
  log "FAILED: $*"
  tail -n 20 "$out" >&2 || true
  exit 1
}

# run_timed LOG CMD...: runs CMD (stdout and stderr to LOG); sets WALL (seconds).
run_timed() {
  local out="$1"; shift
  local t0="$EPOCHREALTIME"
  "$@" > "$out" 2>&1 || fail "$out" "$@"
  local t1="$EPOCHREALTIME"
  WALL="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')"
}

# run_rss LOG CMD...: as run_timed, and sets RSS_KB (peak resident set size of CMD).
run_rss() {
  local out="$1"; shift
  local t0 t1
  case "$rss_method" in
    time)
      t0="$EPOCHREALTIME"
      /usr/bin/time -v -o "$work/time.txt" "$@" > "$out" 2>&1 || fail "$out" "$@"
      t1="$EPOCHREALTIME"
      RSS_KB="$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$work/time.txt")"
      ;;
    proc)
      local pid key value _rest peak=0 tick
      exec {tick}<> <(:)  # a pipe nobody writes to: `read -t` on it is a sleep without a fork
      t0="$EPOCHREALTIME"
      "$@" > "$out" 2>&1 &
      pid=$!
      while [ -r "/proc/$pid/status" ]; do
        while read -r key value _rest; do
          if [ "$key" = "VmHWM:" ] && [ "$value" -gt "$peak" ]; then peak="$value"; fi
        done < "/proc/$pid/status" 2> /dev/null || true
        # A zombie has no VmHWM line left; stop polling once the process has exited.
        kill -0 "$pid" 2> /dev/null || break
        read -r -t 0.01 -u "$tick" _rest || true
      done
      wait "$pid" || fail "$out" "$@"
      t1="$EPOCHREALTIME"
      exec {tick}<&-
      RSS_KB="$peak"
      ;;
    rusage)
      "$python" benches/e2e/maxrss.py "$work/rusage.txt" "$@" > "$out" 2>&1 || fail "$out" "$@"
      read -r WALL RSS_KB < "$work/rusage.txt"
      return
      ;;
  esac
  WALL="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')"
}

check_ledger() { # LEDGER N WHAT
  local lines
  lines="$(wc -l < "$1")"
  if [ "$lines" -ne "$2" ]; then
    log "FAILED: $3: $lines ledger lines for $2 jobs"
    exit 1
  fi
}

xargs_true() { seq "$1" | xargs -P"$workers" -n1 true; }
parallel_true() { seq "$1" | parallel --will-cite -j"$workers" true; }

# Results: one space-separated list of samples per key.
declare -A samples
add() { samples[$1]="${samples[$1]:-} $2"; }
median() { # KEY
  # shellcheck disable=SC2086
  printf '%s\n' ${samples[$1]} | sort -g | awk '{ v[NR] = $1 } END {
    if (NR % 2) printf "%.6f", v[(NR + 1) / 2]; else printf "%.6f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

load_start="$(cut -d' ' -f1-3 /proc/loadavg 2> /dev/null || echo '?')"

log "warm-up"
rm -f "$work/L"
run_timed "$work/out.txt" "$conveyor" run --workers "$workers" --progress never --ledger "$work/L" "$work/noop-10000.jsonl"
run_timed "$work/out.txt" "$python" benches/e2e/asyncio_pool.py 10000 "$workers"
run_timed "$work/out.txt" "$spawn_loop" 50 "$workers"

for rep in $(seq "$reps"); do
  log "repetition $rep of $reps"

  # 1. No-op jobs end to end.
  rm -f "$work/L"
  run_timed "$work/out.txt" "$conveyor" run --workers "$workers" --progress never --ledger "$work/L" \
    "$work/noop-$noop_n.jsonl"
  check_ledger "$work/L" "$noop_n" "no-op run"
  add noop_conveyor "$WALL"
  run_timed "$work/out.txt" "$python" benches/e2e/asyncio_pool.py "$noop_n" "$workers"
  add noop_asyncio_process "$WALL"
  add noop_asyncio "$(tail -n 1 "$work/out.txt")"

  # 2. Process jobs.
  rm -f "$work/L"
  run_timed "$work/out.txt" "$conveyor" run --workers "$workers" --progress never --ledger "$work/L" \
    "$work/true-$proc_n.jsonl"
  check_ledger "$work/L" "$proc_n" "exec run"
  add proc_conveyor "$WALL"
  if [ "$have_parallel" = 1 ]; then
    run_timed "$work/out.txt" parallel_true "$proc_n"
    add proc_parallel "$WALL"
  fi
  run_timed "$work/out.txt" xargs_true "$proc_n"
  add proc_xargs "$WALL"
  run_timed "$work/out.txt" "$spawn_loop" "$proc_n" "$workers"
  add proc_spawn "$WALL"

  # 4. Defaults: waiting jobs at default flags against a sane hand-tuned --workers 256.
  run_timed "$work/out.txt" "$conveyor" run --progress never "$work/sleep-$sleep_n.jsonl"
  add sleep_default "$WALL"
  run_timed "$work/out.txt" "$conveyor" run --workers 256 --progress never "$work/sleep-$sleep_n.jsonl"
  add sleep_tuned "$WALL"

  # 3. Scale.
  for n in "${scale_ns[@]}"; do
    rm -f "$work/L"
    run_rss "$work/out.txt" "$conveyor" run --workers "$workers" --progress never --format json \
      --ledger "$work/L" "$work/noop-$n.jsonl"
    check_ledger "$work/L" "$n" "scale run of $n"
    add "scale_wall_$n" "$WALL"
    add "scale_rss_$n" "$RSS_KB"
    # The run loop alone (after reading and checking the file), from the JSON summary.
    add "scale_loop_$n" "$(tail -n 1 "$work/out.txt" | sed -n 's/.*"elapsed_seconds":\([0-9.e+-]*\).*/\1/p')"
  done
done
rm -f "$work/L"
load_end="$(cut -d' ' -f1-3 /proc/loadavg 2> /dev/null || echo '?')"

# ---------------------------------------------------------------------------------------
# Report.
calc() { awk "BEGIN { $1 }"; }
# fmt_rate JOBS SECONDS -> "123.4k" jobs/s
rate() { calc "r = $1 / $2; if (r >= 1e6) printf \"%.2fM\", r / 1e6; else if (r >= 1e3) printf \"%.1fk\", r / 1e3; else printf \"%.0f\", r"; }
us_per_job() { calc "printf \"%.2f\", $2 / $1 * 1e6"; }
secs() { calc "printf \"%.3f\", $1"; }
mark() { if [ "$(calc "print ($1) ? 1 : 0")" = 1 ]; then echo "✓"; else echo "✗"; fi; }

cpu_model="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2> /dev/null || true)"
[ -n "$cpu_model" ] || cpu_model="$(uname -m)"
mem="$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo 2> /dev/null || echo '?')"
commit="$(git rev-parse --short HEAD 2> /dev/null || echo '?')"
if [ -n "$(git status --porcelain --untracked-files=no 2> /dev/null)" ]; then commit="$commit (dirty tree)"; fi

a_mem="$(median noop_asyncio)"; a_proc="$(median noop_asyncio_process)"; c_noop="$(median noop_conveyor)"
noop_ratio="$(calc "printf \"%.2f\", $a_mem / $c_noop")"
# The ratio of each repetition (conveyor and asyncio ran back to back in it): its range shows
# how much of the spread is the shared machine's.
# shellcheck disable=SC2086
noop_range="$(paste -d' ' <(printf '%s\n' ${samples[noop_asyncio]}) <(printf '%s\n' ${samples[noop_conveyor]}) |
  awk '{ r = $1 / $2; if (NR == 1 || r < lo) lo = r; if (NR == 1 || r > hi) hi = r } END { printf "%.2f–%.2f", lo, hi }')"
c_proc="$(median proc_conveyor)"; x_proc="$(median proc_xargs)"; s_proc="$(median proc_spawn)"
vs_xargs="$(calc "printf \"%.2f\", $x_proc / $c_proc")"
vs_spawn="$(calc "printf \"%.2f\", $s_proc / $c_proc")"
if [ "$have_parallel" = 1 ]; then
  p_proc="$(median proc_parallel)"
  vs_parallel="$(calc "printf \"%.2f\", $p_proc / $c_proc")"
fi
small="${scale_ns[0]}"; big="${scale_ns[${#scale_ns[@]} - 1]}"
w_small="$(median "scale_wall_$small")"; w_big="$(median "scale_wall_$big")"
rss_big_mb="$(calc "printf \"%.1f\", $(median "scale_rss_$big") / 1024")"
per_job_ratio="$(calc "printf \"%.2f\", ($w_big / $big) / ($w_small / $small)")"

echo "Machine: $(nproc) CPUs (nproc), $cpu_model, $mem, $(rustc -V), $("$python" -V 2>&1) ($python), commit $commit"
echo "Load average (1/5/15 min): $load_start at start, $load_end at end. Median of $reps repetitions (interleaved); peak RSS by $rss_desc."
echo "Command: benches/e2e.sh (conveyor runs: --workers $workers --progress never --ledger L; rates are jobs / median wall time of the whole process unless noted)"
[ -n "$parallel_note" ] && echo "Note: $parallel_note"
echo
echo "| # | measurement | jobs | wall s | jobs/s | µs/job | peak RSS MB | ratio vs target |"
echo "|---|---|--:|--:|--:|--:|--:|---|"
echo "| 1 | conveyor run, no-op JSONL, ledger | $noop_n | $(secs "$c_noop") | $(rate "$noop_n" "$c_noop") | $(us_per_job "$noop_n" "$c_noop") | | **${noop_ratio}x** asyncio's in-memory rate (target ≥ 2x) $(mark "$noop_ratio >= 2") · per repetition ${noop_range}x |"
echo "| 1 | asyncio PriorityQueue pool, 4 tasks, in memory (python3) | $noop_n | $(secs "$a_mem") (process $(secs "$a_proc")) | $(rate "$noop_n" "$a_mem") | $(us_per_job "$noop_n" "$a_mem") | | baseline (rate from its in-memory time) |"
if [ "$have_parallel" = 1 ]; then
  parallel_cell="**${vs_parallel}x** GNU parallel (target ≥ 5x) $(mark "$vs_parallel >= 5")"
else
  parallel_cell="GNU parallel: skipped (apt-get install parallel)"
fi
echo "| 2 | conveyor run, exec \`true\`, ledger | $proc_n | $(secs "$c_proc") | $(rate "$proc_n" "$c_proc") | $(us_per_job "$proc_n" "$c_proc") | | $parallel_cell · **${vs_xargs}x** xargs (target ≥ 1.1x) $(mark "$vs_xargs >= 1.1") · **${vs_spawn}x** the bare loop's rate (target ≥ 0.90x) $(mark "$vs_spawn >= 0.9") |"
if [ "$have_parallel" = 1 ]; then
  echo "| 2 | \`seq $proc_n \\| parallel -j$workers true\` | $proc_n | $(secs "$p_proc") | $(rate "$proc_n" "$p_proc") | $(us_per_job "$proc_n" "$p_proc") | | baseline |"
else
  echo "| 2 | \`seq $proc_n \\| parallel -j$workers true\` | $proc_n | — | — | — | | skipped: GNU parallel not installed (apt-get install parallel) |"
fi
echo "| 2 | \`seq $proc_n \\| xargs -P$workers -n1 true\` | $proc_n | $(secs "$x_proc") | $(rate "$proc_n" "$x_proc") | $(us_per_job "$proc_n" "$x_proc") | | baseline |"
echo "| 2 | bare tokio::process loop (\`spawn-loop $proc_n $workers\`) | $proc_n | $(secs "$s_proc") | $(rate "$proc_n" "$s_proc") | $(us_per_job "$proc_n" "$s_proc") | | baseline (the floor) |"
for n in "${scale_ns[@]}"; do
  w="$(median "scale_wall_$n")"
  loop="$(median "scale_loop_$n")"
  rss_mb="$(calc "printf \"%.1f\", $(median "scale_rss_$n") / 1024")"
  cell="run loop $(secs "$loop") s ($(rate "$n" "$loop") jobs/s), the rest start-up and the file check"
  if [ "$n" = "$big" ]; then
    cell="$cell · peak RSS ${rss_big_mb} MB (target < 200) $(mark "$rss_big_mb < 200") · µs/job **${per_job_ratio}x** of ${small} jobs' (target ≤ 1.2x) $(mark "$per_job_ratio <= 1.2")"
  fi
  echo "| 3 | conveyor run, no-op JSONL, ledger, --format json | $n | $(secs "$w") | $(rate "$n" "$w") | $(us_per_job "$n" "$w") | $rss_mb | $cell |"
done
d_sleep="$(median sleep_default)"; t_sleep="$(median sleep_tuned)"
sleep_ratio="$(calc "printf \"%.2f\", $d_sleep / $t_sleep")"
echo "| 4 | conveyor run, \`sleep 20ms\` jobs, **default flags** | $sleep_n | $(secs "$d_sleep") | $(rate "$sleep_n" "$d_sleep") | $(us_per_job "$sleep_n" "$d_sleep") | | **${sleep_ratio}x** the wall time of \`--workers 256\` (target ≤ 1.25x) $(mark "$sleep_ratio <= 1.25") |"
echo "| 4 | conveyor run, \`sleep 20ms\` jobs, \`--workers 256\` | $sleep_n | $(secs "$t_sleep") | $(rate "$sleep_n" "$t_sleep") | $(us_per_job "$sleep_n" "$t_sleep") | | baseline (hand-tuned) |"
echo
echo "Ratios are rates (jobs/s), ours over the baseline's: above 1.00x conveyor is faster."
