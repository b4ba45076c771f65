#!/usr/bin/env python3
"""End-to-end test: health checks on the gRPC port and the HTTP health
endpoint, and unknown gRPC methods.

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

  test_grpc_health.py --dagprof PATH
"""

import argparse
import json
import os
import sys
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from e2e_common import Checker, Daemon  # noqa: E402

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


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dagprof", required=True)
    args = ap.parse_args()
    c = Checker("e2e_grpc_health")

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
        code, _ = status_of(raw_method(channel, "/grpc.health.v1.Health/Watch"), b"")
        c.eq(code, grpc.StatusCode.UNIMPLEMENTED, "Watch (not served)")
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
        channel.close()
        rc, _ = daemon.stop()
    c.eq(rc, 0, "dagprof exit code after SIGTERM")
    if c.failures:
        print(daemon.stderr_tail(), file=sys.stderr)
    return c.report()


if __name__ == "__main__":
    sys.exit(main())
