#!/usr/bin/env python3
"""End-to-end test of the run history: the daemon with history.path, runs sent
with python3-grpcio, then `dagprof runs` and `dagprof trends` checked against
figures worked out by hand below, and the rows read back with Python's own
sqlite3 module as the independent reader.

  test_history.py --dagprof PATH --scenario record|unavailable

record: nine runs of hist-dag (three 2h40m..3h ago, five 20..60 min ago, one
    partial-free run of another DAG); `dagprof runs` is polled while the daemon
    is still running (a reader beside the writer).
unavailable: history.path in a directory that does not exist: the daemon keeps
    reporting runs, counts the failures in /metrics and logs them once.
far_since: a run of 1990 and one of 20 min ago recorded by `dagprof report
    --history`; `--since 220000d` (602 years: more ns than 2^64) reaches back
    past both. Four runs of tie-dag that started at the same time: --window 2
    takes the two listed first by `dagprof runs`, and each node goes to the
    window of its own run.
report_bulk: `dagprof report --history` of a file of 400 runs with
    history.queue_runs 1: every run is recorded (the run processors wait for
    the writer instead of dropping runs as the daemon does).
"""

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from e2e_common import Checker, Daemon  # noqa: E402
import otlp_pb  # noqa: E402

try:
    import grpc
except ImportError:  # pragma: no cover - reported as a test failure
    sys.exit("python3-grpcio is missing: run this test with Debian's /usr/bin/python3")

MS = 1_000_000
NOW_S = int(time.time())
pb = otlp_pb.load()
Span = pb.trace.Span

# The public list prices (USD per 1M tokens), as docs/prices.md gives them.
MINI_IN, MINI_OUT = 0.15, 0.60
GPT4O_IN, GPT4O_OUT = 2.50, 10.00
PLAN_COST = (1000 * MINI_IN + 200 * MINI_OUT) / 1e6  # 0.00027
ANSWER_COST = (2000 * GPT4O_IN + 100 * GPT4O_OUT) / 1e6  # 0.006
RUN_COST = PLAN_COST + ANSWER_COST  # 0.00627


def run_spans(trace_no, start_s, search_ms, dag="hist-dag", retries=0, answer_model="gpt-4o"):
    """plan (0..100 ms, gpt-4o-mini 1000 in / 200 out) -> search (search_ms) ->
    10 ms wait -> answer (50 ms, gpt-4o 2000 in / 100 out), under a root that
    covers them: wall = critical path = 160 + search_ms. retries >= 2 on search
    (dag.retries) makes an excessive_retries finding on it (docs/metrics.md)."""
    trace_id = bytes([0xB0, trace_no]) + bytes(14)
    base = start_s * 1_000_000_000
    spans = []

    def span(no, parent, name, start_ms, end_ms, attrs, kind=Span.SPAN_KIND_INTERNAL):
        s = Span(trace_id=trace_id, span_id=bytes([0x5B, trace_no, 0, 0, 0, 0, 0, no]), name=name,
                 kind=kind, start_time_unix_nano=base + int(start_ms * MS),
                 end_time_unix_nano=base + int(end_ms * MS))
        if parent:
            s.parent_span_id = parent.span_id
        for k, v in attrs.items():
            s.attributes.append(otlp_pb.attr(pb, k, v))
        spans.append(s)
        return s

    end = 160 + search_ms
    root = span(1, None, "run", 0, end, {"dag.id": dag})
    plan = span(2, root, "plan", 0, 100, {"dag.node.id": "plan"})
    span(3, plan, "chat", 0, 100, {"gen_ai.operation.name": "chat",
                                   "gen_ai.request.model": "gpt-4o-mini",
                                   "gen_ai.usage.input_tokens": 1000,
                                   "gen_ai.usage.output_tokens": 200}, Span.SPAN_KIND_CLIENT)
    search_attrs = {"dag.node.id": "search", "dag.depends_on": ["plan"]}
    if retries:
        search_attrs["dag.retries"] = retries
    span(4, root, "search", 100, 100 + search_ms, search_attrs)
    answer = span(5, root, "answer", 110 + search_ms, end,
                  {"dag.node.id": "answer", "dag.depends_on": ["search"]})
    span(6, answer, "chat", 110 + search_ms, end,
         {"gen_ai.operation.name": "chat", "gen_ai.request.model": answer_model,
          "gen_ai.usage.input_tokens": 2000, "gen_ai.usage.output_tokens": 100},
         Span.SPAN_KIND_CLIENT)
    return trace_id.hex(), spans


