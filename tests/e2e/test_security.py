#!/usr/bin/env python3
"""TLS, mTLS, tokens and SIGHUP reloads of both receivers of the real daemon.

  test_security.py --dagprof PATH --scenario tls|mtls|auth|reload|badconfig

Certificates are made for each run with the openssl CLI in a temporary
directory: CA "ca-1" signs the server certificate (CN dagprof-1, serial 1001
= 0x03E9, IP SAN 127.0.0.1) and a client certificate (clientAuth); CA "ca-2"
signs a second server certificate (CN dagprof-2, serial 1002 = 0x03EA) and a
client certificate that ca-1 does not trust. The serials are chosen here, so
the expected "03E9" / "03EA" are their hex, worked out by hand. The clients
are Debian's python3-grpcio (grpc.ssl_channel_credentials), curl, and
Python's http.client and ssl modules.

tls: TLS on both receivers, configured with the nested YAML form
  (server: tls: cert_file: ...): clients trusting ca-1 are served, one
  trusting ca-2 or speaking plaintext is not; the gRPC port negotiates
  ALPN h2, TLS 1.3, and TLS 1.2 with a client limited to it. Then with
  tls.min_version 1.3: a client limited to TLS 1.2 is refused on both ports
  (on the gRPC port offering ALPN h2, as a gRPC client would), gRPC over
  TLS 1.3 is served, and no warning about the floor is logged.
mtls: tls.client_ca_file = ca-1: a client with ca-1's client certificate is
  served on both receivers; one without a certificate, or with ca-2's, is
  refused, and none of its spans is counted or reported.
auth: bearer tokens and an x-api-key header: the right token or key is
  taken, a wrong or missing one is answered UNAUTHENTICATED (gRPC) or 401
  with a google.rpc.Status (code 16) and WWW-Authenticate: Bearer (HTTP),
  and its spans are neither counted nor reported; health checks need no
  token; no token appears on stderr, even at log level debug.
reload: cert, key and token files replaced by new ones, then SIGHUP: after
  the reload line, a new connection sees the new certificate (dagprof-2,
  03EA) and takes the new token only, while a gRPC channel and an HTTPS
  keep-alive connection opened before still work (the gRPC channel trusts
  ca-1 only, so it could not have connected again). Bad new files are
  logged and the certificates and tokens in use are kept.
badconfig: a missing or mismatched file is an error at start naming the key
  and the file, with exit status 2.
grpctls: dagprof's own TLS on the gRPC port under load and abuse: a trace of
  about 6 MiB over TLS arrives whole (reported with all its spans); 200
  exports at once from 20 channels all succeed; clients that stop in the
  middle of their ClientHello, connect and send nothing, or finish the TLS
  handshake and send no HTTP/2 preface, are closed at
  server.handshake_timeout (1 s here), not before, and counted, while a
  client that connects meanwhile is served; once every client has closed,
  no TLS connection is left open.
"""

import argparse
import http.client
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from e2e_common import Checker, Daemon, import_grpc  # noqa: E402

grpc = import_grpc()

import otlp_pb  # noqa: E402

pb = otlp_pb.load()

STATUS_PROTO = """
syntax = "proto3";
package google.rpc;
message Any { string type_url = 1; bytes value = 2; }
message Status { int32 code = 1; string message = 2; repeated Any details = 3; }
"""

TOKENS = ["tok-alpha-7f3e9c", "tok-beta-91d2aa"]
API_KEYS = ["key-gamma-55aa01"]
NEW_TOKEN = "tok-delta-c0ffee"
WRONG_TOKEN = "tok-wrong-123456"
PB = "Content-Type: application/x-protobuf"


def load_status_class(work):
    with open(os.path.join(work, "status_test.proto"), "w") as f:
        f.write(STATUS_PROTO)
    subprocess.run(["protoc", "-I", work, "--python_out", work, "status_test.proto"], check=True)
    sys.path.insert(0, work)
    import status_test_pb2  # noqa: E402
    return status_test_pb2.Status


# --- certificates -------------------------------------------------------------------------

def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True)


class Pki:
    """Files of two CAs and their certificates, made with the openssl CLI."""

    def __init__(self, work):
        self.dir = work
        for ca in ("ca-1", "ca-2"):
            openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", self.path(ca + ".key"), "-out", self.path(ca + ".crt"),
                    "-subj", "/CN=" + ca, "-days", "2",
                    "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        self.leaf("server-1", "dagprof-1", 1001, "serverAuth", "ca-1")
        self.leaf("server-2", "dagprof-2", 1002, "serverAuth", "ca-2")
        self.leaf("client-1", "client-1", 2001, "clientAuth", "ca-1")
        self.leaf("client-2", "client-2", 3001, "clientAuth", "ca-2")

    def path(self, name):
        return os.path.join(self.dir, name)

    def leaf(self, name, cn, serial, usage, ca):
        key, csr, ext = (self.path(name + s) for s in (".key", ".csr", ".ext"))
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", key, "-out", csr, "-subj", "/CN=" + cn)
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=%s\n" % usage)
        openssl("x509", "-req", "-in", csr, "-CA", self.path(ca + ".crt"),
                "-CAkey", self.path(ca + ".key"), "-set_serial", str(serial), "-days", "2",
                "-out", self.path(name + ".crt"), "-extfile", ext)

    def read(self, name):
        with open(self.path(name), "rb") as f:
            return f.read()


