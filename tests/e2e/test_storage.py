#!/usr/bin/env python3
"""End-to-end tests of the persistent queue (storage.path, docs/storage.md).

The upstream is tests/e2e/upstream_sink.py's Sink (decoding with
protoc-generated classes, not dagprof's decoder); the client is Debian's
python3-grpcio. Every span id the test sends is its own (build_run encodes
the run number in it), so "every acknowledged span arrived" is checked
against the test's own list, not against anything dagprof reports.

Scenarios (--scenario, one CTest test each):
  kill9   runs (long idle timeout: none finishes) and forwarded metrics (the
          upstream is down: none is delivered) are acknowledged, then the
          daemon gets SIGKILL. A second daemon on the same storage path
          replays them: every acknowledged span and metrics request reaches
          the upstream, and the segment files are deleted once delivered.
  full    a tiny storage.max_size: requests beyond it get UNAVAILABLE over
          gRPC and 503 with Retry-After over HTTP; after SIGKILL and a
          restart every acknowledged span arrives and no refused one does.
  corrupt a segment whose last record is cut short: the restart delivers the
          records before it, names the file and offset in one warning and
          deletes the file.
  reports kill9 without an upstream: the replayed runs are reported on
          stdout, and reporting them deletes the segments.
  sigterm runs and forwarded metrics acknowledged while the upstream is down,
          then SIGTERM: the shutdown runs out of upstream.shutdown_timeout,
          exits 0 and keeps the segment with every undelivered item counted
          in its log line; a restart delivers each span once and deletes it.

With --protocol http/protobuf the upstream is the sink's OTLP/HTTP receiver
and dagprof exports over OTLP/HTTP: delivery is tracked the same way.

  test_storage.py --dagprof PATH --scenario NAME [--protocol grpc|http/protobuf]
"""

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from e2e_common import Checker, Daemon, import_grpc  # noqa: E402

grpc = import_grpc()
import test_upstream_e2e as up  # noqa: E402  (the sink and the run builder)

NODES = 3
PER_RUN = 1 + 2 * NODES  # build_run: a root, then a node and a chat span per step


def segment_files(path):
    return sorted(f for f in os.listdir(path) if re.fullmatch(r"wal-\d+\.log", f))


def wait_until(pred, timeout):
    """Poll pred on an Event's timed wait (not a sleep used as a sync point:
    the condition is re-checked until it holds or the deadline passes)."""
    ev = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if pred():
            return True
        ev.wait(0.05)
    return pred()


def sent_ids(runs):
    """(trace id, span id) of every span of these runs, from build_run."""
    return {(sp.trace_id, sp.span_id) for r in runs for sp in up.build_run(r, NODES)}


def arrived_ids(sink):
    return [(sp.trace_id, sp.span_id) for _, _, sp in sink.spans()]


def daemon(binary, sink_port, path, idle, extra=()):
    d = Daemon(binary, ["--upstream", "http://127.0.0.1:%d" % sink_port,
                        "--set", "upstream.batch_timeout=20ms",
                        "--set", "upstream.retry_initial_backoff=20ms",
                        "--set", "upstream.retry_max_backoff=200ms",
                        "--upstream-protocol", up.PROTOCOL[0],
                        "--set", "storage.path=" + path] + list(extra), idle_timeout=idle)
    return d.start()


def kill9(d):
    d.proc.kill()  # SIGKILL: no shutdown code runs
    d.proc.wait()


def deliver_after_restart(c, args, sink, path, runs, also=None):
    """Bring the upstream up and start dagprof again on the same path: every
    span of these runs (none delivered before) arrives exactly once, as do
    the forwarded metrics, and the segments go. also(d2) checks more while
    it runs. Returns the stopped daemon, for its log."""
    sink.command("up")
    d2 = daemon(args.dagprof, sink.port, path, "200ms")
    want = sent_ids(runs)
    try:
        c.ok(sink.wait_for(lambda: want <= set(arrived_ids(sink)), 120),
             "every acknowledged span delivered after the restart (%d of %d)"
             % (len(want & set(arrived_ids(sink))), len(want)))
        c.ok(sink.wait_for(lambda: len(sink.received["metrics"]) >= 1, 60),
             "the forwarded metrics delivered after the restart")
        c.ok(wait_until(lambda: segment_files(path) == [], 60),
             "segment files deleted once delivered: %r" % segment_files(path))
        if also:
            also(d2)
    finally:
        rc, _ = d2.stop()
    c.eq(rc, 0, "dagprof exit status")
    got = arrived_ids(sink)
    c.eq(len(got), len(want), "spans at the upstream (%d runs x %d), each once"
         % (len(runs), PER_RUN))
    c.eq(set(got), want, "the spans at the upstream are the ones sent")
    return d2


