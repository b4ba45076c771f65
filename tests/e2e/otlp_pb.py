"""OTLP protobuf message classes for the Python end-to-end tests.

Generated at test time from the repository's proto/ with `protoc --python_out`
into a temporary directory (nothing generated is committed), then imported.
Needs Debian's protobuf-compiler, python3-protobuf and python3-grpcio.

    pb = otlp_pb.load()
    req = pb.trace_service.ExportTraceServiceRequest()
    export = pb.trace_export(channel)       # unary callable on a grpc channel
"""

import atexit
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import types

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO_DIR = os.path.join(ROOT, "proto")

TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
METRICS_EXPORT = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
LOGS_EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"

_loaded = None


def _generate(out_dir):
    protoc = shutil.which("protoc")
    if not protoc:
        raise RuntimeError("protoc not found: install Debian's protobuf-compiler "
                           "(scripts/install-deps.sh --test)")
    files = []
    for dirpath, _dirs, names in os.walk(PROTO_DIR):
        for n in names:
            if n.endswith(".proto"):
                files.append(os.path.relpath(os.path.join(dirpath, n), PROTO_DIR))
    subprocess.run([protoc, "-I", PROTO_DIR, "--python_out", out_dir] + sorted(files),
                   check=True)
    # Make every generated folder a package so plain imports work everywhere.
    for dirpath, _dirs, _names in os.walk(out_dir):
        init = os.path.join(dirpath, "__init__.py")
        if not os.path.exists(init):
            open(init, "w").close()


def load():
    """Generate (once per process) and import the OTLP message modules."""
    global _loaded
    if _loaded is not None:
        return _loaded
    out_dir = tempfile.mkdtemp(prefix="dagprof-otlp-pb-")
    atexit.register(shutil.rmtree, out_dir, True)
    _generate(out_dir)
    sys.path.insert(0, out_dir)
    mod = lambda name: importlib.import_module("opentelemetry.proto." + name)  # noqa: E731
    ns = types.SimpleNamespace(
        common=mod("common.v1.common_pb2"),
        resource=mod("resource.v1.resource_pb2"),
        trace=mod("trace.v1.trace_pb2"),
        metrics=mod("metrics.v1.metrics_pb2"),
        logs=mod("logs.v1.logs_pb2"),
        trace_service=mod("collector.trace.v1.trace_service_pb2"),
        metrics_service=mod("collector.metrics.v1.metrics_service_pb2"),
        logs_service=mod("collector.logs.v1.logs_service_pb2"),
        out_dir=out_dir,
    )

    def trace_export(channel):
        return channel.unary_unary(
            TRACE_EXPORT,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=ns.trace_service.ExportTraceServiceResponse.FromString)

    def metrics_export(channel):
        return channel.unary_unary(
            METRICS_EXPORT,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=ns.metrics_service.ExportMetricsServiceResponse.FromString)

    def logs_export(channel):
        return channel.unary_unary(
            LOGS_EXPORT,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=ns.logs_service.ExportLogsServiceResponse.FromString)

    ns.trace_export = trace_export
    ns.metrics_export = metrics_export
    ns.logs_export = logs_export
    _loaded = ns
    return ns


def attr(pb, key, value):
    """A KeyValue from a Python value (str, bool, int, float, list of those)."""
    kv = pb.common.KeyValue(key=key)
    _set_any(kv.value, value)
    return kv


def _set_any(av, value):
    if isinstance(value, bool):
        av.bool_value = value
    elif isinstance(value, int):
        av.int_value = value
    elif isinstance(value, float):
        av.double_value = value
    elif isinstance(value, str):
        av.string_value = value
    elif isinstance(value, bytes):
        av.bytes_value = value
    elif isinstance(value, (list, tuple)):
        av.array_value.SetInParent()
        for item in value:
            _set_any(av.array_value.values.add(), item)
    else:
        raise TypeError("unsupported attribute value %r" % (value,))


def simple_span(pb, trace_id, span_no, parent_no, name, attrs=(), tag=0x5a, duration_ms=500):
    """A span whose ids are made from small numbers: span id span_no, six
    zero bytes and `tag`; the parent's likewise (none when parent_no is 0).
    Starts span_no ms after a fixed time (2023-11-14) and lasts duration_ms."""
    s = pb.trace.Span()
    s.trace_id = trace_id
    s.span_id = bytes([span_no]) + b"\x00" * 6 + bytes([tag])
    if parent_no:
        s.parent_span_id = bytes([parent_no]) + b"\x00" * 6 + bytes([tag])
    s.name = name
    s.start_time_unix_nano = 1_700_000_000_000_000_000 + span_no * 1_000_000
    s.end_time_unix_nano = s.start_time_unix_nano + duration_ms * 1_000_000
    for k, v in attrs:
        s.attributes.append(attr(pb, k, v))
    return s


def trace_request(pb, spans, service, scope):
    """An ExportTraceServiceRequest of one resource (service.name = service)
    and one scope holding spans."""
    req = pb.trace_service.ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(attr(pb, "service.name", service))
    ss = rs.scope_spans.add()
    ss.scope.name = scope
    ss.spans.extend(spans)
    return req
