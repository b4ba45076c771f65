#!/usr/bin/env python3
"""End-to-end test: a run finalised early is reported again, whole.

dagprof runs with assembly.max_age = 1s. The first two spans of a run (a
node and its model call, no root yet) arrive; once max_age passes, dagprof
reports the run as partial and says in its log which setting to raise. Then
the rest of the run arrives (a second node, its call and the root): dagprof
reports the whole run, marked as superseding the partial report, with the
figures of all five spans. Waits on the reports, never on a clock.

  test_partial_run.py --dagprof PATH
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from e2e_common import Checker, Daemon  # noqa: E402
from test_python_client import TraceBuilder, chat, pb, request_of  # noqa: E402

import grpc  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dagprof", required=True)
    args = ap.parse_args()
    c = Checker("e2e_partial_run")

    tb = TraceBuilder()
    root = tb.span("long", 0, 5000, {"dag.id": "long-dag"})
    a = tb.span("a", 0, 1000, {"dag.node.id": "a"}, root)
    call_a = chat(tb, a, 100, 900, "gpt-4o-mini", gen_ai__usage__input_tokens=100,
                  gen_ai__usage__output_tokens=10)
    b = tb.span("b", 3000, 5000, {"dag.node.id": "b"}, root)
    call_b = chat(tb, b, 3100, 4900, "gpt-4o-mini", gen_ai__usage__input_tokens=200,
                  gen_ai__usage__output_tokens=20)
    first = [a, call_a]
    rest = [b, call_b, root]
    hex_id = tb.trace_id.hex()

    daemon = Daemon(args.dagprof, extra_args=["--max-age", "1s"]).start()
    channel = grpc.insecure_channel(daemon.endpoint)
    export = pb.trace_export(channel)
    try:
        export(request_of(first), timeout=30)
        got_partial = daemon.wait_for_report(
            lambda r: r.get("trace_id") == hex_id and r.get("partial"), timeout=60)
        c.ok(got_partial, "the open run is reported as partial after max_age")
        export(request_of(rest), timeout=30)
        got_whole = daemon.wait_for_report(
            lambda r: r.get("trace_id") == hex_id and r.get("supersedes_partial"), timeout=60)
        c.ok(got_whole, "the whole run is reported once its remaining spans arrive")
    finally:
        channel.close()
        rc, reports = daemon.stop()

    c.eq(rc, 0, "dagprof exit code after SIGTERM")
    mine = [r for r in reports if r.get("trace_id") == hex_id]
    c.eq([(r.get("partial"), r.get("supersedes_partial"), r.get("span_count")) for r in mine],
         [(True, False, 2), (False, True, 5)],
         "a partial report of 2 spans, then the whole run of 5 superseding it")
    if len(mine) == 2:
        part, whole = mine
        c.eq(part.get("partial_reason"), "max_age", "partial_reason")
        c.eq(whole.get("late"), False, "the whole run is no late report")
        c.eq(whole.get("dag_id"), "long-dag", "the whole run has its root's dag id")
        c.eq(sorted(n.get("id") for n in whole.get("nodes", [])), ["a", "b"], "nodes of the whole run")
        s = whole.get("summary", {})
        c.eq(s.get("llm_calls"), 2, "llm_calls")
        # input 100 + 200, output 10 + 20; gpt-4o-mini $0.15 / $0.60 per 1M:
        # (300 * 0.15 + 30 * 0.60) / 1e6 = (45 + 18) / 1e6
        c.eq((s.get("tokens", {}).get("input"), s.get("tokens", {}).get("output")), (300, 30),
             "tokens of all five spans")
        c.near(s.get("cost_usd"), 63e-6, "cost of the whole run")
        c.near(s.get("wall_ms"), 5000.0, "wall time of the whole run")
    log = "".join(daemon.stderr_lines)
    c.ok("assembly.max_age" in log and "partial" in log,
         "the log says why the run was finalised early and which setting to raise")
    if c.failures:
        print(daemon.stderr_tail(), file=sys.stderr)
    return c.report()


if __name__ == "__main__":
    sys.exit(main())
