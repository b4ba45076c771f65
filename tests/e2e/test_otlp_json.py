#!/usr/bin/env python3
"""OTLP/JSON metrics and logs on the OTLP/HTTP receiver, forwarded upstream.

  test_otlp_json.py --dagprof PATH --scenario curl|js [--node PATH]

The daemon runs with a real OTLP/gRPC upstream (test_upstream_e2e's sink,
decoding with protoc-generated classes); what arrives there is compared
with what the JSON says.

curl: hand-written OTLP/JSON bodies sent with curl. One metrics request
  holds every field of metrics.proto (all five kinds of data, exemplars with
  hex ids, 64-bit integers as strings and as numbers, enums as names and as
  numbers, snake_case names); one logs request every field of a LogRecord.
  The upstream must receive exactly the message built here field by field
  from the same values (and, as a second, independent reader, the one
  python3-protobuf's json_format parses from the same JSON once its hex ids
  are turned into the base64 protobuf's JSON mapping wants). Answers are
  JSON ({} for a clean 200); a malformed value is 400 with a JSON Status
  naming its JSON path, and nothing of that request is forwarded; a body
  under server.max_recv_message_size as JSON but over it as protobuf is
  413; a gzip body is taken.
js: the official JS SDK's OTLP/HTTP JSON exporters
  (@opentelemetry/exporter-metrics-otlp-http, -logs-otlp-http) through
  tests/e2e/js/send_metrics_logs.js; the counter's sum (3 + 4 = 7), the
  histogram's count, sum, min, max and buckets (5 and 15 with the SDK's
  default boundaries 0, 5, 10, 25, ...: 5 falls in (0, 5], 15 in (10, 25]),
  and the log records' severity, body, attributes and span context must
  arrive upstream.
"""

import argparse
import base64
import copy
import gzip
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from e2e_common import Checker, import_grpc  # noqa: E402

import_grpc()
import test_upstream_e2e as up  # noqa: E402
from google.protobuf import json_format  # noqa: E402

common_pb2, metrics_pb2, logs_pb2 = up.common_pb2, up.metrics_pb2, up.logs_pb2
MetricsRequest, LogsRequest = up.MESSAGES["metrics"][0], up.MESSAGES["logs"][0]
kv = up.kv

TRACE_HEX = "5b8efff798038103d269b633813fc60c"
SPAN_HEX = "eee19b7ec3c1b174"
T0 = 1700000000000000000  # ns

METRICS_JSON = {
    "resourceMetrics": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}],
                     "droppedAttributesCount": 1},
        "schemaUrl": "https://opentelemetry.io/schemas/1.26.0",
        "scopeMetrics": [{
            "scope": {"name": "json-meter", "version": "1.2.3",
                      "attributes": [{"key": "lib", "value": {"boolValue": True}}]},
            "schemaUrl": "https://scope",
            "metrics": [
                {"name": "g", "description": "a gauge", "unit": "1",
                 "gauge": {"dataPoints": [
                     {"timeUnixNano": str(T0), "asDouble": 0,  # a oneof member: 0 is written
                      "attributes": [{"key": "k", "value": {"intValue": "-3"}}]},
                     {"timeUnixNano": T0 + 1, "asInt": "-5", "flags": 1}]},
                 "metadata": [{"key": "m", "value": {"stringValue": "v"}}]},
                {"name": "s",
                 "sum": {"aggregationTemporality": "AGGREGATION_TEMPORALITY_CUMULATIVE",
                         "isMonotonic": True,
                         "dataPoints": [{"startTimeUnixNano": str(T0 - 10), "timeUnixNano": str(T0),
                                         "asInt": 9007199254740993,  # past a double's precision
                                         "exemplars": [{"timeUnixNano": str(T0), "asDouble": 1.5,
                                                        "traceId": TRACE_HEX, "spanId": SPAN_HEX,
                                                        "filteredAttributes": [
                                                            {"key": "user", "value": {"stringValue": "u1"}}]}]}]}},
                {"name": "h",
                 "histogram": {"aggregation_temporality": 1,
                               "data_points": [{"timeUnixNano": str(T0), "count": "3", "sum": 0,
                                                "bucketCounts": ["1", 2, "0"],
                                                "explicitBounds": [1.5, "Infinity"],
                                                "min": -1.25, "max": 7,
                                                "exemplars": [{"asInt": "4", "spanId": SPAN_HEX}]}]}},
                {"name": "e",
                 "exponentialHistogram": {"aggregationTemporality": 2, "dataPoints": [{
                     "timeUnixNano": str(T0), "count": 6, "sum": 10.5, "scale": -1,
                     "zeroCount": "1", "zeroThreshold": 0.001,
                     "positive": {"offset": -2, "bucketCounts": ["1", "2", 300]},
                     "negative": {"offset": 3, "bucketCounts": []},
                     "min": 0.5, "max": 4}]}},
                {"name": "q",
                 "summary": {"dataPoints": [{"timeUnixNano": str(T0), "count": "2", "sum": 3.5,
                                             "quantileValues": [{"quantile": 0, "value": 1},
                                                                {"quantile": 1, "value": 2.5}]}]}},
            ]}]}]}

