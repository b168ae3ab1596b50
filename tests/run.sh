#!/usr/bin/env bash
# The test command of the README: every test of the workspace (unit, integration, doc-tests).
#
# Servers that tests need are installed (Debian packages, when their binaries are missing)
# and started here, on 127.0.0.1 with free ports, in one temporary folder, and stopped on
# exit (success, failure or Ctrl-C), the folder removed:
#   - Prometheus (config from tests/prometheus/prometheus.yml.in): scrapes every second the
#     targets that tests register as JSON files in $CONVEYOR_TEST_PROMETHEUS_SD_DIR;
#   - the Prometheus Pushgateway;
#   - PostgreSQL (initdb + pg_ctl as the `postgres` user when run as root; trust auth on
#     loopback);
#   - chromedriver (Debian's `chromium-driver`) for the browser tests, which start headless
#     Chromium sessions through it (tests/support/browser.rs).
# Tests find them through CONVEYOR_TEST_* variables (see tests/support/servers.rs);
# CONVEYOR_TEST_SERVERS=required makes a test that misses one fail instead of skip.
# Server logs stay in the temporary folder; their tails are printed if anything fails.
#
# Usage:
#   bash tests/run.sh                   every test: `cargo test --workspace --all-targets`,
#                                       then `cargo test --workspace --doc`
#   bash tests/run.sh -p CRATE...       the same two runs for these packages only (any cargo
#                                       package selection replaces `--workspace`)
#   CONVEYOR_TEST_SERVERS_ONLY=1 bash tests/run.sh [CMD...]
#                                       the servers, then CMD (default: an interactive bash)
# Both cargo runs use --no-fail-fast and run whatever the other did, so every test binary
# runs; the exit status is non-zero if either failed. The last line of the output is the sum
# of cargo's `test result:` lines over both runs, alone on its line:
#   N passed, N failed, N skipped
# (skipped = ignored tests). A run that exits non-zero without a failed test (a build error,
# a test binary that crashed) is named on stderr just before that line.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'tests/run.sh: %s\n' "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

# --- Packages --------------------------------------------------------------------------

