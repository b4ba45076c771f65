#!/usr/bin/env python3
"""Legal protobuf and retried requests against the real daemon.

Requests are built with Debian's python3-protobuf (its C++ runtime, whose
default recursion limit is protobuf's 100) and sent with python3-grpcio;
the upstream is tests/e2e/upstream_sink.py's Sink in this process.

Scenarios (--scenario):
  legal    Unknown group fields (wire types 3/4, appended by hand to what
           Python serialised, which Python itself then parses and keeps), a
           kvlist nested 20 deep and a value whose innermost message is at
           depth 100 are accepted whole; a value at depth 101, which Python
           refuses to parse, costs only its attribute (counted in
           dagprof_receiver_attributes_dropped_total{reason="nesting"}, said
           in partial_success); a group whose end tag does not match is
           INVALID_ARGUMENT. Every span is profiled.
  forward  With an upstream: the span whose attribute was too deep arrives
           without it (dropped_attributes_count raised by one), its other
           attributes and its groups as they were sent.
  side     With an upstream: a metrics request (protobuf over gRPC) whose
           resource has an attribute at depth 101 and a logs request
           (OTLP/JSON over HTTP) whose log record has one are accepted, said
           in partial_success and counted; the upstream (Python's protobuf,
           which refuses depth 101) gets them without that attribute, the
           dropped_attributes_count raised, the rest as sent.
  retry    The same request sent twice (a client retrying a call whose
           answer it lost): the upstream gets every span once, the report
           counts each once, and both copies are counted on /metrics.
  retry_late  The same, but the retry comes after the run was reported and
           forwarded: the copies are not reported or forwarded again.
"""

import argparse
import http.client
import json
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_upstream_e2e as ue  # noqa: E402  (generates the message classes)
from e2e_common import Checker, Daemon  # noqa: E402

import grpc  # noqa: E402

from opentelemetry.proto.common.v1 import common_pb2  # noqa: E402
from opentelemetry.proto.trace.v1 import trace_pb2  # noqa: E402

Request = ue.MESSAGES["traces"][0]
MS = ue.MS
BASE_NS = ue.BASE_NS


# ---- hand encoding of what Python's protobuf cannot build ------------------------

def tag(number, wire_type):
    return ue.upstream_sink.varint(number << 3 | wire_type)


def group(number, content=b""):
    return tag(number, 3) + content + tag(number, 4)


# A group 50 holding a varint, a string and a group 51 with a fixed32.
GROUP = group(50, tag(1, 0) + b"\x07" + ue.upstream_sink.field_bytes(2, b"in-group") +
              group(51, tag(1, 5) + b"\x01\x02\x03\x04"))


def with_group(msg_type, msg):
    """msg with GROUP appended as an unknown field, as Python parses it back."""
    return msg_type.FromString(msg.SerializeToString() + GROUP)


# ---- values nested to a given depth ----------------------------------------------