def scenario_kill9(c, args, path):
    sink = up.start_sink()
    sink.command("down")  # nothing can be delivered before the kill
    runs = list(range(1, 41))
    metrics = [up.metrics_request("sdk-%d" % i, 5) for i in range(3)]
    d = daemon(args.dagprof, sink.port, path, "1h")
    with grpc.insecure_channel(d.endpoint) as ch:
        for r in runs:
            # each call returns only once dagprof acknowledged it (raises otherwise)
            up.export(ch, "traces", up.trace_request(up.build_run(r, NODES)))
        for m in metrics:
            up.export(ch, "metrics", m)
    c.ok(len(segment_files(path)) >= 1, "segment files written: %r" % segment_files(path))
    kill9(d)
    c.eq(len(sink.spans()), 0, "nothing delivered before the kill (upstream down, runs open)")

    def replay_counted(d2):
        # the replay in the self-metrics: 40 trace + 3 metrics requests read back
        status, _, body = d2.scrape()
        c.eq(status, 200, "/metrics answers")
        c.ok(re.search(r"^dagprof_storage_replayed_records_total(\{[^}]*\})? 43$", body, re.M),
             "dagprof_storage_replayed_records_total is 43")
        c.ok(re.search(r"^dagprof_storage_corrupted_tails_total(\{[^}]*\})? 0$", body, re.M),
             "no corrupted tail counted")

    # nothing was delivered before the kill, so each span comes back exactly once
    d2 = deliver_after_restart(c, args, sink, path, runs, replay_counted)
    # dagprof's own derived metrics go the same way: look at the SDK's only
    sent_m = sorted(m.resource_metrics[0].SerializeToString() for m in metrics)
    got_m = sorted(x.SerializeToString() for req in sink.received["metrics"]
                   for x in req.resource_metrics
                   if any(a.key == "service.name" and a.value.string_value.startswith("sdk-")
                          for a in x.resource.attributes))
    c.ok(got_m == sent_m, "forwarded metrics arrive once, unchanged (%d of %d requests)"
         % (len(set(got_m) & set(sent_m)), len(sent_m)))
    # 40 trace requests + 3 metrics requests were in the log
    c.ok(any("replayed 43 record(s) (280 span(s), 15 metric point(s)" in l
             for l in d2.stderr_lines), "the replay is logged:\n" + d2.stderr_tail(10))
    c.eq(segment_files(path), [], "no segment file after a clean stop")
    sink.stop()


def big_run(r):
    """build_run with a 4 KiB attribute on each span, so a few runs fill 1 MiB."""
    spans = up.build_run(r, NODES)
    for sp in spans:
        sp.attributes.append(up.kv("pad", "x" * 4096))
    return spans