# The newest PostgreSQL server binary folder (/usr/lib/postgresql/VERSION/bin), if any.
pg_bin_dir() {
  local dir best=""
  for dir in /usr/lib/postgresql/*/bin; do
    [[ -x $dir/initdb && -x $dir/pg_ctl && -x $dir/pg_isready && -x $dir/psql ]] || continue
    if [[ -z $best ]] || [[ $(printf '%s\n%s\n' "$best" "$dir" | sort -V | tail -n 1) == "$dir" ]]; then
      best=$dir
    fi
  done
  printf '%s' "$best"
}

missing=()
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
  missing+=(prometheus)
fi
if ! command -v prometheus-pushgateway >/dev/null 2>&1; then
  missing+=(prometheus-pushgateway)
fi
if [[ -z $(pg_bin_dir) ]]; then
  missing+=(postgresql)
fi
if ! command -v curl >/dev/null 2>&1; then
  missing+=(curl)
fi
if ! command -v chromium >/dev/null 2>&1; then
  missing+=(chromium)
fi
if ! command -v chromedriver >/dev/null 2>&1; then
  missing+=(chromium-driver)
fi
if ((${#missing[@]} > 0)); then
  [[ $(id -u) -eq 0 ]] || die "missing Debian packages: ${missing[*]} (apt-get install them as root)"
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Update the package lists only when they do not know a package yet, or when an install
  # from them fails (stale lists point at files the mirror no longer has).
  if ! apt-cache show "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -q
  fi
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}"; then
    say "apt-get install failed: updating the package lists and trying again"
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
fi
pg_bin=$(pg_bin_dir)
[[ -n $pg_bin ]] || die "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin"

# --- The temporary folder and cleanup ---------------------------------------------------

# As root the folder is in /tmp, which the `postgres` user can reach whatever TMPDIR says.
if [[ $(id -u) -eq 0 ]]; then
  tmp=$(mktemp -d /tmp/conveyor-test-servers.XXXXXX)
else
  tmp=$(mktemp -d -t conveyor-test-servers.XXXXXX)
fi
pids=()
pg_data="$tmp/postgres"
pg_started=0
# initdb refuses to run as root: as root, PostgreSQL runs as `postgres`, which owns the folder.
as_pg=()
if [[ $(id -u) -eq 0 ]]; then
  id postgres >/dev/null 2>&1 || die "no \`postgres\` user to run PostgreSQL as"
  as_pg=(runuser -u postgres --)
  chown postgres: "$tmp"
fi
# Runs a PostgreSQL program as its user, from the temporary folder (the user may not be
# allowed into the current one).
as_postgres() { (cd "$tmp" && "${as_pg[@]}" "$@"); }

# Stops a background process: TERM, then KILL after 15 s.
stop_pid() {
  local pid=$1 end=$((SECONDS + 15))
  kill -TERM "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < end)); do
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

print_logs() {
  local log
  for log in "$tmp"/*.log; do
    [[ -f $log ]] || continue
    printf '\n--- last lines of %s\n' "$log" >&2
    tail -n 40 "$log" >&2 || true
  done
}

# The closing line: cargo's `test result: ok. X passed; Y failed; Z ignored; …` lines of
# every cargo run, summed (empty until the tests have started).
test_summary() {
  [[ -n ${test_log:-} && -f $test_log ]] || return 0
  awk '
    /^test result: / {
      for (i = 1; i <= NF; i++) {
        n = $(i - 1) + 0
        if ($i ~ /^passed;?$/) passed += n
        else if ($i ~ /^failed;?$/) failed += n
        else if ($i ~ /^ignored;?$/) ignored += n
      }
    }
    END { printf "%d passed, %d failed, %d skipped\n", passed, failed, ignored }
  ' "$test_log"
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  local summary
  summary=$(test_summary 2>/dev/null || true)
  if ((status != 0)); then
    print_logs
  fi
  if ((pg_started)); then
    as_postgres "$pg_bin/pg_ctl" stop -D "$pg_data" -m fast -w -t 30 >/dev/null 2>&1 ||
      say "warning: pg_ctl stop failed"
  fi
  local pid
  for pid in "${pids[@]}"; do
    stop_pid "$pid"
  done
  rm -rf "$tmp"
  if [[ -n $summary ]]; then
    printf '%s\n' "$summary"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- Starting servers -------------------------------------------------------------------

# A port on 127.0.0.1 that nothing listens on, below the kernel's ephemeral range (where
# `conveyor serve --listen 127.0.0.1:0` and outgoing connections take theirs).
pick_port() {
  local port _
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      printf '%s' "$port"
      return 0
    fi
  done
  say "error: no free port found"
  return 1
}

# wait_ready SECONDS PID COMMAND...: polls COMMAND every 100 ms until it succeeds (0), PID
# exits (2; PID may be empty) or SECONDS pass (1).
wait_ready() {
  local end=$((SECONDS + $1)) pid=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
      return 2
    fi
    if ((SECONDS >= end)); then
      return 1
    fi
    sleep 0.1
  done
}

# start_http NAME READY_PATH COMMAND...: runs COMMAND (every `@PORT@` in it replaced by a
# free port) in the background, its output in $tmp/NAME.log, until GET READY_PATH answers
# 2xx; tries another port if it does not come up. Sets `port`.
start_http() {
  local name=$1 ready=$2 attempt pid
  shift 2
  for attempt in 1 2 3; do
    port=$(pick_port)
    "${@//@PORT@/$port}" >>"$tmp/$name.log" 2>&1 &
    pid=$!
    if wait_ready 60 "$pid" curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port$ready"; then
      pids+=("$pid")
      say "$name ready on 127.0.0.1:$port"
      return 0
    fi
    say "$name did not come up on port $port (attempt $attempt)"
    stop_pid "$pid"
  done
  die "$name did not start (log: $tmp/$name.log)"
}

started=$SECONDS

# Prometheus: scrape every second whatever target files the tests write into sd_dir.
sd_dir="$tmp/prometheus-targets"
mkdir -p "$sd_dir"
sed "s|@SD_DIR@|$sd_dir|g" tests/prometheus/prometheus.yml.in >"$tmp/prometheus.yml"
promtool check config "$tmp/prometheus.yml" >"$tmp/promtool-check-config.log" 2>&1 ||
  die "the generated Prometheus config is invalid: $(cat "$tmp/promtool-check-config.log")"
start_http prometheus /-/ready prometheus \
  --config.file="$tmp/prometheus.yml" \
  --storage.tsdb.path="$tmp/prometheus-data" \
  --web.listen-address=127.0.0.1:@PORT@ \
  --web.enable-lifecycle
prometheus_port=$port

start_http pushgateway /-/ready prometheus-pushgateway \
  --web.listen-address=127.0.0.1:@PORT@ \
  --persistence.file="$tmp/pushgateway.data"
pushgateway_port=$port

# PostgreSQL: loopback TCP only (no Unix socket), trust auth, durability off (test data).
as_postgres "$pg_bin/initdb" -D "$pg_data" -U postgres -A trust -E UTF8 --locale=C --no-sync \
  >"$tmp/initdb.log" 2>&1 || die "initdb failed: $(cat "$tmp/initdb.log")"
cat >>"$pg_data/postgresql.conf" <<'EOF'

# tests/run.sh
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
pg_port=""
for attempt in 1 2 3; do
  port=$(pick_port)
  if as_postgres "$pg_bin/pg_ctl" start -D "$pg_data" -l "$tmp/postgres.log" -w -t 60 \
    -o "-p $port" >>"$tmp/pg_ctl.log" 2>&1; then
    pg_started=1
    if wait_ready 60 "" "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -t 2; then
      pg_port=$port
      break
    fi
    as_postgres "$pg_bin/pg_ctl" stop -D "$pg_data" -m fast -w >/dev/null 2>&1 || true
    pg_started=0
  fi
  say "PostgreSQL did not come up on port $port (attempt $attempt)"
done
[[ -n $pg_port ]] || die "PostgreSQL did not start (log: $tmp/postgres.log)"
database_url="postgres://postgres@127.0.0.1:$pg_port/postgres"
[[ $("$pg_bin/psql" "$database_url" -X -A -t -q -v ON_ERROR_STOP=1 -c 'select 1' 2>&1) == 1 ]] ||
  die "psql cannot query $database_url"
say "PostgreSQL $("$pg_bin/psql" "$database_url" -X -A -t -q -c 'show server_version') ready on 127.0.0.1:$pg_port"

# chromedriver: local connections only (its default); each test's session starts its own
# headless Chromium with a temporary profile. HOME in the folder: Chromium writes there.
mkdir -p "$tmp/chromium-home"
start_http chromedriver /status env HOME="$tmp/chromium-home" chromedriver --port=@PORT@
webdriver_port=$port
say "servers up in $((SECONDS - started))s (folder $tmp)"

export CONVEYOR_TEST_SERVERS=required
export CONVEYOR_TEST_PROMETHEUS_URL="http://127.0.0.1:$prometheus_port"
export CONVEYOR_TEST_PROMETHEUS_SD_DIR="$sd_dir"
export CONVEYOR_TEST_PUSHGATEWAY_URL="http://127.0.0.1:$pushgateway_port"
export CONVEYOR_TEST_PROMTOOL
CONVEYOR_TEST_PROMTOOL=$(command -v promtool)
export CONVEYOR_TEST_DATABASE_URL="$database_url"
export CONVEYOR_TEST_WEBDRIVER="http://127.0.0.1:$webdriver_port"
export CONVEYOR_TEST_CHROMIUM
CONVEYOR_TEST_CHROMIUM=$(command -v chromium)

# --- The tests --------------------------------------------------------------------------

# With CONVEYOR_TEST_SERVERS_ONLY=1 the servers stay up for COMMAND... (e.g. `bash`) instead
# of the test suite: for running some tests by hand against them.
if [[ ${CONVEYOR_TEST_SERVERS_ONLY:-} == 1 ]]; then
  "${@:-bash}"
  exit
fi

# Each run's output is copied into test_log, where the closing line finds cargo's `test
# result:` lines. stderr goes into the same pipe so that build output and test output stay in
# order; cargo keeps its colours when the output is a terminal.
test_log="$tmp/cargo-test.log"
: >"$test_log"
if [[ -t 1 ]]; then
  export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-always}
fi
packages=("$@")
((${#packages[@]} > 0)) || packages=(--workspace)
test_status=0
for target in --all-targets --doc; do
  cmd=(cargo test "${packages[@]}" "$target" --no-fail-fast)
  say "running: ${cmd[*]}"
  run_status=0
  "${cmd[@]}" 2>&1 | tee -a "$test_log" || run_status=$?
  if ((run_status != 0)); then
    say "\`${cmd[*]}\` exited with status $run_status"
    ((test_status != 0)) || test_status=$run_status
  fi
done
failed=$(test_summary | awk '{ print $3 }')
if ((test_status != 0 && failed == 0)); then
  say "no test failed, but a cargo run did not succeed (a build error or a test binary that crashed: see above)"
fi
exit "$test_status"
