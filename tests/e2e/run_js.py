#!/usr/bin/env python3
"""End-to-end test: the official OpenTelemetry JS SDK -> dagprof.

Starts the real daemon on a free loopback port, runs tests/e2e/js/send_runs.js
(BasicTracerProvider + BatchSpanProcessor + OTLPTraceExporter over gRPC),
stops the daemon with SIGTERM and checks every JSON report against figures
worked out by hand below from the runs that send_runs.js builds.

  run_js.py --dagprof PATH [--scenario standard|volume] [--runs N]
            [--protocol grpc|http/protobuf|http/json] [--install-only]

The protocol picks the SDK's exporter (exporter-trace-otlp-grpc, -otlp-proto
or -otlp-http) and the daemon's receiver (OTLP/gRPC or OTLP/HTTP); the
expected figures are the same for all three.

Runs `npm ci` in tests/e2e/js first when its node_modules is missing.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from e2e_common import Checker, Daemon  # noqa: E402

JS_DIR = os.path.join(HERE, "js")

# Public list prices in USD per 1M tokens (input, output), which dagprof's
# built-in table carries for these models.
PRICE = {
    "claude-3-5-sonnet-20241022": (3.00, 15.00),
    "claude-3-5-haiku-20241022": (0.80, 4.00),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
}

# Bottleneck and recommendation types dagprof may emit at all.
BOTTLENECK_TYPES = {"slow_node", "high_token_usage", "excessive_retries", "tool_latency",
                    "slow_llm_call", "dependency_wait", "sequential_bottleneck",
                    "expensive_node", "budget_exceeded"}
RECOMMENDATION_TYPES = {"parallelize", "cache", "model_downgrade", "reduce_context",
                        "batch_operations", "restructure_dag"}


def cost(model, tin, tout):
    pin, pout = PRICE[model]
    return tin * pin / 1e6 + tout * pout / 1e6


def ensure_node_modules():
    exporters = ("exporter-trace-otlp-grpc", "exporter-trace-otlp-proto", "exporter-trace-otlp-http",
                 "exporter-metrics-otlp-http", "exporter-logs-otlp-http")
    if all(os.path.isdir(os.path.join(JS_DIR, "node_modules", "@opentelemetry", e))
           for e in exporters):
        return
    npm = shutil.which("npm")
    if not npm:
        raise RuntimeError("npm not found: run scripts/install-deps.sh --test")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, check=True)


# --- expected figures, worked out by hand from send_runs.js ------------------

def node(id, start, dur, wait, deps, model, llm, tin, tout, cost_usd, tools=(), retries=0, cp=False):
    return dict(id=id, start_ms=start, duration_ms=dur, wait_ms=wait, depends_on=sorted(deps),
                model=model, llm_calls=llm, input=tin, output=tout, cost_usd=cost_usd,
                tools=list(tools), retries=retries, on_critical_path=cp)


def expected_code_review():
    """Run A. Times in ms from the run's start (root 0..15000)."""
    sonnet, haiku, mini = "claude-3-5-sonnet-20241022", "claude-3-5-haiku-20241022", "gpt-4o-mini"
    nodes = [
        # fetch-code 0..3000: only a tool call (git_clone 100..2900 = 2800 ms).
        # Ready at the root's start (0), so wait 0.
        node("fetch-code", 0, 3000, 0, [], None, 0, 0, 0, 0.0,
             tools=[("git_clone", 2800.0, True)], cp=True),
        # analyze-complexity 3000..12000 = 9000 ms, after fetch-code (end 3000): wait 0.
        # Chats 5000/1200 and (nested under prepare-followup) 3000/800: 8000 in, 2000 out.
        # Cost 8000*3/1e6 + 2000*15/1e6 = 0.024 + 0.030 = 0.054.
        node("analyze-complexity", 3000, 9000, 0, ["fetch-code"], sonnet, 2, 8000, 2000,
             cost(sonnet, 8000, 2000), cp=True),
        # review-security 3000..7000 = 4000 ms; semgrep fails (5000..5400 = 400 ms)
        # and is tried again (5450..6950 = 1500 ms): 1 retry. 2000/500 tokens:
        # 2000*0.15/1e6 + 500*0.60/1e6 = 0.0003 + 0.0003 = 0.0006.
        node("review-security", 3000, 4000, 0, ["fetch-code"], mini, 1, 2000, 500,
             cost(mini, 2000, 500), tools=[("semgrep", 400.0, False), ("semgrep", 1500.0, True)],
             retries=1),
        # review-style 3500..5500 = 2000 ms, ready at 3000: wait 500. Unknown
        # model: cost unknown (null). dag.depends_on given as a plain string.
        node("review-style", 3500, 2000, 500, ["fetch-code"], "acme-llm-7b", 1, 1000, 200, None),
        # aggregate-results 12000..15000 = 3000 ms, deps end at 12000, 7000, 5500:
        # wait 12000 - 12000 = 0. grep 12010..12022.5 = 12.5 ms. 4000/1000 tokens:
        # 4000*0.80/1e6 + 1000*4/1e6 = 0.0032 + 0.004 = 0.0072.
        node("aggregate-results", 12000, 3000, 0,
             ["analyze-complexity", "review-security", "review-style"], haiku, 1, 4000, 1000,
             cost(haiku, 4000, 1000), tools=[("grep", 12.5, True)], cp=True),
    ]
    return dict(
        dag_id="code-review-dag", span_count=16, nodes=nodes,
        # wall = root 0..15000. execution = 3000+9000+4000+2000+3000 = 21000.
        # critical path fetch-code -> analyze-complexity -> aggregate-results:
        # 3000 + 9000 + 3000 = 15000 (no waits on it). parallelism 21000/15000 = 1.4,
        # speed-up 15000/15000 = 1.0.
        wall_ms=15000.0, execution_ms=21000.0, critical_path_ms=15000.0,
        parallelism=1.4, speedup=1.0,
        critical_path=["fetch-code", "analyze-complexity", "aggregate-results"],
        retries=1, llm_calls=5, tool_calls=4,
        # input 8000+2000+1000+4000 = 15000; output 2000+500+200+1000 = 3700.
        tokens=(15000, 3700),
        # known costs 0.054 + 0.0006 + 0.0072 = 0.0618; acme-llm-7b unknown.
        cost_usd=0.0618, cost_complete=False, unknown_cost_calls=1,
        by_model={
            sonnet: (2, 8000, 2000, 0.054),
            mini: (1, 2000, 500, 0.0006),
            "acme-llm-7b": (1, 1000, 200, None),
            haiku: (1, 4000, 1000, 0.0072),
        },
        # mean node execution 21000/5 = 4200; analyze-complexity 9000 > 2x4200 = 8400
        # (and < 4x = 16800) is a slow node, but its chats 3100..7100 = 4000 and
        # 7200..11900 = 4700 (> 3000 ms: slow_llm_call) take 8700 >= half of 9000:
        # one finding per cause, the slow LLM calls. Tool calls git_clone 2800 and
        # semgrep 1500 > 1000 ms: tool_latency.
        bottlenecks_required={("slow_llm_call", "analyze-complexity"), ("tool_latency", None)},
        # Absent: retries at most 1 (< 2); costs all < $0.10; no budget; every wait
        # (500 at most) < execution; tokens per node at most 10000 <= 3 x mean
        # (18700/5 = 3740 -> 11220); every run of consecutive nodes is linked.
        bottlenecks_forbidden={"excessive_retries", "expensive_node", "budget_exceeded",
                               "dependency_wait", "high_token_usage", "sequential_bottleneck",
                               "slow_node"},
    )


