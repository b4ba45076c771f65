#!/usr/bin/env python3
"""End-to-end test of `dagprof diff` on two OTLP/JSON files written by hand.

tests/data/diff/before.json (trace aaaa…) and after.json (trace bbbb…) are
two runs of "review-dag", dependencies declared with dag.depends_on, costs
given on the spans (gen_ai.usage.cost) so no price table is involved:

  node    before (ms)                      after (ms)
  plan    0..100, gpt-4o-mini 100/50 tok,  the same                     unchanged
          $0.000045
  fetch   100..400 (dep plan)              100..250, dag.retries 1      faster
  lint    100..300 (dep plan)              100..600                     slower
  answer  400..1000 (dep fetch, lint),     650..1250 (wait 50),         model changed
          gpt-4o 1000/200 tok, $0.0045     gpt-4o-mini 1200/200, $0.0003
  notify  450..500 (dep fetch, wait 50)    -                            removed
  rank    -                                1250..1300 (dep answer)      added
  root    0..1000                          0..1300

Worked out by hand:
  wall 1000 -> 1300 (+300, +30 %); critical path A plan→fetch→answer (ends
  1000: 1000 ms), B plan→lint→answer→rank (ends 1300: 1300 ms), +300, +30 %;
  execution A 100+300+200+600+50 = 1250, B 100+150+500+600+50 = 1400 (+150,
  +12 %); parallelism A 1250/1000 = 1.25, B 1400/1300 = 1.0769 → 1.077 in
  the JSON report, delta -0.173, -0.173/1.25 = -13.84 %; cost A 0.000045 +
  0.0045 = 0.004545, B 0.000045 + 0.0003 = 0.000345, delta -0.0042, -92.41 %;
  tokens A 1100 in + 250 out = 1350, B 1300 + 250 = 1550, +200, +14.81 %;
  retries 0 -> 1. Nodes by |duration delta|: lint +300 (+150 %), fetch -150
  (-50 %), notify -50 and rank +50 (tie, by id), answer 0; plan unchanged.

Scenarios:
  text      the text table against the figures above
  json      the JSON schema's figures against the figures above, --output
  operands  one file holding both runs (FILE#TRACEID, --trace-a/--trace-b, a
            prefix) gives the same comparison; the messages for a file of
            several runs, an operand that is not a file, a missing operand
  html      the page in headless Chromium (--dump-dom): self-contained, the
            figures above, and a node named <script>… stays text (skip 77
            without chromium)

  test_diff.py --dagprof PATH --scenario text|json|operands|html
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from e2e_common import Checker  # noqa: E402
from test_html_report import SKIP, Browser, check_self_contained, find_chromium, parse  # noqa: E402

DATA = os.path.join(os.path.dirname(HERE), "data", "diff")
BEFORE = os.path.join(DATA, "before.json")
AFTER = os.path.join(DATA, "after.json")
TRACE_A = "a" * 32
TRACE_B = "b" * 32


def run(dagprof, *args):
    # no run history unless a test gives one: XDG_STATE_HOME at a place with none
    env = dict(os.environ, XDG_STATE_HOME="/nonexistent/dagprof-test")
    r = subprocess.run([dagprof, "diff"] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120, env=env)
    return r.returncode, r.stdout.decode("utf-8"), r.stderr.decode("utf-8")


def line_starting(text, prefix):
    for line in text.splitlines():
        if line.startswith(prefix):
            return line
    return None


def scenario_text(c, args, work):
    rc, out, err = run(args.dagprof, BEFORE, AFTER)
    c.eq(rc, 0, "exit status (stderr %r)" % err)
    runs = {  # label: A, B, delta, percent
        "  wall time": "1000.0 ms 1300.0 ms +300.0 ms +30.00%",
        "  critical path": "1000.0 ms 1300.0 ms +300.0 ms +30.00%",
        "  execution (sum)": "1250.0 ms 1400.0 ms +150.0 ms +12.00%",
        "  parallelism": "1.25 1.08 -0.17 -13.84%",
        "  cost": "$0.004545 $0.000345 -$0.004200 -92.41%",
        "  tokens": "1350 1550 +200 +14.81%",
        "    input": "1100 1300 +200 +18.18%",
        "    output": "250 250 +0 +0.00%",
        "  nodes": "5 5 +0 +0.00%",
        "  retries": "0 1 +1 -",
    }
    for prefix, want in runs.items():
        line = line_starting(out, prefix) or ""
        c.eq(" ".join(line[len(prefix):].split()), want, "run line %r" % prefix)
    c.ok("  A (1000.0 ms, 3 nodes): plan -> fetch -> answer\n" in out, "critical path A")
    c.ok("  B (1300.0 ms, 4 nodes): plan -> lint -> answer -> rank\n" in out, "critical path B")
    c.ok("Critical path (changed)" in out, "critical path marked as changed")

    rows = [line.split()[0] for line in out.splitlines()
            if line.startswith("  ") and len(line.split()) > 1
            and line.split()[1] in ("changed", "added", "removed")]
    c.eq(rows, ["lint", "fetch", "notify", "rank", "answer"], "node rows, by |duration delta|")
    c.ok("  1 node unchanged" in out, "plan folded into the unchanged count")
    c.ok(line_starting(out, "  plan ") is None, "no row for the unchanged plan")

    def row(node):
        return (line_starting(out, "  %s " % node) or "").split()

    c.eq(row("lint")[1:6], ["changed", "200.0", "500.0", "+300.0", "+150.00%"], "lint figures")
    c.ok("no -> yes" in line_starting(out, "  lint ") or "", "lint joins the critical path")
    c.eq(row("fetch")[2:6], ["300.0", "150.0", "-150.0", "-50.00%"], "fetch figures")
    fetch = line_starting(out, "  fetch ") or ""
    c.ok("0 -> 1" in fetch and "yes -> no" in fetch, "fetch retries and path: %r" % fetch)
    c.eq(row("notify")[1:5], ["removed", "50.0", "-", "-50.0"], "notify removed")
    c.eq(row("rank")[1:5], ["added", "-", "50.0", "+50.0"], "rank added")
    answer = line_starting(out, "  answer ") or ""
    c.ok(answer.endswith("gpt-4o -> gpt-4o-mini"), "answer's model change: %r" % answer)
    c.ok("-$0.004200" in answer and "+200" in answer, "answer's cost and token deltas")
    for detail in ("      wait 0.0 -> 50.0 ms (+50.0 ms)\n",
                   "      tokens input 1000 -> 1200 (+200)\n",
                   "      cost $0.004500 -> $0.000300\n"):
        c.ok(detail in out, "answer detail %r" % detail.strip())
    c.eq(err, "", "nothing on stderr")


def near(c, got, want, what):
    c.ok(isinstance(got, (int, float)) and math.isclose(got, want, abs_tol=1e-9),
         "%s: got %r, want %r" % (what, got, want))


def scenario_json(c, args, work):
    out_path = os.path.join(work, "diff.json")
    rc, out, err = run(args.dagprof, "--format", "json", "--output", out_path, BEFORE, AFTER)
    c.eq(rc, 0, "exit status (stderr %r)" % err)
    c.eq(out, "", "--output: nothing on stdout")
    with open(out_path) as f:
        text = f.read()
    c.eq(text.count("\n"), 1, "one line")
    d = json.loads(text)
    c.eq(d["a"]["trace_id"], TRACE_A, "A's trace id")
    c.eq(d["b"]["trace_id"], TRACE_B, "B's trace id")
    c.eq(d["a"]["critical_path"]["nodes"], ["plan", "fetch", "answer"], "path A")
    c.eq(d["b"]["critical_path"]["nodes"], ["plan", "lint", "answer", "rank"], "path B")
    c.eq(d["b"]["critical_path"]["node_count"], 4, "path B length")
    c.eq(d["critical_path_changed"], True, "path changed")
    t = d["totals"]
    for key, a, b, delta, pct in (("wall_ms", 1000, 1300, 300, 30.0),
                                  ("critical_path_ms", 1000, 1300, 300, 30.0),
                                  ("execution_ms", 1250, 1400, 150, 12.0),
                                  ("parallelism", 1.25, 1.077, -0.173, -13.84),
                                  ("cost_usd", 0.004545, 0.000345, -0.0042, -92.41)):
        for field, want in (("a", a), ("b", b), ("delta", delta), ("pct", pct)):
            near(c, t[key][field], want, "totals.%s.%s" % (key, field))
    c.eq(t["tokens"]["total"], {"a": 1350, "b": 1550, "delta": 200, "pct": 14.81}, "tokens")
    c.eq(t["tokens"]["input"]["delta"], 200, "input tokens")
    c.eq(t["tokens"]["output"]["delta"], 0, "output tokens")
    c.eq(t["retries"], {"a": 0, "b": 1, "delta": 1, "pct": None}, "retries")
    c.eq(d["counts"], {"changed": 3, "added": 1, "removed": 1, "unchanged": 1}, "counts")

    nodes = {n["id"]: n for n in d["nodes"]}
    c.eq([n["id"] for n in d["nodes"]], ["lint", "fetch", "notify", "rank", "answer", "plan"],
         "node order")
    lint = nodes["lint"]
    c.eq(lint["duration_ms"], {"a": 200.0, "b": 500.0, "delta": 300.0, "pct": 150.0}, "lint")
    c.eq(lint["on_critical_path"], {"a": False, "b": True}, "lint path")
    c.eq(nodes["fetch"]["retries"]["delta"], 1, "fetch retries")
    c.eq(nodes["fetch"]["duration_ms"]["pct"], -50.0, "fetch pct")
    c.eq(nodes["notify"]["status"], "removed", "notify")
    c.eq(nodes["notify"]["duration_ms"], {"a": 50.0, "b": None, "delta": -50.0, "pct": None},
         "notify duration")
    c.eq(nodes["notify"]["wait_ms"]["a"], 50.0, "notify waited 50 ms for fetch")
    c.eq(nodes["rank"]["status"], "added", "rank")
    c.eq(nodes["rank"]["on_critical_path"], {"a": None, "b": True}, "rank path")
    ans = nodes["answer"]
    c.eq(ans["model"], {"a": "gpt-4o", "b": "gpt-4o-mini", "changed": True}, "answer model")
    c.eq(ans["wait_ms"]["delta"], 50.0, "answer wait")
    c.eq(ans["tokens"]["input"], {"a": 1000, "b": 1200, "delta": 200, "pct": 20.0},
         "answer input tokens")
    near(c, ans["cost_usd"]["delta"], -0.0042, "answer cost delta")
    near(c, ans["cost_usd"]["pct"], -93.33, "answer cost pct (-0.0042/0.0045)")
    c.eq(nodes["plan"]["status"], "unchanged", "plan")
    c.eq(nodes["plan"]["matched_by"], "id", "plan matched by id")


def scenario_operands(c, args, work):
    both = os.path.join(work, "both.json")
    with open(both, "w") as f:
        for path in (BEFORE, AFTER):
            with open(path) as src:
                f.write(src.read())
    rc, want, err = run(args.dagprof, "--format", "json", BEFORE, AFTER)
    # the same two runs recorded in a run history and named by trace id
    # prefixes: the comparison is the one of the files
    db = os.path.join(work, "history.db")
    for path in (BEFORE, AFTER):
        r = subprocess.run([args.dagprof, "report", "--history", db, path],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
        c.eq(r.returncode, 0, "report --history %s: %r" % (path, r.stderr))
    rc_h, got_h, err_h = run(args.dagprof, "--format", "json", "--set", "history.path=" + db,
                             "aaaa", "bbbbbbbb")
    c.eq(rc_h, 0, "diff of two stored runs: exit status (%r)" % err_h)
    c.eq(got_h, want, "diff of two stored runs = diff of their files")
    c.eq(rc, 0, "reference run")
    for label, argv in (("FILE#TRACEID", [both + "#" + TRACE_A, both + "#" + TRACE_B]),
                        ("prefixes", [both + "#AAAA", both + "#b"]),
                        ("--trace-a/--trace-b", ["--trace-a", "aa", "--trace-b", TRACE_B, both,
                                                 both])):
        rc, out, err = run(args.dagprof, "--format", "json", *argv)
        c.eq(rc, 0, "%s: exit status (stderr %r)" % (label, err))
        c.eq(out, want, "%s: the same comparison" % label)

    rc, out, err = run(args.dagprof, both, AFTER)
    c.eq(rc, 1, "a file of two runs and nothing picked: exit status")
    c.ok("holds 2 runs" in err and TRACE_A in err and TRACE_B in err,
         "the message lists both trace ids: %r" % err)
    c.eq(out, "", "nothing on stdout")
    rc, out, err = run(args.dagprof, "abc123", AFTER)
    c.eq(rc, 1, "not a file: exit status")
    c.ok(err.startswith("dagprof diff: abc123: not a file, and the run history cannot be read"),
         "not a file, no history: %r" % err)
    rc, out, err = run(args.dagprof, BEFORE)
    c.eq(rc, 2, "one operand: exit status")
    c.ok("diff needs two runs" in err, "one operand: message %r" % err)


def scenario_html(c, args, work):
    chromium = find_chromium()
    if not chromium:
        print("SKIP: no chromium (scripts/install-deps.sh --test installs it)")
        return SKIP
    browser = Browser(chromium, work)
    page = os.path.join(work, "diff.html")
    rc, out, err = run(args.dagprof, "--format", "html", "--output", page, BEFORE, AFTER)
    c.eq(rc, 0, "exit status (stderr %r)" % err)
    dom = parse(browser.dom(page))
    check_self_contained(c, dom, "diff page")
    # figures as the JSON report writes them (shortest form, at most 3, 8 or 2 decimals)
    changed = dom.find("table", cls="nodes")
    ids = [tr.find("td").text() for tr in changed.find("tbody").find_all("tr")]
    c.eq(ids, ["lint", "fetch", "notify", "rank", "answer"], "changed nodes in order")
    lint = [td.text() for td in changed.find("tbody").find_all("tr")[0].find_all("td")]
    c.eq(lint[1:6], ["changed", "200.0", "500.0", "+300.0", "+150.0%"], "lint cells")
    answer = changed.find("tbody").find_all("tr")[4]
    c.eq(answer.find("td", cls="model").text(), "gpt-4o \u2192 gpt-4o-mini", "answer's model")
    c.eq(answer.find("td", cls="tokens").text(), "1200 \u2192 1400input 1000 \u2192 1200",
         "answer's tokens: total, then the kind that changed")
    notify = changed.find("tbody").find_all("tr")[2]
    c.eq(notify.find("td", cls="model").text(), "-", "a removed node's model: none")
    unchanged = dom.find("details", cls="unchanged")
    c.ok(unchanged is not None and "1 node unchanged" in unchanged.find("summary").text(),
         "unchanged nodes folded")
    c.eq([tr.find("td").text() for tr in unchanged.find("tbody").find_all("tr")], ["plan"],
         "the unchanged node")
    paths = [p.text() for p in dom.find_all("p", cls="path")]
    c.eq(paths, ["A (1000.0 ms, 3 nodes): plan \u2192 fetch \u2192 answer",
                 "B (1300.0 ms, 4 nodes): plan \u2192 lint \u2192 answer \u2192 rank"],
         "critical paths")
    totals = {tr.find("td").text(): [td.text() for td in tr.find_all("td")[1:]]
              for tr in dom.find("table", cls="totals").find("tbody").find_all("tr")}
    c.eq(totals.get("wall time (ms)"), ["1000.0", "1300.0", "+300.0", "+30.0%"], "wall")
    c.eq(totals.get("cost"), ["$0.004545", "$0.000345", "-$0.0042", "-92.41%"], "cost")
    c.eq(totals.get("parallelism"), ["1.25", "1.077", "-0.173", "-13.84%"], "parallelism")

    # the added node named with markup and quotes: text in the page, no element
    name = "<script>alert('x')</script>"
    with open(AFTER) as f:
        doc = f.read().replace('"stringValue": "rank"', '"stringValue": ' + json.dumps(name))
        doc = doc.replace('"name": "rank"', '"name": ' + json.dumps(name))
    after_xss = os.path.join(work, "after_xss.json")
    with open(after_xss, "w") as f:
        f.write(doc)
    page = os.path.join(work, "diff_xss.html")
    rc, out, err = run(args.dagprof, "--format", "html", "--output", page, BEFORE, after_xss)
    c.eq(rc, 0, "xss: exit status (stderr %r)" % err)
    dom = parse(browser.dom(page))
    check_self_contained(c, dom, "xss page")
    rows = dom.find("table", cls="nodes").find("tbody").find_all("tr")
    ids = [tr.find("td").text() for tr in rows]
    c.ok(name in ids, "the node's id reads back as sent: %r" % ids)
    paths = [p.text() for p in dom.find_all("p", cls="path")]
    c.ok(paths and paths[-1].endswith("answer \u2192 " + name), "the path names it as text")
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dagprof", required=True)
    ap.add_argument("--scenario", required=True, choices=["text", "json", "operands", "html"])
    args = ap.parse_args()
    c = Checker("e2e_diff_" + args.scenario)
    work = tempfile.mkdtemp(prefix="dp_diff_")
    try:
        skipped = {"text": scenario_text, "json": scenario_json, "operands": scenario_operands,
                   "html": scenario_html}[args.scenario](c, args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if skipped == SKIP:
        return SKIP
    return c.report()


if __name__ == "__main__":
    sys.exit(main())
