#!/usr/bin/env python3
"""End-to-end tests of dagprof's self-telemetry.

Scenarios (--scenario, one CTest test each):
  prometheus  a known load over gRPC (python3-grpcio) and OTLP/HTTP
              (http.client): good runs, a request holding a span twice, an
              unusable span, garbage, an unknown method, metrics and logs,
              and every HTTP error answer. GET /metrics is then parsed with
              Debian's python3-prometheus-client (not dagprof's code) and
              each counter must equal what this test sent, counted from its
              own requests; the status line must appear on stderr with the
              same totals.
  auth        with bearer tokens required: requests without an accepted
              token are counted as rejected, reason unauthenticated.
  otlp        two daemons send to one OTLP upstream (tests/e2e/upstream_sink.py,
              decoding with protoc-generated classes): the self-telemetry
              arrives as OTLP metrics with the figures of each daemon's own
              load, under a resource with service.name (OTEL_SERVICE_NAME),
              OTEL_RESOURCE_ATTRIBUTES and a random service.instance.id that
              differs between the two; the derived metrics carry the same
              resource.

  test_telemetry.py --dagprof PATH --scenario NAME
"""

import argparse
import http.client
import json
import os
import re
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from e2e_common import Checker, Daemon, import_grpc  # noqa: E402

grpc = import_grpc()

UUID4_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def poll(condition, timeout=30.0, every=0.05):
    """Evaluate condition until it is true or the deadline passes (a check
    of state, repeated; not a sleep standing in for an event)."""
    tick = threading.Event()
    deadline = threading.Timer(timeout, tick.set)
    deadline.start()
    try:
        while True:
            value = condition()
            if value or tick.is_set():
                return value
            tick.wait(every)
    finally:
        deadline.cancel()


def parse_metrics(text):
    """({(sample name, frozenset(labels)): value}, {family name: type}) with
    prometheus_client's parser, which strips counters' "_total" from the
    family name and keeps it on the samples."""
    from prometheus_client.parser import text_string_to_metric_families
    samples, types = {}, {}
    for fam in text_string_to_metric_families(text):
        types[fam.name] = fam.type
        for s in fam.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples, types


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


# ---- scenario: Prometheus text ---------------------------------------------------

