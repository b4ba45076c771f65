#!/usr/bin/env python3
"""The OTLP/HTTP receiver of the real dagprof daemon, with real HTTP peers.

  test_http_receiver.py --dagprof PATH --scenario answers|backpressure|both|cors|connection

answers: curl (a protobuf file, gzip, OTLP/JSON, a wrong Content-Type, a wrong
  path, GET, an over-size body raw and gzip-inflated, a malformed body and a
  truncated gzip body) and Python's http.client over one keep-alive
  connection; requests built and answers parsed with Debian's
  python3-protobuf (ExportTraceServiceResponse, and google.rpc.Status from a
  .proto written here). Every accepted trace must then be reported with all
  its spans, every refused one not at all.
backpressure: a trace table of 1 MiB memory limit (it holds at most twice
  that) refuses a request carrying more: 503 with Retry-After and a Status
  body, and nothing of it is reported; a small request after it is taken.
both: one trace, half its spans over OTLP/gRPC and half over OTLP/HTTP,
  gives one run report holding every span.
cors: curl with Origin and -X OPTIONS against a daemon with
  server.http_cors_allowed_origins (an exact origin and a *-pattern) and one
  extra allowed header: preflights answered 204 with the
  Access-Control-Allow-* headers (Max-Age 600 from http_cors_max_age=10m)
  only when origin, method and headers are allowed; the POST's answer
  (200, and an error answer too) carries Access-Control-Allow-Origin for an
  allowed origin only. Without the setting: no CORS header, OPTIONS 405.
connection: with server.http_idle_timeout=1s a raw socket that sends
  nothing, and a keep-alive connection after one request, are closed by the
  server (EOF waited for with a deadline); malformed requests (a header line
  without a colon, no Host in HTTP/1.1, a Content-Length that is not a
  number, broken chunked encoding, headers past the server's memory) get
  400 or 431, and a good request still works afterwards.
"""

import argparse
import gzip
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from e2e_common import Checker, Daemon, import_grpc  # noqa: E402

grpc = import_grpc()

import otlp_pb  # noqa: E402

pb = otlp_pb.load()
MAX_RECV = 1024 * 1024  # the daemon runs with server.max_recv_message_size=1MiB (answers)

# google.rpc.Status as googleapis defines it (Any inlined), compiled here
# with protoc: the test's own reader of the error bodies.
STATUS_PROTO = """
syntax = "proto3";
package google.rpc;
message Any { string type_url = 1; bytes value = 2; }
message Status { int32 code = 1; string message = 2; repeated Any details = 3; }
"""


def load_status_class():
    d = tempfile.mkdtemp(prefix="dagprof-status-pb-")
    with open(os.path.join(d, "status_test.proto"), "w") as f:
        f.write(STATUS_PROTO)
    subprocess.run(["protoc", "-I", d, "--python_out", d, "status_test.proto"], check=True)
    sys.path.insert(0, d)
    import status_test_pb2  # noqa: E402
    return status_test_pb2.Status


Status = load_status_class()
_next = [0]


def new_trace_id():
    _next[0] += 1
    return bytes([0xe7, _next[0]]) + bytes(range(2, 16))


def span(tid, no, parent, name, attrs=(), trace_id=None):
    return otlp_pb.simple_span(pb, trace_id if trace_id is not None else tid, no, parent, name,
                               attrs, tag=0x77, duration_ms=400)


def request(spans):
    return otlp_pb.trace_request(pb, spans, "http-receiver-test", "http-test")


def trace(dag, children=2):
    """A root carrying dag.id and `children` children: children + 1 spans."""
    tid = new_trace_id()
    spans = [span(tid, 1, 0, "run", [("dag.id", dag)])]
    for i in range(children):
        spans.append(span(tid, 2 + i, 1, "node-%d" % i, [("dag.node.id", "n%d" % i)]))
    return spans