# --- requests -----------------------------------------------------------------------------

_next = [0]


def trace_request(dag, children=1):
    """A trace of a root carrying dag.id and `children` children."""
    _next[0] += 1
    tid = bytes([0x5e, _next[0]]) + bytes(range(2, 16))
    spans = [otlp_pb.simple_span(pb, tid, 1, 0, "run", [("dag.id", dag)], tag=0x33)]
    for i in range(children):
        spans.append(otlp_pb.simple_span(pb, tid, 2 + i, 1, "node-%d" % i,
                                         [("dag.node.id", "n%d" % i)], tag=0x33))
    return otlp_pb.trace_request(pb, spans, "security-test", "security-test")


def grpc_export(channel, dag, metadata=()):
    """(status code, details) of one Export of a two-span trace."""
    try:
        pb.trace_export(channel)(trace_request(dag), timeout=30, metadata=list(metadata))
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as e:
        return e.code(), e.details()


def tls_channel(endpoint, pki, ca="ca-1.crt", client=None):
    creds = grpc.ssl_channel_credentials(
        root_certificates=pki.read(ca),
        private_key=pki.read(client + ".key") if client else None,
        certificate_chain=pki.read(client + ".crt") if client else None)
    return grpc.secure_channel(endpoint, creds)


def curl(url, body_file, headers=(), tls_args=()):
    """(exit code, HTTP status or 0, headers dict with lower-case names, body) from real curl."""
    with tempfile.TemporaryDirectory() as d:
        out, hdr = os.path.join(d, "body"), os.path.join(d, "headers")
        cmd = ["curl", "-sS", "-o", out, "-D", hdr, "-w", "%{http_code}",
               "--data-binary", "@" + body_file] + list(tls_args)
        for h in headers:
            cmd += ["-H", h]
        p = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=60)
        hs, body = {}, b""
        if os.path.exists(hdr):
            with open(hdr, "rb") as f:
                for line in f.read().decode("latin-1").split("\r\n")[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        hs[k.strip().lower()] = v.strip()
        if os.path.exists(out):
            with open(out, "rb") as f:
                body = f.read()
        return p.returncode, int(p.stdout or 0), hs, body


def client_context(pki, ca="ca-1.crt", client=None, max_version=None):
    ctx = ssl.create_default_context(cafile=pki.path(ca))
    if client:
        ctx.load_cert_chain(pki.path(client + ".crt"), pki.path(client + ".key"))
    if max_version:
        ctx.maximum_version = max_version
    return ctx


def https_post(conn, dag, headers=None):
    """POST a trace on an http.client connection: (status, response headers, body)."""
    h = {"Content-Type": "application/x-protobuf"}
    h.update(headers or {})
    conn.request("POST", "/v1/traces", trace_request(dag).SerializeToString(), h)
    r = conn.getresponse()
    return r.status, r, r.read()


def peer_certificate(port, pki, ca, alpn=None):
    """(serial, CN) of the certificate a new TLS connection to port sees,
    or ("refused", reason) when the handshake fails."""
    ctx = client_context(pki, ca)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
                return serial_and_cn(t.getpeercert())
    except (ssl.SSLError, OSError) as e:
        return "refused", str(e)


def tls_probe(port, pki, max_version=None, alpn=("h2",)):
    """(TLS version, ALPN protocol) a new TLS connection to port negotiates,
    or ("refused", reason) when the handshake fails."""
    ctx = client_context(pki, max_version=max_version)
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
                return t.version(), t.selected_alpn_protocol()
    except (ssl.SSLError, OSError) as e:
        return "refused", str(e)


def serial_and_cn(cert):
    subject = dict(item[0] for item in cert["subject"])
    return cert["serialNumber"], subject.get("commonName")


def stop_and_collect(d, c):
    """Stop the daemon (checking its exit code): the span counts of its reports by dag id."""
    rc, reports = d.stop()
    c.eq(rc, 0, "exit code after SIGTERM")
    got = {}
    for r in reports:
        got.setdefault(r.get("dag_id"), []).append(r.get("span_count"))
    return got


def stop_and_check_reports(d, c, accepted, refused):
    """Wait for every accepted dag's report, stop the daemon, check that each
    accepted dag was reported once with its 2 spans and no refused dag was;
    returns the daemon's totals line."""
    for dag in accepted:
        c.ok(d.wait_for_report(lambda r, x=dag: r.get("dag_id") == x, timeout=60),
             "run %s reported" % dag)
    got = stop_and_collect(d, c)
    for dag in accepted:
        c.eq(got.get(dag), [2], "run %s: reported once with its 2 spans" % dag)
    for dag in refused:
        c.ok(dag not in got, "refused run %s not reported" % dag)
    totals = [l for l in d.stderr_lines if "totals:" in l]
    # every accepted request carried 2 spans; the refused ones count nowhere
    want = "spans received %d, accepted %d" % (2 * len(accepted), 2 * len(accepted))
    c.ok(totals and want in totals[-1], "totals count only the accepted spans (%s): %r"
         % (want, totals[-1:]))


def tls_args(pki, ca="ca-1.crt", client=None):
    args = ["--cacert", pki.path(ca)]
    if client:
        args += ["--cert", pki.path(client + ".crt"), "--key", pki.path(client + ".key")]
    return args


# --- scenarios ------------------------------------------------------------------------------

def scenario_tls(args, c, pki, work):
    config = os.path.join(work, "dagprof.yaml")
    with open(config, "w") as f:
        f.write("server:\n  tls:\n    cert_file: %s\n    key_file: %s\n"
                % (pki.path("server-1.crt"), pki.path("server-1.key")))
    d = Daemon(args.dagprof, extra_args=["--config", config]).start()
    accepted, refused = [], []
    ch = tls_channel(d.endpoint, pki)
    c.eq(grpc_export(ch, "grpc-tls")[0], grpc.StatusCode.OK, "gRPC over TLS trusting ca-1")
    accepted.append("grpc-tls")
    ch.close()
    ch = tls_channel(d.endpoint, pki, ca="ca-2.crt")
    c.eq(grpc_export(ch, "grpc-wrong-ca")[0], grpc.StatusCode.UNAVAILABLE,
         "gRPC trusting ca-2 only does not connect")
    refused.append("grpc-wrong-ca")
    ch.close()
    ch = grpc.insecure_channel(d.endpoint)
    c.eq(grpc_export(ch, "grpc-plaintext")[0], grpc.StatusCode.UNAVAILABLE,
         "plaintext gRPC to the TLS port does not connect")
    refused.append("grpc-plaintext")
    ch.close()
    c.eq(peer_certificate(d.port, pki, "ca-1.crt", ["h2"]), ("03E9", "dagprof-1"),
         "the gRPC port's certificate")
    c.eq(tls_probe(d.port, pki), ("TLSv1.3", "h2"), "the gRPC port: TLS 1.3 and ALPN h2")
    c.eq(tls_probe(d.port, pki, max_version=ssl.TLSVersion.TLSv1_2), ("TLSv1.2", "h2"),
         "the gRPC port with min_version 1.2: a TLS 1.2 client is served")

    body = os.path.join(work, "t.pb")
    with open(body, "wb") as f:
        f.write(trace_request("curl-tls").SerializeToString())
    url = "https://127.0.0.1:%d/v1/traces" % d.http_port
    rc, code, _, _ = curl(url, body, [PB], tls_args(pki))
    c.eq((rc, code), (0, 200), "curl --cacert ca-1: exit code and status")
    accepted.append("curl-tls")
    with open(body, "wb") as f:
        f.write(trace_request("curl-untrusted").SerializeToString())
    rc, code, _, _ = curl(url, body, [PB], tls_args(pki, ca="ca-2.crt"))
    c.eq((rc, code), (60, 0), "curl --cacert ca-2: certificate not trusted (exit 60)")
    refused.append("curl-untrusted")
    conn = http.client.HTTPSConnection("127.0.0.1", d.http_port, timeout=30,
                                       context=client_context(pki))
    status, _, _ = https_post(conn, "python-https")
    c.eq(status, 200, "http.client over TLS: status")
    c.eq(serial_and_cn(conn.sock.getpeercert()), ("03E9", "dagprof-1"),
         "the HTTP port's certificate")
    c.eq(conn.sock.version(), "TLSv1.3", "TLS 1.3 is negotiated when the client offers it")
    accepted.append("python-https")
    conn.close()
    stop_and_check_reports(d, c, accepted, refused)

    # min_version 1.3: a TLS 1.2 client is refused on both ports
    d = Daemon(args.dagprof, extra_args=[
        "--set", "server.tls.cert_file=" + pki.path("server-1.crt"),
        "--set", "server.tls.key_file=" + pki.path("server-1.key"),
        "--set", "server.tls.min_version=1.3"]).start()
    conn = http.client.HTTPSConnection(
        "127.0.0.1", d.http_port, timeout=30,
        context=client_context(pki, max_version=ssl.TLSVersion.TLSv1_2))
    try:
        https_post(conn, "never-tls12")
        c.ok(False, "min_version 1.3: a TLS 1.2 client was served")
    except ssl.SSLError as e:
        c.ok(True, "min_version 1.3 refuses TLS 1.2 (%s)" % e)
    conn.close()
    conn = http.client.HTTPSConnection("127.0.0.1", d.http_port, timeout=30,
                                       context=client_context(pki))
    status, _, _ = https_post(conn, "tls13")
    c.eq((status, conn.sock.version()), (200, "TLSv1.3"), "min_version 1.3: a TLS 1.3 client")
    conn.close()
    got = tls_probe(d.port, pki, max_version=ssl.TLSVersion.TLSv1_2)
    c.eq(got[0], "refused", "min_version 1.3: the gRPC port refuses a TLS 1.2 client (%s)"
         % (got,))
    c.eq(tls_probe(d.port, pki), ("TLSv1.3", "h2"), "min_version 1.3: the gRPC port, TLS 1.3")
    ch = tls_channel(d.endpoint, pki)
    c.eq(grpc_export(ch, "grpc-tls13")[0], grpc.StatusCode.OK, "min_version 1.3: gRPC export")
    ch.close()
    stop_and_check_reports(d, c, ["tls13", "grpc-tls13"], ["never-tls12"])
    c.ok(not any("min_version" in l for l in d.stderr_lines if " warn " in l),
         "no warning about min_version")
    return d


def scenario_mtls(args, c, pki, work):
    d = Daemon(args.dagprof, extra_args=[
        "--set", "server.tls.cert_file=" + pki.path("server-1.crt"),
        "--set", "server.tls.key_file=" + pki.path("server-1.key"),
        "--set", "server.tls.client_ca_file=" + pki.path("ca-1.crt")]).start()
    accepted, refused = [], []
    for client, dag, want in ((None, "grpc-no-cert", grpc.StatusCode.UNAVAILABLE),
                              ("client-2", "grpc-other-ca", grpc.StatusCode.UNAVAILABLE),
                              ("client-1", "grpc-mtls", grpc.StatusCode.OK)):
        ch = tls_channel(d.endpoint, pki, client=client)
        c.eq(grpc_export(ch, dag)[0], want, "gRPC with client certificate %s" % client)
        (accepted if want == grpc.StatusCode.OK else refused).append(dag)
        ch.close()

    url = "https://127.0.0.1:%d/v1/traces" % d.http_port
    body = os.path.join(work, "t.pb")
    for client, dag in ((None, "curl-no-cert"), ("client-2", "curl-other-ca"),
                        ("client-1", "curl-mtls")):
        with open(body, "wb") as f:
            f.write(trace_request(dag).SerializeToString())
        rc, code, _, _ = curl(url, body, [PB], tls_args(pki, client=client))
        if client == "client-1":
            c.eq((rc, code), (0, 200), "curl with ca-1's client certificate")
            accepted.append(dag)
        else:
            # the server's alert ends the connection (TLS 1.3 reports it on the first read)
            c.ok(rc != 0 and code == 0, "curl with client certificate %s is refused "
                 "(exit %d, status %d)" % (client, rc, code))
            refused.append(dag)
    for client, dag in ((None, "python-no-cert"), ("client-1", "python-mtls")):
        conn = http.client.HTTPSConnection("127.0.0.1", d.http_port, timeout=30,
                                           context=client_context(pki, client=client))
        try:
            status, _, _ = https_post(conn, dag)
        except (ssl.SSLError, ConnectionError) as e:
            status = repr(e)
        if client:
            c.eq(status, 200, "http.client with ca-1's client certificate")
            accepted.append(dag)
        else:
            c.ok(status != 200, "http.client without a certificate is refused (%s)" % status)
            refused.append(dag)
        conn.close()
    # the gRPC clients refused above failed their handshakes (grpcio may have tried more than once)
    failed = metric(d, 'dagprof_receiver_grpc_tls_failed_handshakes_total{reason="failed"}')
    c.ok(failed is not None and failed >= 2, "gRPC handshakes refused, counted: %s" % failed)
    stop_and_check_reports(d, c, accepted, refused)
    return d


def scenario_auth(args, c, pki, work):
    tokens, keys = os.path.join(work, "tokens"), os.path.join(work, "keys")
    with open(tokens, "w") as f:
        f.write("# bearer tokens of the test\n\n%s\n  %s  \r\n" % tuple(TOKENS))
    with open(keys, "w") as f:
        f.write("%s\n" % API_KEYS[0])
    Status = load_status_class(work)
    d = Daemon(args.dagprof, extra_args=[
        "--log-level", "debug",
        "--set", "server.auth.bearer_tokens_file=" + tokens,
        "--set", "server.auth.header=X-Api-Key",
        "--set", "server.auth.header_values_file=" + keys]).start()
    accepted, refused = [], []
    ch = grpc.insecure_channel(d.endpoint)
    cases = [
        ("grpc-token-1", [("authorization", "Bearer " + TOKENS[0])], grpc.StatusCode.OK),
        ("grpc-token-2", [("authorization", "bearer  " + TOKENS[1])], grpc.StatusCode.OK),
        ("grpc-api-key", [("x-api-key", API_KEYS[0])], grpc.StatusCode.OK),
        ("grpc-wrong-token", [("authorization", "Bearer " + WRONG_TOKEN)],
         grpc.StatusCode.UNAUTHENTICATED),
        ("grpc-token-prefix", [("authorization", "Bearer " + TOKENS[0][:-1])],
         grpc.StatusCode.UNAUTHENTICATED),
        ("grpc-basic", [("authorization", "Basic " + TOKENS[0])],
         grpc.StatusCode.UNAUTHENTICATED),
        ("grpc-wrong-key", [("x-api-key", WRONG_TOKEN)], grpc.StatusCode.UNAUTHENTICATED),
        ("grpc-no-token", [], grpc.StatusCode.UNAUTHENTICATED),
    ]
    for dag, md, want in cases:
        code, details = grpc_export(ch, dag, md)
        c.eq(code, want, "gRPC %s" % dag)
        if want == grpc.StatusCode.OK:
            accepted.append(dag)
        else:
            refused.append(dag)
            c.ok(details and ("not accepted" in details or "authentication required" in details),
                 "gRPC %s: the status says why (%r)" % (dag, details))
    code, details = grpc_export(ch, "grpc-no-token-2")
    c.ok("Authorization: Bearer <token> or the header X-Api-Key" in details,
         "a missing token: the status says what to send (%r)" % details)
    refused.append("grpc-no-token-2")
    health = ch.unary_unary("/grpc.health.v1.Health/Check", request_serializer=lambda b: b,
                            response_deserializer=lambda b: b)
    c.eq(health(b"", timeout=30), b"\x08\x01", "gRPC health check without a token: SERVING")
    ch.close()

    url = "http://127.0.0.1:%d/v1/traces" % d.http_port
    body = os.path.join(work, "t.pb")
    http_cases = [
        ("curl-token", ["Authorization: Bearer " + TOKENS[1]], 200),
        ("curl-api-key", ["x-api-key: " + API_KEYS[0]], 200),
        ("curl-wrong-token", ["Authorization: Bearer " + WRONG_TOKEN], 401),
        ("curl-wrong-key", ["X-API-KEY: " + WRONG_TOKEN], 401),
        ("curl-no-token", [], 401),
    ]
    for dag, headers, want in http_cases:
        with open(body, "wb") as f:
            f.write(trace_request(dag).SerializeToString())
        rc, code, hs, out = curl(url, body, [PB] + headers)
        c.eq((rc, code), (0, want), "curl %s: exit code and status" % dag)
        if want == 200:
            accepted.append(dag)
            continue
        refused.append(dag)
        c.eq(hs.get("www-authenticate"), "Bearer", "curl %s: WWW-Authenticate" % dag)
        st = Status.FromString(out)
        c.eq(st.code, 16, "curl %s: Status.code UNAUTHENTICATED" % dag)
        c.ok(st.message, "curl %s: Status.message %r" % (dag, st.message))
    # an OTLP/JSON request is answered in JSON
    with open(body, "wb") as f:
        f.write(b'{"resourceSpans":[]}')
    rc, code, hs, out = curl(url, body, ["Content-Type: application/json"])
    c.eq((code, hs.get("content-type")), (401, "application/json"), "JSON request without a token")
    c.ok(b'"code":16' in out, "JSON Status with code 16: %r" % out)
    with urllib_open("http://127.0.0.1:%d/health" % d.health_port) as r:
        c.eq(r.status, 200, "HTTP health endpoint without a token")

    stop_and_check_reports(d, c, accepted, refused)
    secrets = TOKENS + API_KEYS + [WRONG_TOKEN]
    leaked = [s for s in secrets if any(s in line for line in d.stderr_lines)]
    c.eq(leaked, [], "no token or key on stderr at log level debug")
    c.ok(any("debug" in l for l in d.stderr_lines), "the daemon logged at debug level")
    return d


def urllib_open(url):
    import urllib.request
    return urllib.request.urlopen(url, timeout=30)


def replace_file(path, data):
    """Write data next to path and rename it over path, as a deployment does."""
    tmp = path + ".new"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def scenario_reload(args, c, pki, work):
    cert, key, tokens = (os.path.join(work, n) for n in ("live.crt", "live.key", "live.tokens"))
    shutil.copy(pki.path("server-1.crt"), cert)
    shutil.copy(pki.path("server-1.key"), key)
    with open(tokens, "w") as f:
        f.write(TOKENS[0] + "\n")
    d = Daemon(args.dagprof, extra_args=[
        "--set", "server.tls.cert_file=" + cert, "--set", "server.tls.key_file=" + key,
        "--set", "server.auth.bearer_tokens_file=" + tokens]).start()
    accepted, refused = [], []
    old_token = [("authorization", "Bearer " + TOKENS[0])]
    new_token = [("authorization", "Bearer " + NEW_TOKEN)]

    # connections opened before the reload: a gRPC channel trusting ca-1 only,
    # and an HTTPS keep-alive connection
    old_channel = tls_channel(d.endpoint, pki)
    c.eq(grpc_export(old_channel, "before-grpc", old_token)[0], grpc.StatusCode.OK,
         "gRPC before the reload")
    accepted.append("before-grpc")
    old_conn = http.client.HTTPSConnection("127.0.0.1", d.http_port, timeout=30,
                                           context=client_context(pki))
    status, _, _ = https_post(old_conn, "before-https", {"Authorization": "Bearer " + TOKENS[0]})
    c.eq(status, 200, "HTTPS before the reload")
    accepted.append("before-https")
    old_socket = old_conn.sock

    # the new certificate (another CA, CN and serial) and token, then SIGHUP
    replace_file(cert, pki.read("server-2.crt"))
    replace_file(key, pki.read("server-2.key"))
    replace_file(tokens, (NEW_TOKEN + "\n").encode())
    mark = len(d.stderr_lines)
    d.proc.send_signal(signal.SIGHUP)
    line = d.wait_for_log(r"SIGHUP: reloaded TLS: .*CN=dagprof-2, serial 03EA.*tokens: "
                          r"1 bearer token", timeout=30, after=mark)
    c.ok(line, "the reload line names the new certificate and tokens: %s"
         % "".join(d.stderr_lines[mark:]).strip())

    c.eq(peer_certificate(d.http_port, pki, "ca-2.crt"), ("03EA", "dagprof-2"),
         "a new HTTPS connection sees the new certificate")
    c.eq(peer_certificate(d.port, pki, "ca-2.crt", ["h2"]), ("03EA", "dagprof-2"),
         "a new gRPC connection sees the new certificate")
    ch = tls_channel(d.endpoint, pki, ca="ca-1.crt")
    c.eq(grpc_export(ch, "after-new-channel-ca-1", new_token)[0], grpc.StatusCode.UNAVAILABLE,
         "a new gRPC channel trusting ca-1 only no longer connects")
    refused.append("after-new-channel-ca-1")
    ch.close()
    ch = tls_channel(d.endpoint, pki, ca="ca-2.crt")
    c.eq(grpc_export(ch, "after-new-token", new_token)[0], grpc.StatusCode.OK,
         "a new gRPC channel trusting ca-2, with the new token")
    accepted.append("after-new-token")
    c.eq(grpc_export(ch, "after-old-token", old_token)[0], grpc.StatusCode.UNAUTHENTICATED,
         "the old token after the reload")
    refused.append("after-old-token")
    ch.close()

    c.eq(grpc_export(old_channel, "after-old-channel", new_token)[0], grpc.StatusCode.OK,
         "the gRPC channel opened before the reload still works (it trusts ca-1 only)")
    accepted.append("after-old-channel")
    old_channel.close()
    status, _, _ = https_post(old_conn, "after-old-https", {"Authorization": "Bearer " + NEW_TOKEN})
    c.eq(status, 200, "the HTTPS connection opened before the reload still works")
    c.ok(old_conn.sock is old_socket, "... on the same socket")
    c.eq(serial_and_cn(old_conn.sock.getpeercert()), ("03E9", "dagprof-1"),
         "... which still has the old certificate")
    accepted.append("after-old-https")
    old_conn.close()

    # bad new files: logged, and what is in use stays in use
    replace_file(cert, b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    replace_file(tokens, b"# no token left\n")
    mark = len(d.stderr_lines)
    d.proc.send_signal(signal.SIGHUP)
    c.ok(d.wait_for_log(r"error .*SIGHUP: server\.tls\.cert_file: %s: .*certificates in use are "
                        r"kept" % re.escape(cert), timeout=30, after=mark),
         "a bad certificate file is logged, naming it")
    c.ok(d.wait_for_log(r"error .*SIGHUP: server\.auth\.bearer_tokens_file: %s holds no token.*"
                        r"tokens in use are kept" % re.escape(tokens), timeout=30, after=mark),
         "an empty token file is logged, naming it")
    c.eq(peer_certificate(d.http_port, pki, "ca-2.crt"), ("03EA", "dagprof-2"),
         "after a bad reload, new connections still get the certificate in use")
    ch = tls_channel(d.endpoint, pki, ca="ca-2.crt")
    c.eq(grpc_export(ch, "after-bad-reload", new_token)[0], grpc.StatusCode.OK,
         "after a bad reload, the token in use is still taken")
    accepted.append("after-bad-reload")
    ch.close()
    stop_and_check_reports(d, c, accepted, refused)
    c.ok(not any(NEW_TOKEN in l or TOKENS[0] in l for l in d.stderr_lines), "no token on stderr")
    return d


def scenario_badconfig(args, c, pki, work):
    def run(what, settings, want_in_message):
        cmd = [args.dagprof, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
               "--health-listen", ""]
        for s in settings:
            cmd += ["--set", s]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        c.eq(p.returncode, 2, "%s: exit status" % what)
        c.ok(want_in_message in p.stderr, "%s: the message says %r: %r"
             % (what, want_in_message, p.stderr.strip()))
        c.ok("listening" not in p.stderr, "%s: nothing was started" % what)

    missing = pki.path("nothing-here.crt")
    cert, key = pki.path("server-1.crt"), pki.path("server-1.key")
    run("missing certificate", ["server.tls.cert_file=" + missing, "server.tls.key_file=" + key],
        "server.tls.cert_file: %s: No such file or directory" % missing)
    run("key of another certificate",
        ["server.tls.cert_file=" + cert, "server.tls.key_file=" + pki.path("server-2.key")],
        "server.tls.key_file: %s is not the key of the certificate in %s"
        % (pki.path("server-2.key"), cert))
    run("certificate without a key", ["server.tls.cert_file=" + cert],
        "server.tls.cert_file and server.tls.key_file are both needed")
    run("a key as the client CA file",
        ["server.tls.cert_file=" + cert, "server.tls.key_file=" + key,
         "server.tls.client_ca_file=" + key],
        "server.tls.client_ca_file: %s: not a PEM certificate" % key)
    empty = os.path.join(work, "empty-tokens")
    with open(empty, "w") as f:
        f.write("# nothing\n\n")
    run("a token file without tokens", ["server.auth.bearer_tokens_file=" + empty],
        "server.auth.bearer_tokens_file: %s holds no token" % empty)
    spaced = os.path.join(work, "spaced-tokens")
    with open(spaced, "w") as f:
        f.write("good-token\nbad token-%s\n" % WRONG_TOKEN)
    run("a token with a space", ["server.auth.bearer_tokens_file=" + spaced],
        "server.auth.bearer_tokens_file: %s:2: character 4 cannot be sent" % spaced)
    run("a header without values", ["server.auth.header=x-api-key"],
        "server.auth.header and server.auth.header_values_file go together")
    # the value of a bad token line is never quoted
    p = subprocess.run([args.dagprof, "--listen", "127.0.0.1:0", "--health-listen", "",
                        "--set", "server.auth.bearer_tokens_file=" + spaced],
                       capture_output=True, text=True, timeout=60)
    c.ok(WRONG_TOKEN not in p.stderr and "good-token" not in p.stderr,
         "the message quotes no token")
    return None


def big_trace_request(dag, children, attr_bytes):
    """A trace of a root carrying dag.id and `children` children, each with an
    attribute of attr_bytes bytes (distinct per child, so a shuffled or
    dropped piece would change the message)."""
    _next[0] += 1
    tid = bytes([0x6e, _next[0]]) + bytes(range(2, 16))
    spans = [otlp_pb.simple_span(pb, tid, 1, 0, "run", [("dag.id", dag)], tag=0x44)]
    for i in range(children):
        filler = ("%03d" % i) * (attr_bytes // 3)
        spans.append(otlp_pb.simple_span(pb, tid, 2 + i, 1, "node-%d" % i,
                                         [("dag.node.id", "n%d" % i), ("filler", filler)],
                                         tag=0x44))
    return otlp_pb.trace_request(pb, spans, "security-test", "security-test")


def metric(d, sample):
    """The value of `sample` (name{labels} as /metrics writes it) on the daemon's /metrics."""
    status, _, body = d.scrape()
    for line in body.splitlines() if status == 200 else []:
        if line.startswith(sample + " "):
            return float(line.split()[1])
    return None


def client_hello():
    """The first flight of a Python TLS client: its ClientHello record."""
    out = ssl.MemoryBIO()
    obj = ssl.create_default_context().wrap_bio(ssl.MemoryBIO(), out,
                                                server_hostname="127.0.0.1")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def closed_at(sock, deadline):
    """time.monotonic() when the server closes sock (EOF or reset), reading
    and dropping what it sends; None when it is still open at deadline."""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if sock.recv(4096) == b"":
                return time.monotonic()
        except socket.timeout:
            continue
        except OSError:
            return time.monotonic()
    return None


def scenario_grpctls(args, c, pki, work):
    timeout_s = 1.0
    d = Daemon(args.dagprof, extra_args=[
        "--workers", "2",
        "--set", "server.tls.cert_file=" + pki.path("server-1.crt"),
        "--set", "server.tls.key_file=" + pki.path("server-1.key"),
        "--set", "server.handshake_timeout=1s"]).start()
    accepted = []

    # the automatic connection limit: a third on the TLS gRPC port
    m = d.wait_for_log(r"server\.max_connections: (\d+) per receiver \(automatic: \(open-file "
                       r"limit (\d+) - 128\) / 2\), a third of it on the TLS gRPC port \((\d+):",
                       timeout=5)
    c.ok(m is not None, "the automatic limits are logged")
    if m:
        n, soft, grpc_n = (int(x) for x in m.groups())
        c.eq((n, grpc_n), ((soft - 128) // 2, max(16, (soft - 128) // 2 // 3)),
             "HTTP (soft - 128) / 2, TLS gRPC a third of it (soft limit %d)" % soft)

    # a message of several MiB, in many TLS records and proxy buffers
    req = big_trace_request("grpc-big", 200, 32 * 1024)
    size = req.ByteSize()
    c.ok(size > 6 * 1024 * 1024, "the big request is over 6 MiB (%d bytes)" % size)
    ch = tls_channel(d.endpoint, pki)
    try:
        pb.trace_export(ch)(req, timeout=60)
        c.ok(True, "a %d-byte trace over TLS: OK" % size)
    except grpc.RpcError as e:
        c.ok(False, "a %d-byte trace over TLS: %s %s" % (size, e.code(), e.details()))
    ch.close()

    # many calls at once over several TLS connections
    channels = [tls_channel(d.endpoint, pki) for _ in range(20)]
    futures = []
    for i in range(200):
        dag = "grpc-many-%d" % i
        futures.append(pb.trace_export(channels[i % 20]).future(trace_request(dag), timeout=60))
        accepted.append(dag)
    codes = []
    for f in futures:
        try:
            f.result()
            codes.append(grpc.StatusCode.OK)
        except grpc.RpcError as e:
            codes.append(e.code())
    c.eq(codes.count(grpc.StatusCode.OK), 200, "200 concurrent TLS exports: all OK (%s)"
         % sorted(set(str(x) for x in codes)))
    for ch in channels:
        ch.close()

    # clients that never finish their handshake: half a ClientHello, nothing at all
    hello = client_hello()
    c.ok(len(hello) > 100, "a ClientHello of %d bytes" % len(hello))
    stalled, opened = [], []
    partial = socket.create_connection(("127.0.0.1", d.port), timeout=5)
    opened.append(time.monotonic())
    partial.sendall(hello[:len(hello) // 2])
    stalled.append(partial)
    stalled.append(socket.create_connection(("127.0.0.1", d.port), timeout=5))
    opened.append(time.monotonic())
    # and one that finishes its TLS handshake but never sends the HTTP/2 preface
    ctx = client_context(pki)
    ctx.set_alpn_protocols(["h2"])
    tcp = socket.create_connection(("127.0.0.1", d.port), timeout=5)
    opened.append(time.monotonic())
    stalled.append(ctx.wrap_socket(tcp, server_hostname="127.0.0.1"))
    ch = tls_channel(d.endpoint, pki)
    c.eq(grpc_export(ch, "grpc-meanwhile")[0], grpc.StatusCode.OK,
         "an export while three connections stall")
    accepted.append("grpc-meanwhile")
    ch.close()
    deadline = time.monotonic() + 10
    took = [closed_at(s, deadline) for s in stalled]
    took = [None if t is None else round(t - o, 2) for t, o in zip(took, opened)]
    for s in stalled:
        s.close()
    print("stalled connections closed after %s s (handshake_timeout %.1f s)" % (took, timeout_s))
    c.ok(all(t is not None for t in took), "the three stalled connections are closed (%s)" % took)
    c.ok(all(t is not None and timeout_s - 0.3 <= t <= timeout_s + 1.5 for t in took),
         "at handshake_timeout, not before (%s s)" % took)
    c.eq(metric(d, 'dagprof_receiver_grpc_tls_failed_handshakes_total{reason="timeout"}'), 3.0,
         "the three cut counted")
    c.eq(metric(d, 'dagprof_receiver_grpc_tls_failed_handshakes_total{reason="failed"}'), 0.0,
         "no handshake failed otherwise")
    # every client closed: the connections go (the gauge polled with a bound)
    deadline = time.monotonic() + 10
    while (metric(d, "dagprof_receiver_grpc_tls_connections") != 0.0
           and time.monotonic() < deadline):
        time.sleep(0.05)  # polling a gauge with a deadline
    c.eq(metric(d, "dagprof_receiver_grpc_tls_connections"), 0.0, "no TLS connection left open")
    got = stop_and_collect(d, c)
    c.eq(got.get("grpc-big"), [201], "the big trace: reported once with its 201 spans")
    c.eq([dag for dag in accepted if got.get(dag) != [2]], [],
         "every other run reported once with its 2 spans")
    totals = [l for l in d.stderr_lines if "totals:" in l]
    want = "spans received %d, accepted %d" % (201 + 2 * len(accepted), 201 + 2 * len(accepted))
    c.ok(totals and want in totals[-1], "totals (%s): %r" % (want, totals[-1:]))
    return d


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dagprof", required=True)
    ap.add_argument("--scenario", required=True,
                    choices=["tls", "mtls", "auth", "reload", "badconfig", "grpctls"])
    args = ap.parse_args()
    c = Checker("security_" + args.scenario)
    work = tempfile.mkdtemp(prefix="dagprof-security-")
    try:
        pki = Pki(work)
        run = {"tls": scenario_tls, "mtls": scenario_mtls, "auth": scenario_auth,
               "reload": scenario_reload, "badconfig": scenario_badconfig,
               "grpctls": scenario_grpctls}[args.scenario]
        d = run(args, c, pki, work)
        if c.failures and d:
            print(d.stderr_tail())
    finally:
        shutil.rmtree(work, True)
    return c.report()


if __name__ == "__main__":
    sys.exit(main())
