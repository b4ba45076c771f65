#!/usr/bin/env python3
"""End-to-end tests of re-export: SDK -> dagprof -> a real OTLP upstream.

The upstream is tests/e2e/upstream_sink.py's Sink, run in this process and
decoding with protoc-generated Python classes (not dagprof's decoder); this
file only adds a record of every request it accepted.

Scenarios (--scenario, one CTest test each):
  js       the official OpenTelemetry JS SDK sends one run both to dagprof and
           straight to a reference sink (tests/e2e/js/send_tee.js); every span
           must reach the upstream exactly once and, once dagprof's dag.node.*
           / dag.run.* attributes and dag.* events are taken away, equal what
           the reference got. The added values and the derived metrics are
           checked against figures worked out by hand; SDK metrics and logs
           sent to dagprof must reach the upstream unchanged.
  retry    the upstream answers UNAVAILABLE 3 times: retried, then delivered.
  invalid  the upstream answers INVALID_ARGUMENT (over HTTP: 400 with a
           google.rpc.Status) once: dropped, counted and logged with the
           upstream's message; the daemon keeps going and delivers the next run.
  outage   the upstream is down while runs and SDK metrics arrive (tiny
           queue, so dagprof pushes back with UNAVAILABLE), then comes back:
           nothing lost, nothing duplicated.
  chain    SDK -> dagprof A -> dagprof B -> upstream: B passes A's
           enrichment through without adding it twice.
  late     spans arriving after their run was sent are forwarded as they
           came, and are not a second run in the metrics.
  partial  the upstream accepts a batch but rejects 2 spans (partial_success):
           logged with its message, counted at exit, not retried.
With --protocol http/protobuf the upstream is the sink's OTLP/HTTP receiver
(Python's http.server) and dagprof exports with upstream.protocol:
http/protobuf; the scenarios above expect the same outcome, in the HTTP
answer's words in the log. Scenarios of OTLP/HTTP only:
  http_signals      enriched spans, derived metrics and forwarded SDK metrics
                    and logs arrive on /v1/traces, /v1/metrics, /v1/logs as
                    application/x-protobuf, gzip-compressed, with the
                    configured headers (whose values dagprof never logs).
  http_retry_after  503 with Retry-After: 1, then 429 with Retry-After as an
                    HTTP-date: each retried only once the delay passed,
                    nothing lost.
  http_env          OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf with
                    OTEL_EXPORTER_OTLP_ENDPOINT (/v1/traces appended) or
                    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as-is); http/json
                    and credentials in the URL refused at start, the latter
                    without printing them.
  same_output       the same runs, sent over gRPC by a python3-grpcio client,
                    reach a gRPC upstream and an HTTP upstream as the very
                    same spans, enrichment included.

  test_upstream_e2e.py --dagprof PATH --scenario NAME [--node PATH]
                       [--protocol grpc|http/protobuf]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import upstream_sink  # noqa: E402
from e2e_common import Checker, Daemon  # noqa: E402

import grpc  # noqa: E402

MESSAGES = upstream_sink.generate_messages()
# generate_messages() put the generated modules on sys.path.
from opentelemetry.proto.common.v1 import common_pb2  # noqa: E402
from opentelemetry.proto.trace.v1 import trace_pb2  # noqa: E402
from opentelemetry.proto.metrics.v1 import metrics_pb2  # noqa: E402
from opentelemetry.proto.logs.v1 import logs_pb2  # noqa: E402

JS_DIR = os.path.join(HERE, "js")
MS = 1_000_000
BASE_NS = 1_700_000_000_000 * MS
EXPORT = {
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
}


class RecordingSink(upstream_sink.Sink):
    """The test sink, also keeping every request it answered OK."""

    def __init__(self, http=False):
        super().__init__(0, MESSAGES, http=http)
        self.received = {s: [] for s in upstream_sink.SERVICES}
        self.answers = []
        self.changed = threading.Condition()

    def emit(self, line):
        with self.changed:
            self.answers.append(line)
            self.changed.notify_all()

    def on_accepted(self, signal, request):
        with self.changed:
            self.received[signal].append(request)
            self.changed.notify_all()

    def wait_for(self, predicate, timeout=60.0):
        with self.changed:
            return self.changed.wait_for(predicate, timeout)

    def spans(self):
        """[(resource, scope, span)] of every accepted trace request."""
        out = []
        with self.changed:
            for req in self.received["traces"]:
                for rs in req.resource_spans:
                    for ss in rs.scope_spans:
                        for sp in ss.spans:
                            out.append((rs.resource, ss.scope, sp))
        return out

    def answered(self, word):
        with self.changed:
            return sum(1 for a in self.answers if word in a)


# The upstream's protocol for the scenarios that run over both (--protocol).
PROTOCOL = ["grpc"]


def http_upstream():
    return PROTOCOL[0] == "http/protobuf"


def start_sink(http=None):
    s = RecordingSink(http=http_upstream() if http is None else http)
    s.start()
    return s


def strip_enrichment(span):
    """A copy of span without dagprof's attributes and events."""
    c = trace_pb2.Span()
    c.CopyFrom(span)
    keep = [a for a in c.attributes
            if not (a.key.startswith("dag.node.") and a.key not in ("dag.node.id", "dag.node.depends_on"))
            and not a.key.startswith("dag.run.")]
    del c.attributes[:]
    c.attributes.extend(keep)
    events = [e for e in c.events if not e.name.startswith("dag.")]
    del c.events[:]
    c.events.extend(events)
    return c


