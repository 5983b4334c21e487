#!/usr/bin/env bash
# Alert-latency benchmark: golive vs. Prometheus + blackbox_exporter + Alertmanager, in one run.
#
# usage: bench/alert-latency.sh [ROUNDS=20]
#
# Measures end-to-end alert latency: from the moment an HTTP health endpoint starts failing (at a
# random point of the probe interval) to the moment an SMTP server has accepted the alert email.
#
# golive side (1,000 other checks running meanwhile):
#   - ../shared/bench/flip_target.py: /health answers 200, or 503 after POST /control/fail; the
#     answer of that POST carries `flipped_at`, the target's time.time() at the flip.
#   - ../shared/bench/smtp_sink.py (run with /usr/bin/python3, needs python3-aiosmtpd): logs
#     "<time.time() when DATA completed>\t<subject>" for every message it accepts.
#   - nginx (nginx-light) on loopback: the target of BG_CHECKS (1,000) background http checks at a
#     1 s interval (as in bench/probe-load.sh), so golive is under the usual probing load.
#   - a plan with those checks plus one critical http check `flip` on the flip target
#     (interval 1s, failure_threshold 2, timeout 900ms), [smtp] to the sink (tls "none",
#     allow_insecure), one email channel, a policy paging one person at level 1 (after "0s"),
#     group_window at its default. golive runs as `golive run PLAN --listen 127.0.0.1:0` (release).
#   - after WARMUP seconds, each round: wait 1 s + a random 0..1 s; POST /control/fail; wait for
#     the alert email at the sink; latency = sink's accept time - target's flipped_at (the same
#     machine clock); POST /control/ok; wait until GET /api/v1/alerts?state=open is empty and the
#     RESOLVED email has arrived. golive is not queried between the flip and the alert email.
#   - per round, where the time went (relative to the flip): the first 503 served (target), the
#     start of golive's second failing probe (`recent` of GET /api/v1/checks/flip), the alert's
#     opened_at (GET /api/v1/alerts), the email accepted (sink).
#
# Detection at a long interval (DETECT_ROUNDS > 0), after the 1 s rounds, on the same target, sink
# and nginx: a fresh golive with DETECT_CHECKS (20) critical http checks `d1`.. on the flip target at
# DETECT_INTERVAL (30s), failure_threshold 2, the default retry_interval (plus the background
# checks). Each check starts at its own offset in the interval (a hash of its id), so one flip is
# DETECT_CHECKS samples at different phases of the schedule. Per round: wait 1 s + a random fraction
# of the interval, flip to failing, wait until every d-check has an open alert, detection =
# alert opened_at - flipped_at per check; flip back and wait until every alert resolved. With
# DETECT_BEFORE=1 (default) the same is run again with `retry_interval = DETECT_INTERVAL` (retries
# off: the behaviour before retry_interval existed), for the comparison in one run.
#
# Peer side: ../shared/bench/peer-alert-latency.sh (resolved relative to this script) with
# `tuned:PEER_ROUNDS` (for: 2s) and `--for 1s tuned:PEER_ROUNDS` (fires on the second failing
# probe, like failure_threshold = 2), same flip target and sink. It flips at a random phase of its
# 1 s schedule too, but takes the flip time on the client right before the POST (a few ms earlier
# than the target's flipped_at); this script reports that difference as measured on its own side.
#
# Then prints median, p90, p99, min, max for each side and one side-by-side table. Percentiles are
# nearest-rank (with 20 rounds p99 is the maximum); the median is the mean of the two middle values
# for an even count, as in the peer script.
#
# Environment: BG_CHECKS (1000), WARMUP (10 s), DETECT_ROUNDS (3; 0 skips the detection part),
# DETECT_CHECKS (20), DETECT_INTERVAL (30s, a golive duration in whole seconds), DETECT_BEFORE (1), PEER (1; 0 skips the peer side), PEER_ROUNDS
# (= ROUNDS), PEER_DEFAULTS (0; N > 0 also runs the peer's `defaults:N`, about 2 minutes a round),
# RESULTS_DIR (if set, the per-round TSVs and golive's log are copied there), CARGO_TARGET_DIR
# (respected), GOLIVE_BIN (use this prebuilt release binary instead of building). Installs the Debian packages it needs when missing. Everything listens on
# 127.0.0.1 on free ports; every process and the temp dir are removed on exit. Not part of the
# test suite.
set -euo pipefail