def expected_research():
    """Run B: no explicit dependencies; dagprof infers them from time."""
    gpt4o, mini = "gpt-4o", "gpt-4o-mini"
    nodes = [
        # plan 0..1000; no earlier sibling: ready at the root's start, wait 0.
        # 1500/300 tokens: 1500*2.5/1e6 + 300*10/1e6 = 0.00375 + 0.003 = 0.00675.
        node("plan", 0, 1000, 0, [], gpt4o, 1, 1500, 300, cost(gpt4o, 1500, 300), cp=True),
        # search-web 1010..4010 after plan (ended 1000): wait 10.
        node("search-web", 1010, 3000, 10, ["plan"], None, 0, 0, 0, 0.0,
             tools=[("web_search", 2800.0, True)]),
        # search-papers 1020..6020 after plan: wait 20. dag.retries = 2.
        node("search-papers", 1020, 5000, 20, ["plan"], None, 0, 0, 0, 0.0,
             tools=[("arxiv_search", 4800.0, True)], retries=2, cp=True),
        # search-code 1200..3200 after plan: wait 200. 800/100 tokens:
        # 800*0.15/1e6 + 100*0.6/1e6 = 0.00012 + 0.00006 = 0.00018.
        node("search-code", 1200, 2000, 200, ["plan"], mini, 1, 800, 100, cost(mini, 800, 100)),
        # synthesize 6100..10000; every sibling ended before 6100, the latest
        # search-papers at 6020: wait 80. Only direct dependencies are listed:
        # plan is reached through the searches (each started after plan ended).
        # 3000/1000 tokens: 3000*2.5/1e6 + 1000*10/1e6 = 0.0075 + 0.01 = 0.0175.
        node("synthesize", 6100, 3900, 80, ["search-web", "search-papers", "search-code"],
             gpt4o, 1, 3000, 1000, cost(gpt4o, 3000, 1000), cp=True),
    ]
    return dict(
        dag_id="research-dag", span_count=11, nodes=nodes,
        # wall 10000; execution 1000+3000+5000+2000+3900 = 14900; parallelism 1.49.
        # critical path plan -> search-papers -> synthesize, the chain with the
        # most wait + execution: 0+1000 + 20+5000 + 80+3900 = 10000, from plan's
        # ready time (0) to synthesize's end (10000); speed-up 10000/10000 = 1.
        # (plan -> search-web -> synthesize: 1000 + 10+3000 + 80+3900 = 7990.)
        wall_ms=10000.0, execution_ms=14900.0, critical_path_ms=10000.0,
        parallelism=1.49, speedup=1.0,
        critical_path=["plan", "search-papers", "synthesize"],
        retries=2, llm_calls=3, tool_calls=2,
        # input 1500+800+3000 = 5300; output 300+100+1000 = 1400.
        tokens=(5300, 1400),
        # 0.00675 + 0.00018 + 0.0175 = 0.02443
        cost_usd=0.02443, cost_complete=True, unknown_cost_calls=0,
        by_model={
            # gpt-4o: 1500+3000 = 4500 in, 300+1000 = 1300 out; 0.00675 + 0.0175 = 0.02425
            gpt4o: (2, 4500, 1300, 0.02425),
            mini: (1, 800, 100, 0.00018),
        },
        # search-papers dag.retries 2 (>= 2, < 3): excessive_retries. web_search
        # 2800 and arxiv_search 4800 > 1000 ms: tool_latency. The synthesize chat
        # 6150..9950 = 3800 > 3000 ms: slow_llm_call.
        bottlenecks_required={("excessive_retries", "search-papers"), ("tool_latency", None),
                              ("slow_llm_call", None)},
        # Absent: mean execution 14900/5 = 2980, the longest 5000 < 5960; costs
        # < $0.10; no budget; waits (200 at most) < execution.
        bottlenecks_forbidden={"slow_node", "expensive_node", "budget_exceeded",
                               "dependency_wait", "sequential_bottleneck"},
    )