def attrs_of(span):
    out = {}
    for a in span.attributes:
        v = a.value
        kind = v.WhichOneof("value")
        if kind == "array_value":
            out.setdefault(a.key, []).append([getattr(x, x.WhichOneof("value")) for x in v.array_value.values])
        else:
            out.setdefault(a.key, []).append(getattr(v, kind) if kind else None)
    return out


def one(c, attrs, key, what):
    vals = attrs.get(key)
    c.ok(vals is not None and len(vals) == 1, "%s: %s present once (got %r)" % (what, key, vals))
    return vals[0] if vals else None


def any_value(v):
    av = common_pb2.AnyValue()
    if isinstance(v, bool):
        av.bool_value = v
    elif isinstance(v, int):
        av.int_value = v
    elif isinstance(v, float):
        av.double_value = v
    elif isinstance(v, (list, tuple)):
        for x in v:
            av.array_value.values.append(any_value(x))
    else:
        av.string_value = v
    return av


def kv(k, v):
    return common_pb2.KeyValue(key=k, value=any_value(v))


def build_run(run_no, nodes=3):
    """A small run: a root and `nodes` sequential nodes of 100 ms with one
    gpt-4o-mini call each (100 in / 10 out). Ids encode run_no."""
    tid = bytes([0xB0]) + run_no.to_bytes(15, "big")
    spans = []

    def sid(i):
        return bytes([0x5B, 0, 0]) + run_no.to_bytes(4, "big") + bytes([i])
    root = trace_pb2.Span(trace_id=tid, span_id=sid(0), name="run",
                          start_time_unix_nano=BASE_NS, end_time_unix_nano=BASE_NS + nodes * 100 * MS)
    root.attributes.append(kv("dag.id", "load-dag"))
    spans.append(root)
    for i in range(nodes):
        n = trace_pb2.Span(trace_id=tid, span_id=sid(1 + 2 * i), parent_span_id=root.span_id,
                           name="step%d" % i, start_time_unix_nano=BASE_NS + i * 100 * MS,
                           end_time_unix_nano=BASE_NS + (i + 1) * 100 * MS)
        n.attributes.append(kv("dag.node.id", "step%d" % i))
        if i:
            n.attributes.append(kv("dag.depends_on", ["step%d" % (i - 1)]))
        spans.append(n)
        ch = trace_pb2.Span(trace_id=tid, span_id=sid(2 + 2 * i), parent_span_id=n.span_id,
                            name="chat", kind=trace_pb2.Span.SPAN_KIND_CLIENT,
                            start_time_unix_nano=BASE_NS + (i * 100 + 10) * MS,
                            end_time_unix_nano=BASE_NS + (i * 100 + 90) * MS)
        for k, v in (("gen_ai.operation.name", "chat"), ("gen_ai.request.model", "gpt-4o-mini"),
                     ("gen_ai.usage.input_tokens", 100), ("gen_ai.usage.output_tokens", 10)):
            ch.attributes.append(kv(k, v))
        spans.append(ch)
    return spans


def trace_request(spans):
    req = MESSAGES["traces"][0]()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", "e2e-upstream-agent"))
    ss = rs.scope_spans.add()
    ss.scope.name = "dagprof-e2e-upstream"
    ss.spans.extend(spans)
    return req


def export(channel, signal, req, timeout=30):
    call = channel.unary_unary(EXPORT[signal], request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=MESSAGES[signal][1].FromString)
    return call(req, timeout=timeout)


def send_until_accepted(channel, req, refused, stop_after=20000, on_refused=None):
    """Send one request the way an SDK with retries does: UNAVAILABLE means
    try again (after a short pause, as SDKs back off)."""
    pause = threading.Event()
    for _ in range(stop_after):
        try:
            export(channel, "traces", req)
            return True
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            refused[0] += 1
            if on_refused:
                on_refused()
            pause.wait(0.02)
    return False


def send_until_accepted_signal(channel, signal, req, tries=2000):
    """send_until_accepted() for metrics and logs."""
    pause = threading.Event()
    for _ in range(tries):
        try:
            export(channel, signal, req)
            return True
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            pause.wait(0.02)
    return False


def start_daemon(binary, sink_port, extra=(), protocol=None, env=None):
    protocol = protocol or PROTOCOL[0]
    d = Daemon(binary, ["--upstream", "http://127.0.0.1:%d" % sink_port,
                        "--upstream-protocol", protocol,
                        "--set", "upstream.batch_timeout=20ms",
                        "--set", "upstream.retry_initial_backoff=20ms",
                        "--set", "upstream.retry_max_backoff=200ms"] + list(extra), env=env)
    return d.start()


def answer_words(grpc_status, http_status):
    """How dagprof's log names an upstream answer over the protocol in use."""
    return "HTTP %d" % http_status if http_upstream() else grpc_status


def span_key(sp):
    return (sp.trace_id, sp.span_id)


# ---- scenario: the JS SDK, compared span by span --------------------------------

def ensure_node_modules():
    if os.path.isdir(os.path.join(JS_DIR, "node_modules", "@opentelemetry", "exporter-trace-otlp-grpc")):
        return
    npm = shutil.which("npm")
    if not npm:
        raise RuntimeError("npm not found: run scripts/install-deps.sh --test")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, check=True)


