"""Shared pieces of dagprof's end-to-end tests.

Starts the real `dagprof` daemon on a free loopback port (its OTLP/HTTP
receiver, health endpoint and /metrics on port 0), waits for its
"dagprof listening on ADDR" line on stderr (no sleeps), stops it with
SIGTERM and returns the JSON reports it printed on stdout, one per run.
Also small checking helpers that collect every mismatch of a test instead
of stopping at the first, so one run shows everything that is wrong.
"""

import http.client
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import threading

LISTEN_RE = re.compile(r"dagprof listening on (\S+)")
HTTP_LISTEN_RE = re.compile(r"and (\S+) \(OTLP/HTTP\)")
HEALTH_RE = re.compile(r"health on http://\S+:(\d+)/health")
METRICS_RE = re.compile(r"metrics on http://\S+:(\d+)/metrics")


def free_port():
    """A loopback TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kib(pid, key):
    """A line of /proc/PID/status in KiB (VmHWM, VmRSS)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError("no %s in /proc/%d/status" % (key, pid))


class Daemon:
    """A running dagprof daemon with its stdout and stderr collected."""

    def __init__(self, binary, extra_args=(), idle_timeout="200ms", start_timeout=30.0,
                 http_listen="127.0.0.1:0", health_listen="127.0.0.1:0",
                 telemetry_listen="127.0.0.1:0", env=None, nofile=None, preexec_fn=None):
        self.binary = binary
        # RLIMIT_NOFILE (soft and hard) of the daemon only; None: this process's
        self.nofile = nofile
        # the OTLP/HTTP receiver: a free port by default, so tests never
        # compete for 4318; "" turns it off
        self.http_listen = http_listen
        self.http_port = None
        # the health endpoint: a free port too, never 13133
        self.health_listen = health_listen
        self.health_port = None
        # the self-telemetry's /metrics: a free port too, never 8888
        self.telemetry_listen = telemetry_listen
        self.metrics_port = None
        self.env = env  # the process environment; None = this one's
        self.preexec_fn = preexec_fn  # run in the child before dagprof (e.g. setrlimit)
        self.extra_args = list(extra_args)
        self.idle_timeout = idle_timeout
        self.start_timeout = start_timeout
        self.proc = None
        self.port = None
        self.stdout_lines = []
        self.stderr_lines = []
        self._ready = threading.Event()
        self._threads = []
        self._cond = threading.Condition()

    def _limits(self):
        """In the child, before exec: its open-file limit (hard too, so it cannot raise it)."""
        import resource
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

    def _read_stdout(self):
        for line in self.proc.stdout:
            with self._cond:
                self.stdout_lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def wait_for_report(self, predicate, timeout=60.0):
        """Block until a printed report satisfies predicate (True), or the
        timeout passes or stdout closes (False). Waits on the reader thread's
        notifications, not on a clock."""
        def found():
            for line in self.stdout_lines:
                try:
                    if predicate(json.loads(line)):
                        return True
                except ValueError:
                    pass
            return False
        with self._cond:
            return self._cond.wait_for(lambda: found() or self._eof, timeout) and found()

    def wait_for_log(self, pattern, timeout=30.0, after=0):
        """Block until a stderr line at index `after` or later matches the
        regular expression `pattern`; returns the match, or None when the
        timeout passes or stderr closes first. Waits on the reader thread's
        notifications, not on a clock."""
        rx = re.compile(pattern)

        def found():
            for line in self.stderr_lines[after:]:
                m = rx.search(line)
                if m:
                    return m
            return None
        with self._cond:
            self._cond.wait_for(lambda: found() or self._stderr_eof, timeout)
            return found()

    def _read_stderr(self):
        for line in self.proc.stderr:
            with self._cond:
                self.stderr_lines.append(line)
                self._cond.notify_all()
            m = LISTEN_RE.search(line)
            if m and not self._ready.is_set():
                addr = m.group(1)
                port = addr.rsplit(":", 1)[-1]
                if port.isdigit() and int(port) != 0:
                    self.port = int(port)
                h = HTTP_LISTEN_RE.search(line)
                if h:
                    self.http_port = int(h.group(1).rsplit(":", 1)[-1])
                hh = HEALTH_RE.search(line)
                if hh:
                    self.health_port = int(hh.group(1))
                mm = METRICS_RE.search(line)
                if mm:
                    self.metrics_port = int(mm.group(1))
                self._ready.set()
        # stderr closed: the process is gone; wake up a waiting start() and wait_for_log().
        self._ready.set()
        with self._cond:
            self._stderr_eof = True
            self._cond.notify_all()

    def start(self):
        # A port from free_port() can be taken by someone else before the
        # daemon binds it; try a few times rather than fail on that race.
        for _attempt in range(5):
            self.port = free_port()
            self.stdout_lines, self.stderr_lines = [], []
            self._eof = self._stderr_eof = False
            self._ready.clear()
            # idle_timeout None: dagprof's built-in default
            idle = ["--idle-timeout", self.idle_timeout] if self.idle_timeout is not None else []
            args = [self.binary, "--listen", "127.0.0.1:%d" % self.port,
                    "--http-listen", self.http_listen,
                    "--health-listen", self.health_listen,
                    "--telemetry-listen", self.telemetry_listen,
                    "--format", "json"] + idle + self.extra_args
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True, bufsize=1, env=self.env,
                                         preexec_fn=self._limits if self.nofile else self.preexec_fn)
            self._threads = [threading.Thread(target=self._read_stdout, daemon=True),
                             threading.Thread(target=self._read_stderr, daemon=True)]
            for t in self._threads:
                t.start()
            self._ready.wait(self.start_timeout)
            if self.proc.poll() is None and any(LISTEN_RE.search(l) for l in self.stderr_lines):
                return self
            self._kill()
            if not any("address" in l.lower() or "bind" in l.lower() for l in self.stderr_lines):
                break
        raise RuntimeError("dagprof did not start (%s):\n%s" % (
            " ".join(args), "".join(self.stderr_lines[-40:])))

    @property
    def endpoint(self):
        return "127.0.0.1:%d" % self.port

    @property
    def http_endpoint(self):
        """http://HOST:PORT of the OTLP/HTTP receiver."""
        return "http://127.0.0.1:%d" % self.http_port

    def _kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for t in self._threads:
            t.join(5)

    def stop(self, timeout=120.0):
        """SIGTERM, wait for exit; returns (exit code, list of report dicts)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._kill()
            raise RuntimeError("dagprof did not exit within %.0f s of SIGTERM:\n%s" % (
                timeout, "".join(self.stderr_lines[-40:])))
        for t in self._threads:
            t.join(10)
        reports = []
        for line in self.stdout_lines:
            line = line.strip()
            if not line:
                continue
            try:
                reports.append(json.loads(line))
            except ValueError as e:
                raise RuntimeError("dagprof printed a line that is not JSON (%s): %r" % (e, line[:300]))
        return rc, reports

    def stderr_tail(self, n=40):
        return "".join(self.stderr_lines[-n:])

    def wait_for_stderr(self, predicate, timeout=30.0):
        """The first stderr line for which predicate is true, waiting for
        new lines (the reader thread's notifications) until the timeout;
        None when it does not come."""
        def found():
            return next((l for l in self.stderr_lines if predicate(l)), None)
        with self._cond:
            self._cond.wait_for(lambda: found() is not None or self._stderr_eof, timeout)
            return found()

    def scrape(self, path="/metrics", method="GET"):
        """(status, content type, body) of one request to the /metrics endpoint."""
        conn = http.client.HTTPConnection("127.0.0.1", self.metrics_port, timeout=30)
        try:
            conn.request(method, path)
            r = conn.getresponse()
            return r.status, r.getheader("Content-Type"), r.read().decode()
        finally:
            conn.close()


class Checker:
    """Collects failed expectations; report() prints them and the tally."""

    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failures = []

    def ok(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failures.append(what)
        return cond

    def eq(self, got, want, what):
        return self.ok(got == want, "%s: got %r, want %r" % (what, got, want))

    def near(self, got, want, what, tol=1e-6):
        good = (isinstance(got, (int, float)) and not isinstance(got, bool)
                and math.isclose(got, want, rel_tol=tol, abs_tol=tol))
        return self.ok(good, "%s: got %r, want %r" % (what, got, want))

    def report(self):
        for f in self.failures:
            print("FAIL %s: %s" % (self.name, f))
        print("%s: %d passed, %d failed" % (self.name, self.passed, len(self.failures)))
        return 0 if not self.failures else 1


def python_for_grpc():
    """The interpreter to use: this one if it has grpc, else Debian's."""
    try:
        import grpc  # noqa: F401
        return sys.executable
    except ImportError:
        return "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def import_grpc():
    """The grpc module; when this interpreter lacks it, re-run the calling
    script under Debian's (which has python3-grpcio) instead of returning."""
    try:
        import grpc
        return grpc
    except ImportError:
        alt = python_for_grpc()
        if alt != sys.executable:
            os.execv(alt, [alt] + sys.argv)
        raise
