#!/usr/bin/env python3
"""Conformance check: a real agent framework with its real OpenTelemetry
instrumentation -> a real dagprof, compared with the mock LLM's request log.

  run_conformance.py --dagprof PATH --setup NAME [--node PATH]
                     [--long-run-ms N] [--keep DIR]

Starts mock_llm.py and dagprof (`--format json`, built-in defaults otherwise,
a free loopback port), runs the setup's workflow script (`npm ci` first when
its folder has no node_modules), stops dagprof with SIGTERM and checks every
RUN line of the script against dagprof's JSON reports, as PROTOCOL.md says.
Every expected figure is worked out here from the mock's log and the RUN
lines, and every price from the table below, never from dagprof. Prints each
check with PASS/FAIL and the expected and actual figures; exits 1 if any
check fails. --keep DIR keeps the mock log, the reports, the logs, the RUN
lines and the OTLP/JSON dump of every span.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from e2e_common import Daemon  # noqa: E402

# setup -> (folder, instrumentation gaps). A gap is something the setup's
# instrumentation provably leaves out of its spans (read in its sources, see
# README.md); the expected figures drop what no trace can show, and say so.
#   no_failed_spans     a request that fails never ends its span: no span at all
#   no_embedding_spans  embedding requests have no span at all
#   no_embedding_usage  embedding spans carry no token counts
#   no_stream_usage     streamed chat spans carry no token counts
#   no_cached_tokens    chat spans carry no cached-token count
#   failed_task_unended a step that throws never ends its step span: the failed
#                       attempt of a retried step is gone (its model call's
#                       span stays), so the retry cannot be seen
SETUPS = {
    "langgraph-openinference": ("langgraph", {"no_embedding_spans"}),
    "langgraph-traceloop": ("langgraph", {"no_embedding_spans", "no_cached_tokens",
                                          "failed_task_unended"}),
    "aisdk-genai": ("node-sdk", set()),
    "aisdk-legacy": ("node-sdk", set()),
    "openai-otel": ("node-sdk", {"no_cached_tokens"}),
    "openai-openinference": ("node-sdk", {"no_failed_spans", "no_embedding_usage", "no_stream_usage"}),
}

# USD per 1M tokens: (input, cached input, output), typed in from the list
# prices in PROTOCOL.md. acme-llm-1 has none: its calls make the cost incomplete.
PRICES = {
    "gpt-4o-mini": (0.15, 0.075, 0.60),
    "gpt-4o": (2.50, 1.25, 10.00),
    "text-embedding-3-small": (0.02, 0.02, 0.0),
    "text-embedding-3-large": (0.13, 0.13, 0.0),
}
COST_TOLERANCE = 0.005  # 0.5 %
DATE_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")


def family(model):
    """gpt-4o-mini-2024-07-18 -> gpt-4o-mini; other names unchanged."""
    return DATE_SUFFIX.sub("", model or "")


class Checks:
    """Prints every check as it is made; counts the failures."""

    def __init__(self):
        self.passed = 0
        self.failed = []

    def check(self, ok, what, expected, actual, note=""):
        line = "%s  %s: expected %s, got %s%s" % ("PASS" if ok else "FAIL", what, fmt(expected),
                                                 fmt(actual), ("  (%s)" % note) if note else "")
        print(line, flush=True)
        if ok:
            self.passed += 1
        else:
            self.failed.append(line)
        return ok

    def eq(self, what, expected, actual, note=""):
        return self.check(expected == actual, what, expected, actual, note)

    def summary(self):
        print("\n%d checks passed, %d failed" % (self.passed, len(self.failed)))
        for line in self.failed:
            print("  " + line)
        return 1 if self.failed else 0


def fmt(v):
    if isinstance(v, float):
        return "%.9g" % v
    if isinstance(v, (set, frozenset)):
        return "{%s}" % ", ".join(sorted(map(str, v)))
    return json.dumps(v) if isinstance(v, (dict, list, str)) or v is None else str(v)


# --- processes ---------------------------------------------------------------

def start_mock(log_path):
    """mock_llm.py on a free port; returns (process, port) once it listens."""
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "mock_llm.py"), "--port", "0",
                             "--log", log_path], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # blocks until LISTENING or exit
    m = re.match(r"LISTENING (\d+)", line or "")
    if not m:
        proc.kill()
        proc.wait()
        raise RuntimeError("mock_llm.py did not start: %r" % line)
    return proc, int(m.group(1))


def stop_mock(proc):
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def ensure_node_modules(folder):
    if os.path.isdir(os.path.join(folder, "node_modules")):
        return
    npm = shutil.which("npm")
    if not npm:
        raise RuntimeError("npm not found: run scripts/install-deps.sh --test")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=folder, check=True)


def find_script(folder, setup):
    for ext in (".js", ".mjs", ".cjs"):
        path = os.path.join(folder, setup + ext)
        if os.path.isfile(path):
            return path
    raise RuntimeError("no workflow script %s.{js,mjs,cjs} in %s" % (setup, folder))


# --- expected figures from the mock log ----------------------------------------

def visible(req, gaps):
    """Whether the request has a span at all in this setup's traces."""
    if req["endpoint"] == "embeddings" and "no_embedding_spans" in gaps:
        return False
    return not (req["status"] != 200 and "no_failed_spans" in gaps)


