#!/usr/bin/env python3
"""End-to-end tests of runs and exports of any size, against the real daemon.

The upstream is a Python gRPC server (Debian's python3-grpcio) that accepts
at most 4 MiB per message, the OpenTelemetry Collector's default
(grpc.max_receive_message_length), and decodes with protoc-generated classes
(tests/e2e/upstream_sink.py), not dagprof's decoder.

Scenarios (--scenario, one CTest test each):
  bigrun       one run of 100,001 spans (a root and 100,000 node spans),
               generated here with python3-protobuf: every span id arrives
               upstream, in requests of at most 4 MiB, and the JSON report
               (printed too, --reports always) counts 100,001 spans.
  hugespan     one span of 4.5 MiB among 50 small ones: sent alone, refused by
               the upstream as too large, counted and logged once (not
               retried); the small spans arrive.
  cardinality  20,000 runs with distinct dag ids and models: every metrics
               export is split into requests of at most 4 MiB and arrives,
               each interval, with the series capped at
               metrics.max_series_per_metric.
  redaction    an upstream endpoint with a user and a password in its URL
               (flag, --set, environment): refused, and the password appears
               nowhere in the output.
  noupstream   metrics and logs sent without an upstream: answered OK, one
               warning, and the dropped counts in the exit summary.

  test_big_runs.py --dagprof PATH --scenario NAME
"""

import argparse
import os
import subprocess
import sys
import threading
from concurrent import futures

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import upstream_sink  # noqa: E402
from e2e_common import Checker, Daemon  # noqa: E402

import grpc  # noqa: E402

MESSAGES = upstream_sink.generate_messages()
# generate_messages() put the generated modules on sys.path.
from opentelemetry.proto.common.v1 import common_pb2  # noqa: E402
from opentelemetry.proto.trace.v1 import trace_pb2  # noqa: E402

MIB = 1024 * 1024
# The Collector's default grpc max receive size, and so the sink's.
SINK_MAX_RECV = 4 * MIB
MS = 1_000_000
BASE_NS = 1_700_000_000_000 * MS
EXPORT = {
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
}
SERVICES = {
    "traces": "opentelemetry.proto.collector.trace.v1.TraceService",
    "metrics": "opentelemetry.proto.collector.metrics.v1.MetricsService",
    "logs": "opentelemetry.proto.collector.logs.v1.LogsService",
}


