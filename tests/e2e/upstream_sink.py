#!/usr/bin/env python3
"""An OTLP receiver used as the real upstream in dagprof's delivery tests.

Over OTLP/gRPC (the default) it implements TraceService, MetricsService and
LogsService Export with python3-grpcio; with --http it is an OTLP/HTTP
receiver written with Python's http.server: POST /v1/traces, /v1/metrics and
/v1/logs (more paths with the `route` command), application/x-protobuf
bodies, gzip when Content-Encoding says so, HTTP/1.1 keep-alive. Either way it
decodes with the message classes protoc generates from dagprof's proto/ tree
(decoding that is not dagprof's own), records what arrives and can be told to
misbehave.

Protocol, one line each way (stdout is line-buffered):
  started            -> "listening PORT"
  per request        -> "recv SIGNAL items=N answer=CODE"
  commands on stdin  -> "ok COMMAND" once applied:
    unavailable N [RA]      answer the next N requests UNAVAILABLE (HTTP: 503;
                            with RA, a Retry-After header: SECONDS, or
                            "date+SECONDS" for an HTTP-date that far ahead)
    throttled N RA          HTTP only: 429 with Retry-After RA (as above)
    invalid N [TEXT]        INVALID_ARGUMENT (HTTP: 400 with a Status body); TEXT,
                            with backslash escapes decoded (\\n), is its message
    exhausted N DELAY_MS    RESOURCE_EXHAUSTED with a google.rpc.RetryInfo
                            (HTTP: 429 with Retry-After, DELAY_MS rounded up
                            to whole seconds)
    exhausted_plain N       RESOURCE_EXHAUSTED without RetryInfo (HTTP: 413,
                            which the specification does not retry either)
    partial N REJECTED [TEXT]  OK with partial_success rejecting REJECTED items,
                            TEXT (escapes decoded) its error_message
    route PATH SIGNAL       HTTP only: also take SIGNAL's requests on PATH
    gather N                the next trace requests each wait until N are in
    down / up               stop listening / listen again on the same port
    stats                   -> "stats KEY=VALUE ..." (see stats_line())
    quit                    exit
Usage: upstream_sink.py [--port P] [--http]
                        [--tls-cert PEM --tls-key PEM [--client-ca PEM]]
  --port 0 picks a free port; with --tls-* the sink speaks TLS, and with
  --client-ca it also requires a client certificate signed by that CA.
"""
import argparse
import email.utils
import gzip
import http.server
import math
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from concurrent import futures

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "proto"))
SERVICES = {
    "traces": ("opentelemetry.proto.collector.trace.v1.TraceService",
               "opentelemetry/proto/collector/trace/v1/trace_service.proto"),
    "metrics": ("opentelemetry.proto.collector.metrics.v1.MetricsService",
                "opentelemetry/proto/collector/metrics/v1/metrics_service.proto"),
    "logs": ("opentelemetry.proto.collector.logs.v1.LogsService",
             "opentelemetry/proto/collector/logs/v1/logs_service.proto"),
}


