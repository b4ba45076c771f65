#!/usr/bin/env python3
"""Bad input against the real dagprof daemon, over python3-grpcio.

Each case sends one bad (or unusual) request and checks its gRPC status,
then sends a good trace on the same daemon; at the end every good trace
must appear in the JSON reports with all its spans, so a bad request never
costs the good ones and never stops the daemon.

Cases: garbage bytes, truncated protobuf, wrong-size ids (partial_success),
huge attribute values, an over-size message (RESOURCE_EXHAUSTED), unknown
fields (accepted), a gzip-compressed request, garbage metrics and logs.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from e2e_common import Checker, Daemon, import_grpc  # noqa: E402

grpc = import_grpc()

import otlp_pb  # noqa: E402

pb = otlp_pb.load()
MAX_RECV = 4 * 1024 * 1024  # the daemon runs with server.max_recv_message_size=4MiB

_next_id = [0]


def new_trace_id():
    _next_id[0] += 1
    return bytes([0xd0, _next_id[0]]) + bytes(range(2, 16))


def span(trace_id, span_no, parent_no, name, attrs=(), trace_id_override=None):
    tid = trace_id_override if trace_id_override is not None else trace_id
    return otlp_pb.simple_span(pb, tid, span_no, parent_no, name, attrs)


def request(spans):
    return otlp_pb.trace_request(pb, spans, "bad-input-test", "bad-input")


def good_trace(dag):
    """A root and two children carrying dag.id = dag: 3 spans."""
    tid = new_trace_id()
    spans = [span(tid, 1, 0, "run", [("dag.id", dag)]),
             span(tid, 2, 1, "a", [("dag.node.id", "a")]),
             span(tid, 3, 1, "b", [("dag.node.id", "b")])]
    return tid, spans


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dagprof", required=True)
    args = ap.parse_args()
    c = Checker("e2e_bad_input")

    daemon = Daemon(args.dagprof,
                    extra_args=["--set", "server.max_recv_message_size=4MiB"]).start()
    opts = [("grpc.max_send_message_length", 64 * 1024 * 1024)]
    ch = grpc.insecure_channel(daemon.endpoint, options=opts)
    gz = grpc.insecure_channel(daemon.endpoint, options=opts, compression=grpc.Compression.Gzip)
    raw_trace = ch.unary_unary(otlp_pb.TRACE_EXPORT, request_serializer=lambda b: b,
                               response_deserializer=pb.trace_service.ExportTraceServiceResponse.FromString)
    raw_metrics = ch.unary_unary(otlp_pb.METRICS_EXPORT, request_serializer=lambda b: b,
                                 response_deserializer=lambda b: b)
    raw_logs = ch.unary_unary(otlp_pb.LOGS_EXPORT, request_serializer=lambda b: b,
                              response_deserializer=lambda b: b)
    export = pb.trace_export(ch)
    export_gz = pb.trace_export(gz)

    expected = {}  # dag id -> span count that must be reported

    def call(fn, msg):
        """(status name, response or details)"""
        try:
            return "OK", fn(msg, timeout=30)
        except grpc.RpcError as e:
            return e.code().name, e.details()

    def good(case):
        dag = "good-after-" + case
        _tid, spans = good_trace(dag)
        st, _ = call(export, request(spans))
        c.eq(st, "OK", "good trace after %s: status (the daemon keeps serving)" % case)
        expected[dag] = 3

    # 1. garbage bytes
    st, det = call(raw_trace, b"\xff\xff\xff\xff\x0f\x13\x37garbage")
    c.eq(st, "INVALID_ARGUMENT", "garbage bytes: status")
    c.ok(bool(det), "garbage bytes: the status carries a message")
    good("garbage")

    # 2. truncated protobuf: a valid request cut 7 bytes short
    _tid, spans = good_trace("never-truncated")
    whole = request(spans).SerializeToString()
    st, _ = call(raw_trace, whole[:-7])
    c.eq(st, "INVALID_ARGUMENT", "truncated protobuf: status")
    good("truncated")

    # 3. wrong-size ids: 3 good spans + one with a 5-byte trace id + one with a
    #    3-byte span id -> OK, partial_success.rejected_spans = 2
    tid, spans = good_trace("partial")
    bad_trace = span(tid, 4, 1, "bad-trace-id", trace_id_override=b"\x01\x02\x03\x04\x05")
    bad_span = span(tid, 5, 1, "bad-span-id")
    bad_span.span_id = b"\x01\x02\x03"
    st, resp = call(export, request(spans + [bad_trace, bad_span]))
    c.eq(st, "OK", "wrong-size ids: status")
    if st == "OK":
        c.eq(resp.partial_success.rejected_spans, 2, "wrong-size ids: rejected_spans")
        c.ok(len(resp.partial_success.error_message) > 0, "wrong-size ids: error_message set")
    expected["partial"] = 3  # the usable spans still count

    # 4. huge attribute values: a 1 MiB string and a 10000-element array on a node
    tid, spans = good_trace("huge-attrs")
    spans[1].attributes.append(otlp_pb.attr(pb, "huge.string", "x" * (1024 * 1024)))
    spans[2].attributes.append(otlp_pb.attr(pb, "huge.array", list(range(10000))))
    st, _ = call(export, request(spans))
    c.eq(st, "OK", "huge attribute values: status")
    expected["huge-attrs"] = 3
    good("huge-attrs")

    # 5. over-size message: 5 MiB > the 4 MiB limit
    tid, spans = good_trace("never-oversize")
    spans[1].attributes.append(otlp_pb.attr(pb, "too.big", "y" * (5 * 1024 * 1024)))
    st, _ = call(export, request(spans))
    c.eq(st, "RESOURCE_EXHAUSTED", "over-size message: status")
    good("oversize")

    # 6. unknown fields: field 999 on the Span, field 77 on the request
    tid, spans = good_trace("unknown-fields")
    body = bytearray()
    for s in spans:
        sb = s.SerializeToString() + b"\xb8\x3e\x2a"  # field 999, varint 42
        inner = b"\x12" + _varint(len(sb)) + sb         # ScopeSpans.spans
        body += inner
    scope = b"\x0a" + _varint(len(b"\x0a\x03unk")) + b"\x0a\x03unk"
    scope_spans = scope + bytes(body)
    rs = b"\x12" + _varint(len(scope_spans)) + scope_spans  # ResourceSpans.scope_spans
    req = b"\x0a" + _varint(len(rs)) + rs + b"\xe8\x04\x01"  # + field 77, varint 1
    st, resp = call(raw_trace, bytes(req))
    c.eq(st, "OK", "unknown fields: status")
    if st == "OK":
        c.eq(resp.partial_success.rejected_spans, 0, "unknown fields: nothing rejected")
    expected["unknown-fields"] = 3

    # 7. gzip-compressed request
    _tid, spans = good_trace("gzip")
    st, _ = call(export_gz, request(spans))
    c.eq(st, "OK", "gzip request: status")
    expected["gzip"] = 3

    # 8. garbage metrics and logs; empty ones are valid
    st, _ = call(raw_metrics, b"\xff\xff\xff\xff\x0f")
    c.eq(st, "INVALID_ARGUMENT", "garbage metrics: status")
    st, _ = call(raw_logs, b"\x0a\x05\x0a")
    c.eq(st, "INVALID_ARGUMENT", "truncated logs: status")
    st, _ = call(raw_metrics, b"")
    c.eq(st, "OK", "empty metrics: status")
    good("side-signals")

    # Every good run is reported: wait for the reports (no sleeps), then stop.
    for dag in sorted(expected):
        c.ok(daemon.wait_for_report(lambda r, d=dag: r.get("dag_id") == d, timeout=60),
             "run %s reported while the daemon runs" % dag)
    ch.close()
    gz.close()
    rc, reports = daemon.stop()
    c.eq(rc, 0, "exit code after SIGTERM")
    got = {}
    for r in reports:
        got.setdefault(r.get("dag_id"), []).append(r.get("span_count"))
    for dag, n in sorted(expected.items()):
        c.eq(got.get(dag), [n], "run %s: span counts reported" % dag)
    for dag in ("never-truncated", "never-oversize"):
        c.ok(dag not in got, "refused request %s kept nothing" % dag)
    if c.failures:
        print(daemon.stderr_tail())
    return c.report()


def _varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


if __name__ == "__main__":
    sys.exit(main())