def metric_points(sink):
    """{(name, frozenset(attrs)): latest data point} over every metrics request."""
    latest = {}
    with sink.changed:
        reqs = list(sink.received["metrics"])
    for req in reqs:
        for rm in req.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    kind = m.WhichOneof("data")
                    if not kind:
                        continue
                    for p in getattr(m, kind).data_points:
                        key = (m.name, frozenset((a.key, str(getattr(a.value, a.value.WhichOneof("value"))))
                                                 for a in p.attributes))
                        old = latest.get(key)
                        if old is None or p.time_unix_nano >= old.time_unix_nano:
                            latest[key] = p
    return latest


def sdk_metrics_and_logs(service, body):
    """A metrics request (one sum point) and a logs request (one record
    saying `body`), as an SDK of `service` sends them to dagprof."""
    mreq = MESSAGES["metrics"][0]()
    rm = mreq.resource_metrics.add()
    rm.resource.attributes.append(kv("service.name", service))
    m = rm.scope_metrics.add().metrics.add()
    m.name = "app.requests"
    m.sum.is_monotonic = True
    m.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    m.sum.data_points.add(as_int=42, time_unix_nano=BASE_NS)
    lreq = MESSAGES["logs"][0]()
    rl = lreq.resource_logs.add()
    rl.resource.attributes.append(kv("service.name", service))
    rl.scope_logs.add().log_records.add(time_unix_nano=BASE_NS, body=any_value(body),
                                        severity_number=logs_pb2.SEVERITY_NUMBER_INFO)
    return mreq, lreq


def scenario_js(c, args):
    ensure_node_modules()
    # the reference receiver takes the SDK's OTLP/gRPC whatever the upstream speaks
    up, direct = start_sink(), start_sink(http=False)
    d = start_daemon(args.dagprof, up.port, ["--set", "metrics.export_interval=200ms"])
    try:
        # SDK metrics and logs sent to dagprof are forwarded unchanged.
        mreq, lreq = sdk_metrics_and_logs("sdk-with-telemetry", "hello upstream")
        rm, rl = mreq.resource_metrics[0], lreq.resource_logs[0]
        with grpc.insecure_channel(d.endpoint) as ch:
            export(ch, "metrics", mreq)
            export(ch, "logs", lreq)

        proc = subprocess.run([args.node, os.path.join(JS_DIR, "send_tee.js"),
                               "--dagprof", "http://" + d.endpoint,
                               "--direct", "http://127.0.0.1:%d" % direct.port],
                              cwd=JS_DIR, capture_output=True, text=True, timeout=120)
        c.eq(proc.returncode, 0, "send_tee.js exit status (stderr: %s)" % proc.stderr[-500:])
        sent = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else {"spans": 0}
        # 1 root + 3 nodes + 2 chats + 1 tool
        c.eq(sent.get("spans"), 7, "spans created by the JS client")
        c.ok(up.wait_for(lambda: sum(1 for _ in _iter_spans(up)) >= 7, 60),
             "the upstream got the run's 7 spans")
    finally:
        rc, _ = d.stop()
    c.eq(rc, 0, "dagprof exit status")
    c.eq(_count_lines(d, "[export] everything received was delivered upstream"), 1,
         "dagprof says everything was delivered")

    # Metrics and logs forwarded unchanged (their resource entries byte-equal).
    got_rm = [x for req in up.received["metrics"] for x in req.resource_metrics]
    c.eq(sum(1 for x in got_rm if x.SerializeToString() == rm.SerializeToString()), 1,
         "the SDK's metrics arrive once, unchanged")
    got_rl = [x for req in up.received["logs"] for x in req.resource_logs]
    c.eq(sum(1 for x in got_rl if x.SerializeToString() == rl.SerializeToString()), 1,
         "the SDK's logs arrive once, unchanged")

    # Every span exactly once; unchanged but for the enrichment.
    ref = {span_key(sp): (res, scope, sp) for res, scope, sp in direct.spans()}
    got = {}
    for res, scope, sp in up.spans():
        got.setdefault(span_key(sp), []).append((res, scope, sp))
    c.eq(len(ref), 7, "spans at the reference receiver")
    c.eq(sorted(got), sorted(ref), "span ids at the upstream = span ids the SDK sent")
    c.eq([k for k, v in got.items() if len(v) != 1], [], "spans that arrived more than once")
    for k, (res, scope, sp) in ref.items():
        if k not in got:
            continue
        gres, gscope, gsp = got[k][0]
        c.eq(gres, res, "resource of span %s" % sp.name)
        c.eq(gscope, scope, "scope of span %s" % sp.name)
        c.eq(strip_enrichment(gsp), sp, "span %s without dagprof's additions" % sp.name)

    by_name = {sp.name: attrs_of(sp) for entries in got.values() for _, _, sp in entries[:1]}
    root = by_name.get("tee-run", {})
    # wall = 6000 - 0 = 6000 ms; critical path plan (0 wait + 2000) -> write (0 + 4000) = 6000 ms
    c.near(one(c, root, "dag.run.wall_ms", "root"), 6000.0, "dag.run.wall_ms", 1e-6)
    c.near(one(c, root, "dag.run.critical_path_ms", "root"), 6000.0, "dag.run.critical_path_ms", 1e-6)
    # execution 2000 + 4000 + 2000 = 8000 over a 6000 ms wall
    c.near(one(c, root, "dag.run.parallelism", "root"), 8000 / 6000, "dag.run.parallelism", 1e-3)
    # gpt-4o: 1000 x 2.50/1e6 + 200 x 10.00/1e6 = 0.0045; gpt-4o-mini: 2000 x 0.15/1e6 + 500 x 0.60/1e6 = 0.0006
    c.near(one(c, root, "dag.run.cost_usd", "root"), 0.0051, "dag.run.cost_usd", 1e-9)
    c.eq(one(c, root, "dag.run.tokens.input", "root"), 3000, "dag.run.tokens.input")
    c.eq(one(c, root, "dag.run.tokens.output", "root"), 700, "dag.run.tokens.output")
    plan, write, search = by_name.get("plan", {}), by_name.get("write", {}), by_name.get("search", {})
    c.near(one(c, plan, "dag.node.cost_usd", "plan"), 0.0045, "plan cost", 1e-9)
    c.near(one(c, write, "dag.node.cost_usd", "write"), 0.0006, "write cost", 1e-9)
    c.near(one(c, write, "dag.node.execution_ms", "write"), 4000.0, "write execution", 1e-6)
    c.near(one(c, search, "dag.node.wait_ms", "search"), 0.0, "search wait", 1e-6)
    c.eq(one(c, plan, "dag.node.on_critical_path", "plan"), True, "plan on the critical path")
    c.eq(one(c, write, "dag.node.on_critical_path", "write"), True, "write on the critical path")
    c.eq(one(c, search, "dag.node.on_critical_path", "search"), False, "search off the critical path")
    c.ok("dag.run.wall_ms" not in by_name.get("chat gpt-4o", {}), "a call span gets no run figures")

    # Derived metrics of the known workload (cumulative: the latest points hold the totals).
    pts = metric_points(up)

    def find(name, **want):
        return [p for (n, attrs), p in pts.items() if n == name and
                all((k.replace("__", "."), str(v)) in attrs for k, v in want.items())]
    for model, ttype, tokens in (("gpt-4o", "input", 1000), ("gpt-4o", "output", 200),
                                 ("gpt-4o-mini", "input", 2000), ("gpt-4o-mini", "output", 500)):
        ps = find("gen_ai.client.token.usage", gen_ai__request__model=model, gen_ai__token__type=ttype)
        c.eq(len(ps), 1, "token usage series %s/%s" % (model, ttype))
        if ps:
            c.eq(ps[0].count, 1, "token usage count %s/%s" % (model, ttype))
            c.near(ps[0].sum, tokens, "token usage sum %s/%s" % (model, ttype))
    cost = find("dag.cost")
    # 0.0045 + 0.0006 (no other run in this daemon)
    c.near(sum(p.as_double for p in cost), 0.0051, "dag.cost summed over its series", 1e-9)
    runs = find("dag.run.duration", dag__id="tee-dag")
    c.eq([p.count for p in runs], [1], "dag.run.duration: one run")
    if runs:
        c.near(runs[0].sum, 6.0, "dag.run.duration sum (s)")
    for srv in (up, direct):
        srv.stop()