def scenario_prometheus(c, args):
    import otlp_pb
    pb = otlp_pb.load()
    max_recv = 64 * 1024
    d = Daemon(args.dagprof, ["--set", "telemetry.status_interval=200ms",
                              "--set", "server.max_recv_message_size=64KiB"],
               idle_timeout="300ms").start()
    c.ok(d.metrics_port, "the listening line names the /metrics address")

    trace_no = [0]

    def run_spans(nspans, dag):
        """A root and nspans - 1 children of a new trace, dag.id = dag."""
        trace_no[0] += 1
        tid = bytes([0xe7, trace_no[0]]) + bytes(range(2, 16))
        spans = [otlp_pb.simple_span(pb, tid, 1, 0, "run", [("dag.id", dag)])]
        for i in range(2, nspans + 1):
            spans.append(otlp_pb.simple_span(pb, tid, i, 1, "node%d" % i, [("dag.node.id", "n%d" % i)]))
        return spans

    def request(spans):
        return otlp_pb.trace_request(pb, spans, "telemetry-e2e", "telemetry-e2e")

    # what this test sends, counted as it goes
    sent = {"grpc": dict(received=0, accepted=0, rejected=0), "http": dict(received=0, accepted=0, rejected=0)}
    dags = []

    ch = grpc.insecure_channel(d.endpoint)
    export = pb.trace_export(ch)
    raw = ch.unary_unary(otlp_pb.TRACE_EXPORT, request_serializer=lambda b: b,
                         response_deserializer=lambda b: b)

    def grpc_status(fn, msg):
        try:
            fn(msg, timeout=30)
            return "OK"
        except grpc.RpcError as e:
            return e.code().name

    # gRPC: five runs of 3 spans; the first request holds its spans twice
    # (stored twice, profiled once: 3 duplicates)
    for r in range(5):
        dag = "grpc-run-%d" % r
        spans = run_spans(3, dag)
        if r == 0:
            spans = spans + [s for s in spans]
        c.eq(grpc_status(export, request(spans)), "OK", "gRPC run %d accepted" % r)
        sent["grpc"]["received"] += len(spans)
        sent["grpc"]["accepted"] += len(spans)
        dags.append((dag, 3))
    # one good root and one span with a 3-byte span id: OK, 1 rejected
    spans = run_spans(1, "grpc-partial")
    bad = otlp_pb.simple_span(pb, spans[0].trace_id, 9, 1, "bad-id")
    bad.span_id = b"\x01\x02\x03"
    c.eq(grpc_status(export, request(spans + [bad])), "OK", "gRPC request with an unusable span")
    sent["grpc"]["received"] += 2
    sent["grpc"]["accepted"] += 1
    sent["grpc"]["rejected"] += 1
    dags.append(("grpc-partial", 1))
    # two requests that do not decode, one unknown method
    for garbage in (b"\xff\xff\xff\xff\x0f", b"\x0a\x40\x12"):
        c.eq(grpc_status(raw, garbage), "INVALID_ARGUMENT", "gRPC garbage answered INVALID_ARGUMENT")
    unknown = ch.unary_unary("/dagprof.Nothing/Here", request_serializer=lambda b: b,
                             response_deserializer=lambda b: b)
    c.eq(grpc_status(unknown, b""), "UNIMPLEMENTED", "gRPC unknown method")
    # metrics: one gauge with 4 points; logs: 2 records (validated and counted)
    mreq = pb.metrics_service.ExportMetricsServiceRequest()
    g = mreq.resource_metrics.add().scope_metrics.add().metrics.add(name="g").gauge
    for i in range(4):
        g.data_points.add(as_int=i)
    c.eq(grpc_status(pb.metrics_export(ch), mreq), "OK", "gRPC metrics")
    lreq = pb.logs_service.ExportLogsServiceRequest()
    sl = lreq.resource_logs.add().scope_logs.add()
    for i in range(2):
        sl.log_records.add(severity_text="INFO")
    c.eq(grpc_status(pb.logs_export(ch), lreq), "OK", "gRPC logs")
    ch.close()

    # OTLP/HTTP: three runs of 2 spans (protobuf), one of 1 span (JSON)
    def post(path, body, ctype="application/x-protobuf", method="POST"):
        conn = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=30)
        try:
            conn.request(method, path, body=body, headers={"Content-Type": ctype})
            r = conn.getresponse()
            r.read()
            return r.status
        finally:
            conn.close()

    for r in range(3):
        dag = "http-run-%d" % r
        spans = run_spans(2, dag)
        c.eq(post("/v1/traces", request(spans).SerializeToString()), 200, "HTTP run %d" % r)
        sent["http"]["received"] += 2
        sent["http"]["accepted"] += 2
        dags.append((dag, 2))
    root = run_spans(1, "http-json")[0]
    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": root.trace_id.hex(), "spanId": root.span_id.hex(), "name": "run",
        "startTimeUnixNano": str(root.start_time_unix_nano),
        "endTimeUnixNano": str(root.end_time_unix_nano),
        "attributes": [{"key": "dag.id", "value": {"stringValue": "http-json"}}]}]}]}]})
    c.eq(post("/v1/traces", body, "application/json"), 200, "HTTP OTLP/JSON run")
    sent["http"]["received"] += 1
    sent["http"]["accepted"] += 1
    dags.append(("http-json", 1))
    # every error answer once
    c.eq(post("/v1/traces", b"\xff\xff\xff\xff\x0f"), 400, "HTTP garbage")
    c.eq(post("/v1/traces", b"x", "text/plain"), 415, "HTTP wrong Content-Type")
    c.eq(post("/v1/traces", None, method="GET"), 405, "HTTP GET /v1/traces")
    c.eq(post("/v1/nothing", b"x"), 404, "HTTP unknown path")
    c.eq(post("/v1/traces", b"\x00" * (max_recv + 1)), 413, "HTTP body over the limit")

    # every run reported (idle after its root)
    for dag, n in dags:
        c.ok(d.wait_for_report(lambda r, dag=dag: r.get("dag_id") == dag, timeout=60),
             "run %s reported" % dag)
    runs = len(dags)

    # the counters: a report is printed just before its run is counted
    def scraped():
        status, ctype, text = d.scrape()
        samples, types = parse_metrics(text)
        done = value(samples, "dagprof_processor_reported_runs_total") == runs
        return (status, ctype, text, samples, types) if done else None

    got = poll(scraped)
    c.ok(got, "/metrics shows %d reported runs" % runs)
    if not got:  # check the rest anyway, on what there is
        status, ctype, text = d.scrape()
        got = (status, ctype, text) + parse_metrics(text)
    status, ctype, text, samples, types = got
    c.eq(status, 200, "/metrics status")
    c.eq(ctype, PROMETHEUS_TYPE, "/metrics Content-Type")

    for t in ("grpc", "http"):
        for what in ("received", "accepted", "rejected"):
            c.eq(value(samples, "dagprof_receiver_%s_spans_total" % what, transport=t),
                 sent[t][what], "%s spans %s" % (t, what))
        c.eq(value(samples, "dagprof_receiver_refused_spans_total", transport=t), 0,
             "%s spans refused" % t)
    c.eq(value(samples, "dagprof_receiver_accepted_metric_points_total", transport="grpc"), 4,
         "gRPC metric points")
    c.eq(value(samples, "dagprof_receiver_accepted_log_records_total", transport="grpc"), 2,
         "gRPC log records")
    c.eq(value(samples, "dagprof_receiver_decode_errors_total", transport="grpc", signal="traces"), 2,
         "gRPC trace decode errors")
    c.eq(value(samples, "dagprof_receiver_decode_errors_total", transport="http", signal="traces"), 1,
         "HTTP trace decode errors")
    want_rejected = {("grpc", "invalid"): 2, ("grpc", "unimplemented"): 1, ("grpc", "too_large"): 0,
                     ("http", "invalid"): 1, ("http", "unsupported_media_type"): 1,
                     ("http", "method_not_allowed"): 1, ("http", "not_found"): 1,
                     ("http", "too_large"): 1, ("grpc", "unauthenticated"): 0,
                     ("http", "unauthenticated"): 0}
    for (t, reason), n in want_rejected.items():
        c.eq(value(samples, "dagprof_receiver_rejected_requests_total", transport=t, reason=reason), n,
             "%s requests rejected as %s" % (t, reason))
    c.eq(value(samples, "dagprof_receiver_refused_requests_total", transport="grpc", signal="traces"),
         0, "no backpressure")

    c.eq(value(samples, "dagprof_assembly_runs_started_total"), runs, "runs started")
    c.eq(value(samples, "dagprof_assembly_runs_finished_total", reason="idle"), runs,
         "runs finished idle")
    c.eq(value(samples, "dagprof_assembly_runs_in_progress"), 0, "runs in progress")
    c.eq(value(samples, "dagprof_assembly_pending_runs"), 0, "pending runs")
    c.eq(value(samples, "dagprof_assembly_buffered_bytes"), 0, "nothing buffered")
    c.eq(value(samples, "dagprof_assembly_memory_limit_bytes"), 256 * 1024 * 1024,
         "memory limit (the default 256 MiB)")
    c.eq(value(samples, "dagprof_processor_duplicate_spans_total"), 3, "duplicate spans")
    c.eq(value(samples, "dagprof_processor_partial_runs_total"), 0, "partial runs")
    c.eq(value(samples, "dagprof_assembly_late_runs_total"), 0, "late runs")
    busy = [v for (n, _), v in samples.items() if n == "dagprof_processor_busy_seconds_total"]
    c.ok(busy and sum(busy) > 0, "processor busy time counted (%r)" % busy)
    for t in ("grpc", "http"):
        c.ok((value(samples, "dagprof_receiver_busy_seconds_total", transport=t) or 0) > 0,
             "%s receiver busy time counted" % t)
    c.ok((value(samples, "dagprof_process_uptime_seconds_total") or 0) > 0, "uptime")
    c.ok(not any(n.startswith("dagprof_exporter_") for n, _ in samples), "no upstream figures")

    # format: counters end in _total, every family is typed and named dagprof_*
    for fam, typ in types.items():
        c.ok(typ in ("counter", "gauge"), "%s has a type (%s)" % (fam, typ))
        c.ok(fam.startswith("dagprof_") or fam == "target_info", "%s is named dagprof_*" % fam)
    for name, _ in samples:
        fam = name[:-len("_total")] if name.endswith("_total") else name
        c.ok((types.get(fam) == "counter") == name.endswith("_total"),
             "%s: _total exactly on counters" % name)
    c.eq(len(re.findall(r"^# HELP ", text, re.M)), len(types), "one HELP line per family")
    info = [dict(lbl) for (n, lbl), v in samples.items() if n == "target_info" and v == 1]
    c.eq(len(info), 1, "one target_info")
    if info:
        c.eq(info[0].get("service_name"), "dagprof", "target_info service_name")
        c.ok(UUID4_RE.match(info[0].get("service_instance_id", "")), "target_info instance id")

    c.eq(d.scrape("/nothing")[0], 404, "/nothing is 404")
    c.eq(d.scrape("/metrics", "POST")[0], 405, "POST /metrics is 405")

    # the status line, with the same totals
    received = sent["grpc"]["received"] + sent["http"]["received"]
    accepted = sent["grpc"]["accepted"] + sent["http"]["accepted"]
    rejected = sent["grpc"]["rejected"] + sent["http"]["rejected"]
    want = ("[telemetry] spans received %d, accepted %d, refused 0, rejected %d; requests with "
            "errors %d; runs in progress 0, pending 0, reported %d (partial 0, whole again 0, "
            "late 0), failed 0" % (received, accepted, rejected, sum(want_rejected.values()), runs))
    line = d.wait_for_stderr(lambda l: want in l, timeout=30)
    c.ok(line, "status line %r on stderr; last lines:\n%s" % (want, d.stderr_tail(5)))
    rc, _ = d.stop()
    c.eq(rc, 0, "dagprof exit status")


