#!/usr/bin/env bash
# Status page under load: does watching the page cost probing anything? Main's binary and this
# checkout's, side by side in one run.
#
# usage: bench/status-page-load.sh [N=500] [SECONDS=20] [CONNECTIONS=32]
#
# Starts nginx (Debian nginx-light) on a free loopback port serving /health, generates a plan with
# N http checks at a 1 s interval, and for each binary — the base (default: /work/main's HEAD
# commit, built from `git archive` in a temporary folder; BASE_REF or BASE_REPO to change) and this
# checkout — runs golive, warms up, then measures three windows of SECONDS each: nobody watching,
# `wrk -cCONNECTIONS` on `/` plain, and the same with `Accept-Encoding: gzip`. Per window: p99
# probe schedule lag (delta of golive_probe_schedule_lag_seconds, interpolated in the bucket),
# probes per second (delta of golive_check_results_total), golive's CPU (utime+stime), wrk's
# requests/s and transfer/s, and golive_status_page_renders_total where the binary has it.
# Prints one table with `uptime`'s load average beside every run. Not part of the test suite.
#
# Both daemons run at once (each on its own copy of the plan); the windows alternate between them,
# so both see the same machine load; ROUNDS (default 1) repeats the six windows.
#
# Environment: WARMUP (default 10), THREADS (wrk threads, default 2), ROUNDS (default 1), BASE_REF (default: HEAD of
# BASE_REPO), BASE_REPO (default /work/main), CARGO_TARGET_DIR (respected; both builds share it,
# one after the other, so dependencies compile once).
set -euo pipefail

N=${1:-500}
DUR=${2:-20}
CONNS=${3:-32}
WARMUP=${WARMUP:-10}
THREADS=${THREADS:-2}
BASE_REPO=${BASE_REPO:-/work/main}

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