class SizedSink:
    """An OTLP/gRPC upstream with the Collector's 4 MiB receive limit that
    records the size of every message it accepted, the distinct span ids,
    and per metrics request its data points by metric name."""

    def __init__(self):
        self.lock = threading.Condition()
        self.sizes = {s: [] for s in SERVICES}
        self.span_ids = set()
        self.span_copies = 0
        self.metric_requests = []  # [(size, {metric name: points}, resource ok, scope ok)]
        self.trace_requests_without_resource = 0
        self.server = None
        self.port = None

    def _handler(self, signal):
        req_cls, resp_cls = MESSAGES[signal]

        def decode(raw):
            return (len(raw), req_cls.FromString(raw))

        def export(arg, context):
            size, req = arg
            with self.lock:
                self.sizes[signal].append(size)
                if signal == "traces":
                    for rs in req.resource_spans:
                        if not rs.HasField("resource") or not rs.resource.attributes:
                            self.trace_requests_without_resource += 1
                        for ss in rs.scope_spans:
                            for sp in ss.spans:
                                self.span_ids.add(sp.span_id)
                                self.span_copies += 1
                elif signal == "metrics":
                    points = {}
                    ok_resource = ok_scope = True
                    for rm in req.resource_metrics:
                        ok_resource &= any(a.key == "service.name" for a in rm.resource.attributes)
                        for sm in rm.scope_metrics:
                            ok_scope &= sm.scope.name in ("dagprof", "dagprof.telemetry")
                            for m in sm.metrics:
                                kind = m.WhichOneof("data")
                                n = len(getattr(m, kind).data_points) if kind else 0
                                points[m.name] = points.get(m.name, 0) + n
                    when = 0
                    for rm in req.resource_metrics:
                        for sm in rm.scope_metrics:
                            for m in sm.metrics:
                                kind = m.WhichOneof("data")
                                for p in (getattr(m, kind).data_points if kind else []):
                                    when = when or p.time_unix_nano
                    self.metric_requests.append((size, points, ok_resource, ok_scope, when))
                self.lock.notify_all()
            return resp_cls()

        return grpc.unary_unary_rpc_method_handler(
            export, request_deserializer=decode, response_serializer=resp_cls.SerializeToString)

    def start(self):
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                             options=[("grpc.max_receive_message_length", SINK_MAX_RECV)])
        for signal, service in SERVICES.items():
            server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(service, {"Export": self._handler(signal)}),))
        self.port = server.add_insecure_port("127.0.0.1:0")
        if self.port == 0:
            raise SystemExit("cannot listen on 127.0.0.1")
        server.start()
        self.server = server
        return self

    def stop(self):
        if self.server:
            self.server.stop(None).wait()

    def exports(self):
        """{collection time: {metric name: data points}} over every request
        of each metrics export (all points of one collection share its time)."""
        out = {}
        for r in self.metric_requests:
            e = out.setdefault(r[4], {})
            for name, n in r[1].items():
                e[name] = e.get(name, 0) + n
        return out

    def requests_per_export(self):
        out = {}
        for r in self.metric_requests:
            out[r[4]] = out.get(r[4], 0) + 1
        return out

    def full_exports(self, series):
        return {t: e for t, e in self.exports().items() if e.get("dag.run.duration") == series}

    def wait_for(self, predicate, timeout=120.0):
        with self.lock:
            return self.lock.wait_for(predicate, timeout)


def kv(k, v):
    a = common_pb2.KeyValue(key=k)
    if isinstance(v, str):
        a.value.string_value = v
    else:
        a.value.int_value = v
    return a


def export(channel, signal, req, timeout=60):
    call = channel.unary_unary(EXPORT[signal], request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=MESSAGES[signal][1].FromString)
    return call(req, timeout=timeout)


def trace_request(spans, service="e2e-big-runs"):
    req = MESSAGES["traces"][0]()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", service))
    ss = rs.scope_spans.add()
    ss.scope.name = "dagprof-e2e-big"
    ss.spans.extend(spans)
    return req


def start_daemon(binary, sink_port, extra=()):
    return Daemon(binary, ["--upstream", "http://127.0.0.1:%d" % sink_port,
                           "--set", "upstream.batch_timeout=20ms"] + list(extra)).start()


# ---- a run of 100,001 spans ----------------------------------------------------