ROUNDS=${1:-20}
BG_CHECKS=${BG_CHECKS:-1000}
WARMUP=${WARMUP:-10}
PEER=${PEER:-1}
PEER_ROUNDS=${PEER_ROUNDS:-$ROUNDS}
PEER_DEFAULTS=${PEER_DEFAULTS:-0}
DETECT_ROUNDS=${DETECT_ROUNDS:-3}
DETECT_CHECKS=${DETECT_CHECKS:-20}
DETECT_INTERVAL=${DETECT_INTERVAL:-30s}
DETECT_BEFORE=${DETECT_BEFORE:-1}
PY=/usr/bin/python3

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED="$(dirname "$0")/../../shared/bench"
PEER_SCRIPT="$SHARED/peer-alert-latency.sh"

die() { echo "alert-latency: $*" >&2; exit 1; }
log() { echo "== $(date +%T) $*" >&2; }

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, got '$ROUNDS'"
[[ $PEER_ROUNDS =~ ^[1-9][0-9]*$ ]] || die "PEER_ROUNDS must be a positive integer, got '$PEER_ROUNDS'"
[[ $PEER_DEFAULTS =~ ^[0-9]+$ ]] || die "PEER_DEFAULTS must be a number, got '$PEER_DEFAULTS'"
[[ $BG_CHECKS =~ ^[0-9]+$ ]] || die "BG_CHECKS must be a number, got '$BG_CHECKS'"
[[ $DETECT_ROUNDS =~ ^[0-9]+$ ]] || die "DETECT_ROUNDS must be a number, got '$DETECT_ROUNDS'"
[[ $DETECT_CHECKS =~ ^[1-9][0-9]*$ ]] || die "DETECT_CHECKS must be a positive integer, got '$DETECT_CHECKS'"
[[ $DETECT_INTERVAL =~ ^[1-9][0-9]*s$ ]] || die "DETECT_INTERVAL must be whole seconds like 30s, got '$DETECT_INTERVAL'"
for f in flip_target.py smtp_sink.py; do
    [[ -f "$SHARED/$f" ]] || die "$SHARED/$f not found (expected ../shared/bench/ beside the repo)"
done
if [[ "$PEER" != 0 && ! -f "$PEER_SCRIPT" ]]; then
    die "peer harness not found at $PEER_SCRIPT (expected ../shared/bench/peer-alert-latency.sh beside the repo); set PEER=0 to skip the peer side"
fi
SHARED=$(cd "$SHARED" && pwd)
PEER_SCRIPT="$SHARED/peer-alert-latency.sh"

# --- packages -----------------------------------------------------------------------------------
export PATH="$PATH:/usr/sbin:/sbin"
need=()
command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
command -v curl >/dev/null 2>&1 || need+=(curl)
[[ -x $PY ]] || need+=(python3)
if [[ "$PEER" != 0 ]]; then
    command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
    command -v prometheus-blackbox-exporter >/dev/null 2>&1 || need+=(prometheus-blackbox-exporter)
    command -v prometheus-alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
    command -v jq >/dev/null 2>&1 || need+=(jq)
    command -v ss >/dev/null 2>&1 || need+=(iproute2)
