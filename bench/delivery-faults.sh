#!/usr/bin/env bash
# Delivery under faults: golive vs. Alertmanager, in one run, on the same SMTP sink and clock.
#
# usage: bench/delivery-faults.sh [ROUNDS=3]
#
# Three scenarios, each measured for golive and then (or at the same time) for Alertmanager 0.25
# (Debian prometheus-alertmanager), the stack users put in front of their mail today:
#
# 1. Hung webhook. A chat webhook whose server accepts the connection and never answers
#    (bench/hung_webhook.py), and ALERTS (40) critical alerts opening at once.
#    golive: ALERTS http checks on one flip target (../shared/bench/flip_target.py, /health?p=K),
#    interval 1s, failure_threshold 1, all flipped to 503 with one POST; one escalation level =
#    email + the webhook channel (timeout "5s"); group_window = "0s", so each alert is its own page.
#    Per page: latency = email accepted by the sink - the alert's opened_at (GET /api/v1/alerts).
#    Peer: one receiver with an email config and a webhook config (the hung server), group_by
#    ['...'], group_wait 0s, group_interval 10s; the ALERTS alerts posted to /api/v2/alerts in one
#    request; latency = email accepted - the time right before the POST.
#    ROUNDS rounds each, a fresh daemon / Alertmanager (and data directory) per round.
# 2. Relay outage. The sink (bench/fault_sink.py) answers 421 to MAIL FROM while a control file
#    exists. The relay goes down; 1-3 s later (at random, so the recovery falls at a random point
#    of each stack's retry schedule) one critical check fails (golive: escalation levels after 0 s,
#    10 s, 20 s, each to a different person, email only) and one alert is posted to Alertmanager
#    (group_wait 0s, group_interval 10s; it has no escalation levels); OUTAGE (90) seconds after it
#    went down the file is removed ("relay back"). Figures: relay back -> each page accepted, the
#    arrival order, and how often each sender knocked during the outage. Both stacks share the sink
#    and the outage. OUTAGE_ROUNDS (3) rounds, a fresh daemon / Alertmanager each.
# 3. Storm. STORM (50) http checks flipped to failing together and back after STORM_SECONDS (40),
#    one escalation level to two people by email, group_window at its default; at the same moment
#    STORM alerts (one common label) posted to Alertmanager firing and later resolved, with
#    send_resolved: true, group_by [storm], group_wait PEER_GROUP_WAIT (30s, the default) and
#    group_interval PEER_GROUP_INTERVAL (1m; the default 5m only makes the resolution later).
#    Figure: messages per person at the sink (opening + resolution).
#
# All times are time.time() on this machine: the sink's accept time, the target's flip time,
# golive's opened_at, the moment the script posted to Alertmanager or ended the outage. The
# measuring logic is bench/delivery_faults.py; the table comes last. The machine is small and
# shared, so figures are noisy; the load average is printed before and after.
#
# Environment: ROUNDS (= $1, 3), ALERTS (40), OUTAGE (90 s, at least 25), OUTAGE_ROUNDS (3),
# STORM (50), STORM_SECONDS (40; keep it above PEER_GROUP_WAIT), SETTLE (10 s without new mail
# before golive's storm count is taken), PEER (1; 0 skips Alertmanager), PEER_GROUP_WAIT (30s),
# PEER_GROUP_INTERVAL (1m), RESULTS_DIR (keeps the raw results, logs and mail log there),
# GOLIVE_BIN (measure this prebuilt release binary instead of building), CARGO_TARGET_DIR
# (respected). Installs the Debian packages it needs when missing. Everything listens on 127.0.0.1
# on free ports; every process it starts and the temp dir are removed on exit. Not part of the
# test suite.
set -euo pipefail

ROUNDS=${1:-${ROUNDS:-3}}
ALERTS=${ALERTS:-40}
OUTAGE=${OUTAGE:-90}
OUTAGE_ROUNDS=${OUTAGE_ROUNDS:-3}
STORM=${STORM:-50}
STORM_SECONDS=${STORM_SECONDS:-40}
SETTLE=${SETTLE:-10}
PEER=${PEER:-1}
PEER_GROUP_WAIT=${PEER_GROUP_WAIT:-30s}
PEER_GROUP_INTERVAL=${PEER_GROUP_INTERVAL:-1m}
PY=/usr/bin/python3

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED="$HERE/../../shared/bench"
DRIVER="$HERE/delivery_faults.py"