def scenario_bigrun(c, args):
    nodes = 100_000
    total = nodes + 1
    tid = bytes([0xB1] * 16)
    root = trace_pb2.Span(trace_id=tid, span_id=(1).to_bytes(8, "big"), name="run",
                          start_time_unix_nano=BASE_NS, end_time_unix_nano=BASE_NS + 1000 * MS)
    root.attributes.append(kv("dag.id", "big-dag"))
    # Each node span: 10 ms, all under the root, named node<i> (dag.node.id);
    # ids 2..100001 so every span id is distinct.
    template = trace_pb2.Span(trace_id=tid, parent_span_id=root.span_id, name="step")
    batches = []
    per_request = 20_000  # about 1.5 MB per request to dagprof (16 MiB cap)
    # The root goes last: a run is finished once its root is in and no span
    # came for the idle timeout, so however slow the requests (a sanitizer
    # build), the run cannot be finished before every span is in.
    spans = []
    for i in range(nodes):
        sp = trace_pb2.Span()
        sp.CopyFrom(template)
        sp.span_id = (2 + i).to_bytes(8, "big")
        sp.start_time_unix_nano = BASE_NS + (i % 90) * 10 * MS
        sp.end_time_unix_nano = sp.start_time_unix_nano + 10 * MS
        sp.attributes.append(kv("dag.node.id", "node%d" % i))
        spans.append(sp)
        if len(spans) == per_request:
            batches.append(trace_request(spans))
            spans = []
    spans.append(root)
    batches.append(trace_request(spans))
    sent_bytes = sum(b.ByteSize() for b in batches)
    # Each span alone is far under 4 MiB, and the run is over 4 MiB: it
    # cannot go upstream in one request.
    c.ok(sent_bytes > SINK_MAX_RECV, "the run (%d bytes) is larger than 4 MiB" % sent_bytes)

    sink = SizedSink().start()
    d = start_daemon(args.dagprof, sink.port, ["--reports", "always"])
    try:
        with grpc.insecure_channel(d.endpoint, options=[
                ("grpc.max_send_message_length", 64 * MIB)]) as ch:
            for b in batches:
                export(ch, "traces", b)
        got_all = sink.wait_for(lambda: len(sink.span_ids) >= total, timeout=240)
        c.ok(got_all, "every span id arrived upstream (%d of %d)" % (len(sink.span_ids), total))
        c.ok(d.wait_for_report(lambda r: r.get("span_count") == total, timeout=240),
             "a report of the %d-span run was printed" % total)
    finally:
        rc, reports = d.stop()
        sink.stop()
    c.eq(rc, 0, "exit code")
    c.eq(len(sink.span_ids), total, "distinct span ids upstream")
    c.eq(sink.span_copies, total, "spans upstream (each once)")
    c.ok(len(sink.sizes["traces"]) >= 2,
         "the run went in several requests (%d)" % len(sink.sizes["traces"]))
    c.ok(all(s <= SINK_MAX_RECV for s in sink.sizes["traces"]),
         "every trace request within 4 MiB (largest %d)" % max(sink.sizes["traces"] or [0]))
    c.eq(sink.trace_requests_without_resource, 0, "trace requests lacking their resource")
    big = [r for r in reports if r.get("span_count") == total]
    c.eq(len(big), 1, "reports of the big run")
    if big:
        c.eq(len(big[0].get("nodes", [])), nodes, "nodes in the report")
    c.ok(not any("out of memory" in l for l in d.stderr_lines), "no out-of-memory error")
    c.ok(not any("not delivered" in l or "refused a batch" in l for l in d.stderr_lines),
         "nothing refused or undelivered:\n" + d.stderr_tail(10))


# ---- one span larger than the upstream takes -----------------------------------