def curl(url, body_file=None, headers=(), method=None):
    """(status, headers dict with lower-case names, body bytes) from real curl."""
    with tempfile.TemporaryDirectory() as d:
        out, hdr = os.path.join(d, "body"), os.path.join(d, "headers")
        cmd = ["curl", "-sS", "-o", out, "-D", hdr, "-w", "%{http_code}"]
        if method:
            cmd += ["-X", method]
        for h in headers:
            cmd += ["-H", h]
        if body_file:
            cmd += ["--data-binary", "@" + body_file]
        cmd.append(url)
        code = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        hs = {}
        with open(hdr, "rb") as f:
            for line in f.read().decode("latin-1").split("\r\n")[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    hs[k.strip().lower()] = v.strip()
        with open(out, "rb") as f:
            return int(code), hs, f.read()


def stop_when_reported(d, c, dags):
    """Wait for a report of every dag in dags, stop the daemon (exit code 0
    expected) and return its reports."""
    for dag in sorted(dags):
        c.ok(d.wait_for_report(lambda r, x=dag: r.get("dag_id") == x, timeout=60),
             "run %s reported" % dag)
    rc, reports = d.stop()
    c.eq(rc, 0, "exit code after SIGTERM")
    return reports


def post(conn, path, body, content_type="application/x-protobuf"):
    """POST on an open keep-alive connection: (status, response, body bytes)."""
    conn.request("POST", path, body, {"Content-Type": content_type})
    r = conn.getresponse()
    return r.status, r, r.read()


def scenario_answers(args, c):
    d = Daemon(args.dagprof, extra_args=["--set", "server.max_recv_message_size=1MiB"]).start()
    url = d.http_endpoint
    expected = {}  # dag -> span count that must be reported
    work = tempfile.mkdtemp(prefix="dagprof-http-test-")
    PB = "Content-Type: application/x-protobuf"

    def write(name, data):
        p = os.path.join(work, name)
        with open(p, "wb") as f:
            f.write(data)
        return p

    # 1. A protobuf file: 200, an empty ExportTraceServiceResponse.
    body = request(trace("curl-protobuf", 3)).SerializeToString()
    code, hs, out = curl(url + "/v1/traces", write("t1.pb", body), [PB])
    c.eq(code, 200, "protobuf file: status")
    c.eq(hs.get("content-type"), "application/x-protobuf", "protobuf file: content type")
    resp = pb.trace_service.ExportTraceServiceResponse.FromString(out)
    c.eq(resp.HasField("partial_success"), False, "protobuf file: no partial_success")
    expected["curl-protobuf"] = 4

    # 2. The same kind of request gzip-compressed: 200.
    body = request(trace("curl-gzip", 1)).SerializeToString()
    code, _, out = curl(url + "/v1/traces", write("t2.gz", gzip.compress(body)),
                        [PB, "Content-Encoding: gzip"])
    c.eq(code, 200, "gzip: status")
    expected["curl-gzip"] = 2

    # 3. One span of four has a 5-byte trace id: 200, partial_success
    #    rejected_spans 1, the other three kept.
    spans = trace("partial", 2)
    spans.append(span(b"", 9, 1, "bad-id", trace_id=b"\x01\x02\x03\x04\x05"))
    code, _, out = curl(url + "/v1/traces", write("t3.pb", request(spans).SerializeToString()),
                        [PB])
    c.eq(code, 200, "partial: status")
    resp = pb.trace_service.ExportTraceServiceResponse.FromString(out)
    c.eq(resp.partial_success.rejected_spans, 1, "partial: rejected_spans")
    c.ok("trace_id" in resp.partial_success.error_message,
         "partial: error_message names the field (%r)" % resp.partial_success.error_message)
    expected["partial"] = 3

    def status_of(out, what):
        st = Status.FromString(out)
        c.ok(len(st.message) > 0, "%s: Status.message is set" % what)
        return st

    # 4. Wrong Content-Type: 415 with a Status body.
    code, _, out = curl(url + "/v1/traces", write("t4.txt", b"hello"),
                        ["Content-Type: text/plain"])
    c.eq(code, 415, "text/plain: status")
    status_of(out, "text/plain")

    # 5. Wrong path: 404. GET: 405 with Allow: POST.
    code, _, out = curl(url + "/v1/spans", write("t5.pb", body), [PB])
    c.eq(code, 404, "wrong path: status")
    status_of(out, "wrong path")
    code, hs, out = curl(url + "/v1/traces")
    c.eq(code, 405, "GET: status")
    c.eq(hs.get("allow"), "POST", "GET: Allow header")
    status_of(out, "GET")

    # 6. Over-size: a body of MAX_RECV + 1 bytes (413, not read), and a
    #    gzip body of 5 KiB that inflates to 2 MiB (413 once past 1 MiB).
    big = request(trace("never-oversize", 1)).SerializeToString()
    big += b"\x00" * (MAX_RECV + 1 - len(big))
    code, _, out = curl(url + "/v1/traces", write("t6.pb", big), [PB])
    c.eq(code, 413, "over-size body: status")
    status_of(out, "over-size body")
    bomb = gzip.compress(b"\x00" * (2 * MAX_RECV))
    c.ok(len(bomb) < 10 * 1024, "the gzip bomb is small (%d bytes)" % len(bomb))
    code, _, out = curl(url + "/v1/traces", write("t6.gz", bomb), [PB, "Content-Encoding: gzip"])
    c.eq(code, 413, "gzip inflating over the limit: status")
    status_of(out, "gzip bomb")

    # The cap is exact: a request of exactly MAX_RECV bytes (one unknown
    # field 15 of padding: tag 0x7a, a 3-byte length, the rest zero bytes,
    # which receivers must skip) is taken, raw and gzip-inflated; one byte
    # more is 413 either way.
    def padded(n):
        pad = n - 1 - 3  # tag and the 3-byte varint of the length
        assert 0x4000 <= pad < 0x200000
        return bytes([0x7a, 0x80 | (pad & 0x7f), 0x80 | ((pad >> 7) & 0x7f), pad >> 14]) + \
            b"\x00" * pad
    exact, over = padded(MAX_RECV), padded(MAX_RECV + 1)
    c.eq((len(exact), len(over)), (MAX_RECV, MAX_RECV + 1), "padded request sizes")
    for name, data, enc, want in (("exact", exact, None, 200), ("exact gzip", exact, "gzip", 200),
                                  ("one over", over, None, 413),
                                  ("one over gzip", over, "gzip", 413)):
        hs = [PB] + (["Content-Encoding: gzip"] if enc else [])
        code, _, _ = curl(url + "/v1/traces",
                          write("cap.bin", gzip.compress(data) if enc else data), hs)
        c.eq(code, want, "a body of %s the cap: status" % name)

    # 7. Malformed protobuf: 400 with a Status saying it does not decode.
    code, _, out = curl(url + "/v1/traces", write("t7.pb", b"\x0a\xff\xff\xff\x0f garbage"), [PB])
    c.eq(code, 400, "malformed: status")
    st = status_of(out, "malformed")
    c.ok("does not decode" in st.message, "malformed: message (%r)" % st.message)
    # A truncated gzip body: 400.
    gz = gzip.compress(request(trace("never-truncated-gzip")).SerializeToString())
    code, _, out = curl(url + "/v1/traces", write("t7.gz", gz[:len(gz) // 2]),
                        [PB, "Content-Encoding: gzip"])
    c.eq(code, 400, "truncated gzip: status")
    status_of(out, "truncated gzip")
    # An unknown Content-Encoding: 415.
    code, _, _ = curl(url + "/v1/traces", write("t7.br", b"x"), [PB, "Content-Encoding: br"])
    c.eq(code, 415, "Content-Encoding br: status")

    # 8. OTLP/JSON (hex ids, lowerCamelCase, 64-bit integers as strings):
    #    taken like protobuf, answered in JSON; {} is a full success.
    def json_trace(dag, trace_byte, span_ids):
        spans = []
        for i, sid in enumerate(span_ids):
            sp = {"traceId": "e7%02x0102030405060708090a0b0c0d0e" % trace_byte, "spanId": sid,
                  "name": "s%d" % i, "startTimeUnixNano": "1700000000001000000",
                  "endTimeUnixNano": "1700000000401000000"}
            if i == 0:
                sp["attributes"] = [{"key": "dag.id", "value": {"stringValue": dag}}]
            else:
                sp["parentSpanId"] = span_ids[0]
            spans.append(sp)
        return json.dumps({"resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name",
                                         "value": {"stringValue": "json-test"}}]},
            "scopeSpans": [{"scope": {"name": "j"}, "spans": spans}]}]}).encode()

    JS = "Content-Type: application/json; charset=utf-8"
    code, hs, out = curl(url + "/v1/traces",
                         write("t8.json", json_trace("curl-json", 0xf1, ["0100000000000077",
                                                                         "0200000000000077"])),
                         [JS])
    c.eq(code, 200, "JSON: status")
    c.eq(hs.get("content-type"), "application/json", "JSON: answered in JSON")
    c.eq(json.loads(out), {}, "JSON: an empty ExportTraceServiceResponse")
    expected["curl-json"] = 2
    code, _, out = curl(url + "/v1/traces",
                        write("t8.json.gz", gzip.compress(json_trace("curl-json-gzip", 0xf2,
                                                                     ["0100000000000077"]))),
                        [JS, "Content-Encoding: gzip"])
    c.eq(code, 200, "gzip JSON: status")
    expected["curl-json-gzip"] = 1
    # A span id of 2 bytes: the JSON reader refuses the whole request (400),
    # naming the field by its JSON path.
    code, hs, out = curl(url + "/v1/traces",
                         write("t8b.json", json_trace("never-json-bad-id", 0xf3,
                                                      ["0100000000000077", "0102"])), [JS])
    c.eq(code, 400, "JSON with a 2-byte span id: status")
    c.eq(hs.get("content-type"), "application/json", "JSON error: answered in JSON")
    st = json.loads(out)
    c.eq(st.get("code"), 3, "JSON error: Status.code INVALID_ARGUMENT")
    c.ok("resourceSpans[0].scopeSpans[0].spans[1].spanId" in st.get("message", ""),
         "JSON error: the message names the field (%r)" % st.get("message"))
    code, _, out = curl(url + "/v1/traces", write("t8c.json", b'{"resourceSpans":['), [JS])
    c.eq(code, 400, "truncated JSON: status")
    c.ok("message" in json.loads(out), "truncated JSON: a Status in JSON")
    # OTLP/JSON metrics are taken too (encoded as protobuf; test_otlp_json.py
    # checks what is forwarded): an empty request answers {}.
    code, _, out = curl(url + "/v1/metrics", write("m.json", b'{"resourceMetrics":[]}'), [JS])
    c.eq(code, 200, "JSON metrics: status")
    c.eq(json.loads(out), {}, "JSON metrics: an empty response in JSON")

    # 9. Metrics and logs: validated, answered 200; garbage metrics 400.
    m = pb.metrics_service.ExportMetricsServiceRequest()
    g = m.resource_metrics.add().scope_metrics.add().metrics.add()
    g.name = "queue.depth"
    for v in (1, 2):
        g.gauge.data_points.add().as_int = v
    code, _, out = curl(url + "/v1/metrics", write("m.pb", m.SerializeToString()), [PB])
    c.eq(code, 200, "metrics: status")
    pb.metrics_service.ExportMetricsServiceResponse.FromString(out)
    lg = pb.logs_service.ExportLogsServiceRequest()
    lg.resource_logs.add().scope_logs.add().log_records.add().body.string_value = "hi"
    code, _, _ = curl(url + "/v1/logs", write("l.pb", lg.SerializeToString()), [PB])
    c.eq(code, 200, "logs: status")
    code, _, _ = curl(url + "/v1/metrics", write("m.bad", b"\x0a\x05ab"), [PB])
    c.eq(code, 400, "garbage metrics: status")

    # 10. Keep-alive: three traces on one connection, same socket throughout.
    conn = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=30)
    sockets = set()
    for i in range(3):
        dag = "keepalive-%d" % i
        status, r, _ = post(conn, "/v1/traces", request(trace(dag, 1)).SerializeToString())
        sockets.add(id(conn.sock))
        c.eq(status, 200, "keep-alive request %d: status" % i)
        c.ok(r.getheader("Connection", "").lower() != "close", "keep-alive %d: kept open" % i)
        expected[dag] = 2
    c.eq(len(sockets), 1, "keep-alive: one connection for the three requests")
    # an error answer keeps the connection too
    status, _, _ = post(conn, "/v1/nothing", b"abc")
    c.eq(status, 404, "keep-alive: 404 on the same connection")
    status, _, _ = post(conn, "/v1/traces", request(trace("keepalive-after-404", 1)).SerializeToString())
    c.eq(status, 200, "keep-alive: a request after the 404")
    sockets.add(id(conn.sock))
    c.eq(len(sockets), 1, "keep-alive: still the same connection after the 404")
    expected["keepalive-after-404"] = 2
    conn.close()

    reports = stop_when_reported(d, c, expected)
    got = {}
    for r in reports:
        got.setdefault(r.get("dag_id"), []).append(r.get("span_count"))
    for dag, n in sorted(expected.items()):
        c.eq(got.get(dag), [n], "run %s: span counts reported" % dag)
    for dag in ("never-oversize", "never-truncated-gzip", "never-json-bad-id"):
        c.ok(dag not in got, "refused request %s kept nothing" % dag)
    shutil.rmtree(work, True)
    return d


