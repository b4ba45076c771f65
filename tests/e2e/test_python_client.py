#!/usr/bin/env python3
"""End-to-end test: hand-built OTLP requests from python3-grpcio -> dagprof.

The spans of three traces are shuffled and split into small requests sent
concurrently over four separate connections (one gzip-compressed), so every
trace arrives in pieces, out of order, across connections; each root is sent
last. A fourth run is reported before one more of its spans arrives, which
must come back as a late report. Metrics and logs exports must be answered
OK. The JSON reports are checked against figures worked out by hand below.

  test_python_client.py --dagprof PATH
"""

import argparse
import os
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from e2e_common import Checker, Daemon  # noqa: E402
import otlp_pb  # noqa: E402

try:
    import grpc
except ImportError:  # pragma: no cover - reported as a test failure
    sys.exit("python3-grpcio is missing: run this test with Debian's /usr/bin/python3")

MS = 1_000_000  # nanoseconds per millisecond
# A fixed, realistic epoch (an hour ago, whole second) so times are exact.
BASE_NS = (int(time.time()) - 3600) * 1_000_000_000

pb = otlp_pb.load()
Span = pb.trace.Span
Status = pb.trace.Status


def new_trace_id():
    return bytes([0xA0]) + os.urandom(15)


class TraceBuilder:
    """Builds the spans of one trace with times in ms from its start."""

    def __init__(self):
        self.trace_id = new_trace_id()
        self.spans = []
        self.next_id = 1

    def span(self, name, start_ms, end_ms, attrs, parent=None, kind=Span.SPAN_KIND_INTERNAL,
             status=Status.STATUS_CODE_UNSET, links=()):
        s = Span(trace_id=self.trace_id, span_id=bytes([0x5A, 0, 0, 0, 0, 0, 0, self.next_id]),
                 name=name, kind=kind, start_time_unix_nano=BASE_NS + int(start_ms * MS),
                 end_time_unix_nano=BASE_NS + int(end_ms * MS))
        self.next_id += 1
        if parent is not None:
            s.parent_span_id = parent.span_id
        for k, v in attrs.items():
            s.attributes.append(otlp_pb.attr(pb, k, v))
        s.status.code = status
        for target in links:
            s.links.add(trace_id=self.trace_id, span_id=target.span_id)
        self.spans.append(s)
        return s


def chat(tb, parent, start, end, model, **tokens):
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.request.model": model}
    attrs.update({k.replace("__", "."): v for k, v in tokens.items()})
    return tb.span("chat " + model, start, end, attrs, parent, kind=Span.SPAN_KIND_CLIENT)


def tool(tb, parent, start, end, name, ok=True):
    return tb.span("execute_tool " + name, start, end,
                   {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name}, parent,
                   status=Status.STATUS_CODE_OK if ok else Status.STATUS_CODE_ERROR)


def build_etl():
    """etl-dag: explicit dag.depends_on, every token convention, cache tokens."""
    tb = TraceBuilder()
    root = tb.span("etl", 0, 7000, {"dag.id": "etl-dag"})
    extract = tb.span("extract", 0, 2000, {"dag.node.id": "extract", "dag.model": "gpt-4o-mini"}, root)
    tool(tb, extract, 100, 1900, "s3_get")
    # Older semconv token names.
    chat(tb, extract, 1900, 1990, "gpt-4o-mini",
         gen_ai__usage__prompt_tokens=1000, gen_ai__usage__completion_tokens=50)
    ta = tb.span("transform_a", 2000, 6000, {"dag.node.id": "transform-a", "dag.model": "gpt-4o",
                                             "dag.depends_on": ["extract"]}, root)
    # 4000 of the 10000 input tokens were read from the provider's cache.
    chat(tb, ta, 2100, 5900, "gpt-4o", gen_ai__usage__input_tokens=10000,
         gen_ai__usage__output_tokens=500, gen_ai__usage__cache_read__input_tokens=4000)
    tbn = tb.span("transform_b", 2000, 4000, {"dag.node.id": "transform-b", "dag.model": "gpt-4o-mini",
                                              "dag.depends_on": "extract"}, root)
    # OpenInference token names on an LLM span.
    tb.span("llm", 2050, 3950, {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini",
                                "llm.token_count.prompt": 3000, "llm.token_count.completion": 300}, tbn,
            kind=Span.SPAN_KIND_CLIENT)
    # Tokens declared on the node itself.
    tb.span("load", 6000, 7000, {"dag.node.id": "load", "dag.model": "claude-3-5-haiku-20241022",
                                 "dag.depends_on": "transform-a,transform-b",
                                 "dag.tokens.input": 2000, "dag.tokens.output": 100}, root)
    return tb, root