LOGS_JSON = {
    "resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]},
        "scope_logs": [{
            "scope": {"name": "json-logger"},
            "logRecords": [
                {"timeUnixNano": str(T0), "observedTimeUnixNano": T0 + 7,
                 "severityNumber": "SEVERITY_NUMBER_WARN", "severityText": "WARN",
                 "body": {"kvlistValue": {"values": [
                     {"key": "step", "value": {"stringValue": "plan"}},
                     {"key": "blob", "value": {"bytesValue": "AAEC"}}]}},
                 "attributes": [{"key": "retries", "value": {"intValue": 2}}],
                 "droppedAttributesCount": 1, "flags": 1,
                 "traceId": TRACE_HEX, "spanId": SPAN_HEX, "eventName": "cache.miss"},
                {"severity_number": 17, "body": {"stringValue": "boom"}, "traceId": ""},
            ]}]}]}


def expected_metrics():
    """The request METRICS_JSON stands for, field by field."""
    r = MetricsRequest()
    rm = r.resource_metrics.add()
    rm.resource.attributes.append(kv("service.name", "json-svc"))
    rm.resource.dropped_attributes_count = 1
    rm.schema_url = "https://opentelemetry.io/schemas/1.26.0"
    sm = rm.scope_metrics.add()
    sm.scope.name, sm.scope.version = "json-meter", "1.2.3"
    sm.scope.attributes.append(kv("lib", True))
    sm.schema_url = "https://scope"
    g = sm.metrics.add(name="g", description="a gauge", unit="1")
    g.metadata.append(kv("m", "v"))
    p = g.gauge.data_points.add(time_unix_nano=T0, as_double=0.0)
    p.attributes.append(kv("k", -3))
    g.gauge.data_points.add(time_unix_nano=T0 + 1, as_int=-5, flags=1)
    s = sm.metrics.add(name="s")
    s.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    s.sum.is_monotonic = True
    p = s.sum.data_points.add(start_time_unix_nano=T0 - 10, time_unix_nano=T0,
                              as_int=9007199254740993)
    e = p.exemplars.add(time_unix_nano=T0, as_double=1.5, trace_id=bytes.fromhex(TRACE_HEX),
                        span_id=bytes.fromhex(SPAN_HEX))
    e.filtered_attributes.append(kv("user", "u1"))
    h = sm.metrics.add(name="h")
    h.histogram.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
    p = h.histogram.data_points.add(time_unix_nano=T0, count=3, sum=0.0, min=-1.25, max=7.0)
    p.bucket_counts.extend([1, 2, 0])
    p.explicit_bounds.extend([1.5, float("inf")])
    p.exemplars.add(as_int=4, span_id=bytes.fromhex(SPAN_HEX))
    x = sm.metrics.add(name="e")
    x.exponential_histogram.aggregation_temporality = \
        metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    p = x.exponential_histogram.data_points.add(time_unix_nano=T0, count=6, sum=10.5, scale=-1,
                                                zero_count=1, zero_threshold=0.001, min=0.5,
                                                max=4.0)
    p.positive.offset = -2
    p.positive.bucket_counts.extend([1, 2, 300])
    p.negative.offset = 3
    q = sm.metrics.add(name="q")
    p = q.summary.data_points.add(time_unix_nano=T0, count=2, sum=3.5)
    # quantile 0 is proto3's default: not on the wire
    p.quantile_values.add(value=1.0)
    p.quantile_values.add(quantile=1.0, value=2.5)
    return r


