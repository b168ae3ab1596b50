#!/usr/bin/env bash
# Memory check of `conveyor run` on a large JSON Lines file (not a timed test): generates
# N no-op jobs (default 1,000,000), runs them with the release binary under GNU time, and
# fails if the peak resident set size is above the limit (default 200 MB).
#
#   scripts/rss-check.sh [N] [LIMIT_MB]
#
# Needs /usr/bin/time (Debian package `time`). Uses CARGO_TARGET_DIR if set.
set -euo pipefail
cd "$(dirname "$0")/.."

n="${1:-1000000}"
limit_mb="${2:-200}"
target="${CARGO_TARGET_DIR:-target}"

if [ ! -x /usr/bin/time ]; then
  echo "rss-check: /usr/bin/time is missing (apt-get install time)" >&2
  exit 2
fi

cargo build --release -p conveyor --bin conveyor
bin="$target/release/conveyor"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
jobs="$work/big.jsonl"
awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) printf "{\"id\":\"noop-%d\",\"kind\":\"noop\"}\n", i }' > "$jobs"
echo "rss-check: $n no-op jobs, $(du -h "$jobs" | cut -f1) of JSON Lines"

run_one() {
  local label="$1"; shift
  /usr/bin/time -v "$bin" run --progress never --format json "$@" "$jobs" > "$work/out.txt" 2> "$work/time.txt" || {
    echo "rss-check: conveyor failed:" >&2; cat "$work/time.txt" >&2; exit 1; }
  local rss_kb wall
  rss_kb="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")"
  wall="$(awk -F': ' '/Elapsed \(wall clock\) time/ {print $2}' "$work/time.txt")"
  echo "rss-check: $label: peak RSS $((rss_kb / 1024)) MB, wall $wall"
  echo "rss-check: summary: $(tail -n 1 "$work/out.txt")"
  if [ "$((rss_kb / 1024))" -ge "$limit_mb" ]; then
    echo "rss-check: FAIL: $label peak RSS $((rss_kb / 1024)) MB >= $limit_mb MB" >&2
    exit 1
  fi
}

run_one "run"
run_one "run --ledger" --ledger "$work/big.ledger.jsonl"
echo "rss-check: ledger lines: $(wc -l < "$work/big.ledger.jsonl")"
run_one "run --ledger --resume (all skipped)" --ledger "$work/big.ledger.jsonl" --resume
echo "rss-check: ok (limit $limit_mb MB)"