die() { echo "status-page-load: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

need=()
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || need+=(nginx-light)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v curl >/dev/null 2>&1 || need+=(curl)
if ((${#need[@]})); then
    log "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
export PATH="$PATH:/usr/sbin:/sbin"

W=$(mktemp -d /tmp/golive-page-bench.XXXXXX)
NGINX_PID=""
PIDS=()
stop_pid() { # pid: TERM, wait up to 10 s, then KILL
    local p=$1 i
    [[ -n "$p" ]] || return 0
    kill -TERM "$p" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
}
cleanup() {
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    stop_pid "$NGINX_PID"
    wait 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- builds: the base first (its binary copied aside), then this checkout -----------------------
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
[[ "$TARGET_DIR" = /* ]] || TARGET_DIR="$ROOT/$TARGET_DIR"
export CARGO_TARGET_DIR="$TARGET_DIR"
BASE_REF=${BASE_REF:-$(git -C "$BASE_REPO" rev-parse HEAD)}
THIS_REF=$(git -C "$ROOT" rev-parse HEAD)
# The base binary is kept by commit, so a second run does not build it again.
BASE_BIN="$TARGET_DIR/status-page-bench/golive-$BASE_REF"
if [[ ! -x "$BASE_BIN" ]]; then
    mkdir -p "$W/base-src" "$(dirname "$BASE_BIN")"
    git -C "$BASE_REPO" archive "$BASE_REF" | tar -x -C "$W/base-src"
    log "cargo build --release (base $BASE_REF)"
    (cd "$W/base-src" && cargo build --release --quiet)
    cp "$TARGET_DIR/release/golive" "$BASE_BIN"
fi
cp "$BASE_BIN" "$W/golive-base"
log "cargo build --release (this checkout, $THIS_REF)"
(cd "$ROOT" && cargo build --release --quiet)
cp "$TARGET_DIR/release/golive" "$W/golive-this"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- nginx target -------------------------------------------------------------------------------
PORT=$(free_port)
mkdir -p "$W/www"; chmod 755 "$W" "$W/www"
echo ok > "$W/www/health"
cat > "$W/nginx.conf" <<NG
worker_processes 1; pid $W/nginx.pid; error_log $W/nginx.err; daemon off;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; keepalive_timeout 75s;
       server { listen 127.0.0.1:$PORT; root $W/www; } }
NG
nginx -c "$W/nginx.conf" >"$W/nginx.out" 2>&1 &
NGINX_PID=$!
for ((i = 0; i < 50; i++)); do curl -fs "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$PORT/health" >/dev/null || die "nginx did not start"

# --- the plan -----------------------------------------------------------------------------------
mkdir -p "$W/plan-base" "$W/plan-this"
{
    cat <<TOML
[launch]
name = "status page benchmark"
timezone = "UTC"
go_live = 2099-01-01T00:00:00
hypercare_days = 1
data_dir = "data"

[[people]]
id = "bench"
name = "Bench"
role = "ops_lead"
email = "bench@example.invalid"

[[checklist]]
id = "bench"
title = "Benchmark only"
owner = "bench"

[rollback]
procedure = "none (benchmark)"

TOML
    for ((k = 1; k <= N; k++)); do
        printf '[[checks]]\nid = "c%d"\nkind = "http"\nurl = "http://127.0.0.1:%s/health?i=%d"\ninterval = "1s"\ntimeout = "900ms"\nphases = ["planned"]\n\n' "$k" "$PORT" "$k"
    done
} > "$W/plan-base/plan.toml"
cp "$W/plan-base/plan.toml" "$W/plan-this/plan.toml"

RESULTS="$W/results"
: > "$RESULTS"

# One window: metrics and CPU before and after, wrk (or nothing) in between; one result line.
window() { # binary-label mode url pid round
    local label=$1 mode=$2 url=$3 pid=$4 d="$W/$1-$2-$5"
    mkdir -p "$d"
    cat "/proc/$pid/stat" > "$d/stat0"; date +%s.%N > "$d/t0"
    curl -fsS "$url/metrics" > "$d/m0"
    case $mode in
        idle) sleep "$DUR"; : > "$d/wrk" ;;
        plain) wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" --latency "$url/" > "$d/wrk" 2>&1 ;;
        gzip) wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" --latency -H 'Accept-Encoding: gzip' "$url/" > "$d/wrk" 2>&1 ;;
    esac
    curl -fsS "$url/metrics" > "$d/m1"
    cat "/proc/$pid/stat" > "$d/stat1"; date +%s.%N > "$d/t1"
    local load
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    curl -fsS "$url/" -o "$d/page.html"
    curl -fsS -H 'Accept-Encoding: gzip' "$url/" -o "$d/page.gz"
    python3 - "$label" "$mode" "$d" "$(getconf CLK_TCK)" "$load" >> "$RESULTS" <<'PY'
import os, re, sys
label, mode, d, hz, load = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]
def ticks(path):
    s = open(path).read()
    f = s[s.rindex(")") + 2:].split()
    return int(f[11]) + int(f[12])
def metrics(path):
    res, lag, renders = 0.0, {}, None
    pat = re.compile(r'^(\w+)(?:\{([^}]*)\})?\s+(\S+)')
    for line in open(path):
        m = pat.match(line)
        if not m or line.startswith("#"):
            continue
        name, labels, val = m.group(1), m.group(2) or "", float(m.group(3))
        if name == "golive_check_results_total":
            res += val
        elif name == "golive_probe_schedule_lag_seconds_bucket":
            le = re.search(r'le="([^"]*)"', labels).group(1)
            lag[float("inf") if le == "+Inf" else float(le)] = val
        elif name == "golive_status_page_renders_total":
            renders = val
    return res, lag, renders
wall = float(open(f"{d}/t1").read()) - float(open(f"{d}/t0").read())
cpu = (ticks(f"{d}/stat1") - ticks(f"{d}/stat0")) / hz
r0, l0, n0 = metrics(f"{d}/m0"); r1, l1, n1 = metrics(f"{d}/m1")
les = sorted(l1); cum = [l1[b] - l0.get(b, 0) for b in les]
p99 = "n/a"
if cum and cum[-1] > 0:
    target, prev_le, prev_c = 0.99 * cum[-1], 0.0, 0.0
    for le, c in zip(les, cum):
        if c >= target:
            p99 = f">{prev_le*1000:g}ms" if le == float("inf") else \
                f"{(prev_le + (le - prev_le) * ((target - prev_c) / (c - prev_c) if c > prev_c else 1.0))*1000:.1f}ms"
            break
        prev_le, prev_c = le, c
w = open(f"{d}/wrk").read()
rps = re.search(r"Requests/sec:\s+(\S+)", w); tps = re.search(r"Transfer/sec:\s+(\S+)", w)
wp99 = re.search(r"^\s+99%\s+(\S+)", w, re.M)
renders = "-" if n1 is None else f"{n1 - n0:.0f}"
print(f"binary={label} mode={mode} probes_per_s={(r1 - r0) / wall:.0f} p99_lag={p99} cpu_pct={100 * cpu / wall:.0f} "
      f"req_per_s={rps.group(1) if rps else '-'} transfer={tps.group(1) if tps else '-'} wrk_p99={wp99.group(1) if wp99 else '-'} "
      f"renders={renders} page_kb={os.path.getsize(f'{d}/page.html') / 1024:.0f} gzip_kb={os.path.getsize(f'{d}/page.gz') / 1024:.0f} "
      f"load={load.replace(' ', '/')}")
PY
    tail -1 "$RESULTS" >&2
}

# Starts one binary on its own copy of the plan; sets URL_<label> and PID_<label>.
start_binary() { # label
    local label=$1 url="" i pid
    log "golive [$label]: $N checks at 1 s"
    "$W/golive-$label" run "$W/plan-$label/plan.toml" --listen 127.0.0.1:0 >"$W/$label.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    for ((i = 0; i < 300; i++)); do
        if [[ -s "$W/plan-$label/data/daemon.json" ]]; then
            url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$W/plan-$label/data/daemon.json" 2>/dev/null || true)
            [[ -n "$url" ]] && curl -fs "$url/readyz" >/dev/null 2>&1 && break
        fi
        kill -0 "$pid" 2>/dev/null || die "golive [$label] exited: $(tail -20 "$W/$label.log")"
        sleep 0.1
    done
    [[ -n "$url" ]] || die "golive [$label] did not become ready"
    printf -v "URL_$label" '%s' "$url"
    printf -v "PID_$label" '%s' "$pid"
}

# Both binaries run at once, so each window's neighbour (probing, nobody watching it) shares the
# machine's load; the windows alternate between them, ROUNDS times.
PIDS=()
start_binary base
start_binary this
log "warm-up ${WARMUP}s, then windows of ${DUR}s: idle, plain, gzip; main and this branch in turn"
sleep "$WARMUP"
for ((round = 1; round <= ${ROUNDS:-1}; round++)); do
    for mode in idle plain gzip; do
        for label in base this; do
            url_var="URL_$label"; pid_var="PID_$label"
            window "$label" "$mode" "${!url_var}" "${!pid_var}" "$round"
            sleep 3
        done
    done
done
for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
PIDS=()

echo
echo "status-page-load: $N checks at 1 s, wrk -t$THREADS -c$CONNS -d${DUR}s on / ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs)"
echo "base $BASE_REF, this $THIS_REF"
echo
python3 - "$RESULTS" "$CONNS" <<'PY'
import sys
conns = sys.argv[2]
rows = [dict(kv.split("=", 1) for kv in line.split()) for line in open(sys.argv[1]) if line.strip()]
cols = [("binary", "binary"), ("mode", "viewers"), ("probes_per_s", "probes/s"), ("p99_lag", "p99 lag"),
        ("cpu_pct", "golive CPU %"), ("req_per_s", "page req/s"), ("transfer", "transfer/s"),
        ("wrk_p99", "page p99"), ("renders", "renders"), ("page_kb", "page KiB"), ("gzip_kb", "gzip KiB"),
        ("load", "load avg")]
print("| " + " | ".join(title for _, title in cols) + " |")
print("|" + "|".join("---" for _ in cols) + "|")
names = {"idle": "nobody", "plain": f"{conns} × plain", "gzip": f"{conns} × gzip"}
for r in rows:
    r = dict(r, mode=names.get(r["mode"], r["mode"]), binary="main" if r["binary"] == "base" else "this branch")
    print("| " + " | ".join(r.get(key, "-") for key, _ in cols) + " |")
PY
