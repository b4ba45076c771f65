#!/usr/bin/env python3
"""End-to-end: the OTLP/gRPC receiver against hostile clients.

The hostile clients are driven frame by frame with python3-h2 (HTTP/2 with
prior knowledge, as gRPC speaks it), since a well-behaved gRPC library will
not send a pre-compressed bomb, trickle a message, stop halfway or keep its
flow-control window shut. The daemon's resident memory comes from
/proc/PID/status (VmHWM, the peak; VmRSS).

  bomb        a 4 MiB gzip message that inflates to 4 GiB: RESOURCE_EXHAUSTED
              with a message, and the daemon's peak RSS under its idle RSS +
              2 x max_recv_message_size; three at once under 3 x that;
              valid gzip and deflate messages of the same client are taken
              and reported
  slowloris   200 streams trickling a message a few bytes at a time: each
              cut off (DEADLINE_EXCEEDED) within server.recv_timeout + margin,
              while a normal client is served meanwhile
  slowloris_http 20 OTLP/HTTP bodies trickled a byte every 200 ms: each
              connection closed within server.recv_timeout + margin and
              counted, a normal client served meanwhile
  noread      connections whose flow-control window never opens (a client
              that never reads its answers) and keep opening calls: RSS stays
              bounded, the stuck calls are cut off, others are served
  shutdown    one half-sent message, then SIGTERM: the daemon exits within
              server.shutdown_timeout + margin, logs the calls it cancelled,
              and the run taken before is reported
  shutdown_tls the same with TLS on the gRPC port, the half-sent call over
              TLS: what the core sends as it cancels the call (through
              dagprof's TLS proxy) reaches the client before the connection
              closes
  silent      plaintext connections that never send (all of) the HTTP/2
              connection preface (its string and SETTINGS frame): closed at
              server.handshake_timeout and counted
  shutdown_idle connections without calls that ignore the shutdown's GOAWAY,
              then SIGTERM: closed at once, no wait for shutdown_timeout
  fdlimit     the daemon at RLIMIT_NOFILE 64 and more idle connections than
              that: once they close, a normal export succeeds promptly
  fdlimit_tls the same with TLS on the gRPC port (dagprof accepts TLS
              connections too, and does their handshakes itself)
  maxconn     server.max_connections 20: on each port the 21st and 22nd
              connections are closed at once and counted; once some of the
              20 close, an export on a new connection succeeds; then the same
              on the gRPC port with TLS, where connections still in their
              handshake count too
  manyfds     the automatic limit with the open-file limit raised: 1100 idle
              connections (descriptors past FD_SETSIZE); the health endpoint
              and an export still answer

  test_receiver_faults.py --dagprof PATH --scenario NAME
"""

import argparse
import gzip
import http.client
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import Checker, Daemon, import_grpc, status_kib  # noqa: E402

grpc = import_grpc()
import otlp_pb  # noqa: E402

import h2.config  # noqa: E402  (python3-h2)
import h2.connection  # noqa: E402
import h2.events  # noqa: E402
import h2.exceptions  # noqa: E402
import h2.settings  # noqa: E402

MIB = 1 << 20
# AddressSanitizer's allocator keeps freed memory in quarantine: on such a
# build the memory bounds are not asserted (the rest is)
SANITIZED = False
GRPC_STATUS = {0: "OK", 1: "CANCELLED", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED",
               8: "RESOURCE_EXHAUSTED", 12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE"}


def grpc_frame(message, compressed=False):
    """A gRPC length-prefixed message: the compressed flag, the length (big-endian), the bytes."""
    return bytes([1 if compressed else 0]) + len(message).to_bytes(4, "big") + message


class Call:
    """What came back on one stream."""

    def __init__(self):
        self.headers = {}
        self.status = None  # grpc-status as a name, "RST_STREAM n", or "GOAWAY"
        self.message = ""
        self.done = threading.Event()


class H2Client:
    """One HTTP/2 connection to the receiver, driven with python3-h2.

    A reader thread takes every frame the server sends (answering its
    SETTINGS and PINGs). `window` sets the client's initial stream window
    (0: answers' messages can never be sent to it); with `grant` False the
    client never opens its windows again, so it never reads an answer's
    bytes."""

    def __init__(self, port, window=None, grant=True):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.settimeout(None)
        self.port = port
        self.grant = grant
        self.conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.cond = threading.Condition()
        self.calls = {}
        self.closed = False
        self.conn.initiate_connection()
        if window is not None:
            self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        self._flush()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def _read(self):
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                with self.cond:
                    try:
                        events = self.conn.receive_data(data)
                    except h2.exceptions.ProtocolError:
                        break
                    for ev in events:
                        self._event(ev)
                    self._flush()
                    self.cond.notify_all()
        except OSError:
            pass
        with self.cond:
            self.closed = True
            for call in self.calls.values():
                if call.status is None:
                    call.status = "closed"
                call.done.set()
            self.cond.notify_all()

    def _event(self, ev):
        call = self.calls.get(getattr(ev, "stream_id", None))
        if isinstance(ev, (h2.events.ResponseReceived, h2.events.TrailersReceived)) and call:
            call.headers.update(dict(ev.headers))
            if "grpc-status" in call.headers:
                code = int(call.headers["grpc-status"])
                call.status = GRPC_STATUS.get(code, str(code))
                call.message = call.headers.get("grpc-message", "")
                call.done.set()
        elif isinstance(ev, h2.events.DataReceived):
            if self.grant:
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.StreamReset) and call:
            if call.status is None:
                call.status = "RST_STREAM %d" % ev.error_code
            call.done.set()
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.closed = True
            for c in self.calls.values():
                if c.status is None:
                    c.status = "GOAWAY"
                c.done.set()

    def start(self, path=otlp_pb.TRACE_EXPORT, encoding=None):
        """Open a call (its headers); returns its stream id."""
        headers = [(":method", "POST"), (":scheme", "http"), (":path", path),
                   (":authority", "127.0.0.1:%d" % self.port),
                   ("content-type", "application/grpc"), ("te", "trailers")]
        if encoding:
            headers.append(("grpc-encoding", encoding))
        with self.cond:
            sid = self.conn.get_next_available_stream_id()
            self.calls[sid] = Call()
            self.conn.send_headers(sid, headers)
            self._flush()
        return sid

    def send(self, sid, data, end=False, timeout=30.0):
        """Send `data` on stream `sid` as the flow-control windows allow
        (waiting for the server's WINDOW_UPDATEs); False when the stream or
        the connection ended first or the windows stayed shut."""
        deadline = time.monotonic() + timeout
        view = memoryview(data)
        with self.cond:
            while True:
                if self.closed or self.calls[sid].done.is_set():
                    return False
                try:
                    room = min(self.conn.local_flow_control_window(sid),
                               self.conn.max_outbound_frame_size)
                except h2.exceptions.StreamClosedError:
                    return False
                if len(view) == 0 or room > 0:
                    n = min(room, len(view))
                    last = end and n == len(view)
                    try:
                        self.conn.send_data(sid, view[:n].tobytes(), end_stream=last)
                        self._flush()
                    except (h2.exceptions.StreamClosedError, OSError):
                        return False
                    view = view[n:]
                    if len(view) == 0:
                        return True
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)

    def call(self, message, encoding=None, path=otlp_pb.TRACE_EXPORT, timeout=30.0):
        """A whole unary call: returns its Call once it has ended (or the timeout passed)."""
        sid = self.start(path, encoding)
        self.send(sid, grpc_frame(message, compressed=encoding is not None), end=True,
                  timeout=timeout)
        self.calls[sid].done.wait(timeout)
        return self.calls[sid]

    def close(self):
        try:
            with self.cond:
                self.conn.close_connection()
                self._flush()
        except OSError:
            pass
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.reader.join(10)


