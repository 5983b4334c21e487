#!/usr/bin/env bash
# Probing benchmark: golive vs. Prometheus + blackbox_exporter, side by side, in one run.
#
# usage: bench/probe-load.sh [N=1000] [SECONDS=40]
#        bench/probe-load.sh soak [N=1000] [MINUTES=20]
#
# Starts nginx (Debian nginx-light) on a free loopback port serving /health (keepalive on),
# generates a plan with N http checks at a 1 s interval (distinct URLs /health?i=K), runs the
# release build of golive on it, warms up, then measures over the window: CPU of the golive
# process (utime+stime from /proc/PID/stat), probes completed (delta of golive_check_results_total
# from /metrics), CPU µs per probe, RSS (VmRSS, VmHWM), p99 schedule lag (delta of the
# golive_probe_schedule_lag_seconds histogram, interpolated within the bucket) and failing/unknown
# results. Runs: default settings; fresh_connection = true; BIG_N checks (default 10000) for RSS.
# Then runs ../shared/bench/peer-stack.sh N SECONDS and prints one side-by-side table.
#
# Soak mode: golive alone (default settings) with N checks for MINUTES after the warm-up, /metrics
# scraped every SCRAPE_EVERY (15) seconds as Prometheus would; every minute it samples VmRSS and
# where it lies (/proc/PID/smaps: the main heap, other anonymous mappings such as the malloc
# arenas of other threads and thread stacks, and the binary's own mappings). Prints the per-minute
# series, the growth over the last 10 minutes, and CPU µs/probe and p99 lag over the whole soak.
#
# Environment: BIG_N (default 10000; 0 skips that run), BIG_SECONDS (default 20),
# WARMUP (default 10), FRESH (default 1; 0 skips the fresh_connection run), GOLIVE_BIN (a golive
# binary to measure instead of building the tree), SCRAPE_EVERY (default 15: golive's /metrics is scraped this often during
# the window), PEER (default 1; 0 skips the peer stack), CARGO_TARGET_DIR (respected).
# Everything listens on 127.0.0.1. Not part of the test suite.
set -euo pipefail

MODE=measure
if [[ "${1:-}" == soak ]]; then
    MODE=soak
    shift
fi
N=${1:-1000}
DUR=${2:-40}
if [[ "$MODE" == soak ]]; then
    DUR=$(( ${2:-20} * 60 ))
    PEER=0
fi
BIG_N=${BIG_N:-10000}
BIG_DUR=${BIG_SECONDS:-20}
WARMUP=${WARMUP:-10}
PEER=${PEER:-1}

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PEER_SCRIPT="$(dirname "$0")/../../shared/bench/peer-stack.sh"

