#!/usr/bin/python3
"""The measuring half of bench/delivery-faults.sh: drives one scenario against running daemons.

The shell script starts and stops every process (golive, Alertmanager, the SMTP sink, the hung
webhook, the flip target) and calls this file once per scenario step; this file only talks HTTP to
them, reads the sink's and the webhook's logs, and appends its results to files in the work
directory; `summary` turns those into the table. Standard library only.

Clock: every time compared here is time.time() on this machine (the sink's accept time, the flip
target's flip time, golive's `opened_at`, the moment this script posted to Alertmanager or removed
the sink's refuse file), so differences need no clock alignment.

Subcommands (see delivery-faults.sh for the arguments it passes):
  hung-golive   40 alerts at once with a hung webhook channel: per page, opened_at -> email accepted
  hung-peer     the same 40 alerts posted to Alertmanager at once: post -> email accepted
  outage        a relay outage while an alert escalates (golive) / fires (Alertmanager)
  storm         50 alerts open together and resolve together: messages per person
  summary       prints the table
"""

import argparse
import json
import math
import os
import random
import re
import statistics
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone


# --- plumbing ------------------------------------------------------------------------------------

def http(url, method="GET", body=None, timeout=10):
    data = None if body is None else json.dumps(body).encode()
    if method == "POST" and data is None:
        data = b""
    request = urllib.request.Request(url, method=method, data=data)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        raw = response.read()
    return json.loads(raw) if raw.strip() else None


def rfc3339(text):
    """RFC 3339 as golive writes it (up to ns, Z or an offset) -> Unix seconds."""
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", text)
    if not match:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    whole = datetime.fromisoformat(match.group(1) + match.group(3).replace("Z", "+00:00")).timestamp()
    return whole + (float("0." + match.group(2)) if match.group(2) else 0.0)