def expected_logs():
    r = LogsRequest()
    rl = r.resource_logs.add()
    rl.resource.attributes.append(kv("service.name", "json-svc"))
    sl = rl.scope_logs.add()
    sl.scope.name = "json-logger"
    lr = sl.log_records.add(time_unix_nano=T0, observed_time_unix_nano=T0 + 7,
                            severity_number=logs_pb2.SEVERITY_NUMBER_WARN, severity_text="WARN",
                            dropped_attributes_count=1, flags=1,
                            trace_id=bytes.fromhex(TRACE_HEX), span_id=bytes.fromhex(SPAN_HEX),
                            event_name="cache.miss")
    lr.body.kvlist_value.values.append(kv("step", "plan"))
    lr.body.kvlist_value.values.append(common_pb2.KeyValue(
        key="blob", value=common_pb2.AnyValue(bytes_value=b"\x00\x01\x02")))
    lr.attributes.append(kv("retries", 2))
    lr2 = sl.log_records.add(severity_number=logs_pb2.SEVERITY_NUMBER_ERROR)
    lr2.body.string_value = "boom"
    return r


def hex_ids_to_base64(doc):
    """The same JSON with the ids in protobuf's JSON mapping for bytes (base64)."""
    doc = copy.deepcopy(doc)

    def walk(o):
        if isinstance(o, dict):
            for k in list(o):
                if k in ("traceId", "spanId", "trace_id", "span_id") and isinstance(o[k], str):
                    o[k] = base64.b64encode(bytes.fromhex(o[k])).decode()
                else:
                    walk(o[k])
        elif isinstance(o, list):
            for x in o:
                walk(x)
    walk(doc)
    return doc


def without_zero_scalars(msg):
    """A copy with every scalar that holds its zero value cleared, oneof members
    kept: proto/ declares metrics with proto2 presence, so json_format keeps a
    0 that the wire form of OTLP's proto3 leaves out (a quantile of 0). The
    hand-built comparison checks presence; this one the values."""
    out = type(msg)()
    out.CopyFrom(msg)

    def walk(m):
        for f, v in m.ListFields():
            if f.type == f.TYPE_MESSAGE:
                for sub in (v if f.label == f.LABEL_REPEATED else [v]):
                    walk(sub)
            elif f.label != f.LABEL_REPEATED and not f.containing_oneof and not v:
                m.ClearField(f.name)
    walk(out)
    return out


def curl(url, body, headers=()):
    """(status, headers, body) of a POST with real curl."""
    with tempfile.TemporaryDirectory() as d:
        src, out, hdr = (os.path.join(d, n) for n in ("in", "out", "hdr"))
        with open(src, "wb") as f:
            f.write(body)
        cmd = ["curl", "-sS", "-o", out, "-D", hdr, "-w", "%{http_code}", "--data-binary",
               "@" + src, "-H", "Content-Type: application/json"]
        for h in headers:
            cmd += ["-H", h]
        code = subprocess.run(cmd + [url], check=True, capture_output=True, text=True).stdout
        with open(hdr, "rb") as f:
            hs = {k.strip().lower(): v.strip() for k, _, v in
                  (l.partition(":") for l in f.read().decode("latin-1").split("\r\n")[1:] if ":" in l)}
        with open(out, "rb") as f:
            return int(code), hs, f.read()


def wait_count(sink, signal, n):
    return sink.wait_for(lambda: len(sink.received[signal]) >= n, 30)