# ---- scenario: requests without a token ---------------------------------------------

def scenario_auth(c, args):
    """With server.auth.bearer_tokens_file, requests without an accepted
    token are counted as rejected, reason unauthenticated; the good one is
    counted as accepted."""
    import tempfile
    import otlp_pb
    pb = otlp_pb.load()
    token = "e2e-telemetry-token"
    with tempfile.TemporaryDirectory(prefix="dp-telemetry-") as tmp:
        path = os.path.join(tmp, "tokens")
        with open(path, "w") as f:
            f.write("# the test's token\n%s\n" % token)
        d = Daemon(args.dagprof, ["--set", "server.auth.bearer_tokens_file=" + path]).start()
        tid = bytes([0xe8]) + bytes(range(1, 16))
        req = otlp_pb.trace_request(pb, [otlp_pb.simple_span(pb, tid, 1, 0, "run", [("dag.id", "auth")]),
                                         otlp_pb.simple_span(pb, tid, 2, 1, "a")], "auth-e2e", "auth-e2e")
        ch = grpc.insecure_channel(d.endpoint)
        export = pb.trace_export(ch)
        codes = []
        for md in ((), (("authorization", "Bearer wrong"),), (("authorization", "Bearer " + token),)):
            try:
                export(req, timeout=30, metadata=md)
                codes.append("OK")
            except grpc.RpcError as e:
                codes.append(e.code().name)
        ch.close()
        c.eq(codes, ["UNAUTHENTICATED", "UNAUTHENTICATED", "OK"], "gRPC answers: none, wrong, good token")
        conn = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=30)
        conn.request("POST", "/v1/traces", body=req.SerializeToString(),
                     headers={"Content-Type": "application/x-protobuf"})
        r = conn.getresponse()
        r.read()
        conn.close()
        c.eq(r.status, 401, "HTTP without a token")
        _, _, text = d.scrape()
        samples, _ = parse_metrics(text)
        c.eq(value(samples, "dagprof_receiver_rejected_requests_total", transport="grpc",
                   reason="unauthenticated"), 2, "gRPC requests rejected as unauthenticated")
        c.eq(value(samples, "dagprof_receiver_rejected_requests_total", transport="http",
                   reason="unauthenticated"), 1, "HTTP requests rejected as unauthenticated")
        c.eq(value(samples, "dagprof_receiver_accepted_spans_total", transport="grpc"), 2,
             "the good request's 2 spans accepted")
        c.eq(value(samples, "dagprof_receiver_received_spans_total", transport="http"), 0,
             "nothing of the refused HTTP request received")
        rc, _ = d.stop()
        c.eq(rc, 0, "dagprof exit status")