def deep_attribute(key, depth, kv_depth=4):
    """A KeyValue (at message depth kv_depth; a span's attribute is at 4, the
    request at 0) whose innermost message is at `depth`: arrays in arrays,
    two levels each (ArrayValue, AnyValue), ending in an empty ArrayValue
    when the remainder is odd."""
    kv = common_pb2.KeyValue(key=key)
    below = depth - (kv_depth + 1)
    cur = kv.value
    for _ in range(below // 2):
        cur = cur.array_value.values.add()
    if below % 2:
        cur.array_value.SetInParent()
    else:
        cur.int_value = 1
    return kv


def kvlist_attribute(key, levels):
    """A KeyValue whose value is a kvlist nested `levels` deep around a string."""
    kv = common_pb2.KeyValue(key=key)
    cur = kv.value
    for i in range(levels):
        inner = cur.kvlist_value.values.add()
        inner.key = "level%d" % (i + 1)
        cur = inner.value
    cur.string_value = "leaf"
    return kv


def run_spans(run_no, node_attrs=(), root_fn=None):
    """ue.build_run's 7 spans, the first node span given node_attrs; root_fn
    may replace the root span."""
    spans = ue.build_run(run_no)
    for a in node_attrs:
        spans[1].attributes.append(a)
    if root_fn:
        spans[0] = root_fn(spans[0])
    return spans


def trace_id(run_no):
    return bytes([0xB0]) + run_no.to_bytes(15, "big")


def metric(text, name, **labels):
    """The value of one sample of /metrics text (None when absent)."""
    want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        got_name, _, rest = head.partition("{")
        got = ",".join(sorted(p for p in rest.rstrip("}").split(",") if p))
        if got_name == name and got == want:
            return float(value)
    return None


def raw_export(channel):
    return channel.unary_unary(ue.EXPORT["traces"], request_serializer=lambda b: b,
                               response_deserializer=ue.MESSAGES["traces"][1].FromString)


def call(fn, payload):
    """(status name, response or details)."""
    try:
        return "OK", fn(payload, timeout=30)
    except grpc.RpcError as e:
        return e.code().name, e.details()


def refused_by_python(c, payload, what):
    """Python's protobuf (C++ runtime, limit 100) must refuse payload."""
    try:
        Request.FromString(payload)
        c.ok(False, "%s: Python's protobuf parses it, so it is not past the limit" % what)
    except Exception:  # noqa: BLE001 (DecodeError, by runtime)
        c.ok(True, what)


# ---- the requests both scenarios send ----------------------------------------------

def grouped_request(run_no):
    """A run whose root span, a node's attribute, the resource and the request
    carry unknown groups; Python parses each part back with its group."""
    def root(sp):
        return with_group(trace_pb2.Span, sp)
    kv = with_group(common_pb2.KeyValue, ue.kv("grouped.attr", "v"))
    req = ue.trace_request(run_spans(run_no, [kv], root))
    rs = req.resource_spans[0]
    rs.resource.CopyFrom(with_group(type(rs.resource), rs.resource))
    return Request.FromString(req.SerializeToString() + GROUP)


def too_deep_request(run_no):
    """A run whose first node carries an attribute at depth 101 beside
    `keep`: serialised by Python (which writes what it cannot read back)."""
    attrs = [ue.kv("keep", "yes"), deep_attribute("too.deep", 101)]
    return ue.trace_request(run_spans(run_no, attrs)).SerializeToString()


# ---- scenarios ---------------------------------------------------------------------

def scenario_legal(c, args):
    d = Daemon(args.dagprof, idle_timeout="300ms").start()
    try:
        with grpc.insecure_channel(d.endpoint) as ch:
            export = raw_export(ch)

            # 1: groups everywhere; Python kept them when it parsed the parts
            req = grouped_request(1)
            payload = req.SerializeToString()
            c.ok(payload.count(GROUP) == 4, "Python keeps the 4 groups it parsed")
            st, resp = call(export, payload)
            c.eq(st, "OK", "request with groups")
            if st == "OK":
                c.eq(resp.partial_success.error_message, "", "nothing to say about groups")

            # 2: a kvlist nested 20 deep (65 messages) and a value at depth 100
            attrs = [kvlist_attribute("kvlist.20", 20), deep_attribute("depth.100", 100)]
            req = ue.trace_request(run_spans(2, attrs))
            payload = req.SerializeToString()
            c.eq(Request.FromString(payload), req, "Python reads its depth-100 request back")
            st, resp = call(export, payload)
            c.eq(st, "OK", "kvlist 20 deep and depth 100")
            if st == "OK":
                c.eq(resp.partial_success.error_message, "", "nothing dropped at depth 100")

            # 3: one level more: only that attribute goes
            payload = too_deep_request(3)
            refused_by_python(c, payload, "depth 101 is past protobuf's limit")
            st, resp = call(export, payload)
            c.eq(st, "OK", "request with an attribute at depth 101")
            if st == "OK":
                c.eq(resp.partial_success.rejected_spans, 0, "no span rejected")
                c.ok("1 attribute(s) dropped: nested more than 100 messages deep"
                     in resp.partial_success.error_message,
                     "partial_success says what was dropped: %r"
                     % resp.partial_success.error_message)

            # 4: a group whose end tag is another field's: malformed
            fb = ue.upstream_sink.field_bytes
            bad = run_spans(4)[0].SerializeToString() + tag(50, 3) + tag(51, 4)
            payload = fb(1, fb(2, fb(2, bad)))  # request > ResourceSpans > ScopeSpans > span
            st, details = call(export, payload)
            c.eq(st, "INVALID_ARGUMENT", "mismatched end group")
            c.ok("end group tag does not match its start group" in str(details),
                 "the error says why: %r" % (details,))

            # the same over OTLP/HTTP: 200, the attribute dropped alone
            conn = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=30)
            conn.request("POST", "/v1/traces", too_deep_request(5),
                         {"Content-Type": "application/x-protobuf"})
            r = conn.getresponse()
            body = r.read()
            conn.close()
            c.eq(r.status, 200, "OTLP/HTTP request with an attribute at depth 101")
            if r.status == 200:
                resp = ue.MESSAGES["traces"][1].FromString(body)
                c.ok("1 attribute(s) dropped" in resp.partial_success.error_message,
                     "OTLP/HTTP partial_success says so: %r" % resp.partial_success.error_message)

            for run_no in (3, 5):
                ok = d.wait_for_report(lambda r: r.get("trace_id") == trace_id(run_no).hex(), 60)
                c.ok(ok, "run %d, with the dropped attribute, is reported" % run_no)
            status, _, text = d.scrape()
            c.eq(status, 200, "/metrics")
            for transport in ("grpc", "http"):
                c.eq(metric(text, "dagprof_receiver_attributes_dropped_total", reason="nesting",
                            transport=transport), 1.0, "attributes dropped for nesting, " + transport)
            c.eq(metric(text, "dagprof_receiver_decode_errors_total", signal="traces",
                        transport="grpc"), 1.0, "the mismatched group is the one decode error")
    finally:
        rc, reports = d.stop()
    c.eq(rc, 0, "dagprof exit status")
    got = {r["trace_id"]: r.get("span_count") for r in reports}
    for run_no in (1, 2, 3, 5):
        c.eq(got.get(trace_id(run_no).hex()), 7, "run %d reported with its 7 spans" % run_no)
    c.ok(trace_id(4).hex() not in got, "nothing of the malformed request is reported")