def build_graph():
    """graph-dag: OpenInference graph.node.id / graph.node.parent_id, and a span link."""
    tb = TraceBuilder()
    root = tb.span("graph", 0, 2600, {"dag.id": "graph-dag"})
    router = tb.span("router", 0, 500, {"graph.node.id": "router"}, root)
    tb.span("worker", 600, 2600, {"graph.node.id": "worker", "graph.node.parent_id": "router"}, root)
    tb.span("audit", 700, 1700, {"graph.node.id": "audit"}, root, links=[router])
    return tb, root


def build_late():
    """late-dag: a one-node run; one more tool span is sent after its report."""
    tb = TraceBuilder()
    root = tb.span("late", 0, 1000, {"dag.id": "late-dag"})
    solo = tb.span("solo", 0, 1000, {"dag.node.id": "solo", "dag.model": "gpt-4o-mini"}, root)
    chat(tb, solo, 100, 900, "gpt-4o-mini", gen_ai__usage__input_tokens=100,
         gen_ai__usage__output_tokens=10)
    late = Span()
    late.CopyFrom(tb.span("execute_tool lookup", 950, 990,
                          {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"},
                          solo))
    tb.spans.pop()  # sent separately, after the run's report
    return tb, root, late


def request_of(spans):
    return otlp_pb.trace_request(pb, spans, "e2e-python-agent", "dagprof-e2e-python")


def gpt(model, tin, tout, cache_read=0):
    """USD at the public list prices (per 1M tokens): cache reads at their own rate."""
    prices = {"gpt-4o": (2.50, 10.00, 1.25), "gpt-4o-mini": (0.15, 0.60, 0.075),
              "claude-3-5-haiku-20241022": (0.80, 4.00, 0.08)}
    pin, pout, pcache = prices[model]
    return ((tin - cache_read) * pin + cache_read * pcache + tout * pout) / 1e6


def check_etl(c, r):
    d = "etl-dag"
    s = r.get("summary", {})
    c.eq(r.get("span_count"), 9, d + " span_count")  # root, 4 nodes, tool, 2 chats, llm span
    c.eq(r.get("late"), False, d + " late")
    # wall: root 0..7000; nodes 2000 + 4000 + 2000 + 1000 = 9000 of execution;
    # critical path extract -> transform-a -> load = 2000 + 4000 + 1000 = 7000 (no waits).
    c.near(s.get("wall_ms"), 7000.0, d + " wall_ms")
    c.near(s.get("execution_ms"), 9000.0, d + " execution_ms")
    c.near(s.get("critical_path_ms"), 7000.0, d + " critical_path_ms")
    # 9000/7000 = 1.285714...; ratios are printed to 3 decimals.
    c.near(s.get("parallelism"), 9000.0 / 7000.0, d + " parallelism", tol=5e-4)
    c.near(s.get("speedup"), 1.0, d + " speedup")
    c.eq(s.get("node_count"), 4, d + " node_count")
    c.eq((r.get("critical_path") or {}).get("nodes"), ["extract", "transform-a", "load"],
         d + " critical path")
    tok = s.get("tokens") or {}
    # input 1000 + 10000 + 3000 + 2000 = 16000; output 50 + 500 + 300 + 100 = 950;
    # the 4000 cache reads are inside transform-a's input (OTel convention).
    c.eq(tok.get("input"), 16000, d + " tokens.input")
    c.eq(tok.get("output"), 950, d + " tokens.output")
    c.eq(tok.get("cache_read"), 4000, d + " tokens.cache_read")
    c.eq(tok.get("total"), 16950, d + " tokens.total")
    # extract 1000*0.15/1e6 + 50*0.6/1e6 = 0.00018
    # transform-a 6000*2.5/1e6 + 4000*1.25/1e6 + 500*10/1e6 = 0.015 + 0.005 + 0.005 = 0.025
    # transform-b 3000*0.15/1e6 + 300*0.6/1e6 = 0.00045 + 0.00018 = 0.00063
    # load 2000*0.8/1e6 + 100*4/1e6 = 0.0016 + 0.0004 = 0.002
    costs = {"extract": 0.00018, "transform-a": 0.025, "transform-b": 0.00063, "load": 0.002}
    c.near(costs["extract"], gpt("gpt-4o-mini", 1000, 50), "hand arithmetic extract")
    c.near(costs["transform-a"], gpt("gpt-4o", 10000, 500, 4000), "hand arithmetic transform-a")
    c.near(s.get("cost_usd"), sum(costs.values()), d + " cost_usd")  # 0.02781
    c.eq(s.get("cost_complete"), True, d + " cost_complete")
    nodes = {n.get("id"): n for n in r.get("nodes", [])}
    c.eq([n.get("id") for n in r.get("nodes", [])],
         ["extract", "transform-a", "transform-b", "load"], d + " node order")
    want = {
        # id: (start, duration, wait, deps, input, output)
        "extract": (0, 2000, 0, [], 1000, 50),
        "transform-a": (2000, 4000, 0, ["extract"], 10000, 500),
        "transform-b": (2000, 2000, 0, ["extract"], 3000, 300),
        # load: deps end at 6000 and 4000; starts 6000: wait 0.
        "load": (6000, 1000, 0, ["transform-a", "transform-b"], 2000, 100),
    }
    for nid, (start, dur, wait, deps, tin, tout) in want.items():
        n = nodes.get(nid)
        if not c.ok(n is not None, "%s node %s present" % (d, nid)):
            continue
        c.near(n.get("start_ms"), start, "%s %s start_ms" % (d, nid))
        c.near(n.get("duration_ms"), dur, "%s %s duration_ms" % (d, nid))
        c.near(n.get("wait_ms"), wait, "%s %s wait_ms" % (d, nid))
        c.eq(sorted(n.get("depends_on") or []), deps, "%s %s depends_on" % (d, nid))
        c.eq((n.get("tokens") or {}).get("input"), tin, "%s %s tokens.input" % (d, nid))
        c.eq((n.get("tokens") or {}).get("output"), tout, "%s %s tokens.output" % (d, nid))
        c.near(n.get("cost_usd"), costs[nid], "%s %s cost_usd" % (d, nid))
    if nodes.get("extract"):
        tools = nodes["extract"].get("tool_calls") or []
        c.eq([(t.get("name"), t.get("success")) for t in tools], [("s3_get", True)], d + " extract tools")
        c.near(tools[0].get("duration_ms") if tools else None, 1800.0, d + " s3_get duration_ms")


def check_graph(c, r):
    d = "graph-dag"
    s = r.get("summary", {})
    c.eq(r.get("span_count"), 4, d + " span_count")
    c.eq(s.get("node_count"), 3, d + " node_count")
    c.near(s.get("wall_ms"), 2600.0, d + " wall_ms")
    # execution 500 + 2000 + 1000 = 3500
    c.near(s.get("execution_ms"), 3500.0, d + " execution_ms")
    c.eq((r.get("critical_path") or {}).get("nodes"), ["router", "worker"], d + " critical path")
    # From router's ready time (0) to worker's end (2600): 500 + 100 wait + 2000.
    c.near((r.get("critical_path") or {}).get("duration_ms"), 2600.0, d + " critical_path.duration_ms")
    nodes = {n.get("id"): n for n in r.get("nodes", [])}
    c.eq([n.get("id") for n in r.get("nodes", [])], ["router", "worker", "audit"], d + " node order")
    # worker: graph.node.parent_id router (ended 500), starts 600: wait 100.
    # audit: span link to router, starts 700: wait 200.
    for nid, start, dur, wait, deps in (("router", 0, 500, 0, []), ("worker", 600, 2000, 100, ["router"]),
                                        ("audit", 700, 1000, 200, ["router"])):
        n = nodes.get(nid)
        if not c.ok(n is not None, "%s node %s present" % (d, nid)):
            continue
        c.near(n.get("start_ms"), start, "%s %s start_ms" % (d, nid))
        c.near(n.get("duration_ms"), dur, "%s %s duration_ms" % (d, nid))
        c.near(n.get("wait_ms"), wait, "%s %s wait_ms" % (d, nid))
        c.eq(sorted(n.get("depends_on") or []), deps, "%s %s depends_on" % (d, nid))
    c.eq((s.get("tokens") or {}).get("total"), 0, d + " tokens.total")
    c.eq(s.get("llm_calls"), 0, d + " llm_calls")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dagprof", required=True)
    args = ap.parse_args()
    c = Checker("e2e_python_client")

    daemon = Daemon(args.dagprof).start()
    target = daemon.endpoint
    # Separate connections: a local subchannel pool per channel; one uses gzip.
    opts = [("grpc.use_local_subchannel_pool", 1)]
    channels = [grpc.insecure_channel(target, options=opts + [("dagprof.e2e.channel", i)],
                                      compression=grpc.Compression.Gzip if i == 3 else None)
                for i in range(4)]
    exports = [pb.trace_export(ch) for ch in channels]
    statuses = []
    lock = threading.Lock()

    def send(i, spans):
        try:
            resp = exports[i % len(exports)](request_of(spans), timeout=30)
            rejected = resp.partial_success.rejected_spans if resp.HasField("partial_success") else 0
            with lock:
                statuses.append(("OK", rejected, len(spans)))
        except grpc.RpcError as e:
            with lock:
                statuses.append((e.code().name, e.details(), len(spans)))

    try:
        etl, etl_root = build_etl()
        graph, graph_root = build_graph()
        late_tb, late_root, late_span = build_late()

        # Phase 1: every non-root span of etl and graph, shuffled, 2-3 spans per
        # request, 8 requests in flight over 4 connections.
        rng = random.Random(20240607)
        body = [s for s in etl.spans + graph.spans if s is not etl_root and s is not graph_root]
        rng.shuffle(body)
        chunks, i = [], 0
        while i < len(body):
            n = 2 + (i % 2)
            chunks.append(body[i:i + n])
            i += n
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda ic: send(ic[0], ic[1]), enumerate(chunks)))
        # Roots last, on different connections: no run can be finalised early.
        send(1, [etl_root])
        send(2, [graph_root])

        # Phase 2: a whole run in one request; once its report is printed,
        # one more span of it arrives and must be reported as late.
        send(0, late_tb.spans)
        late_hex = late_tb.trace_id.hex()
        got_first = daemon.wait_for_report(lambda r: r.get("trace_id") == late_hex, timeout=60)
        c.ok(got_first, "late-dag reported before its late span is sent")
        send(3, [late_span])

        # Metrics and logs are answered OK (validated, not profiled).
        for fn, req in ((pb.metrics_export(channels[0]), pb.metrics_service.ExportMetricsServiceRequest()),
                        (pb.logs_export(channels[1]), pb.logs_service.ExportLogsServiceRequest())):
            try:
                fn(req, timeout=10)
                c.ok(True, "")
            except grpc.RpcError as e:
                c.ok(False, "empty %s export: %s %s" % (type(req).__name__, e.code().name, e.details()))
    finally:
        for ch in channels:
            ch.close()
        rc, reports = daemon.stop()

    c.eq(rc, 0, "dagprof exit code after SIGTERM")
    sent = sum(n for _st, _x, n in statuses)
    c.eq(sent, len(etl.spans) + len(graph.spans) + len(late_tb.spans) + 1, "spans sent")
    bad = [s for s in statuses if s[0] != "OK" or s[1] != 0]
    c.ok(not bad, "every export OK with nothing rejected: %r" % bad[:5])

    by_dag = {}
    for r in reports:
        if r.get("late"):
            continue  # a late report has no root: its dag_id is whatever dagprof falls back to
        by_dag.setdefault(r.get("dag_id"), []).append(r)
    c.eq(sorted(by_dag), ["etl-dag", "graph-dag", "late-dag"], "runs reported")
    # 9 + 4 + 3 + 1 spans: every one in exactly one report.
    c.eq(sum(r.get("span_count", 0) for r in reports), 17, "sum of span_count")
    if len(by_dag.get("etl-dag", [])) == 1:
        c.eq(by_dag["etl-dag"][0].get("trace_id"), etl.trace_id.hex(), "etl-dag trace_id")
        check_etl(c, by_dag["etl-dag"][0])
    else:
        c.ok(False, "etl-dag reported once, got %d" % len(by_dag.get("etl-dag", [])))
    if len(by_dag.get("graph-dag", [])) == 1:
        check_graph(c, by_dag["graph-dag"][0])
    else:
        c.ok(False, "graph-dag reported once, got %d" % len(by_dag.get("graph-dag", [])))
    late_reports = [r for r in reports if r.get("trace_id") == late_tb.trace_id.hex()]
    c.eq(sorted((r.get("late"), r.get("span_count")) for r in late_reports),
         [(False, 3), (True, 1)], "late-dag: the run (3 spans), then a late report of 1 span")
    if not c.failures:
        return c.report()
    print(daemon.stderr_tail(), file=sys.stderr)
    return c.report()


if __name__ == "__main__":
    sys.exit(main())