fi
{ [[ -x $PY ]] && "$PY" -c 'import aiosmtpd' 2>/dev/null; } || need+=(python3-aiosmtpd)
if ((${#need[@]})); then
    log "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
"$PY" -c 'import aiosmtpd' 2>/dev/null || die "$PY cannot import aiosmtpd (apt-get install python3-aiosmtpd)"

# --- build --------------------------------------------------------------------------------------
if [[ -n "${GOLIVE_BIN:-}" ]]; then
    GOLIVE=$GOLIVE_BIN   # a prebuilt release binary, e.g. of another commit; no build
else
    log "cargo build --release"
    (cd "$ROOT" && cargo build --release --quiet)
    TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
    [[ "$TARGET_DIR" = /* ]] || TARGET_DIR="$ROOT/$TARGET_DIR"
    GOLIVE="$TARGET_DIR/release/golive"
fi
[[ -x "$GOLIVE" ]] || die "no binary at $GOLIVE"

# --- workspace and cleanup ----------------------------------------------------------------------
W=$(mktemp -d /tmp/golive-alert-latency.XXXXXX)
PIDS=() # everything this script starts itself (the peer script cleans up after itself)
stop_pid() { # pid: TERM, wait up to 10 s, then KILL
    local p=$1 i
    [[ -n "$p" ]] || return 0
    kill -TERM "$p" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null || true
}
stop_all() {
    local i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}"; done # newest (golive) first
    PIDS=()
}
cleanup() {
    stop_all
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    "$PY" - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}
# Keep clear of the peer script's ports (base 31000 by default: +25, +80, +90, +93, +115).
pick_port() {
    local p
    while :; do
        p=$(free_port)
        [[ $p -ge 31000 && $p -le 31200 ]] || { echo "$p"; return; }
    done
}
wait_http() { # url seconds
    local i
    for ((i = 0; i < $2 * 10; i++)); do curl -fs -o /dev/null --max-time 1 "$1" && return 0; sleep 0.1; done
    return 1
}

# --- machine ------------------------------------------------------------------------------------
{
    echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "cpu: $(nproc) x $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
    echo "memory: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "kernel: $(uname -sr); $(. /etc/os-release && echo "$PRETTY_NAME")"
    if [[ -n "${GOLIVE_BIN:-}" ]]; then
        echo "golive: $("$GOLIVE" --version 2>/dev/null || echo '?'), prebuilt $GOLIVE_BIN; $(rustc --version 2>/dev/null || echo 'rustc ?')"
    else
        echo "golive: $("$GOLIVE" --version 2>/dev/null || echo '?'), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || echo ' + uncommitted changes in src'); $(rustc --version 2>/dev/null || echo 'rustc ?')"
    fi
    echo "nginx: $(nginx -v 2>&1 | sed 's/.*nginx\///'); python: $("$PY" --version 2>&1); aiosmtpd: $("$PY" -c 'import aiosmtpd; print(aiosmtpd.__version__)' 2>/dev/null || echo '?')"
    if [[ "$PEER" != 0 ]]; then
        echo "peer: $(prometheus --version 2>&1 | head -1); $(prometheus-alertmanager --version 2>&1 | head -1); $(prometheus-blackbox-exporter --version 2>&1 | head -1)"
    fi
    echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$W/machine"
cat "$W/machine" >&2

# --- flip target, SMTP sink, nginx --------------------------------------------------------------
FLIP_PORT=$(pick_port)
"$PY" "$SHARED/flip_target.py" --host 127.0.0.1 --port "$FLIP_PORT" >"$W/flip_target.log" 2>&1 &
PIDS+=($!)
SMTP_PORT=$(pick_port)
[[ $SMTP_PORT != "$FLIP_PORT" ]] || SMTP_PORT=$(pick_port)
"$PY" "$SHARED/smtp_sink.py" --host 127.0.0.1 --port "$SMTP_PORT" --log "$W/mail.log" --maildir "$W/maildir" \
    >"$W/smtp_sink.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$FLIP_PORT/health" 10 || die "flip_target did not start: $(cat "$W/flip_target.log")"
for ((i = 0; i < 100; i++)); do grep -q listening "$W/smtp_sink.log" 2>/dev/null && break; sleep 0.1; done
grep -q listening "$W/smtp_sink.log" || die "smtp_sink did not start: $(cat "$W/smtp_sink.log")"
log "flip_target on 127.0.0.1:$FLIP_PORT, smtp_sink on 127.0.0.1:$SMTP_PORT"

NGINX_PORT=$(pick_port)
mkdir -p "$W/www"; chmod 755 "$W" "$W/www"
echo ok > "$W/www/health"
cat > "$W/nginx.conf" <<NG
worker_processes 1; pid $W/nginx.pid; error_log $W/nginx.err; daemon off;
worker_rlimit_nofile 65536;
events { worker_connections 16384; }
http { access_log off; keepalive_requests 1000000; keepalive_timeout 75s;
       server { listen 127.0.0.1:$NGINX_PORT; root $W/www; } }
NG
nginx -c "$W/nginx.conf" >"$W/nginx.out" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$NGINX_PORT/health" 5 || die "nginx did not start: $(cat "$W/nginx.err" "$W/nginx.out" 2>/dev/null)"
log "nginx on 127.0.0.1:$NGINX_PORT"

# --- plan ---------------------------------------------------------------------------------------
# write_plan DIR: the launch, the sink, the paging policy, then the checks read from stdin, then the
# background checks.
write_plan() {
    local dir=$1
    mkdir -p "$dir"
    {
    cat <<TOML
[launch]
name = "alert-latency benchmark"
timezone = "UTC"
go_live = 2099-01-01T00:00:00
hypercare_days = 1
data_dir = "data"

[[people]]
id = "oncall"
name = "On Call"
role = "ops_lead"
email = "oncall@bench.invalid"

[[checklist]]
id = "bench"
title = "Benchmark only"
owner = "oncall"

[rollback]
procedure = "none (benchmark)"

[smtp]
host = "127.0.0.1"
port = $SMTP_PORT
tls = "none"
allow_insecure = true
from = "golive <golive@bench.invalid>"

[[channels]]
id = "email"
kind = "email"

[[escalation]]
id = "page"
levels = [{ after = "0s", notify = ["oncall"], channels = ["email"] }]

[alerting]
policies = { critical = "page" }

TOML
    cat
    "$PY" - "$BG_CHECKS" "$NGINX_PORT" <<'PY'
import sys
n, port = int(sys.argv[1]), sys.argv[2]
sys.stdout.write("".join(
    f'[[checks]]\nid = "c{k}"\nkind = "http"\nurl = "http://127.0.0.1:{port}/health?i={k}"\n'
    f'interval = "1s"\ntimeout = "900ms"\nphases = ["planned"]\n\n' for k in range(1, n + 1)))
PY
    } > "$dir/plan.toml"
    "$GOLIVE" check "$dir/plan.toml" >"$W/check.out" 2>&1 || die "the generated plan is invalid: $(cat "$W/check.out")"
}
PLAN_DIR="$W/golive"
write_plan "$PLAN_DIR" <<TOML
[[checks]]
id = "flip"
name = "Flip target"
kind = "http"
url = "http://127.0.0.1:$FLIP_PORT/health"
severity = "critical"
interval = "1s"
timeout = "900ms"
failure_threshold = 2
phases = ["planned"]

TOML

# --- golive -------------------------------------------------------------------------------------
# start_golive DIR: runs golive on DIR/plan.toml, sets GOLIVE_PID and URL once it is ready, then
# waits WARMUP seconds.
start_golive() {
    local dir=$1 i
    "$GOLIVE" run "$dir/plan.toml" --listen 127.0.0.1:0 >"$dir/golive.log" 2>&1 &
    GOLIVE_PID=$!
    PIDS+=("$GOLIVE_PID")
    URL=""
    for ((i = 0; i < 300; i++)); do
        if [[ -s "$dir/data/daemon.json" ]]; then
            URL=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$dir/data/daemon.json" 2>/dev/null || true)
            [[ -n "$URL" ]] && curl -fs -o /dev/null "$URL/readyz" 2>/dev/null && break
        fi
        kill -0 "$GOLIVE_PID" 2>/dev/null || die "golive exited: $(tail -20 "$dir/golive.log")"
        sleep 0.1
    done
    [[ -n "$URL" ]] && curl -fs -o /dev/null "$URL/readyz" || die "golive did not become ready: $(tail -20 "$dir/golive.log")"
    sleep "$WARMUP"
}
log "golive: 1 critical check + $BG_CHECKS background checks at 1 s; warm-up ${WARMUP}s"
start_golive "$PLAN_DIR"

# --- rounds -------------------------------------------------------------------------------------
cat > "$W/rounds.py" <<'PY'
"""Drives the golive rounds; prints one line per round on stderr and a TSV row per round."""
import json, random, re, sys, time, urllib.request
from datetime import datetime

golive, target, mail_log, rounds, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
TIMEOUT = 30.0

def req(url, method="GET"):
    r = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(r, timeout=5) as resp:
        return json.load(resp)

def ts(s):
    """RFC 3339 (as golive writes it, up to ns) -> Unix seconds."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", s)
    whole = datetime.fromisoformat(m.group(1) + m.group(3).replace("Z", "+00:00")).timestamp()
    return whole + (float("0." + m.group(2)) if m.group(2) else 0.0)

def mail_lines():
    with open(mail_log, encoding="utf-8") as f:
        return [l.rstrip("\n").split("\t", 1) for l in f if "\t" in l]

def wait_mail(after, pred, deadline):
    """The first sink line at index >= after whose subject satisfies pred, polling every 10 ms."""
    while time.time() < deadline:
        lines = mail_lines()
        for i in range(after, len(lines)):
            if pred(lines[i][1]):
                return i, float(lines[i][0]), lines[i][1]
        time.sleep(0.01)
    return None

def open_alerts():
    """Open alerts of the flip check (key "check:flip")."""
    return [a for a in req(golive + "/api/v1/alerts?state=open")["alerts"] if a.get("key") == "check:flip"]

def recent(check):
    body = req(golive + f"/api/v1/checks/{check}")
    c = body.get("check", body)
    return c.get("recent") or body.get("recent") or []

# Only the critical flip check has a policy, so every email is about it.
# Subjects are state-tagged: "[CRITICAL] Flip target — ..." and "[RESOLVED] Flip target — ...".
is_alert = lambda s: "Flip target" in s and "RESOLVED" not in s
is_resolved = lambda s: "RESOLVED" in s

if open_alerts():
    sys.exit("an alert is already open before the first round: " + json.dumps(open_alerts()))
with open(out, "w") as tsv:
    tsv.write("round\tflip_unix\tclient_offset_s\tprobe1_s\tprobe2_s\topened_s\tlatency_s\tresolved_email_s\n")
    failed = 0
    for rnd in range(1, rounds + 1):
        time.sleep(1.0 + random.random())          # random phase of the 1 s probe schedule
        seen = len(mail_lines())
        client_t = time.time()                     # what the peer script takes as the flip time
        flip = req(target + "/control/fail", "POST")["flipped_at"]
        got = wait_mail(seen, is_alert, flip + TIMEOUT)
        if got is None:
            failed += 1
            print(f"golive   round {rnd:2d}/{rounds}  FAILED: no alert email within {TIMEOUT:.0f} s; "
                  f"open alerts: {json.dumps(open_alerts())}", file=sys.stderr)
        else:
            idx, accepted, subject = got
            latency = accepted - flip
            # Breakdown, read only now (golive is not queried while the alert is on its way).
            first = req(target + "/control/state")["first_fail_served_at"]
            fails = sorted(ts(r["at"]) for r in recent("flip")
                           if r.get("outcome") == "failing" and ts(r["at"]) >= flip - 1.0)
            probe2 = fails[1] - flip if len(fails) >= 2 else float("nan")
            opened = open_alerts()
            opened_s = ts(opened[0]["opened_at"]) - flip if opened else float("nan")
            probe1 = first - flip if first else float("nan")
        req(target + "/control/ok", "POST")
        res = wait_mail(seen, is_resolved, time.time() + TIMEOUT)
        deadline = time.time() + TIMEOUT
        while open_alerts() and time.time() < deadline:
            time.sleep(0.1)
        if open_alerts() or res is None:
            sys.exit(f"round {rnd}: the alert did not resolve within {TIMEOUT:.0f} s (resolution email: {res is not None})")
        if got is None:
            continue
        res_s = res[1] - flip
        print(f"golive   round {rnd:2d}/{rounds}  latency {latency:7.3f} s   (probe saw 503 +{probe1:.3f}  "
              f"2nd failing probe +{probe2:.3f}  alert opened +{opened_s:.3f}  email +{latency:.3f})",
              file=sys.stderr)
        tsv.write(f"{rnd}\t{flip:.6f}\t{flip - client_t:.6f}\t{probe1:.6f}\t{probe2:.6f}\t{opened_s:.6f}\t"
                  f"{latency:.6f}\t{res_s:.6f}\n")
        tsv.flush()
sys.exit(1 if failed else 0)
PY
log "golive: $ROUNDS rounds"
GOLIVE_OK=1
"$PY" "$W/rounds.py" "$URL" "http://127.0.0.1:$FLIP_PORT" "$W/mail.log" "$ROUNDS" "$W/golive.tsv" || GOLIVE_OK=0
curl -fsS "$URL/metrics" > "$W/golive.metrics" 2>/dev/null || true
CHECKS_JSON=$(curl -fsS "$URL/api/v1/status" 2>/dev/null || echo '{}')
echo "$CHECKS_JSON" > "$W/golive.status"
if [[ -n "${RESULTS_DIR:-}" ]]; then
    mkdir -p "$RESULTS_DIR"
    cp "$W/golive.tsv" "$PLAN_DIR/golive.log" "$W/mail.log" "$W/golive.metrics" "$W/machine" "$RESULTS_DIR/" 2>/dev/null || true
fi
stop_pid "$GOLIVE_PID"
echo "load average after golive's 1 s rounds: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$W/machine"

# --- detection at a long interval ---------------------------------------------------------------
cat > "$W/detect.py" <<'PY'
"""Flips the target, waits until every d-check has an open alert, records opened_at - flipped_at."""
import json, random, re, sys, time, urllib.request
from datetime import datetime

golive, target, rounds, checks, interval, out, label = sys.argv[1:8]
rounds, checks, interval = int(rounds), int(checks), float(interval)
TIMEOUT = 3 * interval + 15

def req(url, method="GET"):
    r = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(r, timeout=5) as resp:
        return json.load(resp)

def ts(s):
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", s)
    whole = datetime.fromisoformat(m.group(1) + m.group(3).replace("Z", "+00:00")).timestamp()
    return whole + (float("0." + m.group(2)) if m.group(2) else 0.0)

def open_d_alerts():
    return {a["key"]: ts(a["opened_at"]) for a in req(golive + "/api/v1/alerts?state=open")["alerts"]
            if a.get("key", "").startswith("check:d")}

with open(out, "a") as tsv:
    for rnd in range(1, rounds + 1):
        time.sleep(1.0 + random.random() * interval)   # a random phase of the schedule
        flip = req(target + "/control/fail", "POST")["flipped_at"]
        deadline = flip + TIMEOUT
        opened = {}
        while time.time() < deadline:
            opened = {k: t for k, t in open_d_alerts().items() if t >= flip - 0.5}
            if len(opened) == checks:
                break
            time.sleep(0.2)
        if len(opened) < checks:
            print(f"{label} round {rnd}: only {len(opened)} of {checks} alerts within {TIMEOUT:.0f} s", file=sys.stderr)
        lat = sorted(t - flip for t in opened.values())
        for key, t in sorted(opened.items()):
            tsv.write(f"{label}\t{rnd}\t{key}\t{t - flip:.6f}\n")
        tsv.flush()
        mid = lat[len(lat) // 2] if lat else float("nan")
        print(f"detect {label:<7} round {rnd}/{rounds}: {len(lat)} alerts, detection min {lat[0] if lat else float('nan'):.2f} "
              f"median~{mid:.2f} max {lat[-1] if lat else float('nan'):.2f} s", file=sys.stderr)
        req(target + "/control/ok", "POST")
        deadline = time.time() + TIMEOUT
        while open_d_alerts() and time.time() < deadline:
            time.sleep(0.5)
        if open_d_alerts():
            sys.exit(f"{label} round {rnd}: alerts did not resolve within {TIMEOUT:.0f} s")
PY
: > "$W/detect.tsv"
DETECT_LABELS=()
if ((DETECT_ROUNDS > 0)); then
    DETECT_SECONDS=${DETECT_INTERVAL%s}
    detect() { # label extra-key-line
        local label=$1 extra=$2 dir="$W/detect-$1" k
        write_plan "$dir" < <(for ((k = 1; k <= DETECT_CHECKS; k++)); do
            printf '[[checks]]\nid = "d%s"\nkind = "http"\nurl = "http://127.0.0.1:%s/health"\nseverity = "critical"\ninterval = "%s"\nfailure_threshold = 2\nphases = ["planned"]\n%s\n\n' \
                "$k" "$FLIP_PORT" "$DETECT_INTERVAL" "$extra"
        done)
        log "golive detection [$label]: $DETECT_CHECKS checks at $DETECT_INTERVAL ${extra:-(default retry_interval)}, $DETECT_ROUNDS rounds"
        start_golive "$dir"
        "$PY" "$W/detect.py" "$URL" "http://127.0.0.1:$FLIP_PORT" "$DETECT_ROUNDS" "$DETECT_CHECKS" "$DETECT_SECONDS" \
            "$W/detect.tsv" "$label" || log "detection [$label] did not finish every round"
        stop_pid "$GOLIVE_PID"
        DETECT_LABELS+=("$label")
        echo "load average after detection [$label]: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$W/machine"
    }
    detect retries ""
    ((DETECT_BEFORE)) && detect before "retry_interval = \"$DETECT_INTERVAL\""
    if [[ -n "${RESULTS_DIR:-}" ]]; then cp "$W/detect.tsv" "$RESULTS_DIR/" 2>/dev/null || true; fi
fi
stop_all   # nginx, target and sink: the peer stack starts its own

# --- peer ---------------------------------------------------------------------------------------
PEER_FILES=()
if [[ "$PEER" != 0 ]]; then
    base=""
    for b in 31000 30000 29000 28000 27000; do
        ok=1
        for off in 25 80 90 93 115; do
            [[ -z $(ss -Hltn "sport = :$((b + off))") ]] || { ok=0; break; }
        done
        ((ok)) && { base=$b; break; }
    done
    [[ -n $base ]] || die "no free port base for the peer script"
    run_peer() { # label args...
        local label=$1; shift
        log "peer [$label]: $PEER_SCRIPT $*"
        bash "$PEER_SCRIPT" --port-base "$base" -o "$W/peer-$label.tsv" "$@" 2>"$W/peer-$label.err" |
            tee "$W/peer-$label.out" >&2 || { log "peer [$label] reported failed rounds:"; tail -20 "$W/peer-$label.err" >&2; }
        PEER_FILES+=("$label=$W/peer-$label.tsv")
    }
    run_peer "for2s" "tuned:$PEER_ROUNDS"
    run_peer "for1s" --for 1s "tuned:$PEER_ROUNDS"
    ((PEER_DEFAULTS > 0)) && run_peer "defaults" "defaults:$PEER_DEFAULTS"
    if [[ -n "${RESULTS_DIR:-}" ]]; then cp "$W"/peer-*.tsv "$RESULTS_DIR/" 2>/dev/null || true; fi
fi
echo "load average after all: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$W/machine"

# --- summary ------------------------------------------------------------------------------------
"$PY" - "$W/golive.tsv" "$W/machine" "$ROUNDS" "$BG_CHECKS" "$W/golive.metrics" "$W/detect.tsv" "$DETECT_INTERVAL" "${PEER_FILES[@]}" <<'PY'
import csv, math, re, statistics, sys
golive_tsv, machine, rounds, bg, metrics = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
detect_tsv, detect_interval = sys.argv[6], sys.argv[7]
peers = [a.split("=", 1) for a in sys.argv[8:]]

def rows(path):
    try:
        return list(csv.DictReader(open(path), delimiter="\t"))
    except FileNotFoundError:
        return []

def nearest_rank(v, q):
    return v[max(0, math.ceil(q * len(v)) - 1)]

def stats(values):
    v = sorted(values)
    return (statistics.median(v), nearest_rank(v, 0.90), nearest_rank(v, 0.99), v[0], v[-1]) if v else None

def med(values):
    v = [x for x in values if not math.isnan(x)]
    return statistics.median(v) if v else float("nan")

g = rows(golive_tsv)
table = []
lat = [float(r["latency_s"]) for r in g]
table.append((f"golive (+{bg} other checks at 1 s), interval 1s, failure_threshold 2", len(lat), rounds, stats(lat)))
labels = {"for1s": "peer, tuned, for: 1s (2nd failing probe)", "for2s": "peer, tuned, for: 2s (3rd failing probe)",
          "defaults": "peer, defaults (15 s, for: 1m, group_wait 30s)"}
peer_rows = {}
for label, path in peers:
    pr = [r for r in rows(path) if r.get("latency_s") not in (None, "", "NA")]
    peer_rows[label] = pr
    planned = None
    table.append((labels.get(label, label), len(pr), None, stats([float(r["latency_s"]) for r in pr])))

print()
print(open(machine).read().rstrip())
print()
print("Alert latency, target starts failing -> alert email accepted by the SMTP sink (seconds)")
print()
hdr = f"| {'stack':<70} | {'rounds':>6} | {'median':>6} | {'p90':>6} | {'p99':>6} | {'min':>6} | {'max':>6} |"
print(hdr)
print("|" + "|".join("-" * len(c) for c in hdr.split("|")[1:-1]) + "|")
for name, n, planned, s in table:
    if s is None:
        print(f"| {name:<70} | {n:>6} | {'-':>6} | {'-':>6} | {'-':>6} | {'-':>6} | {'-':>6} |")
    else:
        print(f"| {name:<70} | {n:>6} | {s[0]:6.3f} | {s[1]:6.3f} | {s[2]:6.3f} | {s[3]:6.3f} | {s[4]:6.3f} |")
print()
if g:
    f = lambda k: med([float(r[k]) for r in g])
    print(f"golive median breakdown after the flip: first 503 served +{f('probe1_s'):.3f}, 2nd failing probe started "
          f"+{f('probe2_s'):.3f}, alert opened +{f('opened_s'):.3f}, email accepted +{f('latency_s'):.3f}; "
          f"resolution email +{f('resolved_email_s'):.3f}")
    d = [float(r["latency_s"]) - float(r["opened_s"]) for r in g]
    e = [float(r["opened_s"]) - float(r["probe2_s"]) for r in g]
    print(f"golive: 2nd failing probe start -> alert opened: median {med(e)*1000:.0f} ms (max {max(e)*1000:.0f}); "
          f"alert opened -> email accepted: median {med(d)*1000:.0f} ms (max {max(d)*1000:.0f})")
    off = [float(r["client_offset_s"]) for r in g]
    print(f"client time before POST -> target's flipped_at: median {med(off)*1000:.1f} ms (max {max(off)*1000:.1f}); "
          f"the peer script measures from the client time, so its figures include this")
for label, pr in peer_rows.items():
    if pr:
        f = lambda k: med([float(r[k]) for r in pr if r[k] not in ("NA", "")])
        print(f"peer {label} median breakdown: probe saw 503 +{f('probe_saw_fail_s'):.3f}, pending +{f('pending_s'):.3f}, "
              f"firing +{f('firing_s'):.3f}, email +{f('latency_s'):.3f}")
if lat:
    s = stats(lat)
    print()
    print(f"targets: median <= 0.8 s: {'met' if s[0] <= 0.8 else 'NOT met'} ({s[0]:.3f}); "
          f"p99 <= 2.2 s: {'met' if s[2] <= 2.2 else 'NOT met'} ({s[2]:.3f}, nearest rank of {len(lat)})")
detect = {}
try:
    for line in open(detect_tsv):
        label, rnd, key, seconds = line.rstrip("\n").split("\t")
        detect.setdefault(label, []).append(float(seconds))
except FileNotFoundError:
    pass
if detect:
    print()
    print(f"Detection at interval {detect_interval}, failure_threshold 2: target starts failing -> alert opened (seconds)")
    print()
    names = {"retries": "golive, default retry_interval", "before": f"golive, retry_interval = {detect_interval} (retries off)"}
    hdr = f"| {'variant':<50} | {'samples':>7} | {'median':>7} | {'mean':>7} | {'p90':>7} | {'min':>7} | {'max':>7} |"
    print(hdr)
    print("|" + "|".join("-" * len(c) for c in hdr.split("|")[1:-1]) + "|")
    for label, values in detect.items():
        v = sorted(values)
        print(f"| {names.get(label, label):<50} | {len(v):>7} | {statistics.median(v):7.2f} | {statistics.mean(v):7.2f} | "
              f"{nearest_rank(v, 0.9):7.2f} | {v[0]:7.2f} | {v[-1]:7.2f} |")
    if "retries" in detect:
        m = statistics.median(detect["retries"])
        print(f"target: detection median <= 17 s at {detect_interval}: {'met' if m <= 17 else 'NOT met'} ({m:.2f})")
bg_res = {}
try:
    for line in open(metrics):
        m = re.match(r'golive_check_results_total\{([^}]*)\}\s+(\S+)', line)
        if m and 'check="flip"' not in m.group(1):
            r = re.search(r'result="([^"]*)"', m.group(1)).group(1)
            bg_res[r] = bg_res.get(r, 0) + float(m.group(2))
    print(f"background checks over the whole golive run: {bg_res.get('healthy', 0):.0f} healthy, "
          f"{bg_res.get('failing', 0):.0f} failing, {bg_res.get('unknown', 0):.0f} unknown probe results")
except FileNotFoundError:
    pass
if len(lat) < rounds:
    print(f"WARNING: golive produced an alert email in only {len(lat)} of {rounds} rounds")
PY
((GOLIVE_OK)) || exit 1