def traced_tokens(req, gaps):
    """(input, output, cached) of one request as its span can show them, and
    a note when a gap hides some of them."""
    tin, tout, cached = req["prompt_tokens"], req["completion_tokens"], req["cached_tokens"]
    if req["status"] != 200:
        return 0, 0, 0, ""
    if req["endpoint"] == "embeddings" and "no_embedding_usage" in gaps:
        return 0, 0, 0, "embedding usage not on the span"
    if req.get("stream") and "no_stream_usage" in gaps:
        return 0, 0, 0, "streamed usage not on the span"
    if cached and "no_cached_tokens" in gaps:
        return tin, tout, 0, "cached tokens not on the span"
    return tin, tout, cached, ""


def request_cost(model, tin, tout, cached):
    """USD of one request, None when the model has no price."""
    price = PRICES.get(family(model))
    if price is None:
        return None
    pin, pcached, pout = price
    return ((tin - cached) * pin + cached * pcached + tout * pout) / 1e6


def expected_run(reqs, gaps):
    """Figures of one run from its mock requests: (truth, expected, notes).
    truth: what happened; expected: what its trace can show."""
    truth = {"calls": len(reqs),
             "input": sum(r["prompt_tokens"] for r in reqs),
             "output": sum(r["completion_tokens"] for r in reqs),
             "cache_read": sum(r["cached_tokens"] for r in reqs)}
    exp = {"calls": 0, "input": 0, "output": 0, "cache_read": 0, "cost": 0.0,
           "unpriced": False, "families": {}, "hidden_failures": 0}
    notes = set()
    for r in reqs:
        if not visible(r, gaps):
            if r["status"] != 200:
                exp["hidden_failures"] += 1
                notes.add("failed requests leave no span")
            else:
                notes.add("embedding requests leave no span")
            continue
        tin, tout, cached, note = traced_tokens(r, gaps)
        if note:
            notes.add(note)
        fam = family(r["request_model"])
        f = exp["families"].setdefault(fam, {"calls": 0, "input": 0, "output": 0, "cache_read": 0})
        f["calls"] += 1
        for key, v in (("input", tin), ("output", tout), ("cache_read", cached)):
            f[key] += v
            exp[key] += v
        exp["calls"] += 1
        usd = request_cost(r["request_model"], tin, tout, cached)
        if usd is None:
            exp["unpriced"] = True  # a call to a model without a price
        else:
            exp["cost"] += usd  # 0 for a failed request: no tokens
    return truth, exp, sorted(notes)


# --- checks ----------------------------------------------------------------------

def by_model_family(entry_model, families):
    """The family (request model name) a by_model entry stands for, or None."""
    if entry_model in families:
        return entry_model
    fam = family(entry_model)
    return fam if fam in families else None