def _iter_spans(sink):
    return sink.spans()


def _count_lines(d, text):
    return sum(1 for line in d.stderr_lines if text in line)


# ---- scenarios: the upstream misbehaves -----------------------------------------

def send_runs(c, d, first, count, nodes=3):
    refused = [0]
    with grpc.insecure_channel(d.endpoint) as ch:
        for r in range(first, first + count):
            c.ok(send_until_accepted(ch, trace_request(build_run(r, nodes)), refused),
                 "run %d accepted by dagprof" % r)
    return refused[0]


def expect_all_once(c, sink, runs, nodes=3):
    want = {(bytes([0xB0]) + r.to_bytes(15, "big")) for r in runs}
    per = 1 + 2 * nodes
    seen = {}
    for _, _, sp in sink.spans():
        seen[span_key(sp)] = seen.get(span_key(sp), 0) + 1
    traces = {}
    for (tid, _sid) in seen:
        traces[tid] = traces.get(tid, 0) + 1
    c.eq(sum(1 for t in want if traces.get(t) == per), len(want),
         "runs with all %d spans at the upstream" % per)
    c.eq(sum(seen.values()), len(want) * per, "spans at the upstream (no loss, no duplicate)")
    c.eq([k for k, n in seen.items() if n > 1], [], "duplicated spans")


def scenario_retry(c, args):
    sink = start_sink()
    sink.command("unavailable 3")
    d = start_daemon(args.dagprof, sink.port)
    try:
        send_runs(c, d, 1, 2)
        c.ok(sink.wait_for(lambda: len(sink.spans()) >= 14, 60), "both runs delivered after retries")
    finally:
        rc, _ = d.stop()
    c.eq(rc, 0, "dagprof exit status")
    c.ok(sink.answered("answer=UNAVAILABLE") >= 3, "the upstream answered UNAVAILABLE 3 times")
    c.ok(_count_lines(d, "answered %s" % answer_words("UNAVAILABLE", 503)) >= 1,
         "dagprof logged the retry")
    expect_all_once(c, sink, [1, 2])
    sink.stop()