die() { echo "delivery-faults: $*" >&2; exit 1; }
log() { echo "== $(date +%T) $*" >&2; }

for knob in ROUNDS ALERTS OUTAGE OUTAGE_ROUNDS STORM STORM_SECONDS SETTLE; do
    [[ ${!knob} =~ ^[1-9][0-9]*$ ]] || die "$knob must be a positive integer, got '${!knob}'"
done
((OUTAGE >= 25)) || die "OUTAGE must be at least 25 s (level 3 is due 20 s after the alert opens)"
((ALERTS <= 99 && STORM <= 99)) || die "ALERTS and STORM must be at most 99"
[[ -f "$SHARED/flip_target.py" ]] || die "$SHARED/flip_target.py not found (expected ../shared/bench/ beside the repo)"
SHARED=$(cd "$SHARED" && pwd)

dur_s() { # Alertmanager duration (30s, 1m, 5m, 1h30m) -> seconds
    "$PY" - "$1" <<'PY'
import re, sys
parts = re.findall(r"(\d+)(ms|s|m|h)", sys.argv[1])
if not parts or "".join(n + u for n, u in parts) != sys.argv[1]:
    sys.exit(f"not a duration: {sys.argv[1]}")
print(int(sum(int(n) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[u] for n, u in parts)))
PY
}
if [[ "$PEER" != 0 ]]; then
    PEER_WAIT_S=$(dur_s "$PEER_GROUP_WAIT") || die "PEER_GROUP_WAIT: not a duration"
    PEER_INTERVAL_S=$(dur_s "$PEER_GROUP_INTERVAL") || die "PEER_GROUP_INTERVAL: not a duration"
    ((STORM_SECONDS > PEER_WAIT_S + 2)) ||
        log "warning: STORM_SECONDS ($STORM_SECONDS) is not above PEER_GROUP_WAIT ($PEER_GROUP_WAIT): Alertmanager may never send the storm's opening"
fi

# --- packages -----------------------------------------------------------------------------------
export PATH="$PATH:/usr/sbin:/sbin"
need=()
command -v curl >/dev/null 2>&1 || need+=(curl)
[[ -x $PY ]] || need+=(python3)
{ [[ -x $PY ]] && "$PY" -c 'import aiosmtpd' 2>/dev/null; } || need+=(python3-aiosmtpd)
if [[ "$PEER" != 0 ]]; then
    command -v prometheus-alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
fi
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
W=$(mktemp -d /tmp/golive-delivery-faults.XXXXXX)
PIDS=() # long-lived helpers this script starts (target, sink, webhook), stopped on exit
GOLIVE_PID=""
AM_PID=""
STARTED=$(date +%s)
stop_pid() { # pid: TERM, wait up to 10 s, then KILL
    local p=$1 i
    [[ -n "$p" ]] || return 0
    kill -TERM "$p" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null || true
}
DRIVER_PID=""
stop_golive() { stop_pid "$GOLIVE_PID"; GOLIVE_PID=""; }
stop_am() { stop_pid "$AM_PID"; AM_PID=""; }
cleanup() {
    local i
    stop_pid "$DRIVER_PID"
    stop_golive
    stop_am
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}"; done
    if [[ -n "${RESULTS_DIR:-}" ]]; then
        mkdir -p "$RESULTS_DIR"
        cp -r "$W"/. "$RESULTS_DIR/" 2>/dev/null || true
    fi
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