def scenario_curl(c, args):
    sink = up.start_sink()
    d = up.start_daemon(args.dagprof, sink.port, ["--set", "server.max_recv_message_size=1MiB"])
    try:
        base = d.http_endpoint
        for signal, doc, want, cls in (("metrics", METRICS_JSON, expected_metrics(), MetricsRequest),
                                       ("logs", LOGS_JSON, expected_logs(), LogsRequest)):
            code, hs, out = curl(base + "/v1/" + signal, json.dumps(doc).encode())
            c.eq(code, 200, "%s: status" % signal)
            c.eq(hs.get("content-type"), "application/json", "%s: answered in JSON" % signal)
            c.eq(json.loads(out), {}, "%s: a clean ExportServiceResponse" % signal)
            c.ok(wait_count(sink, signal, 1), "%s: forwarded upstream" % signal)
            got = sink.received[signal][0] if sink.received[signal] else cls()
            c.eq(got, want, "%s: what the upstream got is what the JSON says" % signal)
            # a second reader: python3-protobuf's JSON parser on the same document
            parsed = json_format.Parse(json.dumps(hex_ids_to_base64(doc)), cls())
            c.eq(without_zero_scalars(got), without_zero_scalars(parsed),
                 "%s: the same values as json_format.Parse of the document" % signal)

        # malformed values: 400, the JSON path in a JSON Status, nothing forwarded
        bad_metric = copy.deepcopy(METRICS_JSON)
        bad_metric["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][1]["sum"]["dataPoints"][0][
            "asInt"] = "1.5"
        bad_log = copy.deepcopy(LOGS_JSON)
        bad_log["resourceLogs"][0]["scope_logs"][0]["logRecords"][1]["spanId"] = "xyz"
        for signal, doc, path in (
                ("metrics", bad_metric,
                 "resourceMetrics[0].scopeMetrics[0].metrics[1].sum.dataPoints[0].asInt: "
                 "not a 64-bit integer"),
                ("logs", bad_log,
                 # paths use the lowerCamelCase names, whichever spelling came
                 "resourceLogs[0].scopeLogs[0].logRecords[1].spanId: not 16 hex digits")):
            code, hs, out = curl(base + "/v1/" + signal, json.dumps(doc).encode())
            c.eq(code, 400, "malformed %s: status" % signal)
            status = json.loads(out) if out.startswith(b"{") else {}
            c.eq(status.get("code"), 3, "malformed %s: Status.code INVALID_ARGUMENT" % signal)
            c.ok(path in status.get("message", ""),
                 "malformed %s names %r: %r" % (signal, path, status.get("message")))
        code, _, _ = curl(base + "/v1/metrics", b'{"resourceMetrics": [')
        c.eq(code, 400, "metrics that are not JSON: status")

        # within the size limit as JSON, over it as protobuf: 300000 bucket counts of
        # "0," (600 000 bytes) are 8 bytes each packed (2 400 000 > 1 MiB): 413
        big = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "big", "histogram": {
            "dataPoints": [{"bucketCounts": [0] * 300000}]}}]}]}]}
        body = json.dumps(big, separators=(",", ":")).encode()
        c.ok(len(body) < 1024 * 1024, "the big JSON body is under 1 MiB (%d)" % len(body))
        code, _, out = curl(base + "/v1/metrics", body)
        c.eq(code, 413, "JSON metrics over the limit once encoded: status")
        c.ok("over the limit of 1048576" in json.loads(out).get("message", ""),
             "413: the message says why: %r" % out[:200])

        # gzip: a third metrics request, decompressed then encoded
        code, _, _ = curl(base + "/v1/metrics", gzip.compress(json.dumps(METRICS_JSON).encode()),
                          ["Content-Encoding: gzip"])
        c.eq(code, 200, "gzip metrics: status")
        c.ok(wait_count(sink, "metrics", 2), "gzip metrics: forwarded")
        c.eq(len(sink.received["metrics"]), 2, "metrics requests forwarded (the malformed not)")
        c.eq(len(sink.received["logs"]), 1, "logs requests forwarded (the malformed not)")
        if len(sink.received["metrics"]) == 2:
            c.eq(sink.received["metrics"][1], expected_metrics(), "gzip metrics: content")
    finally:
        rc, _ = d.stop()
        sink.stop()
    c.eq(rc, 0, "exit code after SIGTERM")
    return d