def scenario_full(c, args, path):
    sink = up.start_sink()
    limits = ["--set", "storage.max_size=1MiB", "--set", "storage.segment_size=64KiB",
              "--set", "storage.sync=always"]
    d = daemon(args.dagprof, sink.port, path, "1h", limits)
    acked, refused = [], []
    http_status = http_retry = None
    with grpc.insecure_channel(d.endpoint) as ch:
        # 7 spans of ~4.2 KiB: ~30 KiB a run, so 1 MiB holds about 34 runs
        for r in range(1, 101):
            try:
                up.export(ch, "traces", up.trace_request(big_run(r)))
                acked.append(r)
            except grpc.RpcError as e:
                c.eq(e.code(), grpc.StatusCode.UNAVAILABLE, "run %d refused with" % r)
                refused.append(r)
                if len(refused) >= 3:
                    break
    body = up.trace_request(big_run(1000)).SerializeToString()
    req = urllib.request.Request(d.http_endpoint + "/v1/traces", data=body, method="POST",
                                 headers={"Content-Type": "application/x-protobuf"})
    try:
        urllib.request.urlopen(req, timeout=30)
        http_status = 200
    except urllib.error.HTTPError as e:
        http_status, http_retry = e.code, e.headers.get("Retry-After")
    c.ok(20 <= len(acked) <= 40, "runs acknowledged before the limit: %d (about 34)" % len(acked))
    c.eq(len(refused), 3, "runs refused once storage.max_size is reached")
    c.eq(http_status, 503, "OTLP/HTTP answer when the storage is full")
    c.ok(http_retry is not None, "503 carries Retry-After")
    c.ok(d.proc.poll() is None, "dagprof still running")
    kill9(d)

    d2 = daemon(args.dagprof, sink.port, path, "200ms", limits)
    want = sent_ids(acked)
    try:
        c.ok(sink.wait_for(lambda: want <= set(arrived_ids(sink)), 120),
             "every acknowledged span delivered after the restart")
        c.ok(wait_until(lambda: segment_files(path) == [], 60),
             "segment files deleted once delivered: %r" % segment_files(path))
        # room again: a new request is taken
        with grpc.insecure_channel(d2.endpoint) as ch:
            up.export(ch, "traces", up.trace_request(big_run(2000)))
        want2 = want | sent_ids([2000])
        c.ok(sink.wait_for(lambda: want2 <= set(arrived_ids(sink)), 60),
             "a request after the space was freed is delivered")
    finally:
        rc, _ = d2.stop()
    c.eq(rc, 0, "dagprof exit status")
    got = set(arrived_ids(sink))
    c.eq(got & (sent_ids(refused) | sent_ids([1000])), set(), "no refused span arrives")
    sink.stop()


def scenario_corrupt(c, args, path):
    sink = up.start_sink()
    sink.command("down")
    runs = [1, 2, 3]
    d = daemon(args.dagprof, sink.port, path, "1h")
    with grpc.insecure_channel(d.endpoint) as ch:
        for r in runs:
            up.export(ch, "traces", up.trace_request(up.build_run(r, NODES)))
    kill9(d)
    files = segment_files(path)
    c.eq(len(files), 1, "one segment file")
    seg = os.path.join(path, files[0])
    size = os.path.getsize(seg)
    with open(seg, "r+b") as f:
        f.truncate(size - 10)  # cut the last record (run 3) short
    # run 3's record: 24-byte header + its request; it started at this offset
    last_len = 24 + len(up.trace_request(up.build_run(3, NODES)).SerializeToString())
    offset = size - last_len
    sink.command("up")
    d2 = daemon(args.dagprof, sink.port, path, "200ms")
    want = sent_ids([1, 2])
    try:
        c.ok(sink.wait_for(lambda: want <= set(arrived_ids(sink)), 60),
             "the records before the cut are delivered")
        c.ok(wait_until(lambda: segment_files(path) == [], 60), "the segment file is deleted")
    finally:
        rc, _ = d2.stop()
    c.eq(rc, 0, "dagprof exit status")
    c.eq(set(arrived_ids(sink)), want, "runs 1 and 2 arrive, run 3 (cut) does not")
    warn = [l for l in d2.stderr_lines if "truncated record" in l]
    c.eq(len(warn), 1, "one warning for the cut record")
    c.ok(warn and files[0] in warn[0] and ("offset %d;" % offset) in warn[0],
         "the warning names the file and offset %d: %r" % (offset, warn))
    sink.stop()


