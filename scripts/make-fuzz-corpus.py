#!/usr/bin/env python3
"""Write the small seed corpora for the OTLP fuzz targets.

tests/fuzz/corpus/otlp_trace/ gets binary ExportTraceServiceRequests encoded
by hand (no generated code needed), covering every AnyValue kind, links,
status, unusable ids, unknown fields and a resource given twice.
tests/fuzz/corpus/otlp_json/ gets OTLP/JSON requests.
Run from anywhere: python3 scripts/make-fuzz-corpus.py
"""
import json
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fuzz", "corpus")


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def field_len(num, payload):
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def field_varint(num, v):
    return varint(num << 3) + varint(v & 0xFFFFFFFFFFFFFFFF)


def field_fixed64(num, v):
    return varint(num << 3 | 1) + struct.pack("<Q", v)


def any_value(v):
    if isinstance(v, bool):
        return field_varint(2, int(v))
    if isinstance(v, int):
        return field_varint(3, v)
    if isinstance(v, float):
        return varint(4 << 3 | 1) + struct.pack("<d", v)
    if isinstance(v, bytes):
        return field_len(7, v)
    if isinstance(v, list):
        return field_len(5, b"".join(field_len(1, any_value(x)) for x in v))
    if isinstance(v, dict):
        return field_len(6, b"".join(field_len(1, key_value(k, x)) for k, x in v.items()))
    return field_len(1, v.encode())


def key_value(k, v):
    return field_len(1, k.encode()) + field_len(2, any_value(v))


def span(tid, sid, name, start, end, parent=b"", attrs=None, links=(), status=None, kind=1):
    out = field_len(1, tid) + field_len(2, sid)
    if parent:
        out += field_len(4, parent)
    out += field_len(5, name.encode()) + field_varint(6, kind)
    out += field_fixed64(7, start) + field_fixed64(8, end)
    for k, v in (attrs or {}).items():
        out += field_len(9, key_value(k, v))
    for lt, ls in links:
        out += field_len(13, field_len(1, lt) + field_len(2, ls))
    if status is not None:
        out += field_len(15, field_len(2, status[1].encode()) + field_varint(3, status[0]))
    return out


def request(resource_spans):
    return b"".join(field_len(1, rs) for rs in resource_spans)


def resource_spans(scopes, resource=None):
    out = b""
    if resource is not None:
        out += field_len(1, b"".join(field_len(1, key_value(k, v)) for k, v in resource.items()))
    for sc in scopes:
        out += field_len(2, sc)
    return out


def scope_spans(spans, name="dagprof"):
    return field_len(1, field_len(1, name.encode())) + b"".join(field_len(2, s) for s in spans)


T1 = bytes(range(1, 17))
T2 = bytes([0xAB] * 16)
S = [bytes([i] * 8) for i in range(1, 9)]
T0 = 1_700_000_000_000_000_000


def write(sub, name, data):
    d = os.path.join(ROOT, sub)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    root = span(T1, S[0], "run", T0, T0 + 10_000_000_000, attrs={"dag.id": "review"})
    plan = span(T1, S[1], "plan", T0 + 1_000_000_000, T0 + 3_000_000_000, parent=S[0],
                attrs={"dag.node.id": "plan", "gen_ai.usage.input_tokens": 1200,
                       "gen_ai.request.model": "gpt-4o"}, status=(1, ""))
    tool = span(T1, S[2], "search", T0 + 3_000_000_000, T0 + 4_000_000_000, parent=S[1],
                attrs={"gen_ai.operation.name": "execute_tool", "ok": True, "ratio": 0.5,
                       "deps": ["plan", 3, False], "blob": b"\x00\x01", "map": {"a": 1}},
                links=[(T1, S[0]), (T2, S[3][:7])], status=(2, "timeout"), kind=3)
    write("otlp_trace", "two_resources.bin",
          request([resource_spans([scope_spans([root, plan])], {"service.name": "agent"}),
                   resource_spans([scope_spans([tool])])]))
    write("otlp_trace", "bad_ids.bin",
          request([resource_spans([scope_spans([
              span(T1[:5], S[0], "short", 1, 2), span(bytes(16), S[1], "zero", 1, 2),
              span(T1, S[2][:7], "short-span", 1, 2), span(T1, S[3], "bad-parent", 1, 2, parent=b"\x01"),
              span(T1, S[4], "good", 1, 2)])])]))
    unknown = field_varint(100, 7) + field_len(101, b"x") + field_fixed64(102, 9)
    write("otlp_trace", "unknown_fields.bin",
          unknown + request([unknown + resource_spans([unknown + scope_spans([plan + unknown])])]))
    res_a = field_len(1, field_len(1, key_value("a", "1")))
    res_b = field_len(1, field_len(1, key_value("b", 2)))
    write("otlp_trace", "repeated_resource.bin",
          request([res_a + field_len(2, scope_spans([root])) + res_b]))
    write("otlp_trace", "empty.bin", b"")

    def hexs(b):
        return b.hex()

    doc = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "agent"}}]},
        "scopeSpans": [{"scope": {"name": "dagprof"}, "spans": [
            {"traceId": hexs(T1), "spanId": hexs(S[0]), "name": "run", "kind": 1,
             "startTimeUnixNano": str(T0), "endTimeUnixNano": str(T0 + 10**10)},
            {"traceId": hexs(T1), "spanId": hexs(S[1]), "parentSpanId": hexs(S[0]),
             "name": "plan", "kind": "SPAN_KIND_CLIENT",
             "startTimeUnixNano": T0 + 10**9, "endTimeUnixNano": T0 + 3 * 10**9,
             "attributes": [
                 {"key": "n", "value": {"intValue": "1200"}},
                 {"key": "d", "value": {"doubleValue": 0.5}},
                 {"key": "b", "value": {"boolValue": True}},
                 {"key": "x", "value": {"bytesValue": "AAE="}},
                 {"key": "a", "value": {"arrayValue": {"values": [{"stringValue": "p"}]}}},
                 {"key": "m", "value": {"kvlistValue": {"values": []}}}],
             "links": [{"traceId": hexs(T2), "spanId": hexs(S[3])}],
             "status": {"code": "STATUS_CODE_ERROR", "message": "boom"}}]}]}]}
    write("otlp_json", "request.json", json.dumps(doc).encode())
    snake = json.dumps(doc).replace("resourceSpans", "resource_spans").replace("scopeSpans", "scope_spans")
    write("otlp_json", "snake_case.json", snake.encode())
    bad = {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "abc", "spanId": hexs(S[0])}]}]}]}
    write("otlp_json", "bad_trace_id.json", json.dumps(bad).encode())
    write("otlp_json", "empty_object.json", b"{}")


if __name__ == "__main__":
    main()