def scenario_invalid(c, args):
    sink = start_sink()
    sink.command("invalid 1")
    d = start_daemon(args.dagprof, sink.port)
    try:
        send_runs(c, d, 1, 1)
        c.ok(sink.wait_for(lambda: sink.answered("answer=INVALID_ARGUMENT") >= 1, 60),
             "the first batch was refused")
        send_runs(c, d, 2, 1)
        c.ok(sink.wait_for(lambda: len(sink.spans()) >= 7, 60), "the next run is delivered")
        alive = d.proc.poll() is None
    finally:
        rc, _ = d.stop()
    c.ok(alive, "dagprof kept running after INVALID_ARGUMENT")
    c.eq(rc, 0, "dagprof exit status")
    c.eq(_count_lines(d, "with %s: sink refuses this batch" % answer_words("INVALID_ARGUMENT", 400)),
         1, "the refusal is logged with the upstream's message")
    c.ok(_count_lines(d, "7 item(s) could not be delivered upstream") == 1,
         "the undelivered count is reported at exit:\n" + d.stderr_tail(8))
    c.ok(_count_lines(d, "refused 7,") == 1, "upstream totals count 7 refused spans")
    c.eq(sink.answered("answer=INVALID_ARGUMENT"), 1, "the refused batch was not sent again")
    expect_all_once(c, sink, [2])
    sink.stop()


def metrics_request(name, points):
    req = MESSAGES["metrics"][0]()
    rm = req.resource_metrics.add()
    rm.resource.attributes.append(kv("service.name", name))
    m = rm.scope_metrics.add().metrics.add()
    m.name = "app.queue.depth"
    for i in range(points):
        m.gauge.data_points.add(as_int=i, time_unix_nano=BASE_NS + i)
    return req


def scenario_outage(c, args):
    sink = start_sink()
    sink.command("down")
    # A tiny queue, few pending runs and little table memory (refusals start
    # at twice memory_limit) so the outage soon reaches the client as UNAVAILABLE.
    d = start_daemon(args.dagprof, sink.port, ["--set", "upstream.queue_max_spans=50",
                                               "--set", "assembly.max_pending_runs=2",
                                               "--set", "assembly.memory_limit=1MiB",
                                               "--idle-timeout", "5ms", "--workers", "2"])
    sent = []
    refused = [0]
    pushed_back = threading.Event()
    m1, m2 = metrics_request("sdk-one", 30), metrics_request("sdk-two", 30)
    try:
        # Forwarded metrics meet the same bound (50 items per signal, in flight
        # included): 30 fit, 30 more do not while the upstream is down.
        with grpc.insecure_channel(d.endpoint) as ch:
            export(ch, "metrics", m1)
            try:
                export(ch, "metrics", m2)
                code = grpc.StatusCode.OK
            except grpc.RpcError as e:
                code = e.code()
        c.eq(code, grpc.StatusCode.UNAVAILABLE, "forwarded metrics over the queue bound")
        def client():
            # Runs keep coming until dagprof has pushed back, then 20 more.
            with grpc.insecure_channel(d.endpoint) as ch:
                extra = 20
                def note():
                    if refused[0] >= 5:
                        pushed_back.set()
                for r in range(1, 20001):
                    if not send_until_accepted(ch, trace_request(build_run(r)), refused,
                                               on_refused=note):
                        return
                    sent.append(r)
                    if pushed_back.is_set():
                        extra -= 1
                        if extra == 0:
                            return
        t = threading.Thread(target=client)
        t.start()
        # Bring the upstream back once dagprof has pushed back on the client.
        c.ok(pushed_back.wait(120), "dagprof answered UNAVAILABLE while the upstream was down")
        sink.command("up")
        t.join(300)
        c.ok(not t.is_alive(), "the client got every run accepted")
        c.ok(sink.wait_for(lambda: len(sink.spans()) >= len(sent) * 7, 120),
             "every span delivered once the upstream is back")
        # the SDK's retry of the refused metrics now goes through
        with grpc.insecure_channel(d.endpoint) as ch:
            c.ok(send_until_accepted_signal(ch, "metrics", m2), "refused metrics accepted on retry")
    finally:
        rc, _ = d.stop()
    c.eq(rc, 0, "dagprof exit status")
    c.ok(len(sent) > 20, "runs sent during the outage: %d" % len(sent))
    got = [x.SerializeToString() for req in sink.received["metrics"] for x in req.resource_metrics]
    for name, req in (("first", m1), ("retried", m2)):
        c.eq(got.count(req.resource_metrics[0].SerializeToString()), 1,
             "%s forwarded metrics request arrives once, unchanged" % name)
    expect_all_once(c, sink, sent)
    sink.stop()