def check_run(c, run, reqs, reports, gaps, long_run_ms, is_long):
    rid = run.get("run")
    w = "[%s]" % rid
    tid = run.get("trace_id")
    of_trace = [r for r in reports if r.get("trace_id") == tid]
    # a partial report followed by the whole one that supersedes it does not count
    mine = [r for i, r in enumerate(of_trace)
            if not (r.get("partial") and any(q.get("supersedes_partial") for q in of_trace[i + 1:]))]
    if not c.eq(w + " reports for trace %s (not superseded)" % tid, 1, len(mine)):
        if not mine:
            return
    rep = mine[-1]
    c.eq(w + " the report is whole (not partial)", False, rep.get("partial"))
    s = rep.get("summary") or {}
    truth, exp, notes = expected_run(reqs, gaps)
    note = "; ".join(notes)
    if notes:
        print("INFO  %s instrumentation gaps: %s; mock truth: %d requests, tokens in %d / out %d / cached %d"
              % (w, note, truth["calls"], truth["input"], truth["output"], truth["cache_read"]))

    # a step that ran more than once is listed once per run of it: research, research#2
    names = {re.sub(r"#\d+$", "", n.get("id") or "") for n in rep.get("nodes") or []}
    c.eq(w + " node names", set(run.get("nodes") or []), names)
    def gap(key):  # the note, where a gap makes the figure differ from the mock's
        return note if exp[key] != truth[key] else ""
    c.eq(w + " summary.llm_calls", exp["calls"], s.get("llm_calls"), gap("calls"))
    tok = s.get("tokens") or {}
    c.eq(w + " summary.tokens.input", exp["input"], tok.get("input"), gap("input"))
    c.eq(w + " summary.tokens.output", exp["output"], tok.get("output"), gap("output"))
    c.eq(w + " summary.tokens.cache_read", exp["cache_read"], tok.get("cache_read"), gap("cache_read"))
    c.eq(w + " summary.tool_calls", run.get("tool_calls"), s.get("tool_calls"))
    hidden = exp["hidden_failures"]
    if "failed_task_unended" in gaps:
        hidden = sum(1 for r in reqs if r["status"] != 200)
    want_retries = max(0, (run.get("retries") or 0) - hidden)
    c.eq(w + " summary.retries", want_retries, s.get("retries"),
         "the failed attempts have no span" if hidden else "")

    # by_model: one entry per model family, with its calls and tokens.
    fams = exp["families"]
    entries = rep.get("by_model") or []
    got_models = [e.get("model") for e in entries]
    mapped = [by_model_family(m, fams) for m in got_models]
    ok = len(entries) == len(fams) and set(mapped) == set(fams) and None not in mapped
    c.check(ok, w + " by_model: one entry per model family", sorted(fams), got_models)
    for e, fam in zip(entries, mapped):
        if fam is None:
            continue
        f = fams[fam]
        etok = e.get("tokens") or {}
        got = (e.get("calls"), etok.get("input"), etok.get("output"), etok.get("cache_read"))
        want = (f["calls"], f["input"], f["output"], f["cache_read"])
        c.eq(w + " by_model %s (calls, input, output, cache_read)" % e.get("model"), list(want), list(got))

    # cost from the price table above, within 0.5 %.
    got_cost = s.get("cost_usd")
    want_cost = exp["cost"]
    good = (isinstance(got_cost, (int, float)) and not isinstance(got_cost, bool)
            and abs(got_cost - want_cost) <= COST_TOLERANCE * want_cost + 1e-12)
    c.check(good, w + " summary.cost_usd (within 0.5 %)", want_cost, got_cost)
    c.eq(w + " summary.cost_complete", not exp["unpriced"], s.get("cost_complete"),
         "acme-llm-1 has no price" if exp["unpriced"] else "")

    # wall time: the root span holds every request of the run.
    wall = s.get("wall_ms")
    span_ms = (max(r["t_end"] for r in reqs) - min(r["t_start"] for r in reqs)) * 1000.0 if reqs else 0.0
    c.check(isinstance(wall, (int, float)) and wall >= span_ms - 1.0,
            w + " summary.wall_ms >= first request start .. last request end", ">= %.1f" % span_ms, wall)
    if is_long:
        c.check(isinstance(wall, (int, float)) and wall >= long_run_ms,
                w + " long run: summary.wall_ms covers the slow step", ">= %d" % long_run_ms, wall)