def scenario_forward(c, args):
    sink = ue.start_sink()
    d = ue.start_daemon(args.dagprof, sink.port, ["--idle-timeout", "200ms"])
    try:
        with grpc.insecure_channel(d.endpoint) as ch:
            export = raw_export(ch)
            c.eq(call(export, too_deep_request(1))[0], "OK", "too deep request")
            c.eq(call(export, grouped_request(2).SerializeToString())[0], "OK", "grouped request")
            c.ok(sink.wait_for(lambda: len(sink.spans()) >= 14, 60), "both runs delivered")
    finally:
        rc, _ = d.stop()
    c.eq(rc, 0, "dagprof exit status")
    by_id = {(sp.trace_id, sp.span_id): sp for _, _, sp in sink.spans()}
    c.eq(len(by_id), 14, "spans at the upstream")
    node = by_id.get((trace_id(1), ue.build_run(1)[1].span_id))
    c.ok(node is not None, "the node span with the deep attribute is delivered")
    if node is not None:
        keys = [a.key for a in node.attributes]
        c.ok("too.deep" not in keys, "the too deep attribute is not forwarded: %r" % keys)
        c.eq(keys.count("keep"), 1, "its other attribute is forwarded")
        c.eq(node.dropped_attributes_count, 1, "dropped_attributes_count counts it")
    # groups are unknown fields to the upstream too: they arrive as sent
    root = by_id.get((trace_id(2), ue.build_run(2)[0].span_id))
    c.ok(root is not None and GROUP in root.SerializeToString(),
         "the root span's group is forwarded")
    grouped = by_id.get((trace_id(2), ue.build_run(2)[1].span_id))
    attr = [a for a in grouped.attributes if a.key == "grouped.attr"] if grouped else []
    c.ok(len(attr) == 1 and GROUP in attr[0].SerializeToString(),
         "the attribute's group is forwarded")
    sink.stop()


def deep_json(levels):
    """An OTLP/JSON AnyValue of `levels` arrays, one in the other, around an int."""
    value = {"intValue": "1"}
    for _ in range(levels):
        value = {"arrayValue": {"values": [value]}}
    return value