def scenario_chain(c, args):
    sink = start_sink()
    # B also prints its reports (output.reports=always); A, with an upstream
    # and the default (auto), prints none.
    b = start_daemon(args.dagprof, sink.port, ["--reports", "always"])
    a = None
    try:
        # A reaches B's receiver of the protocol in use: OTLP/HTTP on its HTTP port
        a = start_daemon(args.dagprof, b.http_port if http_upstream() else b.port)
        send_runs(c, a, 1, 2)
        c.ok(sink.wait_for(lambda: len(sink.spans()) >= 14, 60), "A -> B -> upstream delivered")
    finally:
        rc_a, reports_a = a.stop() if a else (1, [])
        rc_b, reports_b = b.stop()
    c.eq((rc_a, rc_b), (0, 0), "exit status of A and B")
    c.eq(reports_a, [], "reports printed by A (auto with an upstream)")
    c.eq(sorted((r.get("dag_id"), r.get("span_count")) for r in reports_b),
         [("load-dag", 7), ("load-dag", 7)], "reports printed by B (always)")
    expect_all_once(c, sink, [1, 2])
    for _, _, sp in sink.spans():
        counts = attrs_of(sp)
        dup = [k for k, v in counts.items() if len(v) > 1]
        c.eq(dup, [], "attributes given twice on span %s" % sp.name)
        names = [e.name for e in sp.events]
        c.eq(len(names), len(set((e.name, e.SerializeToString()) for e in sp.events)),
             "events given twice on span %s" % sp.name)
        if sp.name == "run":
            # 3 sequential nodes of 100 ms: wall 300 ms; critical path 300 ms
            c.near(counts.get("dag.run.wall_ms", [None])[0], 300.0, "wall after the chain")
            # 3 calls x (100 x 0.15 + 10 x 0.60) / 1e6 = 3 x 0.000021 = 0.000063
            c.near(counts.get("dag.run.cost_usd", [None])[0], 0.000063, "cost after the chain", 1e-9)
    sink.stop()


def scenario_late(c, args):
    """Spans that arrive after their run was finalised and sent are forwarded
    as they arrived (no dag.* enrichment) and are not a second run in the
    metrics. Run 1 (3 nodes) is sent without its last node and that node's
    chat span; once the other 5 spans reached the upstream (the run was
    finalised), the 2 withheld spans follow."""
    sink = start_sink()
    d = start_daemon(args.dagprof, sink.port, ["--idle-timeout", "100ms"])
    spans = build_run(1)
    late = [sp for sp in spans if sp.name == "step2" or
            (sp.name == "chat" and sp.parent_span_id == spans[5].span_id)]
    c.eq(len(late), 2, "withheld spans (step2 and its chat)")
    early = [sp for sp in spans if sp not in late]
    refused = [0]
    try:
        with grpc.insecure_channel(d.endpoint) as ch:
            c.ok(send_until_accepted(ch, trace_request(early), refused), "run 1 without step2")
            c.ok(sink.wait_for(lambda: len(sink.spans()) >= 5, 60), "first part delivered")
            c.ok(send_until_accepted(ch, trace_request(late), refused), "late spans accepted")
            c.ok(sink.wait_for(lambda: len(sink.spans()) >= 7, 60), "late spans delivered")
    finally:
        rc, _ = d.stop()
    c.eq(rc, 0, "dagprof exit status")
    got = {sp.span_id: sp for _, _, sp in sink.spans()}
    c.eq(len(got), 7, "spans at the upstream (no loss, no duplicate)")
    for sp in late:
        c.eq(got.get(sp.span_id, trace_pb2.Span()).SerializeToString(), sp.SerializeToString(),
             "late span %s forwarded byte for byte, without enrichment" % sp.name)
    pts = metric_points(sink)
    runs = [p for (n, attrs), p in pts.items() if n == "dag.run.duration"]
    c.eq(sum(p.count for p in runs), 1, "dag.run.duration counts one run, not the late spans")
    sink.stop()


def sink_stat(sink, key):
    """A field of the sink's stats line, as text."""
    for part in sink.stats_line().split()[1:]:
        k, _, v = part.partition("=")
        if k == key:
            return v
    return None


def scenario_partial(c, args):
    sink = start_sink()
    sink.command("partial 1 2")
    d = start_daemon(args.dagprof, sink.port)
    try:
        send_runs(c, d, 1, 1)
        c.ok(sink.wait_for(lambda: len(sink.spans()) >= 7, 60), "the run arrived")
    finally:
        rc, _ = d.stop()
    c.eq(rc, 0, "dagprof exit status")
    c.eq(_count_lines(d, "upstream accepted the batch but rejected 2 of 7 item(s): sink rejected "
                         "some items"), 1, "partial success logged with its message")
    c.ok(_count_lines(d, "rejected 2, retries 0") == 1, "upstream totals: 2 rejected, no retry:\n"
         + d.stderr_tail(8))
    c.ok(_count_lines(d, "2 item(s) could not be delivered upstream") == 1,
         "the rejected spans are counted at exit")
    c.eq(sink_stat(sink, "traces_requests"), "1", "one trace request: not retried")
    sink.stop()


# ---- scenarios of OTLP/HTTP only --------------------------------------------------