def scenario_backpressure(args, c):
    # memory_limit 1 MiB: the table holds at most 2 MiB (buffered + pending);
    # a request of more span bytes than that would be refused at every retry,
    # so it is too large (413, no Retry-After), not "retry later" (503)
    d = Daemon(args.dagprof, extra_args=["--set", "assembly.memory_limit=1MiB"]).start()
    tid = new_trace_id()
    fat = "x" * (100 * 1024)
    spans = [span(tid, 1, 0, "run", [("dag.id", "never-refused")])]
    spans += [span(tid, 2 + i, 1, "n%d" % i, [("blob", fat)]) for i in range(30)]
    body = request(spans).SerializeToString()
    c.ok(2 * 1024 * 1024 < len(body) < 16 * 1024 * 1024,
         "the refused request is over 2 MiB and under the message limit (%d)" % len(body))
    conn = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=30)
    for attempt in range(2):  # a retry is refused the same way, and keeps nothing either
        status, r, out = post(conn, "/v1/traces", body)
        c.eq(status, 413, "over the table's memory alone (attempt %d): status" % attempt)
        c.eq(r.getheader("Retry-After"), None, "attempt %d: no Retry-After" % attempt)
        st = Status.FromString(out)
        c.eq(st.code, 8, "attempt %d: Status.code RESOURCE_EXHAUSTED" % attempt)
        c.ok("nothing of this request was kept" in st.message
             and "assembly.memory_limit" in st.message,
             "attempt %d: Status.message (%r)" % (attempt, st.message))
    status, _, _ = post(conn, "/v1/traces", request(trace("after-refusal", 2)).SerializeToString())
    c.eq(status, 200, "a small request after the refusals: status")
    conn.close()
    reports = stop_when_reported(d, c, ["after-refusal"])
    c.eq([r.get("span_count") for r in reports if r.get("dag_id") == "after-refusal"], [3],
         "after-refusal: spans reported")
    c.eq([r for r in reports if r.get("dag_id") == "never-refused"
          or r.get("trace_id") == tid.hex()], [], "nothing of the refused request reported")
    c.ok("refused 62" in d.stderr_tail(5),
         "the totals count 2 x 31 refused spans (%s)" % d.stderr_tail(3).strip())
    return d