# (trace no, seconds before now, search duration in ms, search retries)
PREVIOUS = [(1, 3 * 3600, 100, 0), (2, 2 * 3600 + 50 * 60, 100, 0),
            (3, 2 * 3600 + 40 * 60, 100, 0)]
CURRENT = [(4, 3600, 100, 0), (5, 3000, 150, 2), (6, 2400, 150, 0), (7, 1800, 160, 0),
           (8, 1200, 200, 3)]


def dagprof(binary, *args):
    p = subprocess.run([binary] + list(args), capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def send_all(daemon, runs):
    with grpc.insecure_channel(daemon.endpoint) as ch:
        export = pb.trace_export(ch)
        for spans in runs:
            export(otlp_pb.trace_request(pb, spans, "hist-svc", "dagprof-e2e-history"), timeout=30)


def metric(text, name):
    """The sum of a family's samples in the Prometheus text."""
    total = None
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total = (total or 0) + float(line.rsplit(" ", 1)[1])
    return total


def scenario_record(binary, c, tmp):
    db = os.path.join(tmp, "history.db")
    daemon = Daemon(binary, ["--history", db]).start()
    traces = {}
    try:
        runs = []
        for no, ago, search, retries in PREVIOUS + CURRENT:
            tid, spans = run_spans(no, NOW_S - ago, search, retries=retries)
            traces[tid] = (no, ago, search)
            runs.append(spans)
        # its answer on a model without a price
        other, other_spans = run_spans(9, NOW_S - 600, 100, dag="other-dag",
                                       answer_model="acme-llm-1")
        runs.append(other_spans)
        send_all(daemon, runs)

        # a reader while the daemon runs: poll `dagprof runs` until all nine are there
        deadline = time.monotonic() + 60
        seen = []
        while time.monotonic() < deadline:
            rc, out, err = dagprof(binary, "runs", "--history", db, "--format", "json",
                                   "--limit", "100")
            seen = [json.loads(l) for l in out.splitlines() if l.strip()] if rc == 0 else []
            if len(seen) == 9:
                break
            time.sleep(0.1)  # polling the condition above, within the deadline
        c.eq(len(seen), 9, "runs listed while the daemon runs")

        status, _, text = daemon.scrape()
        c.eq(metric(text, "dagprof_history_written_runs_total"), 9.0, "written runs in /metrics")
        c.eq(metric(text, "dagprof_history_write_failures_total"), 0.0, "write failures")
    finally:
        rc, _ = daemon.stop()
    c.eq(rc, 0, "daemon exit status")

    # --- dagprof runs -------------------------------------------------------------------------
    rc, out, err = dagprof(binary, "runs", "--history", db, "--dag", "hist-dag", "--format",
                           "json")
    c.eq(rc, 0, "runs exit status (%s)" % err.strip())
    listed = [json.loads(l) for l in out.splitlines() if l.strip()]
    c.eq(len(listed), 8, "hist-dag runs")
    # newest first: trace 8 (20 min ago) down to trace 1 (3 h ago)
    c.eq([int(r["trace_id"][2:4], 16) for r in listed], [8, 7, 6, 5, 4, 3, 2, 1], "order")
    for r in listed:
        no, ago, search = traces[r["trace_id"]]
        d = "run %d" % no
        c.eq(r["start_unix_nano"], (NOW_S - ago) * 1_000_000_000, d + " start")
        c.eq(r["start"], time.strftime("%Y-%m-%d %H:%M:%S.000Z", time.gmtime(NOW_S - ago)),
             d + " start text (UTC)")
        c.near(r["wall_ms"], 160 + search, d + " wall")
        c.near(r["critical_path_ms"], 160 + search, d + " critical path")
        c.eq(r["tokens"], {"input": 3000, "output": 300, "cache_read": 0, "cache_write": 0},
             d + " tokens")
        c.near(r["cost_usd"], RUN_COST, d + " cost")
        c.eq(r["cost_complete"], True, d + " cost complete")
        c.eq(r["nodes"], 3, d + " nodes")
        c.eq(r["service"], "hist-svc", d + " service")
        c.eq(r["partial"], False, d + " partial")
    rc, out, _ = dagprof(binary, "runs", "--history", db, "--limit", "2")
    lines = out.splitlines()
    c.eq(len(lines), 3, "text: a header and two runs")
    c.ok(lines and lines[0].startswith("START (UTC)"), "text header: %r" % lines[:1])
    c.ok(len(lines) > 1 and other in lines[1] and "other-dag" in lines[1],
         "newest is the other DAG's run (10 min ago): %r" % lines[1:2])
    c.ok(len(lines) > 2 and "b008" in lines[2] and "$0.006270" in lines[2] and "3300" in lines[2]
         and "360.0 ms" in lines[2],
         "then run 8 (20 min ago) with its wall, cost and tokens: %r" % lines[2:3])
    rc, out, _ = dagprof(binary, "runs", "--history", db, "--since", "30m", "--format", "json")
    c.eq(sorted(json.loads(l)["trace_id"][2:4] for l in out.splitlines()), ["08", "09"],
         "--since 30m: the runs of 20 and 10 min ago")

    # --- dagprof trends -----------------------------------------------------------------------
    # Current window (last 2h): searches 100, 150, 150, 160, 200 ms. Nearest rank:
    # p50 = value 3 of 5 (ceil(2.5)) = 150, p95 = value 5 (ceil(4.75)) = 200.
    # Walls = 160 + search: p50 310, p95 360. Previous window: searches 100 x3.
    # Cost per run 0.00627; per 1,000 runs 6.27; rate (5 - 1) runs / (3600 - 1200) s =
    # 1/600 per s, per month 2,592,000 s / 600 x 0.00627 = 27.0864.
    for args, what in ((["--since", "2h"], "time windows"), (["--window", "5"], "--window 5")):
        rc, out, err = dagprof(binary, "trends", "--history", db, "--dag", "hist-dag",
                               "--format", "json", *args)
        c.eq(rc, 0, what + " exit status (%s)" % err.strip())
        try:
            t = json.loads(out)
        except ValueError:
            c.ok(False, what + ": not JSON: %r" % out[:200])
            continue
        w = t["window"]
        c.eq(w["runs"], 5, what + " runs")
        c.eq(t["previous"]["runs"], 3, what + " previous runs")
        c.near(w["p50_wall_ms"], 310, what + " p50 wall")
        c.near(w["p95_wall_ms"], 360, what + " p95 wall")
        c.near(w["cost_per_run_usd"], RUN_COST, what + " cost per run")
        c.near(w["cost_per_1000_runs_usd"], RUN_COST * 1000, what + " per 1000 runs")
        c.near(w["runs_per_second"], 1 / 600, what + " run rate", tol=1e-6)
        c.near(w["cost_per_month_usd"], 2_592_000 / 600 * RUN_COST, what + " per month", tol=1e-5)
        nodes = {n["id"]: n for n in t["nodes"]}
        c.eq(list(nodes), ["plan", "search", "answer"], what + " nodes in order of appearance")
        s = nodes.get("search", {})
        c.near(s.get("p50_duration_ms"), 150, what + " search p50")
        c.near(s.get("p95_duration_ms"), 200, what + " search p95")
        c.near((s.get("previous") or {}).get("p50_duration_ms"), 100, what + " search prev p50")
        c.near((s.get("previous") or {}).get("p50_duration_change_pct"), 50, what + " +50%")
        c.eq(s.get("regressions"), ["p50_duration"], what + " search regressed")
        a = nodes.get("answer", {})
        c.near(a.get("p50_wait_ms"), 10, what + " answer wait p50")
        c.near(a.get("p95_wait_ms"), 10, what + " answer wait p95")
        c.near(a.get("mean_tokens"), 2100, what + " answer mean tokens")
        c.near(a.get("cost_per_run_usd"), ANSWER_COST, what + " answer cost per run")
        c.eq(a.get("regressions"), [], what + " answer not regressed")
        p = nodes.get("plan", {})
        c.near(p.get("mean_tokens"), 1200, what + " plan mean tokens")
        c.near(p.get("cost_per_run_usd"), PLAN_COST, what + " plan cost per run")
        # search retried in 2 of the 5 runs (5 and 8): excessive_retries there, nothing else
        c.near(s.get("bottleneck_pct"), 40, what + " search bottleneck frequency")
        c.near(a.get("bottleneck_pct"), 0, what + " answer bottleneck frequency")
        c.near(p.get("bottleneck_pct"), 0, what + " plan bottleneck frequency")
        for n in nodes.values():
            c.eq(n["runs"], 5, what + " %s runs" % n["id"])
            c.near(n["critical_path_pct"], 100, what + " %s on the critical path" % n["id"])
        # bottleneck frequency: the findings table read with Python's sqlite3
        with sqlite3.connect(db) as con:
            for n in nodes.values():
                hits = con.execute(
                    "SELECT count(DISTINCT r.id) FROM runs r JOIN findings f ON f.run_id = r.id "
                    "WHERE r.dag_id = 'hist-dag' AND f.kind = 'bottleneck' AND f.node_id = ? "
                    "AND r.start_ns >= ?", (n["id"], (NOW_S - 7200) * 1_000_000_000)).fetchone()[0]
                c.near(n["bottleneck_pct"], 100.0 * hits / 5, what + " %s bottleneck %%" % n["id"])
    rc, out, _ = dagprof(binary, "trends", "--history", db, "--dag", "hist-dag", "--since", "2h")
    c.ok("search: p50 duration 100.0 ms -> 150.0 ms (+50.0%)" in out,
         "text regression line:\n" + out)
    c.ok("cost per 1,000 runs $6.27" in out, "text cost per 1,000 runs")
    c.ok("cost per month $27.09" in out, "text cost per month")
    # runs 4..8 started 3600 s to 1200 s ago: 5 runs over 2400 s
    c.ok("the rate of 5 runs over 2400.000 s" in out, "text: what the rate comes from")
    # other-dag: answer's only call has no price (unknown), plan's has one
    rc, out, _ = dagprof(binary, "trends", "--history", db, "--dag", "other-dag", "--since", "2h")
    rows = {l.split()[0]: l for l in out.splitlines() if l.startswith("  ") and len(l.split()) > 8}
    c.ok("answer" in rows and rows["answer"].split()[-3] == "unknown",
         "a node with no priced call: cost unknown:\n" + out)
    c.ok("plan" in rows and rows["plan"].split()[-3] == "$0.000270", "plan's cost:\n" + out)
    rc, _, err = dagprof(binary, "trends", "--history", db, "--dag", "absent-dag")
    c.eq(rc, 0, "trends of a DAG without runs: exit status (nothing to show is no error)")
    c.ok("no whole runs of DAG absent-dag started in the last 24h" in err and "--since" in err,
         "says which window, and how to widen it: " + err.strip())
    # a threshold above 50% flags nothing
    rc, out, _ = dagprof(binary, "trends", "--history", db, "--dag", "hist-dag", "--since", "2h",
                         "--threshold", "60%", "--format", "json")
    c.eq([n["regressions"] for n in json.loads(out)["nodes"]], [[], [], []], "threshold 60%")

    # --- the rows, read by Python's sqlite3 ---------------------------------------------------
    con = sqlite3.connect(db)
    c.eq(con.execute("PRAGMA user_version").fetchone()[0], 2, "schema version")
    c.eq(con.execute("PRAGMA journal_mode").fetchone()[0], "wal", "WAL mode")
    rows = con.execute("SELECT trace_id, dag_id, wall_ms, node_count, report_json FROM runs").fetchall()
    c.eq(sorted(r[0] for r in rows), sorted(list(traces) + [other]), "stored trace ids")
    for tid, dag, wall, nodes, report in rows:
        rep = json.loads(report)
        c.eq(rep.get("trace_id"), tid, "stored report's trace id")
        c.eq(rep.get("dag_id"), dag, "stored report's DAG id")
    c.eq(con.execute("SELECT count(*) FROM nodes").fetchone()[0], 27, "node rows (9 x 3)")
    c.eq(con.execute("SELECT group_concat(node_id, ',') FROM (SELECT node_id FROM nodes n JOIN "
                     "runs r ON r.id = n.run_id WHERE r.trace_id = ? ORDER BY idx)",
                     (other,)).fetchone()[0], "plan,search,answer", "node rows of one run")
    con.close()


def scenario_unavailable(binary, c, tmp):
    db = os.path.join(tmp, "no-such-dir", "history.db")
    daemon = Daemon(binary, ["--history", db]).start()
    try:
        tids = []
        runs = []
        for no in (1, 2, 3):
            tid, spans = run_spans(no, NOW_S - 60 * no, 100)
            tids.append(tid)
            runs.append(spans)
        send_all(daemon, runs)
        for tid in tids:
            c.ok(daemon.wait_for_report(lambda r, t=tid: r.get("trace_id") == t, timeout=60),
                 "run %s reported without its history" % tid)
        line = daemon.wait_for_log(r"cannot write the run history", timeout=30)
        c.ok(line is not None, "the failure is logged")
        deadline = time.monotonic() + 30
        failures = 0
        while time.monotonic() < deadline:
            _, _, text = daemon.scrape()
            failures = metric(text, "dagprof_history_write_failures_total") or 0
            if failures >= 1:
                break
            time.sleep(0.1)  # polling the condition above, within the deadline
        c.ok(failures >= 1, "write failures counted in /metrics: %r" % failures)
    finally:
        rc, reports = daemon.stop(timeout=60)
    c.eq(rc, 0, "daemon exit status")
    logged = [l for l in daemon.stderr_lines if "cannot write the run history" in l]
    c.eq(len(logged), 1, "logged once per failure streak")
    c.ok(any("not written to the run history at shutdown" in l for l in daemon.stderr_lines),
         "the runs left at shutdown are said")
    c.eq(len(reports), 3, "every run still reported")


def scenario_far_since(binary, c, tmp):
    db = os.path.join(tmp, "history.db")
    old_s = 631152000  # 1990-01-01 00:00:00 UTC
    new_s = NOW_S - 1200
    old_tid, old_spans = run_spans(0x21, old_s, 100)
    new_tid, new_spans = run_spans(0x22, new_s, 150)
    ties = []
    for no, search in ((0x23, 120), (0x24, 170), (0x25, 130), (0x26, 180)):
        ties += run_spans(no, NOW_S - 600, search, dag="tie-dag")[1]
    trace_file = os.path.join(tmp, "runs.pb")
    with open(trace_file, "wb") as f:
        f.write(otlp_pb.trace_request(pb, old_spans + new_spans + ties, "hist-svc",
                                      "dagprof-e2e-history").SerializeToString())
    rc, _, err = dagprof(binary, "report", "--history", db, trace_file)
    c.eq(rc, 0, "report --history exit status: %s" % err)
    # 220000 days are 1.9008e19 ns, past 2^64 (1.8447e19): the bound is "no bound", not the
    # product wrapped round to 17.8 years ago
    rc, out, err = dagprof(binary, "runs", "--history", db, "--dag", "hist-dag", "--since",
                           "220000d", "--format", "json")
    c.eq(rc, 0, "runs --since 220000d exit status: %s" % err)
    listed = [json.loads(l)["trace_id"] for l in out.splitlines() if l.strip()]
    c.eq(listed, [new_tid, old_tid], "runs --since 220000d: both runs, newest first")
    rc, out, err = dagprof(binary, "trends", "--history", db, "--dag", "hist-dag", "--since",
                           "220000d", "--format", "json")
    c.eq(rc, 0, "trends --since 220000d exit status: %s" % err)
    t = json.loads(out) if rc == 0 and out.strip() else {}
    w = t.get("window", {})
    c.eq(w.get("runs"), 2, "trends --since 220000d: both runs in the window")
    c.eq(t.get("previous", {}).get("runs"), 0, "nothing before 602 years ago")
    # walls 260 ms (search 100) and 310 ms (search 150): p50 is rank ceil(1.0) = 1, p95 rank
    # ceil(1.9) = 2; one run in (new - old) seconds, printed to 9 decimals
    c.eq(w.get("p50_wall_ms"), 260.0, "p50 wall")
    c.eq(w.get("p95_wall_ms"), 310.0, "p95 wall")
    rate = w.get("runs_per_second") or 0
    c.ok(abs(rate - 1.0 / (new_s - old_s)) <= 0.5e-9,
         "runs/s = 1 / (new start - old start): %r" % rate)

    # the same start: the listing's order (newest first, then the last stored) decides
    rc, out, _ = dagprof(binary, "runs", "--history", db, "--dag", "tie-dag", "--format", "json")
    searches = [json.loads(l)["wall_ms"] - 160 for l in out.splitlines() if l.strip()]
    c.eq(sorted(searches), [120.0, 130.0, 170.0, 180.0], "the four tie-dag runs: wall 160 + search")
    rc, out, err = dagprof(binary, "trends", "--history", db, "--dag", "tie-dag", "--window", "2",
                           "--format", "json")
    c.eq(rc, 0, "trends --window 2 exit status: %s" % err)
    t = json.loads(out) if rc == 0 and out.strip() else {}
    search = [n for n in t.get("nodes", []) if n.get("id") == "search"]
    # p50 of two values is the 1st of them sorted (rank ceil(1.0) = 1), p95 the 2nd
    c.eq(len(searches) == 4 and [(n["runs"], n["p50_duration_ms"], n["p95_duration_ms"],
                                  n["previous"]["p50_duration_ms"]) for n in search],
         [(2, min(searches[:2]), max(searches[:2]), min(searches[2:]))],
         "search: this window from the two runs listed first, the previous from the others")

def scenario_report_bulk(binary, c, tmp):
    db = os.path.join(tmp, "history.db")
    runs = 400
    spans = []
    for no in range(runs):
        tid, run = run_spans(0, NOW_S - 7200 + no, 100)
        real = bytes([0xB1]) + no.to_bytes(2, "big") + bytes(13)
        for s in run:
            s.trace_id = real
        spans += run
    trace_file = os.path.join(tmp, "runs.pb")
    with open(trace_file, "wb") as f:
        f.write(otlp_pb.trace_request(pb, spans, "hist-svc",
                                      "dagprof-e2e-history").SerializeToString())
    config = os.path.join(tmp, "dagprof.yaml")
    with open(config, "w") as f:
        f.write("history:\n  path: %s\n  queue_runs: 1\n" % db)
    rc, _, err = dagprof(binary, "report", "--config", config, "--format", "json", trace_file)
    c.eq(rc, 0, "report exit status: %s" % err[-500:])
    c.ok("not recorded" not in err, "no run left out: %s" % err[-500:])
    con = sqlite3.connect(db)
    stored = con.execute("SELECT count(DISTINCT trace_id) FROM runs").fetchone()[0]
    nodes = con.execute("SELECT count(*) FROM nodes").fetchone()[0]
    con.close()
    c.eq(stored, runs, "every run of the file in the history")
    c.eq(nodes, 3 * runs, "with its three nodes")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dagprof", required=True)
    ap.add_argument("--scenario", choices=["record", "unavailable", "far_since", "report_bulk"], required=True)
    args = ap.parse_args()
    c = Checker("e2e_history_" + args.scenario)
    with tempfile.TemporaryDirectory(prefix="dagprof-history-") as tmp:
        if args.scenario == "record":
            scenario_record(args.dagprof, c, tmp)
        elif args.scenario == "far_since":
            scenario_far_since(args.dagprof, c, tmp)
        elif args.scenario == "report_bulk":
            scenario_report_bulk(args.dagprof, c, tmp)
        else:
            scenario_unavailable(args.dagprof, c, tmp)
    return c.report()


if __name__ == "__main__":
    sys.exit(main())
