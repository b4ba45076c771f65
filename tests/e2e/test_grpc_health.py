#!/usr/bin/env python3
"""End-to-end test: health checks on the gRPC port and the HTTP health
endpoint, and unknown gRPC methods.

  test_grpc_health.py --dagprof PATH [--scenario check|watch]

grpc.health.v1.Health/Check is called with python3-grpcio the way probes
call it. The messages are encoded by hand from health.proto
(HealthCheckRequest { string service = 1; }, HealthCheckResponse
{ ServingStatus status = 1; }, SERVING = 1): a request for service "S" is
0a <len> S, and SERVING comes back as 08 01. A service dagprof does not
serve is NOT_FOUND. Any other method is UNIMPLEMENTED straight away: the
call carries a 60 s deadline, so a server that let it hang would answer
DEADLINE_EXCEEDED instead.

The HTTP health endpoint (health.listen, here a free port) answers
GET /health and GET / with 200 and {"status": "Server available"} once the
daemon says it is listening.

watch: grpc.health.v1.Health/Watch through stubs that grpc_tools.protoc
(Debian's python3-grpc-tools) generates at test time from the health
protocol's service definition written below. Each stream's first message is
SERVING (SERVICE_UNKNOWN for a service dagprof does not serve, whose stream
stays open); the daemon runs with one worker, so a Check answered while
streams are open shows that watches do not hold the worker's call slot;
DP_HEALTH_MAX_WATCHES (64) streams are served at once and one more is
RESOURCE_EXHAUSTED. On SIGTERM every known-service stream gets NOT_SERVING
and every stream ends with OK within seconds (a deadline, not a sleep),
while the daemon still exits 0.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from e2e_common import Checker, Daemon  # noqa: E402

import signal  # noqa: E402

import grpc  # noqa: E402

SERVICES = [
    "",
    "opentelemetry.proto.collector.trace.v1.TraceService",
    "opentelemetry.proto.collector.metrics.v1.MetricsService",
    "opentelemetry.proto.collector.logs.v1.LogsService",
]


def request(service):
    data = service.encode()
    return b"\x0a" + bytes([len(data)]) + data if data else b""


def raw_method(channel, path):
    return channel.unary_unary(path, request_serializer=lambda b: b,
                               response_deserializer=lambda b: b)


def status_of(call, payload):
    try:
        return grpc.StatusCode.OK, call(payload, timeout=60)
    except grpc.RpcError as e:
        return e.code(), e.details()


# The health protocol's service definition (grpc.health.v1, as the protocol
# document gives it), compiled at test time.
HEALTH_PROTO = """
syntax = "proto3";
package grpc.health.v1;
message HealthCheckRequest { string service = 1; }
message HealthCheckResponse {
  enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; }
  ServingStatus status = 1;
}
service Health {
  rpc Check(HealthCheckRequest) returns (HealthCheckResponse);
  rpc Watch(HealthCheckRequest) returns (stream HealthCheckResponse);
}
"""
MAX_WATCHES = 64  # DP_HEALTH_MAX_WATCHES in otlp/health_watch.h


def health_stubs(d):
    with open(os.path.join(d, "health.proto"), "w") as f:
        f.write(HEALTH_PROTO)
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", d, "--python_out", d,
                    "--grpc_python_out", d, "health.proto"], check=True)
    sys.path.insert(0, d)
    import health_pb2  # noqa: E402
    import health_pb2_grpc  # noqa: E402
    return health_pb2, health_pb2_grpc


def stop(c, daemon, channel):
    """Close the channel, stop the daemon (exit 0 expected), show its log on failure."""
    channel.close()
    rc, _ = daemon.stop()
    c.eq(rc, 0, "dagprof exit code after SIGTERM")
    if c.failures:
        print(daemon.stderr_tail(), file=sys.stderr)


class Stream:
    """One Watch call read on its own thread: messages and the end, each
    with the time it came."""

    def __init__(self, call):
        self.call = call
        self.messages = []
        self.code = None
        self.ended_at = None
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for m in self.call:
                with self.cond:
                    self.messages.append(m.status)
                    self.cond.notify_all()
            code = self.call.code()
        except grpc.RpcError as e:
            code = e.code()
        with self.cond:
            self.code, self.ended_at = code, time.monotonic()
            self.cond.notify_all()

    def wait(self, pred, timeout):
        with self.cond:
            return self.cond.wait_for(lambda: pred(self), timeout)


def scenario_watch(args, c):
    with tempfile.TemporaryDirectory(prefix="dagprof-health-pb-") as d:
        pb, pb_grpc = health_stubs(d)
        S = pb.HealthCheckResponse
        daemon = Daemon(args.dagprof, ["--workers", "1"]).start()
        channel = grpc.insecure_channel(daemon.endpoint)
        stub = pb_grpc.HealthStub(channel)
        req = pb.HealthCheckRequest
        streams = {}
        try:
            for service in ("", SERVICES[1], "some.other.Service"):
                streams[service] = Stream(stub.Watch(req(service=service), timeout=120))
            for service, st in streams.items():
                want = S.SERVICE_UNKNOWN if service == "some.other.Service" else S.SERVING
                c.ok(st.wait(lambda s: s.messages or s.code is not None, 30),
                     "Watch(%r): a first message" % service)
                c.eq(st.messages[:1], [want], "Watch(%r): the first status" % service)
            # one worker, three open streams: a Check is still answered at once
            c.eq(stub.Check(req(service=""), timeout=30).status, S.SERVING,
                 "Check while Watch streams are open")
            try:
                stub.Check(req(service="some.other.Service"), timeout=30)
                c.ok(False, "Check of an unknown service: NOT_FOUND")
            except grpc.RpcError as e:
                c.eq(e.code(), grpc.StatusCode.NOT_FOUND, "Check of an unknown service")
            # the unknown service's stream was not ended (the protocol keeps it open)
            c.eq(streams["some.other.Service"].code, None, "the SERVICE_UNKNOWN stream is open")
            # up to the cap: 3 open, 61 more fill it, the next one is refused
            extra = [Stream(stub.Watch(req(service=""), timeout=120))
                     for _ in range(MAX_WATCHES - len(streams))]
            c.ok(all(st.wait(lambda s: s.messages, 30) for st in extra),
                 "%d streams open at once" % MAX_WATCHES)
            over = Stream(stub.Watch(req(service=""), timeout=120))
            c.ok(over.wait(lambda s: s.code is not None, 30), "one more stream ends")
            c.eq(over.code, grpc.StatusCode.RESOURCE_EXHAUSTED, "one stream over the cap")
            for st in extra:
                st.call.cancel()  # a client going away frees its stream
            c.ok(all(st.wait(lambda s: s.code is not None, 30) for st in extra),
                 "cancelled streams end")
            # a stream freed by a cancel is available again (a deadline, not a sleep:
            # the server frees it once it sees the cancel)
            again = None
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                again = Stream(stub.Watch(req(service=""), timeout=120))
                again.wait(lambda s: s.messages or s.code is not None, 30)
                if again.messages:
                    break
            c.ok(again is not None and again.messages[:1] == [S.SERVING],
                 "a new stream once others were cancelled")
            streams["again"] = again

            daemon.proc.send_signal(signal.SIGTERM)
            sent = time.monotonic()
            for service, st in streams.items():
                c.ok(st.wait(lambda s: s.code is not None, 10),
                     "Watch(%r) ends within 10 s of SIGTERM" % service)
                c.eq(st.code, grpc.StatusCode.OK, "Watch(%r): status at the end" % service)
                if service == "some.other.Service":
                    c.eq(st.messages, [S.SERVICE_UNKNOWN], "Watch(%r): every status" % service)
                else:
                    c.eq(st.messages, [S.SERVING, S.NOT_SERVING],
                         "Watch(%r): every status" % service)
                if st.ended_at is not None:
                    c.ok(st.ended_at - sent < 10, "ended %.2f s after SIGTERM" % (st.ended_at - sent))
        finally:
            stop(c, daemon, channel)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dagprof", required=True)
    ap.add_argument("--scenario", default="check", choices=["check", "watch"])
    args = ap.parse_args()
    c = Checker("e2e_grpc_health_" + args.scenario)
    if args.scenario == "watch":
        scenario_watch(args, c)
        return c.report()

    daemon = Daemon(args.dagprof).start()
    channel = grpc.insecure_channel(daemon.endpoint)
    check = raw_method(channel, "/grpc.health.v1.Health/Check")
    try:
        for service in SERVICES:
            code, body = status_of(check, request(service))
            c.eq(code, grpc.StatusCode.OK, "Check(%r) status" % service)
            c.eq(body, b"\x08\x01", "Check(%r) answers SERVING" % service)
        code, _ = status_of(check, request("some.other.Service"))
        c.eq(code, grpc.StatusCode.NOT_FOUND, "Check of a service dagprof does not serve")
        code, details = status_of(raw_method(channel, "/foo.Bar/Baz"), b"x")
        c.eq(code, grpc.StatusCode.UNIMPLEMENTED, "an unknown method")
        c.ok(details and "/foo.Bar/Baz" in details, "the answer names the method: %r" % details)
        for path in ("/health", "/"):
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (daemon.health_port, path),
                                        timeout=30) as r:
                c.eq(r.status, 200, "GET %s on the health endpoint" % path)
                c.eq(json.loads(r.read()).get("status"), "Server available",
                     "GET %s: status" % path)
        # the OTLP service still works next to them
        code, _ = status_of(raw_method(
            channel, "/opentelemetry.proto.collector.trace.v1.TraceService/Export"), b"")
        c.eq(code, grpc.StatusCode.OK, "an empty Export after the probes")
    finally:
        stop(c, daemon, channel)
    return c.report()


if __name__ == "__main__":
    sys.exit(main())