def scenario_both(args, c):
    d = Daemon(args.dagprof).start()
    spans = trace("grpc-and-http", 5)  # 6 spans: root and n0..n4
    grpc_half, http_half = spans[:3], spans[3:]
    ch = grpc.insecure_channel(d.endpoint)
    resp = pb.trace_export(ch)(request(grpc_half), timeout=30)
    c.eq(resp.HasField("partial_success"), False, "gRPC half: no partial_success")
    ch.close()
    conn = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=30)
    status, _, _ = post(conn, "/v1/traces", request(http_half).SerializeToString())
    c.eq(status, 200, "HTTP half: status")
    conn.close()
    reports = stop_when_reported(d, c, ["grpc-and-http"])
    runs = [r for r in reports if r.get("dag_id") == "grpc-and-http"]
    c.eq(len(runs), 1, "one run report for the trace")
    if runs:
        c.eq(runs[0].get("span_count"), 6, "the run holds the spans of both")
        c.eq(sorted(n.get("id") for n in runs[0].get("nodes", [])),
             ["n0", "n1", "n2", "n3", "n4"], "nodes from both halves")
    c.ok("received 6, accepted 6" in d.stderr_tail(5),
         "one set of counters for both receivers (%s)" % d.stderr_tail(3).strip())
    return d


