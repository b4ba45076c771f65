#!/usr/bin/env python3
"""End-to-end test of the configuration conveniences of the real binary.

  test_config_e2e.py --dagprof PATH

validate: `dagprof validate --config FILE` prints "ok" and exits 0 for a
  good file, even though the gRPC port the file names is held by this test
  (a validate that bound it would fail); a bad file exits 2 with the file
  and the line of the mistake (line 3, counted by hand in the text below).
env: a config whose gRPC listen port comes from ${env:...} (a free port
  picked here): the daemon says it listens there and answers a gRPC health
  check on it; an unset variable is warned about by name.
json logs: with log.format json every stderr line is one JSON object with
  exactly time, level, component and message.
grpc logs: a gRPC port that is already taken makes the gRPC core log why;
  that line comes through dagprof's logger ("... error [grpc] FILE:LINE:
  ..." in text, component "grpc" in JSON), never as the core's own
  "E1201 07:33:57.09 ..." line.
"""

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from e2e_common import Checker, free_port, import_grpc  # noqa: E402

grpc = import_grpc()

TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (error|warn |info |debug) "
                       r"\[([a-z-]+)\] (.*)$")
ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
GRPC_OWN_LINE = re.compile(r"^[EIWD]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ ")


def write(d, name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def held_port():
    """A listening loopback socket (kept open) and its port."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    return s, s.getsockname()[1]


class Proc:
    """dagprof with its stderr lines collected; wait_for() waits on them."""

    def __init__(self, args, env=None):
        self.lines = []
        self.cond = threading.Condition()
        self.eof = False
        self.p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True, env=env)
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stderr:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def wait_for(self, pred, timeout=30):
        with self.cond:
            return self.cond.wait_for(lambda: any(pred(l) for l in self.lines) or self.eof,
                                      timeout) and any(pred(l) for l in self.lines)

    def stop(self, timeout=60):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        rc = self.p.wait(timeout)
        self.t.join(10)
        return rc


def health_check(port):
    ch = grpc.insecure_channel("127.0.0.1:%d" % port)
    try:
        call = ch.unary_unary("/grpc.health.v1.Health/Check", request_serializer=lambda b: b,
                              response_deserializer=lambda b: b)
        return call(b"", timeout=30)
    finally:
        ch.close()


def base_args(binary, config):
    """The daemon with only its gRPC listener (the others would take default ports)."""
    return [binary, "--config", config, "--http-listen", "", "--health-listen", "",
            "--telemetry-listen", ""]


def scenario_validate(c, args, d):
    sock, port = held_port()
    try:
        good = write(d, "good.yaml", "server:\n  listen: 127.0.0.1:%d\nlog:\n  format: json\n" % port)
        p = subprocess.run([args.dagprof, "validate", "--config", good], capture_output=True,
                           text=True, timeout=60)
        c.eq(p.returncode, 0, "validate a good file: exit code")
        c.eq(p.stdout, "ok\n", "validate a good file: stdout")
        # the port is still ours alone: validate did not bind it
        sock.settimeout(0.0)
        try:
            sock.accept()
            c.ok(False, "nobody connected to the held port")
        except BlockingIOError:
            c.ok(True, "nobody connected to the held port")
    finally:
        sock.close()
    # the mistake is on line 3 (two lines before it)
    bad = write(d, "bad.yaml", "server:\n  workers: 2\n  max_concurent_calls: 4\n")
    p = subprocess.run([args.dagprof, "validate", "--config", bad], capture_output=True, text=True,
                       timeout=60)
    c.eq(p.returncode, 2, "validate a bad file: exit code")
    c.eq(p.stdout, "", "validate a bad file: nothing on stdout")
    c.ok(p.stderr.startswith("dagprof: %s:3: unknown key 'max_concurent_calls'" % bad),
         "validate a bad file names file and line: %r" % p.stderr)


def scenario_env_and_json_logs(c, args, d):
    port = free_port()
    cfg = write(d, "env.yaml", "server:\n  listen: 127.0.0.1:${env:DP_E2E_GRPC_PORT}\n"
                               "profile:\n  default_model: m${env:DP_E2E_NOT_SET}\n"
                               "log:\n  format: json\n")
    env = dict(os.environ, DP_E2E_GRPC_PORT=str(port))
    env.pop("DP_E2E_NOT_SET", None)
    proc = Proc(base_args(args.dagprof, cfg), env)
    try:
        listening = "dagprof listening on 127.0.0.1:%d " % port
        c.ok(proc.wait_for(lambda l: listening in l), "listens on the port from the environment")
        c.eq(health_check(port), b"\x08\x01", "a health check on that port answers SERVING")
    finally:
        rc = proc.stop()
    c.eq(rc, 0, "exit code after SIGTERM")
    objects = []
    for line in proc.lines:
        try:
            objects.append(json.loads(line))
        except ValueError:
            c.ok(False, "a log line is not JSON: %r" % line)
    c.ok(len(objects) >= 2, "JSON log lines: %d" % len(objects))
    for o in objects:
        c.eq(sorted(o), ["component", "level", "message", "time"], "keys of a JSON log line")
        c.ok(ISO_TIME.match(o.get("time", "")), "time of a JSON log line: %r" % o.get("time"))
        c.ok(o.get("level") in ("error", "warn", "info", "debug"), "level: %r" % o.get("level"))
    c.ok(any(o["component"] == "daemon" and o["level"] == "info" and
             ("dagprof listening on 127.0.0.1:%d" % port) in o["message"] for o in objects),
         "the listening line as JSON")
    # the unset variable is named (by the config loader, before the format is applied)
    c.ok(any("DP_E2E_NOT_SET" in l and "not set" in l for l in proc.lines),
         "the unset variable is warned about")


def scenario_grpc_log(c, args, d, fmt):
    """A taken gRPC port: exit 1 with the reason; the gRPC core's own lines
    (GRPC_VERBOSITY=debug makes it log its poller at start) come through
    dagprof's logger in dagprof's format, never in the core's own."""
    sock, port = held_port()
    try:
        cfg = write(d, "grpc-%s.yaml" % fmt, "server:\n  listen: 127.0.0.1:%d\nlog:\n  format: %s\n"
                    % (port, fmt))
        proc = Proc(base_args(args.dagprof, cfg), env=dict(os.environ, GRPC_VERBOSITY="debug"))
        rc = proc.p.wait(60)
        proc.t.join(10)
    finally:
        sock.close()
    c.eq(rc, 1, "%s: a taken gRPC port: exit code" % fmt)
    c.ok(not any(GRPC_OWN_LINE.match(l) for l in proc.lines),
         "%s: no line in the gRPC core's own format: %r" % (fmt, proc.lines))
    core_line = refused = False
    for line in proc.lines:
        if fmt == "text":
            m = TEXT_LINE.match(line)
            c.ok(m, "a text line in dagprof's format: %r" % line)
            if m and m.group(2) == "grpc":
                core_line = bool(re.match(r"[a-z0-9_]+\.cc:\d+: ", m.group(3))) or core_line
            refused = ("Address already in use" in line and "127.0.0.1:%d" % port in line) or refused
        else:
            o = json.loads(line)
            if o["component"] == "grpc":
                core_line = bool(re.match(r"[a-z0-9_]+\.cc:\d+: ", o["message"])) or core_line
            refused = (o["level"] == "error" and "Address already in use" in o["message"]) or refused
    c.ok(core_line, "%s: the gRPC core's lines through dagprof's logger: %r" % (fmt, proc.lines))
    c.ok(refused, "%s: the taken port named with the reason: %r" % (fmt, proc.lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dagprof", required=True)
    args = ap.parse_args()
    c = Checker("e2e_config")
    with tempfile.TemporaryDirectory(prefix="dagprof-config-e2e-") as d:
        scenario_validate(c, args, d)
        scenario_env_and_json_logs(c, args, d)
        scenario_grpc_log(c, args, d, "text")
        scenario_grpc_log(c, args, d, "json")
    return c.report()


if __name__ == "__main__":
    sys.exit(main())