def scenario_http_signals(c, args):
    sink = start_sink(http=True)
    secret = "e2e-secret-value-7f3a"
    d = start_daemon(args.dagprof, sink.port, ["--set", "metrics.export_interval=200ms",
                                               "--set", "upstream.compression=gzip",
                                               "--set", "upstream.headers=x-api-key=%s,x-tenant=acme"
                                               % secret], protocol="http/protobuf")
    mreq, lreq = sdk_metrics_and_logs("sdk-over-http", "hello over http")
    try:
        with grpc.insecure_channel(d.endpoint) as ch:
            export(ch, "metrics", mreq)
            export(ch, "logs", lreq)
        send_runs(c, d, 1, 1)
        c.ok(sink.wait_for(lambda: len(sink.spans()) >= 7, 60), "the run's 7 spans arrived over HTTP")
        c.ok(sink.wait_for(lambda: any(n == "dag.run.duration" for n, _ in metric_points(sink)), 60),
             "derived metrics arrived over HTTP")
    finally:
        rc, _ = d.stop()
    c.eq(rc, 0, "dagprof exit status")
    c.eq(_count_lines(d, "[export] everything received was delivered upstream"), 1,
         "dagprof says everything was delivered")
    c.eq(sink_stat(sink, "paths"), "/v1/logs,/v1/metrics,/v1/traces", "request paths")
    c.eq(sink_stat(sink, "content_types"), "application/x-protobuf", "Content-Type of every request")
    c.eq(sink_stat(sink, "encodings"), "gzip", "Content-Encoding (and a gzip body) of every request")
    c.eq(sink_stat(sink, "header.x-api-key"), secret, "x-api-key header")
    c.eq(sink_stat(sink, "header.x-tenant"), "acme", "x-tenant header")
    c.eq([l for l in d.stderr_lines if secret in l], [], "log lines holding the header value")
    c.eq(_count_lines(d, "go to http://127.0.0.1:%d/v1/traces (OTLP/HTTP, plaintext, gzip, "
                         "2 extra headers)" % sink.port), 1, "the traces destination is logged")

    # forwarded unchanged
    got_rm = [x for req in sink.received["metrics"] for x in req.resource_metrics]
    c.eq(sum(1 for x in got_rm if x.SerializeToString() ==
             mreq.resource_metrics[0].SerializeToString()), 1, "the SDK's metrics arrive once, unchanged")
    got_rl = [x for req in sink.received["logs"] for x in req.resource_logs]
    c.eq(sum(1 for x in got_rl if x.SerializeToString() ==
             lreq.resource_logs[0].SerializeToString()), 1, "the SDK's logs arrive once, unchanged")

    # enriched: build_run(1) is 3 sequential nodes of 100 ms, one gpt-4o-mini
    # call each (100 in / 10 out)
    expect_all_once(c, sink, [1])
    by_name = {}
    for _, _, sp in sink.spans():
        by_name.setdefault(sp.name, attrs_of(sp))
    root = by_name.get("run", {})
    c.near(one(c, root, "dag.run.wall_ms", "root"), 300.0, "dag.run.wall_ms")
    # 3 x (100 x 0.15 + 10 x 0.60) / 1e6 = 3 x 0.000021
    c.near(one(c, root, "dag.run.cost_usd", "root"), 0.000063, "dag.run.cost_usd", 1e-9)
    c.eq(one(c, root, "dag.run.tokens.input", "root"), 300, "dag.run.tokens.input")
    c.eq(one(c, by_name.get("step1", {}), "dag.node.on_critical_path", "step1"), True,
         "step1 on the critical path")
    # derived: one run of 0.3 s; its cost summed over the series
    pts = metric_points(sink)
    runs = [p for (n, attrs), p in pts.items() if n == "dag.run.duration"]
    c.eq([p.count for p in runs], [1], "dag.run.duration: one run")
    if runs:
        c.near(runs[0].sum, 0.3, "dag.run.duration sum (s)")
    c.near(sum(p.as_double for (n, _), p in pts.items() if n == "dag.cost"), 0.000063,
           "dag.cost summed over its series", 1e-9)
    sink.stop()


def arrival_gaps(sink, signal):
    """Seconds between a refused request and the next one of the same signal."""
    gaps = []
    with sink.lock:
        arrivals = [(t, kind) for t, sig, kind in sink.arrivals if sig == signal]
    for (t0, k0), (t1, _) in zip(arrivals, arrivals[1:]):
        if k0 not in ("ok", "partial"):
            gaps.append(t1 - t0)
    return gaps


def scenario_http_retry_after(c, args):
    sink = start_sink(http=True)
    # the configured backoff is 20 ms..200 ms: a retry sooner than 1 s can
    # only come from ignoring the header
    sink.command("unavailable 1 1")
    sink.command("throttled 1 date+2")
    d = start_daemon(args.dagprof, sink.port, protocol="http/protobuf")
    try:
        send_runs(c, d, 1, 1)
        c.ok(sink.wait_for(lambda: len(sink.spans()) >= 7, 60), "the run delivered after two refusals")
    finally:
        rc, _ = d.stop()
    c.eq(rc, 0, "dagprof exit status")
    c.eq(sink.answered("answer=UNAVAILABLE"), 1, "one 503")
    c.eq(sink.answered("answer=RESOURCE_EXHAUSTED"), 1, "one 429")
    gaps = arrival_gaps(sink, "traces")
    c.eq(len(gaps), 2, "retries after a refusal")
    # Retry-After: 1 -> 1 s; an HTTP-date 2 s ahead has whole seconds -> at
    # least 1 s (a little slack for the sink's own clock reading)
    c.ok(all(g >= 0.95 for g in gaps), "each retry waited for Retry-After: %r" % gaps)
    c.ok(_count_lines(d, "answered HTTP 503 (sink told to be unavailable); retrying in 1000 ms") == 1,
         "the 503's delay is logged:\n" + d.stderr_tail(8))
    c.eq(_count_lines(d, "everything received was delivered upstream"), 1, "nothing lost")
    expect_all_once(c, sink, [1])
    sink.stop()


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_EXPORTER_OTLP_")}
    env.update(extra)
    return env