die() { echo "probe-load: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

if [[ "$PEER" != 0 && ! -f "$PEER_SCRIPT" ]]; then
    die "peer harness not found at $PEER_SCRIPT (expected ../shared/bench/peer-stack.sh beside the repo); set PEER=0 to skip the peer side"
fi

# --- packages -----------------------------------------------------------------------------------
need=()
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || need+=(nginx-light)
if [[ "$PEER" != 0 ]]; then
    command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
    command -v prometheus-blackbox-exporter >/dev/null 2>&1 || need+=(prometheus-blackbox-exporter)
fi
command -v curl >/dev/null 2>&1 || need+=(curl)
if ((${#need[@]})); then
    log "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
export PATH="$PATH:/usr/sbin:/sbin"

# --- build --------------------------------------------------------------------------------------
if [[ -n "${GOLIVE_BIN:-}" ]]; then
    GOLIVE=$GOLIVE_BIN   # a binary built before (e.g. kept aside while the tree is rebuilt)
else
    log "cargo build --release"
    (cd "$ROOT" && cargo build --release --quiet)
    TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
    [[ "$TARGET_DIR" = /* ]] || TARGET_DIR="$ROOT/$TARGET_DIR"
    GOLIVE="$TARGET_DIR/release/golive"
fi
[[ -x "$GOLIVE" ]] || die "no binary at $GOLIVE"

# --- workspace and cleanup ----------------------------------------------------------------------
W=$(mktemp -d /tmp/golive-bench.XXXXXX)
NGINX_PID=""
GOLIVE_PID=""
stop_pid() { # pid: TERM, wait up to 10 s, then KILL
    local p=$1 i
    [[ -n "$p" ]] || return 0
    kill -TERM "$p" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
}
cleanup() {
    stop_pid "$GOLIVE_PID"
    stop_pid "$NGINX_PID"
    wait 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

# --- nginx target -------------------------------------------------------------------------------
# Avoid the peer stack's fixed ports (28080, 29090, 29115).
while :; do PORT=$(free_port); [[ $PORT != 28080 && $PORT != 29090 && $PORT != 29115 ]] && break; done
mkdir -p "$W/www"; chmod 755 "$W" "$W/www"
echo ok > "$W/www/health"
cat > "$W/nginx.conf" <<NG
worker_processes 1; pid $W/nginx.pid; error_log $W/nginx.err; daemon off;
worker_rlimit_nofile 65536;
events { worker_connections 16384; }
http { access_log off; keepalive_requests 1000000; keepalive_timeout 75s;
       server { listen 127.0.0.1:$PORT; root $W/www; } }
NG
nginx -c "$W/nginx.conf" >"$W/nginx.out" 2>&1 &
NGINX_PID=$!
for ((i = 0; i < 50; i++)); do curl -fs "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$PORT/health" >/dev/null || die "nginx did not start: $(cat "$W/nginx.err" "$W/nginx.out" 2>/dev/null)"
log "nginx on 127.0.0.1:$PORT"

# --- one golive run -----------------------------------------------------------------------------
gen_plan() { # dir n fresh(true|false)
    local dir=$1 n=$2 fresh=$3
    mkdir -p "$dir"
    {
        cat <<TOML
[launch]
name = "probe-load benchmark"
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
        python3 - "$n" "$PORT" "$fresh" <<'PY'
import sys
n, port, fresh = int(sys.argv[1]), sys.argv[2], sys.argv[3]
out = []
for k in range(1, n + 1):
    out.append(f'[[checks]]\nid = "c{k}"\nkind = "http"\nurl = "http://127.0.0.1:{port}/health?i={k}"\n'
               f'interval = "1s"\ntimeout = "900ms"\nphases = ["planned"]\n'
               + ('fresh_connection = true\n' if fresh == "true" else '') + '\n')
sys.stdout.write("".join(out))
PY
    } > "$dir/plan.toml"
}

# Starts golive on DIR/plan.toml and waits until it answers /readyz; sets GOLIVE_PID and url.
start_golive() { # dir
    local dir=$1 i
    "$GOLIVE" run "$dir/plan.toml" --listen 127.0.0.1:0 >"$dir/golive.log" 2>&1 &
    GOLIVE_PID=$!
    url=""
    for ((i = 0; i < 300; i++)); do
        if [[ -s "$dir/data/daemon.json" ]]; then
            url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$dir/data/daemon.json" 2>/dev/null || true)
            [[ -n "$url" ]] && curl -fs "$url/readyz" >/dev/null 2>&1 && break
        fi
        kill -0 "$GOLIVE_PID" 2>/dev/null || die "golive exited: $(tail -20 "$dir/golive.log")"
        sleep 0.1
    done
    [[ -n "$url" ]] || die "golive did not become ready: $(tail -20 "$dir/golive.log")"
}

# One line of DIR/rss.tsv: minutes since the window began, then VmRSS and where it lies (KiB):
# the main heap ([heap]), other anonymous memory (other threads' malloc arenas, stacks, mmapped
# allocations) and file-backed mappings (the binary, libraries).
sample_rss() { # dir minute
    python3 - "$GOLIVE_PID" "$2" >>"$1/rss.tsv" <<'PY'
import sys
pid, minute = sys.argv[1], sys.argv[2]
heap = anon = files = 0
kind = None
for line in open(f"/proc/{pid}/smaps"):
    head = line.split()
    if not head[0].endswith(":") or "-" in head[0]:
        name = head[5] if len(head) > 5 else ""
        kind = "heap" if name == "[heap]" else ("anon" if name == "" or name.startswith("[") else "file")
    elif head[0] == "Rss:":
        kb = int(head[1])
        if kind == "heap": heap += kb
        elif kind == "anon": anon += kb
        else: files += kb
rss = next(int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS:"))
print(f"{minute}\t{rss}\t{heap}\t{anon}\t{files}")
PY
}

# The soak's window: /metrics scraped every SCRAPE_EVERY seconds, RSS sampled every minute.
soak_window() { # dir url seconds
    local dir=$1 url=$2 dur=$3 every=${SCRAPE_EVERY:-15} t=0 minute=0
    printf 'minute\trss_kib\theap_kib\tanon_kib\tfile_kib\n' > "$dir/rss.tsv"
    sample_rss "$dir" 0
    while ((t < dur)); do
        sleep "$every"; t=$((t + every))
        curl -fsS "$url/metrics" >/dev/null 2>&1 || true
        if ((t / 60 > minute)); then
            minute=$((t / 60))
            sample_rss "$dir" "$minute"
            log "soak minute $minute: $(tail -1 "$dir/rss.tsv" | awk '{printf "RSS %.1f MiB (heap %.1f, other anon %.1f, files %.1f)", $2/1024, $3/1024, $4/1024, $5/1024}')"
        fi
    done
    cp "$dir/rss.tsv" "$W/rss-$(basename "$dir").tsv"
}

# Prints one line of key=value results for a run; the table is built from these.
run_golive() { # label n seconds fresh
    local label=$1 n=$2 dur=$3 fresh=$4
    local dir="$W/$label" url i
    gen_plan "$dir" "$n" "$fresh"
    log "golive [$label]: $n checks, fresh_connection=$fresh, warm-up ${WARMUP}s, window ${dur}s"
    start_golive "$dir"
    sleep "$WARMUP"
    cat "/proc/$GOLIVE_PID/status" > "$dir/status0"   # RSS before /metrics was ever scraped
    # Start: CPU ticks first, then the scrape (its cost falls inside the CPU window);
    # end: the scrape first, then CPU ticks. Conservative for golive on both counts. In between,
    # /metrics is scraped every SCRAPE_EVERY seconds (default 15, Prometheus' default), as a
    # monitored daemon would be: its cost is in the CPU figure and its memory in the RSS.
    cat "/proc/$GOLIVE_PID/stat" > "$dir/stat0"; date +%s.%N > "$dir/t0"
    curl -fsS "$url/metrics" > "$dir/m0"
    if [[ "$MODE" == soak ]]; then
        soak_window "$dir" "$url" "$dur"
    else
        local scraper
        ( while sleep "${SCRAPE_EVERY:-15}"; do curl -fsS "$url/metrics" >/dev/null 2>&1 || true; done ) &
        scraper=$!
        sleep "$dur"
        kill "$scraper" 2>/dev/null || true; wait "$scraper" 2>/dev/null || true
    fi
    curl -fsS "$url/metrics" > "$dir/m1"
    cat "/proc/$GOLIVE_PID/stat" > "$dir/stat1"; date +%s.%N > "$dir/t1"
    cat "/proc/$GOLIVE_PID/status" > "$dir/status1"
    python3 - "$label" "$n" "$dir" "$(getconf CLK_TCK)" >"$dir/result" <<'PY'
import re, sys
label, n, d, hz = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
def ticks(path):
    s = open(path).read()
    f = s[s.rindex(")") + 2:].split()   # fields from 3 (state) on
    return int(f[11]) + int(f[12])       # utime (14), stime (15)
def metrics(path):
    res, lag = {}, {}
    pat = re.compile(r'^(\w+)(?:\{([^}]*)\})?\s+(\S+)')
    for line in open(path):
        if line.startswith("#"):
            continue
        m = pat.match(line)
        if not m:
            continue
        name, labels, val = m.group(1), m.group(2) or "", float(m.group(3))
        if name == "golive_check_results_total":
            r = re.search(r'result="([^"]*)"', labels).group(1)
            res[r] = res.get(r, 0) + val
        elif name == "golive_probe_schedule_lag_seconds_bucket":
            le = re.search(r'le="([^"]*)"', labels).group(1)
            lag[float("inf") if le == "+Inf" else float(le)] = val
    return res, lag
t0, t1 = float(open(f"{d}/t0").read()), float(open(f"{d}/t1").read())
wall = t1 - t0
cpu = (ticks(f"{d}/stat1") - ticks(f"{d}/stat0")) / hz
r0, l0 = metrics(f"{d}/m0"); r1, l1 = metrics(f"{d}/m1")
dr = {k: r1.get(k, 0) - r0.get(k, 0) for k in set(r0) | set(r1)}
probes = sum(dr.values())
bad = dr.get("failing", 0) + dr.get("unknown", 0)
les = sorted(l1)
cum = [l1[b] - l0.get(b, 0) for b in les]
total = cum[-1] if cum else 0
p99 = float("nan"); p99txt = "n/a"
if total > 0:
    target = 0.99 * total
    prev_le, prev_c = 0.0, 0.0
    for le, c in zip(les, cum):
        if c >= target:
            if le == float("inf"):
                p99txt = f">{prev_le*1000:g}ms"; p99 = float("inf")
            else:
                p99 = prev_le + (le - prev_le) * ((target - prev_c) / (c - prev_c) if c > prev_c else 1.0)
                p99txt = f"{p99*1000:.2f}ms"
            break
        prev_le, prev_c = le, c
st = open(f"{d}/status1").read()
kb = lambda k: int(re.search(rf"^{k}:\s+(\d+)", st, re.M).group(1))
rss, hwm = kb("VmRSS") / 1024, kb("VmHWM") / 1024
st = open(f"{d}/status0").read()
rss0 = kb("VmRSS") / 1024
msize = __import__("os").path.getsize(f"{d}/m1") / 2**20
us = 1e6 * cpu / probes if probes else float("nan")
print(f"label={label} n={n} window={wall:.1f} cpu_s={cpu:.2f} probes={probes:.0f} rate={probes/wall:.0f} "
      f"us_per_probe={us:.1f} rss_mib={rss:.1f} hwm_mib={hwm:.1f} rss_unscraped_mib={rss0:.1f} metrics_mib={msize:.1f} p99_lag={p99txt} lag_samples={total:.0f} "
      f"healthy={dr.get('healthy',0):.0f} failing={dr.get('failing',0):.0f} unknown={dr.get('unknown',0):.0f} "
      f"valid={'yes' if probes > 0 and bad <= 0.001 * probes else 'NO'}")
PY
    stop_pid "$GOLIVE_PID"; wait "$GOLIVE_PID" 2>/dev/null || true; GOLIVE_PID=""
    rm -rf "$dir/data"
    cat "$dir/result" >&2
    cat "$dir/result" >> "$RESULTS"
}

RESULTS="$W/results"
: > "$RESULTS"
if [[ "$MODE" == soak ]]; then
    run_golive "soak-$N" "$N" "$DUR" false
    python3 - "$W/rss-soak-$N.tsv" "$RESULTS" <<'PY'
import sys
rows = [line.split("\t") for line in open(sys.argv[1]).read().splitlines()[1:]]
result = dict(kv.split("=", 1) for kv in open(sys.argv[2]).read().split())
print()
print(f"soak: {result['n']} checks, {len(rows) - 1} minutes, /metrics scraped every 15 s")
print(f"CPU {result['us_per_probe']} µs/probe, {result['rate']} probes/s, p99 lag {result['p99_lag']}, "
      f"failing+unknown {float(result['failing']) + float(result['unknown']):.0f}, valid={result['valid']}")
print()
print("| minute | RSS MiB | main heap | other anon | files |")
print("| ---: | ---: | ---: | ---: | ---: |")
for minute, rss, heap, anon, files in rows:
    print(f"| {minute} | {int(rss)/1024:.1f} | {int(heap)/1024:.1f} | {int(anon)/1024:.1f} | {int(files)/1024:.1f} |")
if len(rows) > 10:
    last, ten = int(rows[-1][1]), int(rows[-11][1])
    print()
    print(f"growth over the last 10 minutes: {(last - ten)/1024:+.1f} MiB ({ten/1024:.1f} -> {last/1024:.1f})")
PY
    exit 0
fi
run_golive default "$N" "$DUR" false
if [[ "${FRESH:-1}" != 0 ]]; then
    run_golive fresh "$N" "$DUR" true
fi
if ((BIG_N > 0)); then
    run_golive "default-$BIG_N" "$BIG_N" "$BIG_DUR" false
fi
stop_pid "$NGINX_PID"; wait "$NGINX_PID" 2>/dev/null || true; NGINX_PID=""

PEER_OUT="$W/peer.out"
: > "$PEER_OUT"
if [[ "$PEER" != 0 ]]; then
    log "peer stack: $PEER_SCRIPT $N $DUR"
    bash "$PEER_SCRIPT" "$N" "$DUR" | tee "$PEER_OUT" >&2 || die "peer stack failed"
fi

# --- side-by-side table -------------------------------------------------------------------------
python3 - "$RESULTS" "$PEER_OUT" "$N" "$DUR" <<'PY'
import re, sys
rows = [dict(kv.split("=", 1) for kv in line.split()) for line in open(sys.argv[1]) if line.strip()]
peer = open(sys.argv[2]).read()
N, DUR = sys.argv[3], sys.argv[4]
def pf(pat):
    m = re.search(pat, peer); return float(m.group(1)) if m else None
p_stack, p_bb = pf(r"cpu_us_per_probe:.*stack=(\d+)"), pf(r"cpu_us_per_probe: blackbox=(\d+)")
p_rss = (pf(r"rss_blackbox=(\d+)MiB") or 0) + (pf(r"rss_prometheus=(\d+)MiB") or 0) if p_stack else None
p_probes, p_ok = pf(r"probes_recorded=(\d+)"), pf(r" ok=(\d+)")
p_bb_rss = pf(r"rss_blackbox=(\d+)MiB")
print()
print(f"probe-load: N={N}, window {DUR}s (golive and peer stack measured in the same run, one after the other)")
print()
hdr = f"| {'run':<36} | {'checks':>6} | {'probes/s':>8} | {'CPU µs/probe':>12} | {'RSS MiB (peak)':>14} | {'RSS unscraped':>13} | {'p99 lag':>9} | {'fail+unk':>8} | {'vs peer CPU':>11} | {'vs peer RSS':>11} |"
print(hdr); print("|" + "|".join("-" * (len(c)) for c in hdr.split("|")[1:-1]) + "|")
names = {"default": "golive, default settings", "fresh": "golive, fresh_connection = true"}
for r in rows:
    name = names.get(r["label"], f"golive, default, {r['n']} checks")
    us = float(r["us_per_probe"]); rss = float(r["rss_mib"])
    cr = f"{p_stack/us:.0f}x less" if p_stack and r["n"] == N else "-"
    rr = f"{p_rss/rss:.1f}x less" if p_rss and r["n"] == N else "-"
    bad = int(float(r["failing"]) + float(r["unknown"]))
    flag = "" if r["valid"] == "yes" else " INVALID"
    print(f"| {name:<36} | {r['n']:>6} | {r['rate']:>8} | {us:>12.1f} | {rss:>6.1f} ({float(r['hwm_mib']):>5.1f}) | {float(r['rss_unscraped_mib']):>13.1f} | {r['p99_lag']:>9} | {bad:>8}{flag} | {cr:>11} | {rr:>11} |")
if p_stack:
    rate = p_probes / float(DUR) if p_probes else 0
    # recorded and ok come from two queries a moment apart: ok may exceed recorded by a few.
    bad = max(0, int(p_probes - p_ok)) if p_probes is not None and p_ok is not None else -1
    print(f"| {'peer: Prometheus + blackbox_exporter':<36} | {N:>6} | {rate:>8.0f} | {p_stack:>12.0f} | {p_rss:>6.0f}        | {'-':>13} | {'-':>9} | {bad:>8} | {'1x':>11} | {'1x':>11} |")
    print(f"| {'  of which blackbox_exporter alone':<36} | {N:>6} | {'':>8} | {p_bb:>12.0f} | {p_bb_rss:>6.0f}        | {'-':>13} | {'-':>9} | {'':>8} | {'':>11} | {'':>11} |")
print()
for r in rows:
    if r["valid"] != "yes":
        print(f"WARNING: run {r['label']}: {r['failing']} failing / {r['unknown']} unknown results — its figures are INVALID")
PY