def scenario_hugespan(c, args):
    small = 50
    tid = bytes([0xB2] * 16)
    root = trace_pb2.Span(trace_id=tid, span_id=(1).to_bytes(8, "big"), name="run",
                          start_time_unix_nano=BASE_NS, end_time_unix_nano=BASE_NS + 1000 * MS)
    root.attributes.append(kv("dag.id", "huge-dag"))
    # 4.5 MiB of attribute: more than the upstream's 4 MiB on its own
    root.attributes.append(kv("payload", "x" * (4 * MIB + MIB // 2)))
    spans = [root]
    for i in range(small):
        sp = trace_pb2.Span(trace_id=tid, span_id=(2 + i).to_bytes(8, "big"),
                            parent_span_id=root.span_id, name="step",
                            start_time_unix_nano=BASE_NS + i * MS,
                            end_time_unix_nano=BASE_NS + (i + 1) * MS)
        sp.attributes.append(kv("dag.node.id", "node%d" % i))
        spans.append(sp)
    sink = SizedSink().start()
    d = start_daemon(args.dagprof, sink.port)
    try:
        with grpc.insecure_channel(d.endpoint) as ch:
            export(ch, "traces", trace_request(spans))
        c.ok(sink.wait_for(lambda: len(sink.span_ids) >= small, timeout=120),
             "the small spans arrived (%d of %d)" % (len(sink.span_ids), small))
    finally:
        rc, _ = d.stop()
        sink.stop()
    c.eq(rc, 0, "exit code")
    c.eq(len(sink.span_ids), small, "span ids upstream: every small one, not the huge one")
    c.ok(root.span_id not in sink.span_ids, "the huge span did not arrive")
    too_large = [l for l in d.stderr_lines if "as too large (RESOURCE_EXHAUSTED" in l]
    c.eq(len(too_large), 1, "one refusal as too large, not retried")
    c.ok(any("one span takes" in l for l in d.stderr_lines), "the huge span was warned about")
    c.ok(any("refused as too large 1;" in l for l in d.stderr_lines),
         "the exit totals count it:\n" + d.stderr_tail(6))


# ---- 20,000 dag ids and models ---------------------------------------------------

def scenario_cardinality(c, args):
    runs = 20_000
    cap = 2000
    sink = SizedSink().start()
    d = start_daemon(args.dagprof, sink.port, [
        "--set", "metrics.export_interval=1s",
        "--set", "metrics.max_series_per_metric=%d" % cap,
        "--set", "assembly.max_pending_runs=100000"])
    try:
        # One run per dag id: a root with its dag.id and one model call with a
        # model of its own (so every per-model series is distinct too).
        spans = []
        with grpc.insecure_channel(d.endpoint) as ch:
            for r in range(runs):
                tid = (0xC0 << 120 | r).to_bytes(16, "big")
                root = trace_pb2.Span(trace_id=tid, span_id=(r * 2 + 1).to_bytes(8, "big"),
                                      name="run", start_time_unix_nano=BASE_NS,
                                      end_time_unix_nano=BASE_NS + 100 * MS)
                root.attributes.append(kv("dag.id", "dag-%05d" % r))
                call = trace_pb2.Span(trace_id=tid, span_id=(r * 2 + 2).to_bytes(8, "big"),
                                      parent_span_id=root.span_id, name="chat",
                                      kind=trace_pb2.Span.SPAN_KIND_CLIENT,
                                      start_time_unix_nano=BASE_NS + 10 * MS,
                                      end_time_unix_nano=BASE_NS + 90 * MS)
                for k, v in (("gen_ai.operation.name", "chat"),
                             ("gen_ai.request.model", "model-%05d" % r),
                             ("gen_ai.usage.input_tokens", 100),
                             ("gen_ai.usage.output_tokens", 10)):
                    call.attributes.append(kv(k, v))
                spans += [root, call]
                if len(spans) >= 2000:
                    export(ch, "traces", trace_request(spans))
                    spans = []
            if spans:
                export(ch, "traces", trace_request(spans))
        # Every run upstream, then whole exports: every collection (told
        # apart by its data points' time) must arrive complete, the capped
        # dag.run.duration series and its overflow series included.
        c.ok(sink.wait_for(lambda: len(sink.span_ids) >= 2 * runs, timeout=240),
             "every span upstream (%d of %d)" % (len(sink.span_ids), 2 * runs))
        c.ok(sink.wait_for(lambda: len(sink.full_exports(cap + 1)) >= 2, timeout=60),
             "two complete exports arrived after the runs")
    finally:
        rc, _ = d.stop()
        sink.stop()
    c.eq(rc, 0, "exit code")
    reqs = sink.metric_requests
    c.ok(len(reqs) > 0, "metrics requests arrived")
    c.ok(all(r[0] <= SINK_MAX_RECV for r in reqs),
         "every metrics request within 4 MiB (largest %d)" % max([r[0] for r in reqs] or [0]))
    c.ok(all(r[2] and r[3] for r in reqs), "every metrics request has its resource and scope")
    exports = sink.exports()
    full = sink.full_exports(cap + 1)
    # the one at shutdown comes on top of the timer's
    c.ok(len(full) >= 3, "complete exports: %d" % len(full))
    # 20,000 dag ids: the cap (2,000) plus one overflow series, never more
    c.ok(all(e.get("dag.run.duration", 0) <= cap + 1 for e in exports.values()),
         "no export holds more than %d dag.run.duration series" % (cap + 1))
    # one export is more than 4 MiB (why it must be split): 2,001 series of
    # each of the dag.id-keyed metrics alone exceed it
    c.ok(any(n >= 2 for n in sink.requests_per_export().values()),
         "an export went in several requests")
    c.ok(not any("not queued" in l or "refused a batch" in l for l in d.stderr_lines),
         "no export refused:\n" + d.stderr_tail(10))


# ---- the password of an endpoint URL ---------------------------------------------

def scenario_redaction(c, args):
    """An endpoint with user information is refused at start (credentials
    belong in upstream.headers); whichever check refuses it, at debug level,
    from the flag, --set or the environment, the password is not printed."""
    secret = "s3cr3t-Pa55word"

    def run(extra, env=None):
        return subprocess.run([args.dagprof, "--listen", "127.0.0.1:0", "--http-listen", "",
                               "--health-listen", "127.0.0.1:0", "--log-level", "debug"] + extra,
                              capture_output=True, text=True, timeout=60,
                              env=dict(os.environ, **(env or {})))
    cases = [
        ("flag", run(["--upstream", "http://alice:%s@127.0.0.1:1" % secret])),
        ("--set with a query", run(["--set", "upstream.endpoint=http://carol:%s@127.0.0.1:1/?q=1"
                                    % secret])),
        ("environment", run([], {"OTEL_EXPORTER_OTLP_ENDPOINT":
                                 "http://bob:%s@127.0.0.1:1" % secret})),
    ]
    for what, r in cases:
        c.ok(r.returncode != 0, "%s: refused (exit %d)" % (what, r.returncode))
        c.ok(secret not in r.stdout + r.stderr,
             "%s: the password is not printed: %r" % (what, r.stderr[-400:]))
        c.ok(r.stderr.strip() != "", "%s: the refusal is explained" % what)


# ---- metrics and logs with no upstream ---------------------------------------------

def scenario_noupstream(c, args):
    d = Daemon(args.dagprof, []).start()
    points = 0
    records = 0
    try:
        with grpc.insecure_channel(d.endpoint) as ch:
            # an empty request drops nothing: the warning waits for data
            export(ch, "metrics", MESSAGES["metrics"][0]())
            for i in range(3):
                m = MESSAGES["metrics"][0]()
                sm = m.resource_metrics.add().scope_metrics.add()
                g = sm.metrics.add(name="sdk.gauge%d" % i).gauge
                for v in range(2):  # 2 points per request
                    g.data_points.add(as_int=v, time_unix_nano=BASE_NS)
                    points += 1
                export(ch, "metrics", m)
                lg = MESSAGES["logs"][0]()
                sl = lg.resource_logs.add().scope_logs.add()
                for v in range(5):  # 5 records per request
                    sl.log_records.add(time_unix_nano=BASE_NS, body=common_pb2.AnyValue(string_value="x"))
                    records += 1
                export(ch, "logs", lg)
    finally:
        rc, _ = d.stop()
    c.eq(rc, 0, "exit code")
    warns = [l for l in d.stderr_lines if "forwarded only when an upstream" in l]
    c.eq(len(warns), 1, "one warning for dropped metrics and logs")
    c.ok(all("warn" in l.lower() for l in warns), "logged at warn: %r" % warns)
    c.ok(all("; 2 metric data point(s) dropped" in l for l in warns),
         "the warning names the first request's 2 points: %r" % warns)
    summary = [l for l in d.stderr_lines if "not forwarded" in l and "no upstream" in l]
    c.ok(any(("%d metric data point" % points) in l and ("%d log record" % records) in l
             for l in summary),
         "exit summary counts %d points and %d records: %r" % (points, records, summary))


SCENARIOS = {"bigrun": scenario_bigrun, "hugespan": scenario_hugespan, "cardinality": scenario_cardinality,
             "redaction": scenario_redaction, "noupstream": scenario_noupstream}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dagprof", required=True)
    ap.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    args = ap.parse_args()
    c = Checker("big_runs_" + args.scenario)
    SCENARIOS[args.scenario](c, args)
    return c.report()


if __name__ == "__main__":
    sys.exit(main())