def scenario_side(c, args):
    sink = ue.start_sink()
    d = ue.start_daemon(args.dagprof, sink.port, ["--idle-timeout", "200ms"])
    metrics_type, metrics_answer = ue.MESSAGES["metrics"]
    logs_type, logs_answer = ue.MESSAGES["logs"]
    try:
        # metrics: a Resource (depth 2) attribute (its KeyValue 3) reaching 101
        mreq = metrics_type()
        rm = mreq.resource_metrics.add()
        rm.resource.attributes.extend([ue.kv("service.name", "deep-svc"),
                                       deep_attribute("too.deep", 101, kv_depth=3)])
        m = rm.scope_metrics.add().metrics.add()
        m.name = "deep.gauge"
        m.gauge.data_points.add().as_int = 7
        payload = mreq.SerializeToString()
        try:
            metrics_type.FromString(payload)
            c.ok(False, "Python's protobuf parses the deep metrics request")
        except Exception:  # noqa: BLE001  (DecodeError: past its limit of 100)
            pass
        with grpc.insecure_channel(d.endpoint) as ch:
            export = ch.unary_unary(ue.EXPORT["metrics"], request_serializer=lambda b: b,
                                    response_deserializer=metrics_answer.FromString)
            st, resp = call(export, payload)
        c.eq(st, "OK", "metrics request with a resource attribute at depth 101")
        if st == "OK":
            c.eq(resp.partial_success.error_message,
                 "1 attribute(s) dropped: nested more than 100 messages deep",
                 "metrics partial_success")

        # logs as OTLP/JSON: a LogRecord (3) attribute's AnyValue is 5, 48 arrays reach 101
        doc = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{
            "body": {"stringValue": "hello"},
            "attributes": [{"key": "keep", "value": {"stringValue": "yes"}},
                           {"key": "too.deep", "value": deep_json(48)}],
            "droppedAttributesCount": 1}]}]}]}
        conn = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=30)
        conn.request("POST", "/v1/logs", json.dumps(doc), {"Content-Type": "application/json"})
        r = conn.getresponse()
        body = r.read()
        conn.close()
        c.eq(r.status, 200, "OTLP/JSON logs request with an attribute at depth 101")
        if r.status == 200:
            answer = json.loads(body)
            c.eq(answer.get("partialSuccess", {}).get("errorMessage"),
                 "1 attribute(s) dropped: nested more than 100 messages deep",
                 "logs partial_success: %r" % answer)

        c.ok(sink.wait_for(lambda: sink.received["metrics"] and sink.received["logs"], 60),
             "metrics and logs delivered")
        status, _, text = d.scrape()
        c.eq(status, 200, "/metrics")
        for transport in ("grpc", "http"):
            c.eq(metric(text, "dagprof_receiver_attributes_dropped_total", reason="nesting",
                        transport=transport), 1.0, "attributes dropped for nesting, " + transport)
    finally:
        rc, _ = d.stop()
    c.eq(rc, 0, "dagprof exit status")
    # dagprof's own derived metrics may arrive too: the request's is the one with its gauge
    got = [rm for req in sink.received["metrics"] for rm in req.resource_metrics
           if any(m.name == "deep.gauge" for sm in rm.scope_metrics for m in sm.metrics)]
    c.eq(len(got), 1, "the ResourceMetrics sent arrives once")
    if got:
        c.eq([a.key for a in got[0].resource.attributes], ["service.name"],
             "the resource keeps its other attribute only")
        c.eq(got[0].resource.dropped_attributes_count, 1, "the resource counts the dropped one")
        c.eq(got[0].scope_metrics[0].metrics[0], mreq.resource_metrics[0].scope_metrics[0].metrics[0],
             "the metric arrives as sent")
    recs = [lr for req in sink.received["logs"] for rl in req.resource_logs
            for sl in rl.scope_logs for lr in sl.log_records]
    c.eq(len(recs), 1, "one log record at the upstream")
    if recs:
        c.eq([a.key for a in recs[0].attributes], ["keep"], "the record keeps its other attribute")
        c.eq(recs[0].dropped_attributes_count, 2, "dropped_attributes_count: 1 sent + 1 dropped")
        c.eq(recs[0].body.string_value, "hello", "the body arrives")
    sink.stop()


def start_retry(args, idle):
    """An upstream, a daemon with that idle timeout printing its reports, run 1."""
    sink = ue.start_sink()
    d = ue.start_daemon(args.dagprof, sink.port, ["--idle-timeout", idle, "--reports", "always"])
    spans = ue.build_run(1)
    return sink, d, spans, ue.trace_request(spans)