# --- checks ---------------------------------------------------------------

def check_tokens(c, tok, tin, tout, what):
    if not c.ok(isinstance(tok, dict), "%s: tokens object missing" % what):
        return
    c.eq(tok.get("input"), tin, what + " tokens.input")
    c.eq(tok.get("output"), tout, what + " tokens.output")
    c.eq(tok.get("cache_read"), 0, what + " tokens.cache_read")
    c.eq(tok.get("cache_write"), 0, what + " tokens.cache_write")
    c.eq(tok.get("total"), tin + tout, what + " tokens.total")


def check_cost(c, got, want, what, zero_or_null=False):
    if zero_or_null:
        # A node with no LLM call has nothing to price: 0 or "no cost" are both fair.
        c.ok(got is None or got == 0, "%s: got %r, want 0 or null" % (what, got))
    elif want is None:
        c.eq(got, None, what)
    else:
        c.near(got, want, what)


def check_run(c, rep, exp):
    d = exp["dag_id"]
    c.eq(rep.get("late"), False, d + " late")
    c.eq(rep.get("span_count"), exp["span_count"], d + " span_count")
    tid = rep.get("trace_id", "")
    c.ok(isinstance(tid, str) and len(tid) == 32 and all(ch in "0123456789abcdef" for ch in tid),
         "%s trace_id is 32 lower-case hex: %r" % (d, tid))

    s = rep.get("summary", {})
    for key in ("wall_ms", "execution_ms", "critical_path_ms"):
        c.near(s.get(key), exp[key], "%s summary.%s" % (d, key))
    for key in ("parallelism", "speedup"):  # ratios are printed to 3 decimals
        c.near(s.get(key), exp[key], "%s summary.%s" % (d, key), tol=5e-4)
    c.eq(s.get("node_count"), len(exp["nodes"]), d + " summary.node_count")
    for key in ("retries", "llm_calls", "tool_calls", "cost_complete", "unknown_cost_calls"):
        c.eq(s.get(key), exp[key], "%s summary.%s" % (d, key))
    check_tokens(c, s.get("tokens"), exp["tokens"][0], exp["tokens"][1], d + " summary")
    c.near(s.get("cost_usd"), exp["cost_usd"], d + " summary.cost_usd")
    c.eq(s.get("coerced_values"), 0, d + " summary.coerced_values")
    c.eq(s.get("ignored_values"), 0, d + " summary.ignored_values")

    nodes = rep.get("nodes", [])
    c.eq([n.get("id") for n in nodes], [n["id"] for n in exp["nodes"]], d + " node ids in start order")
    by_id = {n.get("id"): n for n in nodes}
    for en in exp["nodes"]:
        w = "%s node %s" % (d, en["id"])
        n = by_id.get(en["id"])
        if not c.ok(n is not None, w + " present"):
            continue
        c.near(n.get("start_ms"), en["start_ms"], w + " start_ms")
        c.near(n.get("duration_ms"), en["duration_ms"], w + " duration_ms")
        c.near(n.get("wait_ms"), en["wait_ms"], w + " wait_ms")
        # The wait lies before the node's start, so it runs for its whole span.
        c.near(n.get("execution_ms"), en["duration_ms"], w + " execution_ms")
        c.eq(sorted(n.get("depends_on") or []), en["depends_on"], w + " depends_on")
        c.eq(n.get("model"), en["model"], w + " model")
        c.eq(n.get("llm_calls"), en["llm_calls"], w + " llm_calls")
        c.eq(n.get("retries"), en["retries"], w + " retries")
        c.eq(n.get("on_critical_path"), en["on_critical_path"], w + " on_critical_path")
        check_tokens(c, n.get("tokens"), en["input"], en["output"], w)
        check_cost(c, n.get("cost_usd"), en["cost_usd"], w + " cost_usd",
                   zero_or_null=(en["llm_calls"] == 0))
        tools = n.get("tool_calls") or []
        got_tools = sorted((t.get("name"), t.get("duration_ms"), t.get("success")) for t in tools)
        want_tools = sorted(en["tools"])
        c.eq(len(got_tools), len(want_tools), w + " tool call count")
        for g, t in zip(got_tools, want_tools):
            c.eq(g[0], t[0], w + " tool name")
            c.near(g[1], t[1], w + " tool %s duration_ms" % t[0])
            c.eq(g[2], t[2], w + " tool %s success" % t[0])

    cp = rep.get("critical_path", {})
    c.eq(cp.get("nodes"), exp["critical_path"], d + " critical_path.nodes")
    c.near(cp.get("duration_ms"), exp["critical_path_ms"], d + " critical_path.duration_ms")

    models = {m.get("model"): m for m in rep.get("by_model", [])}
    c.eq(sorted(models), sorted(exp["by_model"]), d + " by_model models")
    for model, (calls, tin, tout, usd) in exp["by_model"].items():
        m = models.get(model)
        if m is None:
            continue
        c.eq(m.get("calls"), calls, "%s by_model %s calls" % (d, model))
        check_tokens(c, m.get("tokens"), tin, tout, "%s by_model %s" % (d, model))
        check_cost(c, m.get("cost_usd"), usd, "%s by_model %s cost_usd" % (d, model))

    bns = rep.get("bottlenecks", [])
    types = {b.get("type") for b in bns}
    c.ok(types <= BOTTLENECK_TYPES, "%s bottleneck types known: %r" % (d, types))
    for typ, nid in exp["bottlenecks_required"]:
        hit = [b for b in bns if b.get("type") == typ and (nid is None or b.get("node") == nid)]
        c.ok(hit, "%s bottleneck %s on %s present (got %r)" % (
            d, typ, nid or "any node", [(b.get("type"), b.get("node")) for b in bns]))
    for typ in exp["bottlenecks_forbidden"]:
        c.ok(typ not in types, "%s bottleneck %s absent" % (d, typ))
    impacts = [b.get("impact_pct") for b in bns]
    c.ok(all(isinstance(x, (int, float)) for x in impacts) and impacts == sorted(impacts, reverse=True),
         "%s bottlenecks sorted by impact_pct descending: %r" % (d, impacts))
    for b in bns:
        c.ok(b.get("severity") in ("low", "medium", "high"), "%s bottleneck severity %r" % (d, b))
        if b.get("type") in ("slow_node", "excessive_retries"):
            # 9000 < 4 x 4200 and 2 retries < 3: both medium.
            c.eq(b.get("severity"), "medium", "%s %s severity" % (d, b.get("type")))

    for r in rep.get("recommendations", []):
        c.ok(r.get("type") in RECOMMENDATION_TYPES, "%s recommendation type %r" % (d, r.get("type")))
        sv = r.get("savings", {})
        c.ok(isinstance(sv.get("time_ms"), (int, float)) and sv.get("time_ms") >= 0
             and isinstance(sv.get("tokens"), int) and sv.get("tokens") >= 0,
             "%s recommendation savings non-negative: %r" % (d, sv))


