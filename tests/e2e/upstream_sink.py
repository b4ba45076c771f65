#!/usr/bin/env python3
"""An OTLP/gRPC receiver used as the real upstream in dagprof's delivery tests.

It implements TraceService, MetricsService and LogsService Export with the
message classes protoc generates from dagprof's proto/ tree (decoding that is
not dagprof's own), records what arrives and can be told to misbehave.

Protocol, one line each way (stdout is line-buffered):
  started            -> "listening PORT"
  per request        -> "recv SIGNAL items=N answer=CODE"
  commands on stdin  -> "ok COMMAND" once applied:
    unavailable N           answer the next N requests UNAVAILABLE
    invalid N               answer the next N requests INVALID_ARGUMENT
    exhausted N DELAY_MS    RESOURCE_EXHAUSTED with a google.rpc.RetryInfo
    exhausted_plain N       RESOURCE_EXHAUSTED without RetryInfo
    partial N REJECTED      OK with partial_success rejecting REJECTED items
    down / up               stop listening / listen again on the same port
    stats                   -> "stats KEY=VALUE ..." (see stats_line())
    quit                    exit
Usage: upstream_sink.py [--port P] [--tls-cert PEM --tls-key PEM [--client-ca PEM]]
  --port 0 picks a free port; with --tls-* the sink speaks TLS, and with
  --client-ca it also requires a client certificate signed by that CA.
"""
import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import threading
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


class Sink:
    def __init__(self, port, messages, tls=None):
        self.port = port
        self.tls = tls
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

    def handler(self, signal):
        req_cls, resp_cls = self.messages[signal]

        def export(request, context):
            md = dict(context.invocation_metadata())
            if signal == "traces":
                with self.lock:
                    self.peers.add(context.peer())
                    gather = self.gather
                if gather is not None:
                    try:
                        gather.wait(timeout=120)
                    except threading.BrokenBarrierError:
                        context.abort(grpc.StatusCode.UNAVAILABLE, "calls did not gather")
            kind, arg = self.next_answer()
            n = count_items(signal, request)
            with self.lock:
                for k, v in md.items():
                    if not k.startswith(":"):
                        self.headers[k] = v
                if kind in ("ok", "partial"):
                    self.requests[signal] += 1
                    self.items[signal] += n
                    for name in item_names(signal, request):
                        self.names[name] = self.names.get(name, 0) + 1
            answer = {"ok": "OK", "partial": "OK", "unavailable": "UNAVAILABLE",
                      "invalid": "INVALID_ARGUMENT", "exhausted": "RESOURCE_EXHAUSTED",
                      "exhausted_plain": "RESOURCE_EXHAUSTED"}[kind]
            self.emit("recv %s items=%d answer=%s" % (signal, n, answer))
            if kind == "unavailable":
                context.abort(grpc.StatusCode.UNAVAILABLE, "sink told to be unavailable")
            if kind == "invalid":
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "sink refuses this batch")
            if kind == "exhausted":
                context.set_trailing_metadata((("grpc-status-details-bin",
                                                status_with_retry_info(8, "slow down", arg)),))
                context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down")
            if kind == "exhausted_plain":
                context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "too big, never retry")
            resp = resp_cls()
            if kind == "partial":
                field = {"traces": "rejected_spans", "metrics": "rejected_data_points",
                         "logs": "rejected_log_records"}[signal]
                setattr(resp.partial_success, field, arg)
                resp.partial_success.error_message = "sink rejected some items"
            return resp

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

    def start(self):
        # Per-message decompression off: the handler sees the bytes as they
        # travelled, so the sink can tell whether the client used gzip.
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                             options=[("grpc.per_message_decompression", 0)])
        for signal, (service, _) in SERVICES.items():
            server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(service, {"Export": self.handler(signal)}),))
        address = "127.0.0.1:%d" % self.port
        if self.tls:
            cert, key, client_ca = self.tls
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
            return "stats " + " ".join(parts)

    def command(self, line):
        words = line.split()
        if not words:
            return True
        cmd = words[0]
        if cmd in ("unavailable", "invalid", "exhausted_plain"):
            with self.lock:
                self.plan.append((cmd, int(words[1]), None))
        elif cmd in ("exhausted", "partial"):
            with self.lock:
                self.plan.append((cmd, int(words[1]), int(words[2])))
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
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--client-ca")
    args = ap.parse_args()
    tls = None
    if args.tls_cert:
        def read(path):
            with open(path, "rb") as f:
                return f.read()
        tls = (read(args.tls_cert), read(args.tls_key),
               read(args.client_ca) if args.client_ca else None)
    sink = Sink(args.port, generate_messages(), tls)
    sink.start()
    sink.emit("listening %d" % sink.port)
    for line in sys.stdin:
        if not sink.command(line):
            break
    sink.stop()


if __name__ == "__main__":
    main()