def check_sent_once(c, sink, spans, reports):
    """Each of the run's spans at the upstream once, one report counting each
    once; the report, or None."""
    seen = {}
    for _, _, sp in sink.spans():
        seen[ue.span_key(sp)] = seen.get(ue.span_key(sp), 0) + 1
    c.eq(sorted(seen.values()), [1] * len(spans), "each span forwarded exactly once")
    c.eq(set(seen), {ue.span_key(sp) for sp in spans}, "the spans forwarded are the run's")
    runs = [r for r in reports if r.get("trace_id") == trace_id(1).hex()]
    c.eq(len(runs), 1, "one report of the run (no late report of copies)")
    if not runs:
        return None
    c.eq(runs[0].get("span_count"), len(spans), "the report counts each span once")
    return runs[0]


def scenario_retry(c, args):
    # idle 3 s: both copies land in one run however slow the machine is
    sink, d, spans, req = start_retry(args, "3s")
    try:
        with grpc.insecure_channel(d.endpoint) as ch:
            c.eq(call(pb_export(ch), req)[0], "OK", "first attempt")
            # the client lost the answer and sends the same request again
            c.eq(call(pb_export(ch), req)[0], "OK", "retry")
            c.ok(d.wait_for_report(lambda r: r.get("trace_id") == trace_id(1).hex(), 60),
                 "the run is reported")
            c.ok(sink.wait_for(lambda: len(sink.spans()) >= len(spans), 60), "spans delivered")
            status, _, text = d.scrape()
            c.eq(status, 200, "/metrics")
            c.eq(metric(text, "dagprof_exporter_duplicate_items_total", signal="traces"),
                 float(len(spans)), "copies not forwarded")
            c.eq(metric(text, "dagprof_processor_duplicate_spans_total"), float(len(spans)),
                 "copies profiled once")
    finally:
        rc, reports = d.stop()
    c.eq(rc, 0, "dagprof exit status")
    # after the stop everything queued was delivered: nothing more can come
    report = check_sent_once(c, sink, spans, reports)
    if report:
        # 3 calls of 100 in / 10 out (build_run), counted once
        c.eq(report.get("summary", {}).get("tokens", {}).get("input"), 300,
             "input tokens counted once")
    sink.stop()


def scenario_retry_late(c, args):
    sink, d, spans, req = start_retry(args, "200ms")
    try:
        with grpc.insecure_channel(d.endpoint) as ch:
            c.eq(call(pb_export(ch), req)[0], "OK", "first attempt")
            c.ok(d.wait_for_report(lambda r: r.get("trace_id") == trace_id(1).hex(), 60),
                 "the run is reported")
            c.ok(sink.wait_for(lambda: len(sink.spans()) >= len(spans), 60), "spans delivered")
            # the answer was lost after all: the client sends the request again
            c.eq(call(pb_export(ch), req)[0], "OK", "retry after the run was reported")
            # the copies make a late run that is neither reported nor
            # forwarded: wait until the processors counted them
            counted = poll(lambda: metric(d.scrape()[2], "dagprof_processor_duplicate_spans_total")
                           == float(len(spans)), 60)
            c.ok(counted, "the late copies are counted")
    finally:
        rc, reports = d.stop()
    c.eq(rc, 0, "dagprof exit status")
    check_sent_once(c, sink, spans, reports)
    sink.stop()


def poll(predicate, timeout):
    """Whether predicate() became true before the timeout (checked every 50 ms)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while time.monotonic() < deadline:
        if predicate():
            return True
        pause.wait(0.05)
    return predicate()


def pb_export(channel):
    return channel.unary_unary(ue.EXPORT["traces"],
                               request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=ue.MESSAGES["traces"][1].FromString)


SCENARIOS = {"legal": scenario_legal, "forward": scenario_forward, "side": scenario_side,
             "retry": scenario_retry, "retry_late": scenario_retry_late}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dagprof", required=True)
    ap.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    args = ap.parse_args()
    c = Checker("wire_" + args.scenario)
    SCENARIOS[args.scenario](c, args)
    return c.report()


if __name__ == "__main__":
    sys.exit(main())