def check_standard(c, sent, reports):
    expected = {e["dag_id"]: e for e in (expected_code_review(), expected_research())}
    c.eq(sorted(r.get("dag_id") for r in reports), sorted(expected), "one report per run")
    sent_ids = {r["dag_id"]: r["trace_id"] for r in sent["runs"]}
    for rep in reports:
        exp = expected.get(rep.get("dag_id"))
        if exp is None:
            continue
        c.eq(rep.get("trace_id"), sent_ids[exp["dag_id"]], exp["dag_id"] + " trace_id as sent")
        check_run(c, rep, exp)


def check_volume(c, sent, reports):
    runs = sent["runs"]
    c.eq(len(reports), len(runs), "one report per volume run")
    # 21 spans per run: root + 4 nodes + 4 children each.
    c.eq(sum(r.get("span_count", 0) for r in reports), 21 * len(runs), "sum of span_count")
    c.eq(sum(r.get("span_count", 0) for r in reports), sent["spans_created"], "spans accounted for")
    by_trace = {r.get("trace_id"): r for r in reports}
    c.eq(len(by_trace), len(reports), "distinct trace ids in reports")
    wrong = []
    for i, run in enumerate(runs):
        rep = by_trace.get(run["trace_id"])
        if rep is None:
            wrong.append("%s missing" % run["dag_id"])
            continue
        s = rep.get("summary", {})
        # Each of 4 nodes: chats (1000+i)/200 and 500/100 -> input 4*(1500+i), output 4*300.
        tin, tout = 4 * (1500 + i), 1200
        usd = cost("gpt-4o-mini", tin, tout)
        got = (rep.get("dag_id"), rep.get("span_count"), s.get("node_count"),
               (s.get("tokens") or {}).get("input"), (s.get("tokens") or {}).get("output"),
               s.get("wall_ms"), s.get("critical_path_ms"), s.get("llm_calls"), s.get("tool_calls"))
        # wall 0..3000; critical path load -> left|right -> join = 3 x 1000; 8 chats, 8 tools.
        want = (run["dag_id"], 21, 4, tin, tout, 3000.0, 3000.0, 8, 8)
        if got != want or not isinstance(s.get("cost_usd"), (int, float)) \
                or abs(s["cost_usd"] - usd) > 1e-9:
            wrong.append("%s: got %r cost %r, want %r cost %r" % (run["dag_id"], got, s.get("cost_usd"), want, usd))
    c.ok(not wrong, "every volume run as sent (%d wrong): %s" % (len(wrong), "; ".join(wrong[:5])))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dagprof", required=True)
    ap.add_argument("--scenario", choices=("standard", "volume"), default="standard")
    ap.add_argument("--runs", type=int, default=250)
    ap.add_argument("--node", default=shutil.which("node") or "node")
    ap.add_argument("--protocol", choices=("grpc", "http/protobuf", "http/json"), default="grpc")
    ap.add_argument("--install-only", action="store_true",
                    help="only run npm ci when node_modules lacks a package")
    args = ap.parse_args()

    ensure_node_modules()
    if args.install_only:
        return 0
    c = Checker("e2e_js_" + args.scenario + ("" if args.protocol == "grpc" else "_" + args.protocol))
    # volume: 5250 spans in batches of up to 512, some runs split across
    # batches; a slow build (sanitizers) decoding large OTLP/JSON batches can
    # take longer than 200 ms between two batches of one run, so the run
    # would be finalised early and its rest reported as a late run. The
    # checks are made on the reports printed at shutdown either way.
    daemon = Daemon(args.dagprof, idle_timeout="5s" if args.scenario == "volume" else "200ms").start()
    endpoint = ("http://" + daemon.endpoint if args.protocol == "grpc"
                else daemon.http_endpoint + "/v1/traces")
    cmd = [args.node, os.path.join(JS_DIR, "send_runs.js"), "--endpoint", endpoint,
           "--scenario", args.scenario, "--protocol", args.protocol]
    if args.scenario == "volume":
        # 250 runs x 21 spans = 5250 spans, gzip-compressed Export calls.
        cmd += ["--runs", str(args.runs), "--compression", "gzip"]
    try:
        client = subprocess.run(cmd, cwd=JS_DIR, capture_output=True, text=True, timeout=300)
    finally:
        rc, reports = daemon.stop()
    print(client.stderr, end="", file=sys.stderr)
    c.eq(client.returncode, 0, "JS client exit code (stdout %r)" % client.stdout[-500:])
    c.eq(rc, 0, "dagprof exit code after SIGTERM")
    if client.returncode != 0 or rc != 0:
        print(daemon.stderr_tail(), file=sys.stderr)
    try:
        sent = json.loads(client.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        c.ok(False, "JS client printed its summary")
        return c.report()
    c.eq(sent["export_failures"], 0, "failed Export calls")
    c.eq(sent["spans_exported"], sent["spans_created"], "spans exported by the SDK")
    if args.scenario == "standard":
        check_standard(c, sent, reports)
    else:
        check_volume(c, sent, reports)
    return c.report()


if __name__ == "__main__":
    sys.exit(main())
