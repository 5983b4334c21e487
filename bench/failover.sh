#!/usr/bin/env bash
# Failover benchmark: two golive daemons (active + standby) on one PostgreSQL database; the active
# is killed (SIGKILL) during an escalation, ROUNDS times, in one run.
#
# usage: bench/failover.sh [ROUNDS=20]
#
# Parts (all on 127.0.0.1, free ports, removed on exit):
#   - a throw-away PostgreSQL cluster (Debian's postgresql: initdb + pg_ctl, as the `postgres` user
#     when run as root), one database;
#   - ../shared/bench/flip_target.py (the checked service) and ../shared/bench/smtp_sink.py with
#     --maildir (every accepted message kept, so recipients can be counted);
#   - two members A and B: `golive run plan.toml --listen 127.0.0.1:PORT` with GOLIVE_DATABASE_URL,
#     each in its own folder (own data_dir, as on two hosts). The plan: one critical http check on
#     the flip target (interval 1s, failure_threshold 2), level 1 to Bob at once, level 2 to Alice
#     after LEVEL2 (10 s), both by email; repeat 1h.
#
# The sink stores each message at once but answers 250 only SLOW_ANSWER (1.5 s) later, like a slow
# relay that already has it, so a send can be caught in flight. Rounds alternate:
#   - odd rounds ("between sends"): flip the target to failing; wait for level 1 (Bob) at the sink
#     and for its delivery to be recorded (GET /api/v1/alerts/ID on the active); POST a note
#     "round N" (an acknowledged write); kill -9 the active at once, before level 2 is due;
#   - even rounds ("send in flight"): the same, but the kill comes the moment Alice's level 2 has
#     reached the sink, while its 250 is still pending: golive has not recorded it as delivered,
#     so the new active sends it again (the one page in flight at the kill, at-least-once).
# Then: poll the other member's /metrics every 100 ms until `golive_ha_role 1` (takeover time =
# that moment - the kill); wait for level 2 (Alice, up to 60 s); check the note is in the new
# active's log; flip the target back, wait for the resolution to Alice; restart the killed member
# (it comes back a standby). Counted over the run: takeover time p50 / max, pages lost (a round
# without level 2), pages sent again that were in flight at the kill (even rounds: Alice's second
# level 2), pages sent twice beyond those (Bob's level 1 more than once in any round, Alice's level
# 2 more than once in an odd round or more than twice in an even one), acknowledged writes lost
# (notes missing after the takeover).
#
# Environment: LEVEL2 (10s), SLOW_ANSWER (1.5 seconds), GOLIVE_BIN (a prebuilt binary; default: build --release),
# CARGO_TARGET_DIR (respected), RESULTS_DIR (per-round TSV and the members' logs copied there).
# Not part of the test suite.
set -euo pipefail

ROUNDS=${1:-20}
LEVEL2=${LEVEL2:-10s}
export SLOW_ANSWER=${SLOW_ANSWER:-1.5}
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED="$HERE/../../shared/bench"

die() { echo "failover: $*" >&2; exit 1; }
log() { echo "== $(date +%T) $*" >&2; }
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }

[ -x "$PY" ] && $PY -c 'import aiosmtpd' 2>/dev/null || die "needs python3-aiosmtpd"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$PGBIN" ] || die "needs Debian's postgresql"
if [ -z "${GOLIVE_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --release --quiet)
  GOLIVE_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/golive"
fi

WORK=$(mktemp -d /tmp/golive-failover.XXXXXX)
chmod 755 "$WORK"
PIDS=()
AS_PG=()
[ "$(id -u)" = 0 ] && AS_PG=(runuser -u postgres --)
cleanup() {
  for pid in "${PIDS[@]}" "${MEMBER_PID[@]:-}"; do kill -9 "$pid" 2>/dev/null || true; done
  "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

log "PostgreSQL"
mkdir -p "$WORK/pg"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$WORK/pg"
"${AS_PG[@]}" "$PGBIN/initdb" -D "$WORK/pg/data" -A trust -U golive --no-sync >/dev/null
PG_PORT=$(free_port)
"${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/log" -w -t 60 \
  -o "-p $PG_PORT -k $WORK/pg -c listen_addresses=127.0.0.1" start >/dev/null
"$PGBIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U golive -d postgres -q -c "CREATE DATABASE launch"
export GOLIVE_DATABASE_URL="postgres://golive@127.0.0.1:$PG_PORT/launch"
export GOLIVE_ACK_SECRET="the-same-key-on-every-member" # golive on PostgreSQL refuses to start without

SMTP_PORT=$(free_port)
# smtp_sink.py's handler, answering SLOW_ANSWER seconds after it stored the message.
cat > "$WORK/slow_sink.py" <<PYEOF
import asyncio, os, signal, sys, threading
sys.path.insert(0, "$SHARED")
from smtp_sink import TimestampingHandler
from aiosmtpd.controller import Controller

class SlowAnswer(TimestampingHandler):
    async def handle_DATA(self, server, session, envelope):
        answer = await super().handle_DATA(server, session, envelope)
        await asyncio.sleep(float(os.environ["SLOW_ANSWER"]))
        return answer

controller = Controller(SlowAnswer(sys.argv[1], sys.argv[2]), hostname="127.0.0.1", port=int(sys.argv[3]))
controller.start()
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
stop.wait()
controller.stop()
PYEOF
$PY "$WORK/slow_sink.py" "$WORK/sink.log" "$WORK/mail" "$SMTP_PORT" &
PIDS+=($!)
FLIP_PORT=$(free_port)
$PY "$SHARED/flip_target.py" --port "$FLIP_PORT" >/dev/null 2>&1 &
PIDS+=($!)

export GOLIVE_API_TOKEN=bench-token-0123456789
PLAN=$(cat <<EOF
[launch]
name = "Failover bench"
timezone = "UTC"
go_live = 2030-01-01T20:00:00
hypercare_days = 14
data_dir = "data"

[[people]]
id = "alice"
name = "Alice"
role = "project_manager"
email = "alice@example.com"

[[people]]
id = "bob"
name = "Bob"
role = "ops_lead"
email = "bob@example.com"

[[checks]]
id = "flip"
kind = "http"
url = "http://127.0.0.1:$FLIP_PORT/health"
severity = "critical"
interval = "1s"
timeout = "900ms"
failure_threshold = 2
phases = ["planned"]

[smtp]
host = "127.0.0.1"
port = $SMTP_PORT
tls = "none"
allow_insecure = true
from = "golive <golive@bench.example>"

[[channels]]
id = "email"
kind = "email"

[[escalation]]
id = "page"
levels = [
    { after = "0s", notify = ["bob"], channels = ["email"] },
    { after = "$LEVEL2", notify = ["alice"], channels = ["email"] },
]
repeat = "1h"

[alerting]
policies = { critical = "page" }
public_url = "https://golive.shop.example"
ack_link_secret = { env = "GOLIVE_ACK_SECRET" }
EOF
)

declare -A MEMBER_PID MEMBER_URL
start_member() { # name
  local name=$1 dir="$WORK/$1" port
  mkdir -p "$dir"
  echo "$PLAN" > "$dir/plan.toml"
  port=$(free_port)
  (cd "$dir" && exec "$GOLIVE_BIN" run plan.toml --listen "127.0.0.1:$port" >>"$dir/golive.log" 2>&1) &
  MEMBER_PID[$name]=$!
  MEMBER_URL[$name]="http://127.0.0.1:$port"
  for _ in $(seq 300); do
    curl -fs "${MEMBER_URL[$name]}/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "member $name did not start: $(tail -5 "$dir/golive.log")"
}
role() { curl -fs "${MEMBER_URL[$1]}/metrics" 2>/dev/null | awk '/^golive_ha_role /{print $2}'; }
api() { curl -fs -H "Authorization: Bearer $GOLIVE_API_TOKEN" "$@"; }
mail_to() { # address -> "<count of pages> <count of resolutions>"
  $PY - "$WORK/mail" "$1" <<'PYEOF'
import mailbox, sys
pages = resolved = 0
for message in mailbox.Maildir(sys.argv[1], create=False):
    if sys.argv[2] in str(message.get("To", "")):
        subject = str(message.get("Subject", ""))
        if subject.startswith("[RESOLVED]"):
            resolved += 1
        elif "failed over" not in subject:
            pages += 1
print(pages, resolved)
PYEOF
}
wait_until() { # seconds command...
  local limit=$1; shift
  local deadline=$(( $(date +%s) + limit ))
  until "$@"; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

log "members"
start_member A
wait_until 30 eval '[ "$(role A)" = 1 ]' || die "A did not become active"
start_member B
ACTIVE=A STANDBY=B
sleep 3

RESULTS="$WORK/rounds.tsv"
echo -e "round\tkill\ttakeover_s\tlevel2\tbob_pages\talice_pages\tnote_kept" > "$RESULTS"
LOST=0 TWICE=0 WRITES_LOST=0 IN_FLIGHT_AGAIN=0 IN_FLIGHT_ROUNDS=0
for round in $(seq "$ROUNDS"); do
  read -r bob0 _ <<<"$(mail_to bob@example.com)"
  read -r alice0 alice_resolved0 <<<"$(mail_to alice@example.com)"
  curl -fs -X POST "http://127.0.0.1:$FLIP_PORT/control/fail" >/dev/null
  wait_until 30 eval '[ "$(mail_to bob@example.com | cut -d" " -f1)" -gt "$bob0" ]' || die "round $round: no level 1"
  id=$(api "${MEMBER_URL[$ACTIVE]}/api/v1/alerts?state=open" | $PY -c 'import json,sys; print(json.load(sys.stdin)["alerts"][0]["id"])')
  wait_until 20 eval 'api "${MEMBER_URL[$ACTIVE]}/api/v1/alerts/$id" | $PY -c "import json,sys; rows=json.load(sys.stdin)[\"notifications\"]; sys.exit(0 if rows and all(r[\"status\"]==\"delivered\" for r in rows) else 1)"' \
    || die "round $round: level 1 not recorded"
  api -X POST -H 'Content-Type: application/json' -d "{\"kind\":\"note\",\"text\":\"round $round\"}" \
    "${MEMBER_URL[$ACTIVE]}/api/v1/log" >/dev/null || die "round $round: note refused"
  in_flight=$(( round % 2 == 0 ))
  if [ "$in_flight" = 1 ]; then
    IN_FLIGHT_ROUNDS=$((IN_FLIGHT_ROUNDS + 1))
    wait_until 60 eval '[ "$(mail_to alice@example.com | cut -d" " -f1)" -gt "$alice0" ]' || die "round $round: no level 2 before the kill"
  fi
  killed_at=$(now)
  kill -9 "${MEMBER_PID[$ACTIVE]}"
  wait "${MEMBER_PID[$ACTIVE]}" 2>/dev/null || true
  wait_until 60 eval '[ "$(role $STANDBY)" = 1 ]' || die "round $round: no takeover"
  took=$(echo "$(now) - $killed_at" | bc -l)
  if wait_until 60 eval '[ "$(mail_to alice@example.com | cut -d" " -f1)" -gt "$alice0" ]'; then level2=1; else level2=0; LOST=$((LOST + 1)); fi
  if api "${MEMBER_URL[$STANDBY]}/api/v1/log?kind=note&limit=500" | grep -q "\"round $round\""; then kept=1; else kept=0; WRITES_LOST=$((WRITES_LOST + 1)); fi
  curl -fs -X POST "http://127.0.0.1:$FLIP_PORT/control/ok" >/dev/null
  wait_until 60 eval '[ "$(mail_to alice@example.com | cut -d" " -f2)" -gt "$alice_resolved0" ]' || die "round $round: no resolution"
  read -r bob1 _ <<<"$(mail_to bob@example.com)"
  read -r alice1 _ <<<"$(mail_to alice@example.com)"
  bob_pages=$((bob1 - bob0)) alice_pages=$((alice1 - alice0))
  [ "$bob_pages" -gt 1 ] && TWICE=$((TWICE + bob_pages - 1))
  if [ "$in_flight" = 1 ] && [ "$alice_pages" -ge 2 ]; then
    IN_FLIGHT_AGAIN=$((IN_FLIGHT_AGAIN + 1))
    TWICE=$((TWICE + alice_pages - 2))
  elif [ "$alice_pages" -gt 1 ]; then
    TWICE=$((TWICE + alice_pages - 1))
  fi
  kill_kind=$([ "$in_flight" = 1 ] && echo in-flight || echo between)
  printf '%s\t%s\t%.2f\t%s\t%s\t%s\t%s\n' "$round" "$kill_kind" "$took" "$level2" "$bob_pages" "$alice_pages" "$kept" >> "$RESULTS"
  log "round $round ($kill_kind): takeover $(printf %.2f "$took") s, level 2 $level2, pages bob $bob_pages alice $alice_pages, note kept $kept"
  start_member "$ACTIVE"
  previous=$ACTIVE ACTIVE=$STANDBY STANDBY=$previous
  sleep 2
done

echo
cat "$RESULTS"
tail -n +2 "$RESULTS" | cut -f3 | sort -n | awk -v lost="$LOST" -v twice="$TWICE" -v wl="$WRITES_LOST" -v rounds="$ROUNDS" \
  -v again="$IN_FLIGHT_AGAIN" -v inflight="$IN_FLIGHT_ROUNDS" '
  { v[NR] = $1 }
  END {
    n = NR; p50 = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    printf "\nrounds %d (%d with level 2 in flight at the kill)  takeover p50 %.2f s  max %.2f s  pages lost %d  in flight at the kill and sent again %d  pages sent twice beyond those %d  acknowledged writes lost %d\n", rounds, inflight, p50, v[n], lost, again, twice, wl
  }'
echo "commit $(cd "$ROOT" && git rev-parse --short HEAD)  $(date -u +%FT%TZ)  load:$(uptime | sed 's/.*load average://')"
if [ -n "${RESULTS_DIR:-}" ]; then
  mkdir -p "$RESULTS_DIR"
  cp "$RESULTS" "$RESULTS_DIR/"
  cp "$WORK/A/golive.log" "$RESULTS_DIR/A.log"
  cp "$WORK/B/golive.log" "$RESULTS_DIR/B.log"
fi