def gzip_bomb(inflated_mib):
    """A valid gzip member of `inflated_mib` MiB of zeros, built without
    compressing them all: one 1 MiB piece deflated and fully flushed (byte
    aligned, no reference to what came before) is repeated; the trailer's
    CRC-32 and size are those of all the zeros."""
    zeros = bytes(MIB)
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    piece = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    tail = c.flush(zlib.Z_FINISH)  # the final empty block and c's own trailer
    body = tail[:-8]
    crc = 0
    for _ in range(inflated_mib):
        crc = zlib.crc32(zeros, crc)
    trailer = crc.to_bytes(4, "little") + ((inflated_mib * MIB) & 0xffffffff).to_bytes(4, "little")
    return head + piece * (inflated_mib - 1) + body + trailer


def one_trace(pb, tag, spans=1):
    """(trace id hex, serialized request) of one trace of `spans` spans."""
    tid = os.urandom(16)
    s = [otlp_pb.simple_span(pb, tid, k + 1, 0 if k == 0 else 1, "%s-%d" % (tag, k))
         for k in range(spans)]
    return tid.hex(), otlp_pb.trace_request(pb, s, "faults-" + tag, "e2e").SerializeToString()


def reported(daemon, tid, timeout=30.0):
    return daemon.wait_for_report(lambda r: r.get("trace_id") == tid, timeout)


def metric(daemon, name):
    """The value of an unlabelled sample on the daemon's /metrics, or None."""
    status, _, body = daemon.scrape()
    assert status == 200, status
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def grpc_export(endpoint, body, timeout=10.0, compression=None, creds=None):
    """A normal client's export with python3-grpcio (over TLS with creds): None when OK, else
    the error."""
    ch = grpc.secure_channel(endpoint, creds) if creds else grpc.insecure_channel(endpoint)
    try:
        ch.unary_unary(otlp_pb.TRACE_EXPORT)(body, timeout=timeout, compression=compression)
        return None
    except grpc.RpcError as e:
        return "%s: %s" % (e.code().name, e.details())
    finally:
        ch.close()


# --- scenarios -----------------------------------------------------------------