def scenario_cors(args, c):
    d = Daemon(args.dagprof, extra_args=[
        "--set", "server.http_cors_allowed_origins=https://app.example.com, https://*.corp.example",
        "--set", "server.http_cors_allowed_headers=X-Tenant",
        "--set", "server.http_cors_max_age=10m"]).start()
    url = d.http_endpoint + "/v1/traces"
    body = tempfile.NamedTemporaryFile(prefix="dagprof-cors-", delete=False)
    body.write(request(trace("cors-run", 1)).SerializeToString())
    body.close()
    PRE = ["Access-Control-Request-Method: POST"]
    try:
        # allowed: exact origin, the requested headers echoed, 10m = 600 s
        code, hs, out = curl(url, method="OPTIONS", headers=[
            "Origin: https://app.example.com", *PRE,
            "Access-Control-Request-Headers: content-type, x-tenant"])
        c.eq(code, 204, "preflight, allowed origin: status")
        c.eq(out, b"", "preflight: no body")
        c.eq(hs.get("access-control-allow-origin"), "https://app.example.com", "preflight: origin")
        c.eq(hs.get("access-control-allow-methods"), "POST", "preflight: methods")
        c.eq(hs.get("access-control-allow-headers"), "content-type, x-tenant", "preflight: headers")
        c.eq(hs.get("access-control-max-age"), "600", "preflight: max age")
        # a *-pattern: one or more characters where the * stands
        code, hs, _ = curl(url, method="OPTIONS", headers=["Origin: https://eu.corp.example", *PRE])
        c.eq((code, hs.get("access-control-allow-origin")), (204, "https://eu.corp.example"),
             "preflight from an origin matching https://*.corp.example")
        for origin, extra, what in [
                ("https://evil.example", [], "an origin not allowed"),
                ("https://corp.example", [], "the pattern's * needs at least one character"),
                ("https://app.example.com", ["Access-Control-Request-Headers: x-other"],
                 "a header not allowed"),
        ]:
            code, hs, _ = curl(url, method="OPTIONS", headers=["Origin: " + origin, *PRE, *extra])
            c.eq(code, 204, "preflight, %s: status" % what)
            c.eq([k for k in hs if k.startswith("access-control-")], [],
                 "preflight, %s: no Access-Control-* header" % what)
        code, hs, _ = curl(url, method="OPTIONS", headers=[
            "Origin: https://app.example.com", "Access-Control-Request-Method: PUT"])
        c.eq([k for k in hs if k.startswith("access-control-")], [],
             "preflight for PUT: no Access-Control-* header")
        # the request itself
        code, hs, _ = curl(url, body.name, ["Content-Type: application/x-protobuf",
                                            "Origin: https://app.example.com"])
        c.eq(code, 200, "POST from an allowed origin: status")
        c.eq(hs.get("access-control-allow-origin"), "https://app.example.com",
             "POST from an allowed origin: Access-Control-Allow-Origin")
        c.eq(hs.get("vary"), "Origin", "POST: Vary")
        code, hs, _ = curl(url, body.name, ["Content-Type: text/plain",
                                            "Origin: https://app.example.com"])
        c.eq((code, hs.get("access-control-allow-origin")), (415, "https://app.example.com"),
             "an error answer is readable by the allowed origin too")
        code, hs, _ = curl(url, body.name, ["Content-Type: application/x-protobuf",
                                            "Origin: https://evil.example"])
        c.eq((code, hs.get("access-control-allow-origin")), (200, None),
             "POST from another origin: taken, without Access-Control-Allow-Origin")
    finally:
        os.unlink(body.name)
    stop_when_reported(d, c, ["cors-run"])

    # without allowed origins nothing of CORS happens
    d = Daemon(args.dagprof).start()
    code, hs, _ = curl(d.http_endpoint + "/v1/traces", method="OPTIONS",
                       headers=["Origin: https://app.example.com", *PRE])
    c.eq((code, hs.get("allow")), (405, "POST"), "no CORS: OPTIONS is 405 with Allow: POST")
    code, hs, _ = curl(d.http_endpoint + "/v1/traces", headers=[
        "Content-Type: application/x-protobuf", "Origin: https://app.example.com"], method="POST")
    c.eq(code, 200, "no CORS: an empty POST with Origin: status")
    c.eq([k for k in hs if k.startswith("access-control-") or k == "vary"], [],
         "no CORS: no Access-Control-* or Vary header")
    rc, _ = d.stop()
    c.eq(rc, 0, "exit code after SIGTERM")
    return d