def scenario_reports(c, args, path):
    """kill9 without an upstream: the replayed runs are reported (JSON on
    stdout), and reporting them is what frees their segments."""
    runs = list(range(1, 21))
    d = Daemon(args.dagprof, ["--set", "storage.path=" + path], idle_timeout="1h").start()
    with grpc.insecure_channel(d.endpoint) as ch:
        for r in runs:
            up.export(ch, "traces", up.trace_request(up.build_run(r, NODES)))
    kill9(d)
    c.eq(d.stdout_lines, [], "no report before the kill (runs still open)")
    d2 = Daemon(args.dagprof, ["--set", "storage.path=" + path], idle_timeout="200ms").start()
    # build_run's trace id: 0xB0 then the run number in 15 bytes, big-endian
    want = {(bytes([0xB0]) + r.to_bytes(15, "big")).hex() for r in runs}
    try:
        reported = lambda: {json.loads(l)["trace_id"] for l in d2.stdout_lines if l.strip()}
        c.ok(wait_until(lambda: want <= reported(), 60),
             "every acknowledged run reported after the restart (%d of %d)"
             % (len(want & reported()), len(want)))
        c.ok(wait_until(lambda: segment_files(path) == [], 60),
             "segment files deleted once reported: %r" % segment_files(path))
    finally:
        rc, reports = d2.stop()
    c.eq(rc, 0, "dagprof exit status")
    c.eq(sorted(r["trace_id"] for r in reports), sorted(want), "each run reported once")
    c.eq({r["span_count"] for r in reports}, {PER_RUN}, "spans per reported run")


def scenario_sigterm(c, args, path):
    sink = up.start_sink()
    sink.command("down")  # nothing can be delivered before the stop
    runs = list(range(1, 41))
    metrics = [up.metrics_request("sdk-%d" % i, 5) for i in range(3)]
    stop_soon = ["--set", "upstream.shutdown_timeout=1s"]
    d = daemon(args.dagprof, sink.port, path, "200ms", stop_soon)
    with grpc.insecure_channel(d.endpoint) as ch:
        for r in runs:
            up.export(ch, "traces", up.trace_request(up.build_run(r, NODES)))
        for m in metrics:
            up.export(ch, "metrics", m)
    # outstanding: 40 runs x 7 spans, and one item per metrics request (not its 5 points)
    status, _, body = d.scrape()
    c.eq(status, 200, "/metrics answers")
    c.ok(re.search(r"^dagprof_storage_outstanding_items(\{[^}]*\})? 283$", body, re.M),
         "dagprof_storage_outstanding_items is 283: %r"
         % re.findall(r"^dagprof_storage_outstanding_items.*$", body, re.M))
    rc, _ = d.stop()
    c.eq(rc, 0, "dagprof exit status after SIGTERM with an undelivered queue")
    c.eq(len(sink.spans()), 0, "nothing delivered before the stop (upstream down)")
    c.ok(len(segment_files(path)) >= 1, "segment files kept: %r" % segment_files(path))
    # 40 runs of 7 spans and 3 forwarded metrics requests (one item each)
    kept = [l for l in d.stderr_lines if "kept in" in l and "for the next start" in l]
    c.ok(len(kept) == 1 and "283 item(s) not yet done" in kept[0] and "0 not replayed" in kept[0],
         "the kept items are counted in the log: %r" % kept)

    d2 = deliver_after_restart(c, args, sink, path, runs)
    c.ok(any("replayed 43 record(s) (280 span(s), 15 metric point(s)" in l
             for l in d2.stderr_lines), "the replay is logged:\n" + d2.stderr_tail(10))
    sink.stop()


SCENARIOS = {"kill9": scenario_kill9, "full": scenario_full, "corrupt": scenario_corrupt,
             "reports": scenario_reports, "sigterm": scenario_sigterm}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dagprof", required=True)
    ap.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    ap.add_argument("--protocol", default="grpc", choices=["grpc", "http/protobuf"])
    args = ap.parse_args()
    up.PROTOCOL[0] = args.protocol  # the upstream sink's and dagprof's exporter's
    c = Checker("storage_" + args.scenario)
    path = tempfile.mkdtemp(prefix="dp-storage-")
    try:
        SCENARIOS[args.scenario](c, args, os.path.join(path, "queue"))
    finally:
        shutil.rmtree(path, ignore_errors=True)
    return c.report()


if __name__ == "__main__":
    sys.exit(main())