def scenario_bomb(c, args):
    pb = otlp_pb.load()
    cap = 16 * MIB
    daemon = Daemon(args.dagprof, extra_args=["--workers", "2", "--set",
                                              "server.max_recv_message_size=16MiB"]).start()
    pid = daemon.proc.pid
    try:
        # the inflating path takes valid gzip and deflate (and grpcio's own gzip)
        h = H2Client(daemon.port)
        tid, body = one_trace(pb, "gzip")
        call = h.call(gzip.compress(body), encoding="gzip")
        c.eq(call.status, "OK", "a valid gzip message (%s)" % call.message)
        c.ok(reported(daemon, tid), "the gzip message's trace is reported")
        tid, body = one_trace(pb, "deflate")
        call = h.call(zlib.compress(body), encoding="deflate")
        c.eq(call.status, "OK", "a valid deflate message (%s)" % call.message)
        c.ok(reported(daemon, tid), "the deflate message's trace is reported")
        tid, body = one_trace(pb, "grpcio")
        c.eq(grpc_export(daemon.endpoint, body, compression=grpc.Compression.Gzip), None,
             "grpcio's gzip")
        c.ok(reported(daemon, tid), "grpcio's gzip message's trace is reported")
        # two gzip members, as gunzip reads them
        tid, body = one_trace(pb, "members")
        call = h.call(gzip.compress(body[:10]) + gzip.compress(body[10:]), encoding="gzip")
        c.eq(call.status, "OK", "a message of two gzip members (%s)" % call.message)
        # corrupt: INVALID_ARGUMENT with a message
        bad = bytearray(gzip.compress(body))
        bad[-8] ^= 0xff
        call = h.call(bytes(bad), encoding="gzip")
        c.eq(call.status, "INVALID_ARGUMENT", "a gzip message with a wrong CRC")
        c.ok("gzip" in call.message, "its message names gzip: %r" % call.message)

        bomb = gzip_bomb(4096)
        c.ok(len(bomb) < 5 * MIB, "the bomb is %.1f MiB" % (len(bomb) / MIB))
        d = zlib.decompressobj(31)
        c.eq(len(d.decompress(bomb, 64 * MIB)), 64 * MIB, "the bomb inflates past 64 MiB")
        baseline = status_kib(pid, "VmRSS")
        started = time.monotonic()
        call = h.call(bomb, encoding="gzip", timeout=50)
        print("bomb: %s %r in %.1f s" % (call.status, call.message, time.monotonic() - started))
        c.eq(call.status, "RESOURCE_EXHAUSTED", "the bomb's status")
        c.ok("max_recv_message_size" in call.message and str(cap) in call.message,
             "the message names the limit: %r" % call.message)
        peak = status_kib(pid, "VmHWM")
        print("idle RSS %d KiB, peak %d KiB, bound %d KiB" % (baseline, peak,
                                                               baseline + 2 * cap // 1024))
        c.ok(SANITIZED or peak <= baseline + 2 * cap // 1024,
             "peak RSS %d KiB within idle %d KiB + 2 x max_recv_message_size" % (peak, baseline))
        h.close()

        # three at once, on three connections: bounded by what is held at once
        results = []

        def one():
            hc = H2Client(daemon.port)
            results.append(hc.call(bomb, encoding="gzip", timeout=50).status)
            hc.close()

        threads = [threading.Thread(target=one) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        c.eq(results, ["RESOURCE_EXHAUSTED"] * 3, "three bombs at once")
        peak = status_kib(pid, "VmHWM")
        # each request in flight within 2 x max_recv_message_size, as one alone
        # (its inflate buffer, its compressed message in the core, the allocator's slack)
        bound = baseline + 3 * 2 * cap // 1024
        print("three bombs: peak %d KiB, bound %d KiB" % (peak, bound))
        c.ok(SANITIZED or peak <= bound,
             "peak RSS %d KiB within %d KiB with three bombs" % (peak, bound))
        tid, body = one_trace(pb, "after")
        c.eq(grpc_export(daemon.endpoint, body), None, "a normal export after the bombs")
        c.ok(reported(daemon, tid), "and its trace is reported")
        c.eq(metric(daemon, "dagprof_receiver_grpc_inflate_refused_requests_total"), 4.0,
             "the four bombs counted as refused as they inflated")
    finally:
        rc, _ = daemon.stop(timeout=30)
        c.eq(rc, 0, "exit status")


def metric_value(daemon, name, labels=""):
    """The value of sample `name{labels}` on the daemon's /metrics (labels as
    written there, e.g. 'reason="recv_timeout"'), or None."""
    status, _, body = daemon.scrape()
    assert status == 200, status
    want = name + ("{%s}" % labels if labels else "") + " "
    for line in body.splitlines():
        if line.startswith(want):
            return float(line.split()[1])
    return None


def wait_until(pred, timeout):
    """Poll `pred` until it is true or `timeout` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(0.05)  # polling interval of a condition with a deadline


def scenario_slowloris(c, args):
    """200 streams on 4 connections, each trickling its message one byte every
    200 ms: every one is cut off within recv_timeout + margin of its start,
    while a normal client is served."""
    pb = otlp_pb.load()
    recv_timeout = 2.0
    daemon = Daemon(args.dagprof, extra_args=["--workers", "2", "--set",
                                              "server.recv_timeout=2s"]).start()
    conns = []
    try:
        conns = [H2Client(daemon.port) for _ in range(4)]
        streams = []  # (client, stream id, start)
        for h in conns:
            for _ in range(50):
                sid = h.start()
                # the prefix announces 1000 bytes; they come one at a time below
                h.send(sid, grpc_frame(b"x" * 1000)[:5])
                streams.append((h, sid, time.monotonic()))
        stop = threading.Event()

        def trickle():
            while not stop.is_set():
                for h, sid, _ in streams:
                    if not h.calls[sid].done.is_set():
                        h.send(sid, b"x", timeout=0.1)
                stop.wait(0.2)  # the slow client's pace, not a synchronisation

        t = threading.Thread(target=trickle, daemon=True)
        t.start()
        # a normal client meanwhile, before any slow stream is cut off
        tid, body = one_trace(pb, "normal")
        started = time.monotonic()
        err = grpc_export(daemon.endpoint, body, timeout=recv_timeout * 4)
        took = time.monotonic() - started
        c.eq(err, None, "a normal export while 200 slow streams are open")
        c.ok(took < recv_timeout, "served in %.2f s, before the slow ones are cut off" % took)
        c.ok(reported(daemon, tid), "its trace is reported")
        ended = [h.calls[sid].done.wait(max(0.0, start + recv_timeout + 3 - time.monotonic()))
                 for h, sid, start in streams]
        stop.set()
        t.join(5)
        c.eq(sum(ended), 200, "slow streams ended within recv_timeout + 3 s of their start")
        statuses = {}
        for h, sid, _ in streams:
            statuses[h.calls[sid].status] = statuses.get(h.calls[sid].status, 0) + 1
        c.eq(statuses, {"DEADLINE_EXCEEDED": 200}, "their statuses")
        msgs = {h.calls[sid].message for h, sid, _ in streams}
        c.ok(all("recv_timeout" in m for m in msgs), "their messages name recv_timeout: %s" % msgs)
        c.eq(metric_value(daemon, "dagprof_receiver_grpc_cut_off_calls_total",
                          'reason="recv_timeout"'), 200.0, "cut-off calls counted")
        c.eq(metric_value(daemon, "dagprof_receiver_grpc_calls_in_flight"), 0.0,
             "no call left in flight")
        tid, body = one_trace(pb, "after")
        c.eq(grpc_export(daemon.endpoint, body), None, "a normal export afterwards")
    finally:
        for h in conns:
            h.close()
        rc, _ = daemon.stop(timeout=30)
        c.eq(rc, 0, "exit status")


def scenario_slowloris_http(c, args):
    """20 OTLP/HTTP requests announcing a 1000-byte body and trickling it one
    byte every 200 ms (so each byte keeps the connection from being idle):
    each connection is closed within recv_timeout + margin of its headers,
    long before its body could be in, and counted; a normal client is
    served meanwhile."""
    pb = otlp_pb.load()
    recv_timeout = 2.0
    daemon = Daemon(args.dagprof, extra_args=["--set", "server.recv_timeout=2s"]).start()
    socks = []
    try:
        head = ("POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/x-protobuf\r\nContent-Length: 1000\r\n\r\n").encode()
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", daemon.http_port), timeout=5)
            s.sendall(head)
            s.setblocking(False)  # a 1-byte send never waits; a recv says at once
            socks.append([s, time.monotonic(), None])  # socket, start, when seen closed
        tid, body = one_trace(pb, "normal-http")
        conn = http.client.HTTPConnection("127.0.0.1", daemon.http_port, timeout=10)
        conn.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
        c.eq(conn.getresponse().status, 200, "a normal export while 20 slow bodies trickle")
        conn.close()
        # 1000 bytes at 5 a second would take 200 s: stop at recv_timeout + 5 s
        deadline = time.monotonic() + recv_timeout + 5
        sent = 0
        while time.monotonic() < deadline and any(x[2] is None for x in socks):
            for x in socks:
                if x[2] is not None:
                    continue
                try:
                    x[0].send(b"x")
                    if x[0].recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK) == b"":
                        x[2] = time.monotonic()
                except BlockingIOError:
                    pass  # open, nothing to read
                except OSError:  # reset, or a broken pipe
                    x[2] = time.monotonic()
            sent += 1
            time.sleep(0.2)  # the slow client's pace, not a synchronisation
        closed = [x for x in socks if x[2] is not None]
        c.eq(len(closed), 20, "slow connections closed (after %d bytes each at most)" % sent)
        late = [round(x[2] - x[1], 2) for x in closed if x[2] - x[1] > recv_timeout + 3]
        c.eq(late, [], "none closed later than recv_timeout + 3 s after its headers")
        c.ok(sent < 1000, "before their bodies could be in (%d of 1000 bytes sent)" % sent)
        c.eq(metric_value(daemon, "dagprof_receiver_http_cut_off_requests_total",
                          'reason="recv_timeout"'), 20.0, "cut-off requests counted")
        c.ok(any("server.recv_timeout" in l and "OTLP/HTTP" in l for l in daemon.stderr_lines),
             "logged, naming server.recv_timeout")
        c.ok(reported(daemon, tid), "the normal trace is reported")
    finally:
        for x in socks:
            x[0].close()
        rc, _ = daemon.stop(timeout=30)
        c.eq(rc, 0, "exit status")


def scenario_noread(c, args):
    """Two connections whose flow-control window stays shut keep opening calls
    with valid 64 KiB requests for 12 s: their answers can never be sent. The
    stuck calls are cut off after recv_timeout, the daemon's memory levels off,
    and a normal client is served throughout."""
    pb = otlp_pb.load()
    daemon = Daemon(args.dagprof, extra_args=["--workers", "2", "--set",
                                              "server.recv_timeout=2s"]).start()
    pid = daemon.proc.pid
    baseline = status_kib(pid, "VmRSS")
    stop = threading.Event()
    opened = [0, 0]
    conns = [H2Client(daemon.port, window=0, grant=False) for _ in range(2)]
    tid0 = os.urandom(16)
    spans = [otlp_pb.simple_span(pb, tid0, 1, 0, "root", attrs=[("blob", "y" * 65536)])]
    template = otlp_pb.trace_request(pb, spans, "faults-noread", "e2e").SerializeToString()

    def flood(i):
        h = conns[i]
        while not stop.is_set():
            with h.cond:
                full = h.conn.open_outbound_streams >= h.conn.remote_settings.max_concurrent_streams
                if full:
                    h.cond.wait(0.5)
                    continue
            if h.closed:
                return
            body = template.replace(tid0, os.urandom(16))
            sid = h.start()
            h.send(sid, grpc_frame(body), end=True, timeout=5)
            opened[i] += 1

    threads = [threading.Thread(target=flood, args=(i,), daemon=True) for i in range(2)]
    try:
        for t in threads:
            t.start()
        samples = []
        served = []
        started = time.monotonic()
        while time.monotonic() - started < 12:
            tid, body = one_trace(pb, "normal")
            t0 = time.monotonic()
            served.append((grpc_export(daemon.endpoint, body, timeout=5), time.monotonic() - t0))
            samples.append((time.monotonic() - started, status_kib(pid, "VmRSS")))
            stop.wait(0.5)  # the pace of the normal client
        stop.set()
        for t in threads:
            t.join(10)
        peak = status_kib(pid, "VmHWM")
        print("calls opened by the never-reading clients: %s; idle RSS %d KiB, peak %d KiB" % (
            opened, baseline, peak))
        print("RSS samples (s, KiB): %s" % [(round(a, 1), b) for a, b in samples])
        c.ok(sum(opened) >= 600, "the never-reading clients opened %d calls (> 3 x 200 open at "
             "most): stuck calls were cut off and replaced" % sum(opened))
        c.eq([e for e, _ in served if e], [], "every normal export served")
        c.ok(max(d for _, d in served) < 2.0, "normal exports took at most %.2f s" %
             max(d for _, d in served))
        # levels off: the second half adds little to the first half's peak
        first = max(k for t_, k in samples if t_ < 6)
        second = max(k for t_, k in samples if t_ >= 6)
        c.ok(SANITIZED or second <= first + 32 * 1024,
             "RSS levels off: peak %d KiB in the first 6 s, %d KiB after" % (first, second))
        c.ok(SANITIZED or peak <= baseline + 256 * 1024, "peak RSS %d KiB within idle %d KiB + 256 MiB" % (
            peak, baseline))
        cut = metric_value(daemon, "dagprof_receiver_grpc_cut_off_calls_total",
                           'reason="send_timeout"')
        c.ok(cut and cut >= 400, "answers never taken were cut off: %s" % cut)
    finally:
        stop.set()
        for h in conns:
            h.close()
        rc, _ = daemon.stop(timeout=30)
        c.eq(rc, 0, "exit status")


def scenario_shutdown(c, args):
    """A trace acknowledged, then a call whose message is half sent; SIGTERM:
    the daemon exits within shutdown_timeout + margin, logs the cancelled call,
    and reports the acknowledged trace."""
    pb = otlp_pb.load()
    shutdown_timeout = 2.0
    daemon = Daemon(args.dagprof, idle_timeout="1h",
                    extra_args=["--set", "server.shutdown_timeout=2s"]).start()
    h = H2Client(daemon.port)
    try:
        tid, body = one_trace(pb, "acked", spans=3)
        c.eq(grpc_export(daemon.endpoint, body), None, "a trace acknowledged first")
        sid = h.start()
        h.send(sid, grpc_frame(b"z" * 1000)[:500])
        c.ok(wait_until(lambda: metric_value(daemon, "dagprof_receiver_grpc_calls_in_flight") == 1,
                        10), "the half-sent call is in flight")
        started = time.monotonic()
        daemon.proc.send_signal(15)
        rc = None
        deadline = started + shutdown_timeout + 3
        while rc is None and time.monotonic() < deadline:
            rc = daemon.proc.poll()
            if rc is None:
                time.sleep(0.05)  # polling the exit with a deadline
        took = time.monotonic() - started
        print("exit after %.2f s (shutdown_timeout %.1f s)" % (took, shutdown_timeout))
        c.ok(rc is not None, "exited within shutdown_timeout + 3 s (%.2f s)" % took)
        c.ok(took >= shutdown_timeout - 0.2, "waited for the call first (%.2f s)" % took)
        rc, reports = daemon.stop(timeout=30)
        c.eq(rc, 0, "exit status")
        if rc != 0:
            print(daemon.stderr_tail(30))
        c.ok(any(r.get("trace_id") == tid and r.get("span_count") == 3 for r in reports),
             "the acknowledged trace is reported whole")
        c.ok(any("1 call(s) still open after server.shutdown_timeout" in l
                 for l in daemon.stderr_lines), "the cancelled call is logged:\n%s" %
             daemon.stderr_tail(10))
        c.ok(h.calls[sid].done.wait(5), "the half-sent call ended for its client (%s)" %
             h.calls[sid].status)
    finally:
        h.close()
        if daemon.proc.poll() is None:
            daemon.stop(timeout=30)


def scenario_shutdown_idle(c, args):
    """Connections without calls that stay open after the GOAWAY of the
    shutdown and do not answer its PING (a client that is not a gRPC
    library), then SIGTERM: with no call in flight they are closed at once;
    the shutdown does not wait server.shutdown_timeout (10 s here, under the
    20 s the core gives the PING) for them, and logs no cancelled calls. A
    trace acknowledged before is reported."""
    pb = otlp_pb.load()
    daemon = Daemon(args.dagprof, idle_timeout="1h",
                    extra_args=["--set", "server.shutdown_timeout=10s"]).start()
    idle = []
    try:
        tid, body = one_trace(pb, "before-idle-shutdown", spans=2)
        c.eq(grpc_export(daemon.endpoint, body), None, "a trace acknowledged first")
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", daemon.port), timeout=5)
            s.sendall(H2_PREFACE + H2_EMPTY_SETTINGS)
            got = first_bytes(s, 5)
            c.ok(isinstance(got, bytes) and len(got) > 0, "an idle connection set up: %r" % (got,))
            idle.append(s)
        started = time.monotonic()
        rc, reports = daemon.stop(timeout=45)
        print("exit after %.2f s" % (time.monotonic() - started))
        c.eq(rc, 0, "exit status")
        c.ok(not any("still open after server.shutdown_timeout" in l for l in daemon.stderr_lines),
             "no call cancelled at shutdown_timeout:\n%s" % daemon.stderr_tail(10))
        c.ok(any(r.get("trace_id") == tid and r.get("span_count") == 2 for r in reports),
             "the acknowledged trace is reported")
        for s in idle:
            s.settimeout(5)
            ended = False
            try:
                while s.recv(4096):
                    pass  # the GOAWAY, then the close
                ended = True
            except (ConnectionResetError, socket.timeout):
                ended = True
            c.ok(ended, "an idle connection was closed by dagprof")
    finally:
        for s in idle:
            s.close()
        if daemon.proc.poll() is None:
            daemon.stop(timeout=45)


def self_signed(work):
    """A P-256 certificate for 127.0.0.1 and its key in work: (crt path, key path)."""
    key, crt = os.path.join(work, "server.key"), os.path.join(work, "server.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-keyout", key, "-out", crt,
                    "-subj", "/CN=dagprof-test", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return crt, key


def scenario_shutdown_tls(c, args):
    """scenario_shutdown over TLS, with one thread: the client's TLS socket is
    written and read in turn (the h2 state machine answers the server's
    SETTINGS and PINGs as frames come)."""
    import ssl  # noqa: E402  (only here)
    pb = otlp_pb.load()
    work = tempfile.mkdtemp(prefix="dagprof-shutdown-tls-")
    crt, key = self_signed(work)
    with open(crt, "rb") as f:
        creds = grpc.ssl_channel_credentials(root_certificates=f.read())
    daemon = Daemon(args.dagprof, idle_timeout="1h", extra_args=[
        "--set", "server.shutdown_timeout=2s", "--set", "server.tls.cert_file=" + crt,
        "--set", "server.tls.key_file=" + key]).start()
    sock = None
    try:
        tid, body = one_trace(pb, "acked-tls", spans=3)
        c.eq(grpc_export(daemon.endpoint, body, creds=creds), None, "a trace acknowledged first")
        ctx = ssl.create_default_context(cafile=crt)
        ctx.set_alpn_protocols(["h2"])
        sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", daemon.port), timeout=10),
                               server_hostname="127.0.0.1")
        c.eq(sock.selected_alpn_protocol(), "h2", "ALPN h2")
        conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        conn.initiate_connection()
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, [(":method", "POST"), (":scheme", "https"),
                                (":path", otlp_pb.TRACE_EXPORT),
                                (":authority", "127.0.0.1:%d" % daemon.port),
                                ("content-type", "application/grpc"), ("te", "trailers")])
        conn.send_data(sid, grpc_frame(b"z" * 1000)[:500])
        sock.sendall(conn.data_to_send())
        c.ok(wait_until(lambda: metric_value(daemon, "dagprof_receiver_grpc_calls_in_flight") == 1,
                        10), "the half-sent call is in flight")
        daemon.proc.send_signal(15)
        # read until the connection closes, answering as h2 does until the server's GOAWAY
        # (h2 takes no frame after it); what ended the stream, from the raw frames
        ended, goaway, raw = None, False, b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not data:
                break
            raw += data
            if not goaway:
                try:
                    for ev in conn.receive_data(data):
                        goaway = goaway or isinstance(ev, h2.events.ConnectionTerminated)
                except h2.exceptions.ProtocolError:
                    goaway = True
                out = conn.data_to_send()
                if out:
                    try:
                        sock.sendall(out)
                    except OSError:
                        break
        # frames: 3-byte length, type, flags, stream id; after the 9-byte-headed server frames
        pos = 0
        while pos + 9 <= len(raw):
            length = int.from_bytes(raw[pos:pos + 3], "big")
            ftype, flags = raw[pos + 3], raw[pos + 4]
            stream = int.from_bytes(raw[pos + 5:pos + 9], "big") & 0x7FFFFFFF
            if stream == sid and ftype == 3:  # RST_STREAM
                ended = ended or "RST_STREAM %d" % int.from_bytes(raw[pos + 9:pos + 13], "big")
            elif stream == sid and ftype == 1 and flags & 1:  # HEADERS with END_STREAM
                ended = ended or "trailers"
            pos += 9 + length
        print("the half-sent TLS call ended with: %s" % ended)
        c.ok(ended is not None, "the cancelled call's end reached the client over TLS (%s)" % ended)
        rc, reports = daemon.stop(timeout=30)
        c.eq(rc, 0, "exit status")
        c.ok(any(r.get("trace_id") == tid and r.get("span_count") == 3 for r in reports),
             "the acknowledged trace is reported whole")
        c.ok(any("1 call(s) still open after server.shutdown_timeout" in l
                 for l in daemon.stderr_lines), "the cancelled call is logged")
    finally:
        if sock:
            sock.close()
        if daemon.proc.poll() is None:
            daemon.stop(timeout=30)
        shutil.rmtree(work, True)


def scenario_fdlimit(c, args, tls=False):
    """The daemon at RLIMIT_NOFILE 64 (soft and hard: dagprof raises the soft
    limit to the hard one) with server.max_connections well above it; 150 idle
    connections (more than it has descriptors) opened, then closed: a normal
    export succeeds promptly (with tls, over TLS: the idle connections are
    then accepted by dagprof and wait in their handshake)."""
    pb = otlp_pb.load()
    extra, creds, work = [], None, None
    if tls:
        work = tempfile.mkdtemp(prefix="dagprof-fdtls-")
        crt, key = self_signed(work)
        extra = ["--set", "server.tls.cert_file=" + crt, "--set", "server.tls.key_file=" + key]
        with open(crt, "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
    daemon = Daemon(args.dagprof,
                    extra_args=["--workers", "2", "--set", "server.max_connections=1000"] + extra,
                    preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
                    ).start()
    socks = []
    try:
        with open("/proc/%d/limits" % daemon.proc.pid) as f:
            line = next(l for l in f if l.startswith("Max open files"))
        c.eq(int(line.split()[3]), 64, "the daemon's soft limit on open files")
        tid, body = one_trace(pb, "before")
        c.eq(grpc_export(daemon.endpoint, body, creds=creds), None, "an export before")
        for _ in range(150):
            s = socket.create_connection(("127.0.0.1", daemon.port), timeout=5)
            socks.append(s)
        # idle connections that did connect: the daemon ran out of descriptors
        c.ok(daemon.wait_for_log("Too many open files|descriptors", timeout=10) is not None,
             "the daemon ran out of descriptors (logged)")
        for s in socks:
            s.close()
        socks = []
        started = time.monotonic()
        err = "not tried"
        while time.monotonic() - started < 20:
            tid, body = one_trace(pb, "after")
            err = grpc_export(daemon.endpoint, body, timeout=2, creds=creds)
            if err is None:
                break
        took = time.monotonic() - started
        print("an export succeeded %.2f s after the idle connections closed (%s)" % (took, err))
        if err:
            print(daemon.stderr_tail(15))
        c.eq(err, None, "an export after the idle connections closed")
        c.ok(took < 5, "promptly: %.2f s" % took)
        if err is None:
            c.ok(reported(daemon, tid), "its trace is reported")
        refused = metric_value(daemon, "dagprof_receiver_grpc_refused_connections_total",
                               'reason="fd_limit"')
        c.ok(refused and refused > 0, "connections closed for want of descriptors counted: %s" %
             refused)
        status, _ = health_status(daemon)
        c.eq(status, 200, "health after")
    finally:
        for s in socks:
            s.close()
        rc, _ = daemon.stop(timeout=30)
        c.eq(rc, 0, "exit status")
        if work:
            shutil.rmtree(work, True)


def scenario_fdlimit_tls(c, args):
    scenario_fdlimit(c, args, tls=True)


H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
H2_EMPTY_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # length 0, type 4, no flags, stream 0


def first_bytes(s, timeout):
    """What the server sends first on socket s: bytes, b"" (closed), "reset", or None (nothing
    within the timeout)."""
    s.settimeout(timeout)
    try:
        return s.recv(4096)
    except socket.timeout:
        return None
    except ConnectionResetError:
        return "reset"


def closed_by_server(s, timeout):
    """True when the server closes s (EOF or reset) within the timeout without sending anything."""
    got = first_bytes(s, timeout)
    return got == b"" or got == "reset"


def check_closed_at_once(c, socks, what):
    """The server closes each of socks within 5 s, sending nothing; then they are closed here."""
    started = time.monotonic()
    closed = [closed_by_server(s, 5) for s in socks]
    took = time.monotonic() - started
    c.eq(closed, [True] * len(socks), "%s closed by dagprof" % what)
    c.ok(took < 5, "within %.2f s" % took)
    for s in socks:
        s.close()


def retry_until(attempt, done, bound):
    """Call attempt() until done(its result) or `bound` seconds pass: (last result, seconds)."""
    started = time.monotonic()
    result = attempt()
    while not done(result) and time.monotonic() - started < bound:
        time.sleep(0.05)  # polling interval of a condition with a deadline
        result = attempt()
    return result, time.monotonic() - started


def http_export(port, body, timeout=5.0):
    """POST /v1/traces on a new connection: the status, or the error."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
        r = conn.getresponse()
        r.read()
        return r.status
    except (OSError, http.client.HTTPException) as e:
        return "%s: %s" % (type(e).__name__, e)
    finally:
        conn.close()


def scenario_maxconn(c, args):
    """server.max_connections 20: on the gRPC port 20 idle connections (HTTP/2
    preface sent, the server's SETTINGS read back) are held; the 21st and 22nd
    are closed by dagprof at once, counted and logged; once 5 of the 20 close
    an export on a new connection succeeds. The same on the HTTP port with
    20 keep-alive connections that each made one request."""
    pb = otlp_pb.load()
    limit = 20
    daemon = Daemon(args.dagprof, extra_args=["--workers", "2", "--set",
                                              "server.max_connections=%d" % limit]).start()
    pid = daemon.proc.pid
    baseline = status_kib(pid, "VmRSS")
    held = []
    try:
        c.ok(daemon.wait_for_log(r"server\.max_connections: 20 per receiver", 5) is not None,
             "the effective limit is logged")

        # --- gRPC ---
        for i in range(limit):
            s = socket.create_connection(("127.0.0.1", daemon.port), timeout=5)
            s.sendall(H2_PREFACE + H2_EMPTY_SETTINGS)
            got = first_bytes(s, 5)
            held.append(s)
            if not isinstance(got, bytes) or not got:
                c.ok(False, "gRPC connection %d: the server's SETTINGS (got %r)" % (i + 1, got))
                return
        extra = []
        for i in range(2):
            s = socket.create_connection(("127.0.0.1", daemon.port), timeout=5)
            try:
                s.sendall(H2_PREFACE + H2_EMPTY_SETTINGS)
            except OSError:
                pass  # closed already
            extra.append(s)
        check_closed_at_once(c, extra, "gRPC connections 21 and 22")
        c.eq(metric_value(daemon, "dagprof_receiver_grpc_refused_connections_total",
                          'reason="max_connections"'), 2.0, "the two refusals counted")
        c.eq(metric_value(daemon, "dagprof_receiver_grpc_refused_connections_total",
                          'reason="fd_limit"'), 0.0, "none for want of descriptors")
        c.ok(daemon.wait_for_log(r"server\.max_connections \(20\) gRPC connections are open", 5)
             is not None, "the refusal logged")
        # a client at the limit is turned away, not left waiting
        tid, body = one_trace(pb, "at-limit")
        started = time.monotonic()
        err = grpc_export(daemon.endpoint, body, timeout=10)
        took = time.monotonic() - started
        c.ok(err is not None and took < 5,
             "an export at the limit fails at once (%.2f s): %s" % (took, err))
        for s in held[:5]:
            s.close()
        held = held[5:]
        traces = []

        def grpc_attempt():
            traces.append(one_trace(pb, "after"))
            return grpc_export(daemon.endpoint, traces[-1][1], timeout=2)

        err, took = retry_until(grpc_attempt, lambda e: e is None, 10)
        tid = traces[-1][0]
        print("gRPC: an export succeeded %.2f s after 5 connections closed (%s)" % (took, err))
        c.eq(err, None, "a gRPC export once 5 of the 20 closed")
        if err is None:
            c.ok(reported(daemon, tid), "its trace is reported")
        for s in held:
            s.close()
        held = []

        # --- HTTP ---
        conns = []
        empty = otlp_pb.trace_request(pb, [], "faults-maxconn", "e2e").SerializeToString()
        for i in range(limit):
            conn = http.client.HTTPConnection("127.0.0.1", daemon.http_port, timeout=5)
            conn.request("POST", "/v1/traces", empty, {"Content-Type": "application/x-protobuf"})
            r = conn.getresponse()
            r.read()
            conns.append(conn)
            if r.status != 200:
                c.eq(r.status, 200, "HTTP connection %d's request" % (i + 1))
                return
        c.eq(metric_value(daemon, "dagprof_receiver_http_connections"), float(limit),
             "20 HTTP connections open")
        extra = [socket.create_connection(("127.0.0.1", daemon.http_port), timeout=5)
                 for _ in range(2)]
        check_closed_at_once(c, extra, "HTTP connections 21 and 22")
        c.eq(metric_value(daemon, "dagprof_receiver_http_refused_connections_total",
                          'reason="max_connections"'), 2.0, "the two HTTP refusals counted")
        c.ok(daemon.wait_for_log(r"server\.max_connections \(20\) HTTP connections are open", 5)
             is not None, "the HTTP refusal logged")
        for conn in conns[:5]:
            conn.close()
        conns = conns[5:]
        traces = []

        def http_attempt():
            traces.append(one_trace(pb, "after-http"))
            return http_export(daemon.http_port, traces[-1][1], timeout=2)

        status, took = retry_until(http_attempt, lambda st: st == 200, 10)
        tid = traces[-1][0]
        print("HTTP: an export succeeded %.2f s after 5 connections closed (%s)" % (took, status))
        c.eq(status, 200, "an HTTP export once 5 of the 20 closed")
        if status == 200:
            c.ok(reported(daemon, tid), "its trace is reported")
        for conn in conns:
            conn.close()
        c.ok(wait_until(lambda: metric_value(daemon, "dagprof_receiver_http_connections") == 0.0,
                        10), "no HTTP connection left open")
        peak = status_kib(pid, "VmHWM")
        print("idle RSS %d KiB, peak %d KiB" % (baseline, peak))
        c.ok(SANITIZED or peak <= baseline + 64 * 1024,
             "peak RSS %d KiB within idle %d KiB + 64 MiB" % (peak, baseline))
    finally:
        for s in held:
            s.close()
        rc, _ = daemon.stop(timeout=30)
        c.eq(rc, 0, "exit status")
    maxconn_tls(c, args, pb)


def maxconn_tls(c, args, pb):
    """server.max_connections 5 with TLS on the gRPC port: 5 TCP connections
    that never start their handshake are held (they count from their
    accept); the 6th and 7th are closed at once and counted, a TLS export
    fails at once; once 2 of the 5 close, a TLS export succeeds."""
    limit = 5
    work = tempfile.mkdtemp(prefix="dagprof-maxconn-tls-")
    crt, key = self_signed(work)
    with open(crt, "rb") as f:
        creds = grpc.ssl_channel_credentials(root_certificates=f.read())
    daemon = Daemon(args.dagprof, extra_args=[
        "--workers", "2", "--set", "server.max_connections=%d" % limit,
        "--set", "server.tls.cert_file=" + crt, "--set", "server.tls.key_file=" + key]).start()
    held = []
    try:
        tid, body = one_trace(pb, "tls-first")
        c.eq(grpc_export(daemon.endpoint, body, creds=creds), None, "TLS: an export first")
        c.ok(wait_until(lambda: metric_value(daemon, "dagprof_receiver_grpc_refused_connections_total",
                                             'reason="max_connections"') == 0.0, 5),
             "TLS: nothing refused yet")
        held = [socket.create_connection(("127.0.0.1", daemon.port), timeout=5)
                for _ in range(limit)]
        # the first export's connection was closed by its client: the 5 held are all open;
        # each new connection is refused once the acceptor has seen the 5
        extra = []
        for _ in range(2):
            extra.append(socket.create_connection(("127.0.0.1", daemon.port), timeout=5))
        check_closed_at_once(c, extra, "TLS: gRPC connections 6 and 7")
        c.eq(metric_value(daemon, "dagprof_receiver_grpc_refused_connections_total",
                          'reason="max_connections"'), 2.0, "TLS: the two refusals counted")
        tid, body = one_trace(pb, "tls-at-limit")
        started = time.monotonic()
        err = grpc_export(daemon.endpoint, body, timeout=10, creds=creds)
        took = time.monotonic() - started
        c.ok(err is not None and took < 5,
             "TLS: an export at the limit fails at once (%.2f s): %s" % (took, err))
        for s in held[:2]:
            s.close()
        held = held[2:]
        traces = []

        def attempt():
            traces.append(one_trace(pb, "tls-after"))
            return grpc_export(daemon.endpoint, traces[-1][1], timeout=2, creds=creds)

        err, took = retry_until(attempt, lambda e: e is None, 10)
        print("TLS: an export succeeded %.2f s after 2 connections closed (%s)" % (took, err))
        c.eq(err, None, "TLS: an export once 2 of the 5 closed")
        if err is None:
            c.ok(reported(daemon, traces[-1][0]), "TLS: its trace is reported")
    finally:
        for s in held:
            s.close()
        rc, _ = daemon.stop(timeout=30)
        c.eq(rc, 0, "TLS: exit status")
        shutil.rmtree(work, True)


def health_status(daemon):
    """(HTTP status, JSON body) of the health endpoint; (None, {}) when it cannot be reached."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", daemon.health_port, timeout=5)
        conn.request("GET", "/health")
        r = conn.getresponse()
        doc = json.loads(r.read() or b"{}")
        conn.close()
        return r.status, doc
    except (OSError, ValueError):
        return None, {}


def scenario_manyfds(c, args):
    """The default (automatic) max_connections after dagprof raised its
    open-file limit: 1100 idle gRPC connections, so the daemon holds
    descriptors past FD_SETSIZE (1024); the health endpoint and /metrics still
    answer, and an export succeeds."""
    pb = otlp_pb.load()
    conns = 1100
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = conns + 300  # this process's sockets, and the daemon's: the connections + its own
    if hard != resource.RLIM_INFINITY and hard < need:
        print("skipped: the hard open-file limit is %d, under %d" % (hard, need))
        return
    # this process needs the sockets too; the daemon raises its own limit itself
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    daemon = Daemon(args.dagprof, extra_args=["--workers", "2"],
                    preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
                    ).start()
    held = []
    try:
        m = daemon.wait_for_log(r"server\.max_connections: (\d+) per receiver \(automatic", 5)
        c.ok(m is not None and int(m.group(1)) >= conns,
             "the automatic limit (%s) is above %d" % (m and m.group(1), conns))
        for i in range(conns):
            s = socket.create_connection(("127.0.0.1", daemon.port), timeout=5)
            s.sendall(H2_PREFACE + H2_EMPTY_SETTINGS)
            held.append(s)
        got = [first_bytes(s, 5) for s in held]
        c.eq(sum(1 for g in got if isinstance(g, bytes) and g), conns,
             "every connection got the server's SETTINGS")
        fds = len(os.listdir("/proc/%d/fd" % daemon.proc.pid))
        c.ok(fds > 1024, "the daemon holds %d descriptors" % fds)
        conn = http.client.HTTPConnection("127.0.0.1", daemon.health_port, timeout=5)
        try:
            conn.request("GET", "/health")
            status = conn.getresponse().status
        except (OSError, http.client.HTTPException) as e:
            status = repr(e)
        finally:
            conn.close()
        c.eq(status, 200, "GET /health past FD_SETSIZE")
        c.eq(metric_value(daemon, "dagprof_receiver_grpc_refused_connections_total",
                          'reason="max_connections"'), 0.0, "no connection refused")
        tid, body = one_trace(pb, "many")
        c.eq(grpc_export(daemon.endpoint, body), None, "an export")
        c.ok(reported(daemon, tid), "its trace is reported")
    finally:
        for s in held:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        rc, _ = daemon.stop(timeout=30)
        c.eq(rc, 0, "exit status")


def scenario_silent(c, args):
    """server.handshake_timeout 1s: plaintext connections that send nothing, or
    only part of the HTTP/2 connection preface (a part of its string, the
    string alone, or a SETTINGS frame's header without its payload), are
    closed by dagprof at about 1 s and counted (the gRPC core does not time a
    connection it is handed); one that sent its whole preface is served as
    usual."""
    pb = otlp_pb.load()
    daemon = Daemon(args.dagprof, extra_args=["--set", "server.handshake_timeout=1s"]).start()
    silent, whole = [], None
    settings_header_of_6 = b"\x00\x00\x06\x04\x00\x00\x00\x00\x00"  # 6 bytes of payload to come
    short = [H2_PREFACE[:10], H2_PREFACE, H2_PREFACE + settings_header_of_6]
    try:
        started = time.monotonic()
        for k in range(8):
            s = socket.create_connection(("127.0.0.1", daemon.port), timeout=5)
            if k >= 5:
                s.sendall(short[k - 5])  # a part of the preface, then nothing
            silent.append(s)
        whole = socket.create_connection(("127.0.0.1", daemon.port), timeout=5)
        whole.sendall(H2_PREFACE + H2_EMPTY_SETTINGS)
        closed_at = []
        for s in silent:
            closed = closed_by_server(s, 5 - (time.monotonic() - started))
            closed_at.append(time.monotonic() - started if closed else None)
        print("closed after: %s" % ", ".join("%.2f s" % t if t else "-" for t in closed_at))
        c.ok(all(t is not None and 0.7 <= t <= 3.0 for t in closed_at),
             "silent and half-preface connections closed at handshake_timeout (1 s): %s" %
             closed_at)
        got = first_bytes(whole, 0.5)
        c.ok(isinstance(got, bytes) and len(got) > 0,
             "the connection with its preface is answered (the core's SETTINGS): %r" % (got,))
        c.ok(wait_until(lambda: metric_value(
            daemon, "dagprof_receiver_grpc_preface_timeouts_total") == 8.0, 10),
             "8 closed without a whole preface counted: %s" %
             metric_value(daemon, "dagprof_receiver_grpc_preface_timeouts_total"))
        tid, body = one_trace(pb, "after-silent")
        c.eq(grpc_export(daemon.endpoint, body), None, "a normal export")
        c.ok(reported(daemon, tid), "its trace is reported")
    finally:
        for s in silent + ([whole] if whole else []):
            s.close()
        rc, _ = daemon.stop(timeout=30)
        c.eq(rc, 0, "exit status")


SCENARIOS = {
    "bomb": scenario_bomb,
    "slowloris": scenario_slowloris,
    "slowloris_http": scenario_slowloris_http,
    "noread": scenario_noread,
    "shutdown": scenario_shutdown,
    "fdlimit": scenario_fdlimit,
    "fdlimit_tls": scenario_fdlimit_tls,
    "shutdown_tls": scenario_shutdown_tls,
    "shutdown_idle": scenario_shutdown_idle,
    "maxconn": scenario_maxconn,
    "manyfds": scenario_manyfds,
    "silent": scenario_silent,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dagprof", required=True)
    ap.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    args = ap.parse_args()
    global SANITIZED
    with open(args.dagprof, "rb") as f:
        SANITIZED = b"__asan_init" in f.read()
    if SANITIZED:
        print("a sanitizer build: memory bounds not asserted")
    c = Checker("receiver faults: " + args.scenario)
    SCENARIOS[args.scenario](c, args)
    return c.report()


if __name__ == "__main__":
    sys.exit(main())