def scenario_js(c, args):
    js_dir = os.path.join(HERE, "js")
    sink = up.start_sink()
    d = up.start_daemon(args.dagprof, sink.port)
    try:
        p = subprocess.run([args.node, os.path.join(js_dir, "send_metrics_logs.js"),
                            "--endpoint", d.http_endpoint, "--trace-id", TRACE_HEX,
                            "--span-id", SPAN_HEX],
                           cwd=js_dir, capture_output=True, text=True, timeout=120)
        c.eq((p.returncode, p.stdout.strip()), (0, "ok"), "the JS exporters: %s" % p.stderr[-500:])
        # the logs processor exports each record in a request of its own, and
        # dagprof forwards them one by one: wait for both, not just the first
        def log_records():
            return sum(len(sl.log_records) for req in list(sink.received["logs"])
                       for rl in req.resource_logs for sl in rl.scope_logs)
        c.ok(wait_count(sink, "metrics", 1) and sink.wait_for(lambda: log_records() >= 2, 30),
             "metrics and logs forwarded upstream")
        metrics = {}
        for req in sink.received["metrics"]:
            for rm in req.resource_metrics:
                c.ok(up.kv("service.name", "e2e-metrics-logs") in rm.resource.attributes,
                     "metrics resource: service.name")
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        metrics[m.name] = (sm.scope, m)
        scope, m = metrics.get("e2e.requests", (None, None))
        c.ok(m is not None, "the counter arrived")
        if m:
            c.eq((scope.name, scope.version), ("e2e-meter", "1.0.0"), "counter's scope")
            c.eq((m.unit, m.description), ("{request}", "requests seen"), "counter's unit, description")
            c.eq((m.sum.is_monotonic, m.sum.aggregation_temporality),
                 (True, metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE), "counter: a monotonic sum")
            pts = list(m.sum.data_points)
            c.eq(len(pts), 1, "counter: one point")
            if pts:
                value = pts[0].as_double if pts[0].WhichOneof("value") == "as_double" else pts[0].as_int
                c.eq(value, 7, "counter: 3 + 4")
                c.eq(list(pts[0].attributes), [up.kv("route", "/a")], "counter: attributes")
                c.ok(pts[0].time_unix_nano > pts[0].start_time_unix_nano > 0, "counter: times")
        _, h = metrics.get("e2e.latency", (None, None))
        c.ok(h is not None, "the histogram arrived")
        if h and h.histogram.data_points:
            hp = h.histogram.data_points[0]
            c.eq((hp.count, hp.sum, hp.min, hp.max), (2, 20.0, 5.0, 15.0), "histogram: count sum min max")
            c.eq(list(hp.explicit_bounds)[:4], [0.0, 5.0, 10.0, 25.0], "histogram: first boundaries")
            c.eq(list(hp.bucket_counts)[:5], [0, 1, 0, 1, 0], "histogram: buckets")
            c.eq(sum(hp.bucket_counts), 2, "histogram: nothing else counted")
        records = [(sl.scope, lr) for req in sink.received["logs"] for rl in req.resource_logs
                   for sl in rl.scope_logs for lr in sl.log_records]
        c.eq(len(records), 2, "two log records")
        # each record goes out in a request of its own, and the SDK does not
        # wait for one to be answered before sending the next: either may
        # arrive first
        records.sort(key=lambda r: r[1].severity_number != logs_pb2.SEVERITY_NUMBER_WARN)
        if len(records) == 2:
            scope, first = records[0]
            c.eq((scope.name, scope.version), ("e2e-logger", "2.0.0"), "log scope")
            c.eq((first.severity_number, first.severity_text, first.body.string_value),
                 (logs_pb2.SEVERITY_NUMBER_WARN, "WARN", "cache miss"), "first record")
            c.eq(first.time_unix_nano, 1700000000 * 10**9 + 5000, "first record: time")
            c.eq((first.trace_id.hex(), first.span_id.hex(), first.flags & 0xff),
                 (TRACE_HEX, SPAN_HEX, 1), "first record: span context (hex ids in the JSON)")
            c.eq(sorted((a.key, a.value.WhichOneof("value")) for a in first.attributes),
                 [("dag.id", "string_value"), ("retries", "int_value")], "first record: attributes")
            second = records[1][1]
            c.eq(second.severity_number, logs_pb2.SEVERITY_NUMBER_INFO, "second record: severity")
            c.eq(sorted((kv_.key, kv_.value.WhichOneof("value"))
                        for kv_ in second.body.kvlist_value.values),
                 [("step", "string_value"), ("tokens", "int_value")], "second record: a map body")
            c.eq((second.trace_id, second.span_id), (b"", b""), "second record: no span context")
    finally:
        rc, _ = d.stop()
        sink.stop()
    c.eq(rc, 0, "exit code after SIGTERM")
    return d


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dagprof", required=True)
    ap.add_argument("--scenario", choices=["curl", "js"], required=True)
    ap.add_argument("--node", default="node")
    args = ap.parse_args()
    c = Checker("otlp_json_" + args.scenario)
    d = {"curl": scenario_curl, "js": scenario_js}[args.scenario](c, args)
    if c.failures:
        print(d.stderr_tail())
    return c.report()


if __name__ == "__main__":
    sys.exit(main())