def scenario_http_env(c, args):
    # The generic endpoint is a base: /v1/traces (and /v1/metrics) appended.
    sink = start_sink(http=True)
    env = clean_env(OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
                    OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % sink.port)
    d = Daemon(args.dagprof, ["--set", "upstream.batch_timeout=20ms"], env=env).start()
    try:
        send_runs(c, d, 1, 1)
        c.ok(sink.wait_for(lambda: len(sink.spans()) >= 7, 60), "spans arrived (generic endpoint)")
    finally:
        rc, _ = d.stop()
    c.eq(rc, 0, "dagprof exit status (generic endpoint)")
    c.eq(sink_stat(sink, "paths"), "/v1/metrics,/v1/traces", "paths from the generic endpoint")
    sink.stop()

    # A signal's own endpoint is used as-is: its path, nothing appended.
    sink = start_sink(http=True)
    sink.command("route /custom/spans traces")
    env = clean_env(OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
                    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://127.0.0.1:%d/custom/spans" % sink.port)
    d = Daemon(args.dagprof, ["--set", "upstream.batch_timeout=20ms"], env=env).start()
    try:
        send_runs(c, d, 2, 1)
        c.ok(sink.wait_for(lambda: len(sink.spans()) >= 7, 60), "spans arrived (traces endpoint)")
    finally:
        rc, _ = d.stop()
    c.eq(rc, 0, "dagprof exit status (traces endpoint)")
    c.eq(sink_stat(sink, "paths"), "/custom/spans", "the traces endpoint's path, as-is")
    expect_all_once(c, sink, [2])
    sink.stop()

    # http/json is not spoken: refused at start, naming the variable
    env = clean_env(OTEL_EXPORTER_OTLP_PROTOCOL="http/json",
                    OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9")
    p = subprocess.run([args.dagprof, "--listen", "127.0.0.1:0", "--http-listen", "",
                        "--health-listen", ""], env=env, capture_output=True, text=True, timeout=60)
    c.eq(p.returncode, 2, "exit status with OTEL_EXPORTER_OTLP_PROTOCOL=http/json")
    c.ok("OTEL_EXPORTER_OTLP_PROTOCOL: http/json is not supported" in p.stderr,
         "the refusal names the variable: " + p.stderr[-300:])

    # credentials in the URL are refused, from a flag or a variable, and
    # never printed back
    password = "pw-9d1e-not-for-logs"
    for how, extra, env in (
            ("--upstream", ["--upstream", "https://user:%s@127.0.0.1:9" % password,
                            "--upstream-protocol", "http/protobuf"], clean_env()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", [],
             clean_env(OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
                       OTEL_EXPORTER_OTLP_ENDPOINT="https://user:%s@127.0.0.1:9" % password))):
        p = subprocess.run([args.dagprof, "--listen", "127.0.0.1:0", "--http-listen", "",
                            "--health-listen", ""] + extra, env=env, capture_output=True,
                           text=True, timeout=60)
        c.eq(p.returncode, 2, "exit status with user information in %s" % how)
        c.ok("has user information before the host" in p.stderr,
             "the refusal says why (%s): %s" % (how, p.stderr[-300:]))
        c.ok(password not in p.stderr + p.stdout, "the password is not printed (%s)" % how)


def scenario_same_output(c, args):
    """The same runs through dagprof with a gRPC upstream and with an HTTP
    upstream: the spans that arrive are byte for byte the same, enrichment
    included (it depends only on the spans, not on the transport)."""
    sinks = {"grpc": start_sink(http=False), "http/protobuf": start_sink(http=True)}
    got = {}
    for protocol, sink in sinks.items():
        d = start_daemon(args.dagprof, sink.port, protocol=protocol)
        try:
            send_runs(c, d, 1, 3, nodes=4)
            c.ok(sink.wait_for(lambda: len(sink.spans()) >= 27, 60),
                 "3 runs of 9 spans over %s" % protocol)
        finally:
            rc, _ = d.stop()
        c.eq(rc, 0, "dagprof exit status (%s)" % protocol)
        got[protocol] = sorted(sp.SerializeToString() for _, _, sp in sink.spans())
        sink.stop()
    c.eq(len(got["grpc"]), 27, "spans at the gRPC upstream")
    c.eq(len(got["http/protobuf"]), 27, "spans at the HTTP upstream")
    c.ok(got["grpc"] == got["http/protobuf"], "the same spans, enrichment included, both ways")
    enriched = [sp for sp in got["grpc"] if b"dag.run.critical_path_ms" in sp]
    c.eq(len(enriched), 3, "one enriched root per run")


SCENARIOS = {"js": scenario_js, "retry": scenario_retry, "invalid": scenario_invalid,
             "outage": scenario_outage, "chain": scenario_chain, "late": scenario_late,
             "partial": scenario_partial, "http_signals": scenario_http_signals,
             "http_retry_after": scenario_http_retry_after, "http_env": scenario_http_env,
             "same_output": scenario_same_output}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dagprof", required=True)
    ap.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    ap.add_argument("--node", default=shutil.which("node") or "node")
    ap.add_argument("--protocol", default="grpc", choices=["grpc", "http/protobuf"])
    args = ap.parse_args()
    PROTOCOL[0] = args.protocol
    c = Checker("upstream_" + args.scenario + ("_http" if args.protocol != "grpc" else ""))
    SCENARIOS[args.scenario](c, args)
    return c.report()


if __name__ == "__main__":
    sys.exit(main())
