#!/bin/sh
# Report rendering benchmark: the daily report of N checks (default 1000) from a day of minute
# history and the final report over D days (default 30), composed from a seeded store (read,
# figures, text and HTML), with a release build. Figures go to BENCHMARKS.md.
#
#   CARGO_TARGET_DIR=/work/target-bench bench/report-render.sh [N] [D]
set -eu
cd "$(dirname "$0")/.."
cargo build --release --example report_render
exec "${CARGO_TARGET_DIR:-target}/release/examples/report_render" "${1:-1000}" "${2:-30}"