USED_PORTS=" "
pick_port() { # a free loopback port, never one handed out before in this run
    local p
    while :; do
        p=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
        [[ $USED_PORTS == *" $p "* ]] || { USED_PORTS+="$p "; echo "$p"; return; }
    done
}
wait_http() { # url seconds
    local i
    for ((i = 0; i < $2 * 10; i++)); do curl -fs -o /dev/null --max-time 1 "$1" && return 0; sleep 0.1; done
    return 1
}
wait_line() { # file pattern seconds
    local i
    for ((i = 0; i < $3 * 10; i++)); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
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
    echo "sink: aiosmtpd $("$PY" -c 'import aiosmtpd; print(aiosmtpd.__version__)' 2>/dev/null || echo '?') on $("$PY" --version 2>&1)"
    [[ "$PEER" != 0 ]] && echo "peer: $(prometheus-alertmanager --version 2>&1 | head -1)"
    echo "settings: ROUNDS=$ROUNDS ALERTS=$ALERTS OUTAGE=$OUTAGE OUTAGE_ROUNDS=$OUTAGE_ROUNDS STORM=$STORM STORM_SECONDS=$STORM_SECONDS PEER_GROUP_WAIT=$PEER_GROUP_WAIT PEER_GROUP_INTERVAL=$PEER_GROUP_INTERVAL"
    echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$W/machine"
cat "$W/machine" >&2

# --- flip target, SMTP sink, hung webhook -------------------------------------------------------
FLIP_PORT=$(pick_port)
"$PY" "$SHARED/flip_target.py" --host 127.0.0.1 --port "$FLIP_PORT" >"$W/flip_target.log" 2>&1 &
PIDS+=($!)
TARGET="http://127.0.0.1:$FLIP_PORT"
SMTP_PORT=$(pick_port)
MAIL="$W/mail.log"
REFUSE="$W/relay-down"
"$PY" "$HERE/fault_sink.py" --host 127.0.0.1 --port "$SMTP_PORT" --log "$MAIL" \
    --refuse-file "$REFUSE" --refusals "$W/refusals.log" >"$W/fault_sink.log" 2>&1 &
PIDS+=($!)
HOOK_PORT=$(pick_port)
HOOK_LOG="$W/hook.log"
"$PY" "$HERE/hung_webhook.py" --host 127.0.0.1 --port "$HOOK_PORT" --log "$HOOK_LOG" >"$W/hung_webhook.out" 2>&1 &
PIDS+=($!)
HOOK_URL="http://127.0.0.1:$HOOK_PORT/hook"
wait_http "$TARGET/health" 10 || die "flip_target did not start: $(cat "$W/flip_target.log")"
wait_line "$W/fault_sink.log" listening 10 || die "fault_sink did not start: $(cat "$W/fault_sink.log")"
wait_line "$W/hung_webhook.out" listening 10 || die "hung_webhook did not start: $(cat "$W/hung_webhook.out")"
log "flip target :$FLIP_PORT, SMTP sink :$SMTP_PORT, hung webhook :$HOOK_PORT"

# --- golive -------------------------------------------------------------------------------------
plan_head() { # people lines (id:role:email ...) -> the plan's common part on stdout
    cat <<TOML
[launch]
name = "delivery-faults benchmark"
timezone = "UTC"
go_live = 2099-01-01T00:00:00
hypercare_days = 1
data_dir = "data"

TOML
    local spec id role email
    for spec in "$@"; do
        IFS=: read -r id role email <<<"$spec"
        printf '[[people]]\nid = "%s"\nname = "%s"\nrole = "%s"\nemail = "%s"\n\n' "$id" "$id" "$role" "$email"
    done
    local first=${1%%:*}
    cat <<TOML
[[checklist]]
id = "bench"
title = "Benchmark only"
owner = "$first"

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

TOML
}
checks() { # prefix count failure_threshold -> [[checks]] on the flip target
    local k id
    for ((k = 1; k <= $2; k++)); do
        printf -v id '%s%02d' "$1" "$k"
        printf '[[checks]]\nid = "%s"\nname = "%s"\nkind = "http"\nurl = "%s/health?c=%s"\nseverity = "critical"\n' \
            "$id" "$id" "$TARGET" "$id"
        printf 'interval = "1s"\ntimeout = "900ms"\nfailure_threshold = %s\nphases = ["planned"]\n\n' "$3"
    done
}
start_golive() { # dir (with plan.toml): starts the daemon, sets GOLIVE_PID and URL
    local dir=$1 i
    "$GOLIVE" check "$dir/plan.toml" >"$dir/check.out" 2>&1 || die "the generated plan is invalid: $(cat "$dir/check.out")"
    "$GOLIVE" run "$dir/plan.toml" --listen 127.0.0.1:0 >"$dir/golive.log" 2>&1 &
    GOLIVE_PID=$!
    URL=""
    for ((i = 0; i < 300; i++)); do
        if [[ -s "$dir/data/daemon.json" ]]; then
            URL=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$dir/data/daemon.json" 2>/dev/null || true)
            [[ -n "$URL" ]] && curl -fs -o /dev/null "$URL/readyz" 2>/dev/null && return 0
        fi
        kill -0 "$GOLIVE_PID" 2>/dev/null || die "golive exited: $(tail -20 "$dir/golive.log")"
        sleep 0.1
    done
    die "golive did not become ready: $(tail -20 "$dir/golive.log")"
}

# --- Alertmanager -------------------------------------------------------------------------------
start_am() { # dir (with alertmanager.yml): sets AM_PID and AM_URL
    local dir=$1 port
    port=$(pick_port)
    prometheus-alertmanager --config.file="$dir/alertmanager.yml" --storage.path="$dir/am-data" \
        --web.listen-address="127.0.0.1:$port" --cluster.listen-address= >"$dir/alertmanager.log" 2>&1 &
    AM_PID=$!
    AM_URL="http://127.0.0.1:$port"
    wait_http "$AM_URL/-/ready" 30 || die "Alertmanager did not start: $(tail -20 "$dir/alertmanager.log")"
}
am_email() { # to send_resolved -> an email_configs entry
    cat <<YAML
      - to: '$1'
        from: alertmanager@bench.invalid
        smarthost: 127.0.0.1:$SMTP_PORT
        require_tls: false
        send_resolved: $2
YAML
}

flip_ok() { curl -fsS -o /dev/null -X POST "$TARGET/control/ok"; }
# The measuring step runs in the background and is waited for, so a TERM to this script is handled
# at once (bash runs traps only between commands) and the step is stopped with everything else.
measure() {
    local rc=0
    "$PY" "$DRIVER" "$@" &
    DRIVER_PID=$!
    wait "$DRIVER_PID" || rc=$?
    DRIVER_PID=""
    return "$rc"
}

# === 1. hung webhook =============================================================================
log "1. hung webhook: $ALERTS alerts at once, $ROUNDS rounds per side"
for ((r = 1; r <= ROUNDS; r++)); do
    d="$W/hung-golive-$r"; mkdir -p "$d"
    {
        plan_head "oncall:ops_lead:hung-golive@bench.invalid"
        cat <<TOML
[[channels]]
id = "chat"
kind = "webhook"
url = "$HOOK_URL"
timeout = "5s"

[[escalation]]
id = "page"
levels = [{ after = "0s", notify = ["oncall"], channels = ["email", "chat"] }]

[alerting]
policies = { critical = "page" }
group_window = "0s"

TOML
        checks p "$ALERTS" 1
    } > "$d/plan.toml"
    start_golive "$d"
    measure hung-golive --golive "$URL" --target "$TARGET" --mail "$MAIL" --hook-log "$HOOK_LOG" \
        --to hung-golive@bench.invalid --round "$r" --alerts "$ALERTS" --out "$W/hung-golive.jsonl"
    curl -fsS "$URL/api/v1/alerts?state=all&limit=1000" > "$d/alerts.json" 2>/dev/null || true
    stop_golive
    flip_ok
done
if [[ "$PEER" != 0 ]]; then
    for ((r = 1; r <= ROUNDS; r++)); do
        d="$W/hung-peer-$r"; mkdir -p "$d"
        {
            cat <<YAML
route:
  receiver: page
  group_by: ['...']
  group_wait: 0s
  group_interval: 10s
  repeat_interval: 4h
receivers:
  - name: page
    email_configs:
YAML
            am_email hung-peer@bench.invalid false
            cat <<YAML
    webhook_configs:
      - url: '$HOOK_URL'
        send_resolved: false
YAML
        } > "$d/alertmanager.yml"
        start_am "$d"
        measure hung-peer --am "$AM_URL" --mail "$MAIL" --hook-log "$HOOK_LOG" \
            --to hung-peer@bench.invalid --round "$r" --alerts "$ALERTS" --out "$W/hung-peer.jsonl"
        stop_am
    done
fi
echo "load average after 1: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$W/machine"

# === 2. relay outage =============================================================================
log "2. relay outage: ${OUTAGE}s, $OUTAGE_ROUNDS round(s)"
for ((r = 1; r <= OUTAGE_ROUNDS; r++)); do
    d="$W/outage-$r"; mkdir -p "$d"
    {
        plan_head "first:ops_lead:level1@bench.invalid" "second:dev_lead:level2@bench.invalid" \
            "third:project_manager:level3@bench.invalid"
        cat <<TOML
[[escalation]]
id = "page"
levels = [
    { after = "0s", notify = ["first"], channels = ["email"] },
    { after = "10s", notify = ["second"], channels = ["email"] },
    { after = "20s", notify = ["third"], channels = ["email"] },
]

[alerting]
policies = { critical = "page" }

[[checks]]
id = "outage"
name = "outage"
kind = "http"
url = "$TARGET/health?c=outage"
severity = "critical"
interval = "1s"
timeout = "900ms"
failure_threshold = 1
phases = ["planned"]
TOML
    } > "$d/plan.toml"
    start_golive "$d"
    am_args=()
    if [[ "$PEER" != 0 ]]; then
        {
            cat <<YAML
route:
  receiver: page
  group_by: ['...']
  group_wait: 0s
  group_interval: 10s
  repeat_interval: 4h
receivers:
  - name: page
    email_configs:
YAML
            am_email outage-peer@bench.invalid false
        } > "$d/alertmanager.yml"
        start_am "$d"
        am_args=(--am "$AM_URL" --am-to outage-peer@bench.invalid)
    fi
    measure outage --golive "$URL" "${am_args[@]}" --target "$TARGET" --mail "$MAIL" \
        --refusals "$W/refusals.log" --refuse-file "$REFUSE" --outage "$OUTAGE" --round "$r" \
        --levels level1@bench.invalid,level2@bench.invalid,level3@bench.invalid --out "$W/outage.jsonl"
    curl -fsS "$URL/api/v1/log?kind=alert&limit=200" > "$d/alert-log.json" 2>/dev/null || true
    stop_golive
    stop_am
    rm -f "$REFUSE"
    flip_ok
done
echo "load average after 2: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$W/machine"

# === 3. storm ====================================================================================
log "3. storm: $STORM alerts open together, resolve after ${STORM_SECONDS}s"
d="$W/storm"; mkdir -p "$d"
{
    plan_head "ops:ops_lead:storm-ops@bench.invalid" "dev:dev_lead:storm-dev@bench.invalid"
    cat <<TOML
[[escalation]]
id = "page"
levels = [{ after = "0s", notify = ["ops", "dev"], channels = ["email"] }]

[alerting]
policies = { critical = "page" }

TOML
    checks st "$STORM" 2
} > "$d/plan.toml"
start_golive "$d"
am_args=()
if [[ "$PEER" != 0 ]]; then
    {
        cat <<YAML
route:
  receiver: page
  group_by: [storm]
  group_wait: $PEER_GROUP_WAIT
  group_interval: $PEER_GROUP_INTERVAL
  repeat_interval: 4h
receivers:
  - name: page
    email_configs:
YAML
        am_email 'storm-peer-ops@bench.invalid, storm-peer-dev@bench.invalid' true
    } > "$d/alertmanager.yml"
    start_am "$d"
    am_args=(--am "$AM_URL" --am-to storm-peer-ops@bench.invalid,storm-peer-dev@bench.invalid
        --am-deadline $((PEER_INTERVAL_S + 30)))
fi
measure storm --golive "$URL" --golive-to storm-ops@bench.invalid,storm-dev@bench.invalid \
    "${am_args[@]}" --target "$TARGET" --mail "$MAIL" --alerts "$STORM" --storm-seconds "$STORM_SECONDS" \
    --settle "$SETTLE" --out "$W/storm.jsonl"
stop_golive
stop_am
echo "load average after 3: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$W/machine"
echo "duration: $(($(date +%s) - STARTED)) s" >> "$W/machine"

# --- summary ------------------------------------------------------------------------------------
"$PY" "$DRIVER" summary --dir "$W" | tee "$W/summary.txt"