def generate_messages():
    """protoc --python_out into a temporary directory, then import."""
    out = tempfile.mkdtemp(prefix="dp-sink-")
    protos = []
    for root, _, files in os.walk(os.path.join(PROTO_DIR, "opentelemetry")):
        protos += [os.path.relpath(os.path.join(root, f), PROTO_DIR) for f in files
                   if f.endswith(".proto")]
    subprocess.run(["protoc", "--python_out=" + out, "-I", PROTO_DIR] + sorted(protos), check=True)
    sys.path.insert(0, out)
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
    return {
        "traces": (trace_service_pb2.ExportTraceServiceRequest,
                   trace_service_pb2.ExportTraceServiceResponse),
        "metrics": (metrics_service_pb2.ExportMetricsServiceRequest,
                    metrics_service_pb2.ExportMetricsServiceResponse),
        "logs": (logs_service_pb2.ExportLogsServiceRequest,
                 logs_service_pb2.ExportLogsServiceResponse),
    }


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field_bytes(number, payload):
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def status_with_retry_info(code, message, delay_ms):
    """google.rpc.Status{code=1, message=2, details=3: Any{type_url=1, value=2:
    RetryInfo{retry_delay=1: Duration{seconds=1, nanos=2}}}}, encoded here
    independently of dagprof's decoder."""
    duration = b""
    if delay_ms // 1000:
        duration += varint(1 << 3) + varint(delay_ms // 1000)
    if delay_ms % 1000:
        duration += varint(2 << 3) + varint((delay_ms % 1000) * 1000000)
    retry_info = field_bytes(1, duration)
    any_msg = field_bytes(1, b"type.googleapis.com/google.rpc.RetryInfo") + field_bytes(2, retry_info)
    return (varint(1 << 3) + varint(code) + field_bytes(2, message.encode()) + field_bytes(3, any_msg))


def status_bytes(code, message):
    """google.rpc.Status{code=1, message=2}, encoded here by hand."""
    return varint(1 << 3) + varint(code) + field_bytes(2, message.encode())


def unescape(words):
    """A command's optional TEXT: backslash escapes decoded (\\n a newline), or None."""
    if not words:
        return None
    return words[0].encode("ascii").decode("unicode_escape")


def retry_after_value(spec):
    """A Retry-After value: "N" seconds as is, "date+N" as the HTTP-date N
    seconds from now (IMF-fixdate, by the standard library)."""
    if spec.startswith("date+"):
        return email.utils.formatdate(time.time() + int(spec[5:]), usegmt=True)
    return spec


def count_items(signal, req):
    n = 0
    if signal == "traces":
        for rs in req.resource_spans:
            for ss in rs.scope_spans:
                n += len(ss.spans)
    elif signal == "logs":
        for rl in req.resource_logs:
            for sl in rl.scope_logs:
                n += len(sl.log_records)
    else:
        for rm in req.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    kind = m.WhichOneof("data")
                    if kind:
                        n += len(getattr(m, kind).data_points)
    return n


def item_names(signal, req):
    if signal == "traces":
        return [s.name for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]
    return []


# gRPC status -> (HTTP status) of each misbehaviour, and the words the
# "recv" lines use.
ANSWERS = {
    "ok": ("OK", 200), "partial": ("OK", 200),
    "unavailable": ("UNAVAILABLE", 503), "throttled": ("RESOURCE_EXHAUSTED", 429),
    "invalid": ("INVALID_ARGUMENT", 400), "exhausted": ("RESOURCE_EXHAUSTED", 429),
    "exhausted_plain": ("RESOURCE_EXHAUSTED", 413),
}
MESSAGES_OF = {
    "unavailable": (14, "sink told to be unavailable"), "throttled": (8, "slow down"),
    "invalid": (3, "sink refuses this batch"), "exhausted": (8, "slow down"),
    "exhausted_plain": (8, "too big, never retry"),
}
PARTIAL_FIELDS = {"traces": "rejected_spans", "metrics": "rejected_data_points",
                  "logs": "rejected_log_records"}


class Sink:
    def __init__(self, port, messages, tls=None, http=False):
        self.port = port
        self.tls = tls
        self.http = http
        self.routes = {"/v1/traces": "traces", "/v1/metrics": "metrics", "/v1/logs": "logs"}
        self.paths = set()          # HTTP: request paths seen
        self.content_types = set()  # HTTP: Content-Type values seen
        self.arrivals = []          # (monotonic time, signal, answer) of every request
        self.messages = messages
        self.lock = threading.Lock()
        self.out_lock = threading.Lock()
        self.plan = []  # [(kind, remaining, arg)]
        self.requests = {s: 0 for s in SERVICES}
        self.items = {s: 0 for s in SERVICES}
        self.names = {}
        self.headers = {}
        self.encodings = set()
        self.peers = set()  # client addresses of trace calls: one per connection
        self.gather = None  # barrier: trace calls wait until this many are in flight
        self.server = None

    def emit(self, line):
        with self.out_lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def next_answer(self):
        with self.lock:
            while self.plan and self.plan[0][1] == 0:
                self.plan.pop(0)
            if not self.plan:
                return ("ok", None)
            kind, remaining, arg = self.plan[0]
            self.plan[0] = (kind, remaining - 1, arg)
            return (kind, arg)

    def on_accepted(self, signal, request):
        """Called for every request answered OK (partial included)."""

    def record(self, signal, request, kind, headers, peer):
        """Count one decoded request as answered `kind`; the common part of
        both transports. `headers` are (name, value) pairs."""
        n = count_items(signal, request)
        with self.lock:
            self.arrivals.append((time.monotonic(), signal, kind))
            for k, v in headers:
                k = k.lower()
                if not k.startswith(":"):
                    self.headers[k] = v
            if signal == "traces":
                self.peers.add(peer)
            if kind in ("ok", "partial"):
                self.requests[signal] += 1
                self.items[signal] += n
                for name in item_names(signal, request):
                    self.names[name] = self.names.get(name, 0) + 1
        self.emit("recv %s items=%d answer=%s" % (signal, n, ANSWERS[kind][0]))
        if kind in ("ok", "partial"):
            self.on_accepted(signal, request)

    def wait_gathered(self, signal):
        """The gather barrier: False when the calls did not gather."""
        if signal != "traces":
            return True
        with self.lock:
            gather = self.gather
        if gather is None:
            return True
        try:
            gather.wait(timeout=120)
            return True
        except threading.BrokenBarrierError:
            return False

    def response(self, signal, kind, arg):
        resp = self.messages[signal][1]()
        if kind == "partial":
            rejected, text = arg
            setattr(resp.partial_success, PARTIAL_FIELDS[signal], rejected)
            resp.partial_success.error_message = text or "sink rejected some items"
        return resp

    def handler(self, signal):
        req_cls, resp_cls = self.messages[signal]

        def export(request, context):
            md = list(context.invocation_metadata())
            if not self.wait_gathered(signal):
                context.abort(grpc.StatusCode.UNAVAILABLE, "calls did not gather")
            kind, arg = self.next_answer()
            self.record(signal, request, kind, md, context.peer())
            if kind == "unavailable":
                context.abort(grpc.StatusCode.UNAVAILABLE, "sink told to be unavailable")
            if kind == "invalid":
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, arg or "sink refuses this batch")
            if kind == "exhausted":
                context.set_trailing_metadata((("grpc-status-details-bin",
                                                status_with_retry_info(8, "slow down", arg)),))
                context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down")
            if kind == "exhausted_plain":
                context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "too big, never retry")
            return self.response(signal, kind, arg)

        def decode(raw):
            # The server leaves messages compressed (see start()): a gzip
            # member header proves the client compressed on the wire.
            if raw[:2] == b"\x1f\x8b":
                with self.lock:
                    self.encodings.add("gzip")
                raw = gzip.decompress(raw)
            return req_cls.FromString(raw)

        return grpc.unary_unary_rpc_method_handler(
            export, request_deserializer=decode,
            response_serializer=resp_cls.SerializeToString)

    # ---- OTLP/HTTP ----------------------------------------------------------

    def http_export(self, h):
        """One POST on handler h (a BaseHTTPRequestHandler)."""
        signal = self.routes.get(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        ctype = h.headers.get("Content-Type", "")
        encoding = h.headers.get("Content-Encoding", "identity").lower()
        with self.lock:
            self.paths.add(h.path)
            self.content_types.add(ctype)
        if signal is None:
            return self.http_reply(h, 404, status_bytes(5, "no such path"))
        if ctype != "application/x-protobuf":
            return self.http_reply(h, 415, status_bytes(3, "not application/x-protobuf"))
        if encoding == "gzip":
            if body[:2] != b"\x1f\x8b":
                return self.http_reply(h, 400, status_bytes(3, "not a gzip body"))
            with self.lock:
                self.encodings.add("gzip")
            body = gzip.decompress(body)
        try:
            request = self.messages[signal][0].FromString(body)
        except Exception as e:  # noqa: BLE001 - any decode error is the client's
            return self.http_reply(h, 400, status_bytes(3, "undecodable: %s" % e))
        if not self.wait_gathered(signal):
            return self.http_reply(h, 503, status_bytes(14, "calls did not gather"))
        kind, arg = self.next_answer()
        self.record(signal, request, kind, list(h.headers.items()), h.client_address)
        code = ANSWERS[kind][1]
        if code == 200:
            return self.http_reply(h, 200, self.response(signal, kind, arg).SerializeToString())
        extra = []
        if kind == "exhausted":
            extra.append(("Retry-After", str(max(1, math.ceil(arg / 1000)))))
        elif kind in ("unavailable", "throttled") and arg:
            extra.append(("Retry-After", retry_after_value(arg)))
        grpc_code, message = MESSAGES_OF[kind]
        if kind == "invalid" and arg:
            message = arg
        return self.http_reply(h, code, status_bytes(grpc_code, message), extra)

    @staticmethod
    def http_reply(h, code, body, extra=()):
        h.send_response(code)
        h.send_header("Content-Type", "application/x-protobuf")
        h.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)

    def http_server(self):
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive

            def do_POST(self):
                sink.http_export(self)

            def log_message(self, *args):
                pass  # stdout carries the protocol lines

        class Server(http.server.ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a refused TLS handshake or a client gone away

        server = Server(("127.0.0.1", self.port), Handler)
        if self.tls:
            cert, key, client_ca = self.tls
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            if client_ca:
                ctx.verify_mode = ssl.CERT_REQUIRED
                ctx.load_verify_locations(client_ca)
            server.socket = ctx.wrap_socket(server.socket, server_side=True)
        return server

    def start(self):
        if self.http:
            server = self.http_server()
            self.port = server.server_address[1]
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self.server = server
            return
        # Per-message decompression off: the handler sees the bytes as they
        # travelled, so the sink can tell whether the client used gzip.
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                             options=[("grpc.per_message_decompression", 0)])
        for signal, (service, _) in SERVICES.items():
            server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(service, {"Export": self.handler(signal)}),))
        address = "127.0.0.1:%d" % self.port
        if self.tls:
            cert, key, client_ca = (open(p, "rb").read() if p else None for p in self.tls)
            creds = grpc.ssl_server_credentials(
                [(key, cert)], root_certificates=client_ca,
                require_client_auth=client_ca is not None)
            port = server.add_secure_port(address, creds)
        else:
            port = server.add_insecure_port(address)
        if port == 0:
            raise SystemExit("upstream_sink: cannot listen on port %d" % self.port)
        self.port = port
        server.start()
        self.server = server

    def stop(self):
        if self.server:
            if self.http:
                self.server.shutdown()
                self.server.server_close()
            else:
                self.server.stop(None).wait()
            self.server = None

    def stats_line(self):
        with self.lock:
            parts = []
            for s in SERVICES:
                parts.append("%s_requests=%d" % (s, self.requests[s]))
                parts.append("%s_items=%d" % (s, self.items[s]))
            parts.append("unique_spans=%d" % len(self.names))
            parts.append("duplicate_spans=%d" % sum(c - 1 for c in self.names.values()))
            for k in sorted(self.headers):
                if k.startswith("x-"):
                    parts.append("header.%s=%s" % (k, self.headers[k]))
            parts.append("encodings=%s" % (",".join(sorted(self.encodings)) or "identity"))
            parts.append("traces_peers=%d" % len(self.peers))
            parts.append("paths=%s" % (",".join(sorted(self.paths)) or "none"))
            parts.append("content_types=%s" % (",".join(sorted(self.content_types)) or "none"))
            return "stats " + " ".join(parts)

    def command(self, line):
        words = line.split()
        if not words:
            return True
        cmd = words[0]
        if cmd in ("unavailable", "exhausted_plain"):
            with self.lock:
                self.plan.append((cmd, int(words[1]), words[2] if len(words) > 2 else None))
        elif cmd == "invalid":
            with self.lock:
                self.plan.append((cmd, int(words[1]), unescape(words[2:])))
        elif cmd == "throttled":
            with self.lock:
                self.plan.append((cmd, int(words[1]), words[2]))
        elif cmd == "exhausted":
            with self.lock:
                self.plan.append((cmd, int(words[1]), int(words[2])))
        elif cmd == "partial":
            with self.lock:
                self.plan.append((cmd, int(words[1]), (int(words[2]), unescape(words[3:]))))
        elif cmd == "route":
            with self.lock:
                self.routes[words[1]] = words[2]
        elif cmd == "gather":
            # the next trace calls each wait until N of them are in flight
            with self.lock:
                self.gather = threading.Barrier(int(words[1]))
        elif cmd == "down":
            self.stop()
        elif cmd == "up":
            self.start()
        elif cmd == "stats":
            self.emit(self.stats_line())
            return True
        elif cmd == "quit":
            self.stop()
            return False
        else:
            self.emit("error unknown command " + cmd)
            return True
        self.emit("ok " + line.strip())
        return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--http", action="store_true", help="OTLP/HTTP instead of OTLP/gRPC")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--client-ca")
    args = ap.parse_args()
    tls = None
    if args.tls_cert:
        tls = (args.tls_cert, args.tls_key, args.client_ca)
    sink = Sink(args.port, generate_messages(), tls, http=args.http)
    sink.start()
    sink.emit("listening %d" % sink.port)
    for line in sys.stdin:
        if not sink.command(line):
            break
    sink.stop()


if __name__ == "__main__":
    main()