def iso(unix):
    return datetime.fromtimestamp(unix, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def log(message):
    print(f"   {datetime.now().strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


class Mail:
    """One accepted message, as fault_sink.py logged it."""

    def __init__(self, line):
        at, recipients, size, subject = line.rstrip("\n").split("\t", 3)
        self.at = float(at)
        self.recipients = recipients.split(",") if recipients else []
        self.size = int(size)
        self.subject = subject


def mails(path, start=0):
    with open(path, encoding="utf-8") as f:
        lines = [line for line in f if line.count("\t") >= 3]
    return [Mail(line) for line in lines[start:]]


def count_lines(path):
    with open(path, encoding="utf-8") as f:
        return sum(1 for _ in f)


def to_any(mail, addresses):
    return any(address in addresses for address in mail.recipients)


def wait_for(predicate, timeout, step=0.01):
    """Polls predicate until it returns something truthy; returns that, or None after timeout."""
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.time() >= deadline:
            return None
        time.sleep(step)


def wait_healthy(golive, timeout=30):
    def healthy():
        checks = http(golive + "/api/v1/status")["checks"]
        return checks["total"] > 0 and checks["healthy"] == checks["total"]
    if not wait_for(healthy, timeout, 0.2):
        sys.exit(f"golive's checks did not all become healthy within {timeout} s: "
                 f"{http(golive + '/api/v1/status')['checks']}")


def golive_alerts(golive):
    return http(golive + "/api/v1/alerts?state=all&limit=1000")["alerts"]


def am_alert(labels, starts, ends):
    return {"labels": labels, "annotations": {"summary": f"{labels.get('instance', '')} is failing"},
            "startsAt": iso(starts), "endsAt": iso(ends)}


def append_json(path, record):
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def read_json_lines(path):
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def hook_opens(path, start):
    with open(path, encoding="utf-8") as f:
        return sum(1 for line in list(f)[start:] if "\topen\t" in line)


# --- scenario 1: a hung webhook channel and 40 alerts at once -----------------------------------

def hung_golive(a):
    wait_healthy(a.golive)
    mark, hook_mark = count_lines(a.mail), count_lines(a.hook_log)
    flipped = http(a.target + "/control/fail", "POST")["flipped_at"]
    pages = lambda: [m for m in mails(a.mail, mark) if to_any(m, {a.to}) and "is failing" in m.subject]
    got = wait_for(lambda: len(pages()) >= a.alerts and pages(), a.timeout) or pages()
    opened = {}
    for alert in golive_alerts(a.golive):
        opened[alert["title"]] = rfc3339(alert["opened_at"])
    rows = []
    for mail in got:
        match = re.search(r"(p\d+) is failing", mail.subject)
        title = match.group(1) if match else None
        if title in opened:
            rows.append({"alert": title, "opened_s": opened[title] - flipped, "accepted_s": mail.at - flipped,
                         "latency_s": mail.at - opened[title]})
    # Let the webhook's 5 s timeout run out once, so its retries (or their absence) show.
    time.sleep(max(0.0, flipped + a.hook_wait - time.time()))
    record = {"round": a.round, "alerts": a.alerts, "alerts_opened": len(opened), "pages": len(got),
              "matched": len(rows), "distinct_subjects": len({m.subject for m in got}), "rows": rows,
              "hook_connections": hook_opens(a.hook_log, hook_mark), "hook_window_s": a.hook_wait}
    append_json(a.out, record)
    lat = sorted(r["latency_s"] for r in rows)
    if lat:
        log(f"golive round {a.round}: {len(rows)}/{a.alerts} pages; opened -> accepted p50 "
            f"{statistics.median(lat):.3f} max {lat[-1]:.3f} s; the hung webhook was opened "
            f"{record['hook_connections']} times in {a.hook_wait:.0f} s")
    if len(rows) < a.alerts:
        log(f"golive round {a.round}: only {len(rows)} of {a.alerts} pages within {a.timeout:.0f} s")


def hung_peer(a):
    mark, hook_mark = count_lines(a.mail), count_lines(a.hook_log)
    now = time.time()
    alerts = [am_alert({"alertname": "ShopPageDown", "instance": f"p{k:02d}", "severity": "critical",
                        "round": str(a.round)}, now, now + 3600) for k in range(1, a.alerts + 1)]
    posted = time.time()
    http(a.am + "/api/v2/alerts", "POST", alerts)
    answered = time.time()
    pages = lambda: [m for m in mails(a.mail, mark) if to_any(m, {a.to}) and "FIRING" in m.subject]
    got = wait_for(lambda: len(pages()) >= a.alerts and pages(), a.timeout) or pages()
    rows = [{"alert": m.subject, "latency_s": m.at - posted} for m in got]
    time.sleep(max(0.0, posted + a.hook_wait - time.time()))
    record = {"round": a.round, "alerts": a.alerts, "pages": len(got), "matched": len(rows),
              "distinct_subjects": len({m.subject for m in got}), "post_s": answered - posted, "rows": rows,
              "hook_connections": hook_opens(a.hook_log, hook_mark), "hook_window_s": a.hook_wait}
    append_json(a.out, record)
    lat = sorted(r["latency_s"] for r in rows)
    if lat:
        log(f"peer round {a.round}: {len(rows)}/{a.alerts} emails; post -> accepted p50 "
            f"{statistics.median(lat):.3f} max {lat[-1]:.3f} s; the hung webhook was opened "
            f"{record['hook_connections']} times in {a.hook_wait:.0f} s")
    if len(rows) < a.alerts:
        log(f"peer round {a.round}: only {len(rows)} of {a.alerts} emails within {a.timeout:.0f} s")


# --- scenario 2: a relay outage while an alert escalates ----------------------------------------

def outage(a):
    wait_healthy(a.golive)
    # golive's alert opens at the check's next probe, and a down channel is then tried every 2 s
    # from its first failure; Alertmanager's retries start with its post. Random waits before the
    # relay goes down and before the alert starts put the recovery at a random point of both.
    time.sleep(random.uniform(0.0, 2.0))
    levels = a.levels.split(",")           # golive's recipients of level 1, 2, 3
    mark = count_lines(a.mail)
    refusal_mark = count_lines(a.refusals)
    open(a.refuse_file, "w").close()
    down_at = time.time()
    delay = 1.0 + random.uniform(0.0, 2.0)
    log(f"relay down (421 to MAIL FROM) for {a.outage:.0f} s; the alert starts in {delay:.2f} s")
    time.sleep(delay)
    flipped = http(a.target + "/control/fail", "POST")["flipped_at"]
    am_posted = None
    if a.am:
        now = time.time()
        am_posted = now
        http(a.am + "/api/v2/alerts", "POST",
             [am_alert({"alertname": "ShopDown", "instance": "outage", "severity": "critical"}, now, now + 3600)])
    opened = wait_for(lambda: [al for al in golive_alerts(a.golive) if al["title"] == "outage"], 30, 0.1)
    opened_at = rfc3339(opened[0]["opened_at"]) if opened else float("nan")
    time.sleep(max(0.0, down_at + a.outage - time.time()))
    during = [m for m in mails(a.mail, mark)]
    os.remove(a.refuse_file)
    back_at = time.time()
    log("relay back")
    wanted = set(levels) | ({a.am_to} if a.am else set())

    def arrived():
        got = [m for m in mails(a.mail, mark) if to_any(m, wanted)]
        have = {r for m in got for r in m.recipients}
        return got if wanted <= have else None
    got = wait_for(arrived, a.timeout, 0.02) or [m for m in mails(a.mail, mark) if to_any(m, wanted)]
    refusals = []
    with open(a.refusals, encoding="utf-8") as f:
        for line in list(f)[refusal_mark:]:
            at, sender = line.rstrip("\n").split("\t", 1)
            refusals.append((float(at), sender))
    pages = []
    for mail in got:
        for recipient in mail.recipients:
            if recipient in wanted:
                pages.append({"to": recipient, "after_recovery_s": mail.at - back_at, "subject": mail.subject,
                              "level": levels.index(recipient) + 1 if recipient in levels else None})
    pages.sort(key=lambda p: p["after_recovery_s"])
    record = {"round": a.round, "outage_s": back_at - down_at, "alert_opened_after_down_s": opened_at - down_at,
              "am_posted_after_down_s": (am_posted - down_at) if am_posted else None,
              "accepted_during_outage": len(during), "pages": pages,
              "refusals": {sender: sum(1 for _, s in refusals if s == sender) for sender in {s for _, s in refusals}},
              "levels": levels, "am_to": a.am_to if a.am else None}
    append_json(a.out, record)
    for p in pages:
        log(f"+{p['after_recovery_s']:.3f} s after recovery: {p['to']} ({p['subject']})")


# --- scenario 3: a storm of 50 alerts that opens and resolves -----------------------------------

def storm(a):
    wait_healthy(a.golive)
    golive_people = a.golive_to.split(",")
    am_people = a.am_to.split(",") if a.am else []
    mark = count_lines(a.mail)
    flipped = http(a.target + "/control/fail", "POST")["flipped_at"]
    labels = [{"alertname": "ShopPageDown", "storm": "launch", "instance": f"st{k:02d}", "severity": "critical"}
              for k in range(1, a.alerts + 1)]
    if a.am:
        now = time.time()
        http(a.am + "/api/v2/alerts", "POST", [am_alert(l, now, now + 3600) for l in labels])
    opened = wait_for(lambda: len([x for x in golive_alerts(a.golive) if x["resolved_at"] is None]) >= a.alerts,
                      30, 0.2)
    if not opened:
        log(f"golive did not open {a.alerts} alerts within 30 s")
    time.sleep(max(0.0, flipped + a.storm_seconds - time.time()))
    resolving = http(a.target + "/control/ok", "POST")["flipped_at"]
    if a.am:
        now = time.time()
        http(a.am + "/api/v2/alerts", "POST", [am_alert(l, now - a.storm_seconds, now) for l in labels])
    log(f"storm over after {a.storm_seconds:.0f} s: checks healthy, Alertmanager's alerts resolved")
    wait_for(lambda: not [x for x in golive_alerts(a.golive) if x["resolved_at"] is None], 60, 0.2)

    def settled():
        last = [m.at for m in mails(a.mail, mark) if to_any(m, set(golive_people))]
        return time.time() - max(last + [resolving]) >= a.settle
    wait_for(settled, 180, 0.2)
    if a.am:
        am_resolved = lambda: [m for m in mails(a.mail, mark) if to_any(m, set(am_people)) and "RESOLVED" in m.subject]
        wait_for(am_resolved, max(0.0, resolving + a.am_deadline - time.time()), 0.2)
    got = mails(a.mail, mark)

    def alerts_in(subject):
        """How many alerts a message is about: golive's "[STATE] N alerts ..." (or the older
        "(and N more alerts)"), Alertmanager's [FIRING:N]."""
        group = re.search(r"\] (\d+) alerts\b", subject)
        more = re.search(r"\(and (\d+) more alerts?\)", subject)
        firing = re.search(r"\[(?:FIRING|RESOLVED):(\d+)\]", subject)
        if group:
            return int(group.group(1))
        return int(more.group(1)) + 1 if more else int(firing.group(1)) if firing else 1

    def per_person(people, resolved_word):
        out = {}
        # A resolution says so in its subject: golive's "[RESOLVED] check" or "[RESOLVED] N alerts",
        # Alertmanager's "[RESOLVED]"; compared without case.
        resolved_word = resolved_word.lower()
        for person in people:
            theirs = [m for m in got if person in m.recipients]
            out[person] = {
                "opening_alerts": [alerts_in(m.subject) for m in theirs if resolved_word not in m.subject.lower()],
                "resolution_alerts": [alerts_in(m.subject) for m in theirs if resolved_word in m.subject.lower()],
                "messages": len(theirs),
                "opening": sum(1 for m in theirs if resolved_word not in m.subject.lower()),
                "resolution": sum(1 for m in theirs if resolved_word in m.subject.lower()),
                "bytes": [m.size for m in theirs],
                "last_after_resolve_s": (max(m.at for m in theirs) - resolving) if theirs else None,
            }
        return out
    record = {"alerts": a.alerts, "storm_seconds": a.storm_seconds,
              "golive_alerts_opened": len([x for x in golive_alerts(a.golive)]),
              "golive": per_person(golive_people, "RESOLVED"),
              "peer": per_person(am_people, "RESOLVED") if a.am else None}
    append_json(a.out, record)
    for side in ("golive", "peer"):
        for person, r in (record[side] or {}).items():
            log(f"{side} {person}: {r['messages']} messages ({r['opening']} opening, {r['resolution']} resolution)")


# --- summary -------------------------------------------------------------------------------------

def nearest_rank(values, q):
    return values[max(0, math.ceil(q * len(values)) - 1)]


def summary(a):
    w = a.dir
    print()
    print(open(os.path.join(w, "machine")).read().rstrip())
    print()
    rows = []   # (scenario, figure, golive, peer, target, met)

    # Scenario 1
    g = read_json_lines(os.path.join(w, "hung-golive.jsonl"))
    p = read_json_lines(os.path.join(w, "hung-peer.jsonl"))
    g_lat = sorted(r["latency_s"] for rec in g for r in rec["rows"])
    p_lat = sorted(r["latency_s"] for rec in p for r in rec["rows"])
    g_expected = sum(rec["alerts"] for rec in g)
    p_expected = sum(rec["alerts"] for rec in p)

    def trio(v):
        return f"{statistics.median(v):.3f} / {nearest_rank(v, 0.99):.3f} / {v[-1]:.3f}" if v else "-"
    met1 = bool(g_lat) and len(g_lat) == g_expected and g_lat[-1] <= 1.0
    rows.append((f"1. hung webhook, {g[0]['alerts'] if g else '?'} alerts at once", f"email page latency p50 / p99 / max (s), "
                 f"golive {len(g_lat)}/{g_expected} pages, peer {len(p_lat)}/{p_expected}",
                 trio(g_lat), trio(p_lat) if p else "(skipped)", "max <= 1 s",
                 "yes" if met1 else "NO"))

    # Scenario 2
    o = read_json_lines(os.path.join(w, "outage.jsonl"))
    worst, orders, peer_delays, all_in_order, complete = [], [], [], True, True
    for rec in o:
        gp = [x for x in rec["pages"] if x["level"]]
        levels_seen = [x["level"] for x in gp]
        complete &= sorted(levels_seen) == list(range(1, len(rec["levels"]) + 1))
        in_order = levels_seen == sorted(levels_seen)
        all_in_order &= in_order
        orders.append(",".join(f"L{x}" for x in levels_seen))
        if gp:
            worst.append(max(x["after_recovery_s"] for x in gp))
        pp = [x["after_recovery_s"] for x in rec["pages"] if x["level"] is None]
        if pp:
            peer_delays.append(max(pp))
    outage_s = statistics.median([rec["outage_s"] for rec in o]) if o else float("nan")
    met2 = bool(worst) and complete and max(worst) <= 5.0
    has_peer = any(rec.get("am_to") for rec in o)
    rows.append((f"2. relay outage ({outage_s:.0f} s), 3 levels", "relay back -> last page accepted (s)",
                 ", ".join(f"{x:.3f}" for x in worst) or "-",
                 (", ".join(f"{x:.3f}" for x in peer_delays) or "no email") + " (1 alert, no levels)"
                 if has_peer else "(skipped)",
                 "<= 5 s", "yes" if met2 else "NO"))
    rows.append(("", "arrival order", "; ".join(orders) or "-", "n/a (no escalation levels)" if has_peer else "",
                 "escalation order", "yes" if (o and all_in_order and complete) else "NO"))

    # Scenario 3
    s = read_json_lines(os.path.join(w, "storm.jsonl"))
    if s:
        rec = s[-1]
        gmax = max(r["messages"] for r in rec["golive"].values())
        gdesc = ", ".join(f"{r['messages']} ({r['opening']} + {r['resolution']})" for r in rec["golive"].values())
        pdesc = (", ".join(f"{r['messages']} ({r['opening']} + {r['resolution']})" for r in rec["peer"].values())
                 if rec["peer"] else "(skipped)")
        rows.append((f"3. storm of {rec['alerts']} alerts, open + resolve", "messages per person (opening + resolution)",
                     gdesc, pdesc, "<= 4", "yes" if gmax <= 4 else "NO"))

    print("Delivery under faults (golive vs. Alertmanager 0.25, same machine, same run, same SMTP sink)")
    print()
    headers = ("scenario", "figure", "golive", "peer: Alertmanager", "target", "met?")
    widths = [max(len(str(r[i])) for r in rows + [headers]) for i in range(6)]
    line = lambda r: "| " + " | ".join(str(r[i]).ljust(widths[i]) for i in range(6)) + " |"
    print(line(headers))
    print("|" + "|".join("-" * (w_ + 2) for w_ in widths) + "|")
    for r in rows:
        print(line(r))
    print()

    # Details
    if g:
        opened = sorted(r["opened_s"] for rec in g for r in rec["rows"])
        print(f"1. golive: {len(g)} rounds, a fresh daemon each; the {g[0]['alerts']} alerts opened between "
              f"+{opened[0]:.3f} and +{opened[-1]:.3f} s after the flip; pages accepted up to "
              f"+{max(r['accepted_s'] for rec in g for r in rec['rows']):.3f} s after the flip")
        print(f"   the hung webhook was opened {', '.join(str(rec['hook_connections']) for rec in g)} times per round "
              f"(first {g[0]['hook_window_s']:.0f} s of each round; timeout 5 s)")
    if p:
        print(f"1. peer: {len(p)} rounds, a fresh Alertmanager each; the POST of the alerts took "
              f"{statistics.median([rec['post_s'] for rec in p]) * 1000:.1f} ms (median); the hung webhook was opened "
              f"{', '.join(str(rec['hook_connections']) for rec in p)} times per round (first "
              f"{p[0]['hook_window_s']:.0f} s)")
    for rec in o:
        print(f"2. round {rec['round']}: outage {rec['outage_s']:.1f} s; golive's alert opened "
              f"+{rec['alert_opened_after_down_s']:.2f} s after the relay went down"
              + (f", Alertmanager's posted +{rec['am_posted_after_down_s']:.2f} s" if rec['am_posted_after_down_s'] else "")
              + f"; accepted during the outage: {rec['accepted_during_outage']}")
        print("   after the relay was back: " + "; ".join(
            f"{'L' + str(x['level']) if x['level'] else 'Alertmanager'} ({x['to']}) +{x['after_recovery_s']:.3f} s"
            for x in rec["pages"]))
        print("   refused MAIL FROM during the outage: " + (", ".join(
            f"{sender} {n}" for sender, n in sorted(rec["refusals"].items())) or "none"))
    for rec in s:
        for side in ("golive", "peer"):
            for person, r in (rec[side] or {}).items():
                sizes = r["bytes"]
                resolved = r.get("resolution_alerts", [])
                print(f"3. {side} {person}: {r['messages']} messages ({r['opening']} opening, of "
                      f"{' + '.join(str(n) for n in r['opening_alerts'])} alerts; {r['resolution']} resolution, of "
                      f"{' + '.join(str(n) for n in resolved) or '0'} alerts), "
                      f"{sum(sizes) / 1024:.1f} KiB in all, largest {max(sizes, default=0) / 1024:.1f} KiB; "
                      f"last one +{r['last_after_resolve_s'] or 0:.1f} s after the storm resolved")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    h = sub.add_parser("hung-golive")
    h.add_argument("--golive", required=True)
    h.add_argument("--target", required=True)
    for q in (h, hp := sub.add_parser("hung-peer")):
        q.add_argument("--mail", required=True)
        q.add_argument("--hook-log", required=True)
        q.add_argument("--to", required=True)
        q.add_argument("--round", type=int, required=True)
        q.add_argument("--alerts", type=int, default=40)
        q.add_argument("--timeout", type=float, default=60)
        q.add_argument("--hook-wait", type=float, default=8,
                       help="seconds after the flip/post before the webhook's connections are counted")
        q.add_argument("--out", required=True)
    hp.add_argument("--am", required=True)

    o = sub.add_parser("outage")
    o.add_argument("--golive", required=True)
    o.add_argument("--am")
    o.add_argument("--am-to", default="")
    o.add_argument("--target", required=True)
    o.add_argument("--mail", required=True)
    o.add_argument("--refusals", required=True)
    o.add_argument("--refuse-file", required=True)
    o.add_argument("--levels", required=True, help="level 1,2,3 recipients' addresses")
    o.add_argument("--outage", type=float, default=90)
    o.add_argument("--timeout", type=float, default=120)
    o.add_argument("--round", type=int, default=1)
    o.add_argument("--out", required=True)

    s = sub.add_parser("storm")
    s.add_argument("--golive", required=True)
    s.add_argument("--golive-to", required=True)
    s.add_argument("--am")
    s.add_argument("--am-to", default="")
    s.add_argument("--am-deadline", type=float, default=120,
                   help="seconds after the storm resolved to wait for Alertmanager's resolution email")
    s.add_argument("--target", required=True)
    s.add_argument("--mail", required=True)
    s.add_argument("--alerts", type=int, default=50)
    s.add_argument("--storm-seconds", type=float, default=40)
    s.add_argument("--settle", type=float, default=10)
    s.add_argument("--out", required=True)

    m = sub.add_parser("summary")
    m.add_argument("--dir", required=True)

    a = parser.parse_args()
    {"hung-golive": hung_golive, "hung-peer": hung_peer, "outage": outage, "storm": storm,
     "summary": summary}[a.command](a)


if __name__ == "__main__":
    main()