def read_until_eof(sock, deadline_s):
    """Everything the server sends until it closes the connection: (bytes, seconds
    until EOF), or (bytes, None) when it is still open at the deadline."""
    start = time.monotonic()
    data = b""
    while True:
        left = deadline_s - (time.monotonic() - start)
        if left <= 0:
            return data, None
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return data, None
        except ConnectionResetError:
            return data, time.monotonic() - start
        if not chunk:
            return data, time.monotonic() - start
        data += chunk


def raw_exchange(port, data, deadline_s=10):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        return read_until_eof(s, deadline_s)


def scenario_connection(args, c):
    d = Daemon(args.dagprof, extra_args=["--set", "server.http_idle_timeout=1s"]).start()
    port = d.http_port
    # a connection that sends nothing is closed after about a second
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        data, secs = read_until_eof(s, 10)
    c.ok(secs is not None, "an idle connection is closed by the server")
    c.ok(secs is not None and 0.9 <= secs < 5, "closed after the 1 s timeout (%s s)" % secs)
    c.eq(data, b"", "nothing is sent on an idle connection")
    # a keep-alive connection, idle after one request
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n")
        data, secs = read_until_eof(s, 10)
    c.ok(data.startswith(b"HTTP/1.1 200 "), "the request on it is answered: %r" % data[:40])
    c.ok(secs is not None and 0.9 <= secs < 5,
         "the keep-alive connection is closed after the timeout (%s s)" % secs)

    H = b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
    for data, want, what in [
            (H + b"NoColonHere\r\n\r\n", 400, "a header line without a colon"),
            (b"POST /v1/traces HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 400,
             "HTTP/1.1 without Host"),
            (H + b"Content-Length: ten\r\n\r\n", 400, "a Content-Length that is not a number"),
            (H + b"Transfer-Encoding: chunked\r\n\r\nZZ\r\n", 400, "broken chunked encoding"),
            (H + b"X-Pad: y\r\n" * 5000 + b"\r\n", 431, "headers larger than the server takes"),
    ]:
        out, secs = raw_exchange(port, data)
        status = out.split(b" ", 2)[1] if out.startswith(b"HTTP/1.1 ") else out[:30]
        c.eq(status, str(want).encode(), "%s: status" % what)
        c.ok(secs is not None, "%s: the connection is closed after the answer" % what)
    # the receiver still takes good requests
    status, _, _ = post(http.client.HTTPConnection("127.0.0.1", port, timeout=30), "/v1/traces",
                        request(trace("after-malformed", 1)).SerializeToString())
    c.eq(status, 200, "a good request after the malformed ones")
    stop_when_reported(d, c, ["after-malformed"])
    return d


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dagprof", required=True)
    ap.add_argument("--scenario", choices=["answers", "backpressure", "both", "cors", "connection"],
                    required=True)
    args = ap.parse_args()
    c = Checker("http_receiver_" + args.scenario)
    run = {"answers": scenario_answers, "backpressure": scenario_backpressure,
           "both": scenario_both, "cors": scenario_cors,
           "connection": scenario_connection}[args.scenario]
    d = run(args, c)
    if c.failures:
        print(d.stderr_tail())
    return c.report()


if __name__ == "__main__":
    sys.exit(main())