def check_recorded(args):
    """Replay a recorded run of the setup offline: the same checks on the
    reports of `dagprof report --format json` over its OTLP/JSON dump."""
    base = os.path.join(args.recorded, args.setup)
    gaps = SETUPS[args.setup][1]
    with open(base + ".mock.jsonl") as f:
        mock_reqs = [json.loads(l) for l in f if l.strip()]
    with open(base + ".runs.jsonl") as f:
        runs = [json.loads(l) for l in f if l.strip()]
    out = subprocess.run([args.dagprof, "report", "--format", "json", base + ".otlp.jsonl"],
                         capture_output=True, text=True, timeout=120)
    c = Checks()
    c.eq("dagprof report exit code", 0, out.returncode)
    if out.returncode:
        print(out.stderr[-4000:], file=sys.stderr)
    reports = [json.loads(l) for l in out.stdout.splitlines() if l.strip()]
    c.check(len(runs) > 0, "recorded RUN lines", ">= 1", len(runs))
    by_run = {}
    for r in mock_reqs:
        by_run.setdefault(r.get("run"), []).append(r)
    for run in runs:
        check_run(c, run, by_run.get(run.get("run"), []), reports, gaps, args.long_run_ms, False)
    return c.summary()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dagprof")
    ap.add_argument("--install-only", action="store_true",
                    help="run npm ci in the setup's folder when node_modules is missing, then exit")
    ap.add_argument("--setup", required=True, choices=sorted(SETUPS))
    ap.add_argument("--node", default=shutil.which("node") or "node")
    ap.add_argument("--long-run-ms", type=int, default=41000)
    ap.add_argument("--keep", metavar="DIR", help="keep logs, reports, RUN lines and the OTLP/JSON dump here")
    ap.add_argument("--recorded", metavar="DIR",
                    help="no node, no daemon: profile the setup's recorded trace DIR/<setup>.otlp.jsonl "
                         "with `dagprof report` and check it against the recorded mock log and RUN lines")
    args = ap.parse_args()

    if args.recorded:
        if not args.dagprof:
            ap.error("--dagprof is required")
        return check_recorded(args)

    folder_name, gaps = SETUPS[args.setup]
    folder = os.path.join(HERE, folder_name)
    script = find_script(folder, args.setup)
    ensure_node_modules(folder)
    if args.install_only:
        return 0
    if not args.dagprof:
        ap.error("--dagprof is required")

    if args.keep:
        work = os.path.abspath(args.keep)
        os.makedirs(work, exist_ok=True)
        for name in ("mock.jsonl", "dump.otlp.jsonl"):
            if os.path.exists(os.path.join(work, name)):
                os.unlink(os.path.join(work, name))
    else:
        work = tempfile.mkdtemp(prefix="dagprof-conformance-")
    mock_log = os.path.join(work, "mock.jsonl")
    open(mock_log, "w").close()

    c = Checks()
    mock, mock_port = start_mock(mock_log)
    daemon = None
    try:
        # built-in defaults: only --listen and --format json on the command line
        daemon = Daemon(args.dagprof, idle_timeout=None).start()
        env = dict(os.environ, OTLP_ENDPOINT="http://" + daemon.endpoint,
                   MOCK_URL="http://127.0.0.1:%d/v1" % mock_port, OPENAI_API_KEY="test",
                   LONG_RUN_MS=str(args.long_run_ms))
        env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
        if args.keep:
            env["DUMP_FILE"] = os.path.join(work, "dump.otlp.jsonl")
        print("running %s %s (LONG_RUN_MS=%d)" % (args.node, os.path.relpath(script, HERE), args.long_run_ms),
              flush=True)
        try:
            client = subprocess.run([args.node, script], cwd=folder, env=env, capture_output=True,
                                    text=True, timeout=args.long_run_ms / 1000.0 + 300)
        except subprocess.TimeoutExpired as e:
            client = subprocess.CompletedProcess(e.cmd, -1, e.stdout or "", (e.stderr or "") + "\nTIMEOUT")
            if isinstance(client.stdout, bytes):
                client.stdout = client.stdout.decode(errors="replace")
    finally:
        rc, reports = daemon.stop() if daemon else (None, [])
        stop_mock(mock)

    with open(mock_log) as f:
        mock_reqs = [json.loads(l) for l in f if l.strip()]
    runs = []
    for line in client.stdout.splitlines():
        if line.startswith("RUN "):
            runs.append(json.loads(line[4:]))

    if args.keep:
        def write(name, text):
            with open(os.path.join(work, name), "w") as f:
                f.write(text)
        write("script.stdout", client.stdout)
        write("script.stderr", client.stderr)
        write("dagprof.stdout", "".join(daemon.stdout_lines) if daemon else "")
        write("dagprof.stderr", "".join(daemon.stderr_lines) if daemon else "")
        write("runs.jsonl", "".join(json.dumps(r) + "\n" for r in runs))
        print("kept the logs, reports and dump in %s" % work)

    ok = c.eq("workflow script exit code", 0, client.returncode)
    if not ok:
        print(client.stderr[-4000:], file=sys.stderr)
    if c.eq("dagprof exit code after SIGTERM", 0, rc) is False and daemon:
        print(daemon.stderr_tail(), file=sys.stderr)
    c.check(len(runs) > 0, "RUN lines printed by the script", ">= 1", len(runs))

    by_run = {}
    for r in mock_reqs:
        by_run.setdefault(r.get("run"), []).append(r)
    run_ids = [r.get("run") for r in runs]
    c.eq("mock requests without a [run:ID] or of no RUN line", [],
         sorted(str(k) for k in by_run if k not in run_ids))

    # The long run: a request that lasted LONG_RUN_MS (a [delay-ms:N] step),
    # or a RUN line saying "long": true when the slow step is no request.
    long_runs = {r.get("run") for r in runs if r.get("long")}
    for rid, reqs in by_run.items():
        if any((q["t_end"] - q["t_start"]) * 1000.0 >= args.long_run_ms for q in reqs):
            long_runs.add(rid)
    c.eq("runs with a step of LONG_RUN_MS", 1, len(long_runs))

    print("INFO  dagprof printed %d reports: %s" % (len(reports), ", ".join(
        "%s(%s%s)" % (r.get("trace_id"), r.get("dag_id"), ", partial" if r.get("partial") else "")
        for r in reports)))
    known = {r.get("trace_id") for r in runs}
    other = [r.get("trace_id") for r in reports if r.get("trace_id") not in known]
    if other:
        print("INFO  reports of trace ids no RUN line names: %s" % ", ".join(other))

    for run in runs:
        check_run(c, run, by_run.get(run.get("run"), []), reports, gaps, args.long_run_ms,
                  run.get("run") in long_runs)

    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