# ---- scenario: OTLP self-metrics upstream -----------------------------------------

def scenario_otlp(c, args):
    import test_upstream_e2e as up  # the recording sink and run builder of the upstream tests

    sink = up.start_sink()
    base = {k: v for k, v in os.environ.items()
            if k not in ("OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES") and not k.startswith("OTEL_EXPORTER")}
    env_a = dict(base, OTEL_SERVICE_NAME="dagprof-e2e",
                 OTEL_RESOURCE_ATTRIBUTES="deployment.environment=e2e, team=agents%2Cplatform")
    extra = ["--upstream", "http://127.0.0.1:%d" % sink.port,
             "--set", "metrics.export_interval=200ms", "--set", "upstream.batch_timeout=20ms"]
    a = Daemon(args.dagprof, extra, env=env_a).start()
    b = Daemon(args.dagprof, extra, env=base).start()
    try:
        # A gets two runs of 7 spans, B one
        for d, runs in ((a, (1, 2)), (b, (3,))):
            ch = grpc.insecure_channel(d.endpoint)
            for r in runs:
                up.export(ch, "traces", up.trace_request(up.build_run(r)))
            ch.close()
        want = {"a": (14, 2), "b": (7, 1)}  # (spans, runs) per daemon, from the requests above

        def resources():
            """{service.instance.id: (resource attrs, {scope: {(metric, attrs): latest point}})}"""
            out = {}
            with sink.changed:
                reqs = list(sink.received["metrics"])
            for req in reqs:
                for rm in req.resource_metrics:
                    attrs = {kv.key: kv.value.string_value for kv in rm.resource.attributes}
                    _, scopes = out.setdefault(attrs.get("service.instance.id"), (attrs, {}))
                    for sm in rm.scope_metrics:
                        pts = scopes.setdefault(sm.scope.name, {})
                        for m in sm.metrics:
                            kind = m.WhichOneof("data")
                            for p in getattr(m, kind).data_points:
                                key = (m.name, frozenset((x.key, x.value.string_value) for x in p.attributes))
                                old = pts.get(key)
                                if old is None or p.time_unix_nano >= old[0]:
                                    pts[key] = (p.time_unix_nano, m, p)
            return out

        def self_value(scopes, name, **labels):
            got = scopes.get("dagprof.telemetry", {}).get((name, frozenset(labels.items())))
            if not got:
                return None
            p = got[2]
            return p.as_int if p.WhichOneof("value") == "as_int" else p.as_double

        def complete(res):
            """Both daemons' latest self-metrics show their whole load delivered."""
            by_name = {}
            for iid, (attrs, scopes) in res.items():
                by_name.setdefault(attrs.get("service.name"), []).append((iid, attrs, scopes))
            ok = True
            for key, name in (("a", "dagprof-e2e"), ("b", "dagprof")):
                spans, runs = want[key]
                entries = by_name.get(name, [])
                ok = ok and len(entries) == 1 and all(
                    self_value(e[2], "dagprof_receiver_accepted_spans", transport="grpc") == spans and
                    self_value(e[2], "dagprof_processor_reported_runs") == runs and
                    self_value(e[2], "dagprof_exporter_sent_items", signal="traces") == spans
                    for e in entries)
            return ok

        c.ok(sink.wait_for(lambda: complete(resources()), timeout=60),
             "both daemons' self-metrics arrive with their own figures")
        res = resources()
        ids = {attrs.get("service.name"): iid for iid, (attrs, _) in res.items()}
        c.eq(sorted(ids), ["dagprof", "dagprof-e2e"], "two resources, one per daemon")
        ia, ib = ids.get("dagprof-e2e", ""), ids.get("dagprof", "")
        c.ok(UUID4_RE.match(ia or "") and UUID4_RE.match(ib or ""), "service.instance.id is a UUID v4")
        c.ok(ia != ib, "the two daemons have different instance ids")
        attrs_a, scopes_a = res.get(ia, ({}, {}))
        c.eq(attrs_a.get("deployment.environment"), "e2e", "OTEL_RESOURCE_ATTRIBUTES pair")
        c.eq(attrs_a.get("team"), "agents,platform", "OTEL_RESOURCE_ATTRIBUTES percent-decoded")
        c.eq(len(res.get(ib, ({}, {}))[0]), 2, "without the variables: service.name and the instance id")
        # the derived metrics come under the same resource
        c.ok(("dag.run.duration", frozenset({("dag.id", "load-dag")})) in scopes_a.get("dagprof", {}),
             "derived metrics under daemon A's resource")
        # kinds: counters are cumulative monotonic sums, gauges gauges
        got = scopes_a.get("dagprof.telemetry", {})
        spans_metric = got.get(("dagprof_receiver_accepted_spans", frozenset({("transport", "grpc")})))
        pending = got.get(("dagprof_assembly_pending_runs", frozenset()))
        c.ok(spans_metric and spans_metric[1].sum.is_monotonic and spans_metric[1].unit == "{span}",
             "accepted spans: a monotonic sum in {span}")
        c.ok(pending and pending[1].WhichOneof("data") == "gauge", "pending runs: a gauge")
        # the same instance id in the daemon's log and on its /metrics
        c.ok(any("service.instance.id %s" % ia in l for l in a.stderr_lines),
             "daemon A logs its instance id")
        _, _, text = a.scrape()
        c.ok('service_instance_id="%s"' % ia in text, "/metrics target_info has the same id")
    finally:
        for d in (a, b):
            rc, _ = d.stop()
            c.eq(rc, 0, "dagprof exit status")
        sink.stop()


SCENARIOS = {"prometheus": scenario_prometheus, "auth": scenario_auth, "otlp": scenario_otlp}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dagprof", required=True)
    ap.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    args = ap.parse_args()
    c = Checker("telemetry_" + args.scenario)
    SCENARIOS[args.scenario](c, args)
    return c.report()


if __name__ == "__main__":
    sys.exit(main())
