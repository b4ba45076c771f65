#!/usr/bin/env python3
"""End-to-end test of the HTML report in a real browser (headless Chromium).

The test writes OTLP/JSON trace files itself, has dagprof render them
(`dagprof report --format html`, `--html-dir`, or the daemon with
--html-dir fed over OTLP/HTTP), loads each page in Chromium
(`--dump-dom`) and checks the DOM Chromium built, parsed with html.parser:

  small   a four-node run whose figures are worked out by hand below: the
          summary, the node table, the calls under their nodes, the
          critical-path marks, the graph's edges, anchors that resolve;
          plus a screenshot
  xss     names, models, service and DAG id full of markup and quotes stay
          text: no script, no event handler, no element the page did not
          write, and the text reads back exactly as sent
  large   generated layered DAGs of 40 and 500 nodes with declared
          dependencies: every node, edge, layer and the critical path;
          screenshots of both
  daemon  the daemon with --html-dir and html_max_files=2: a page per run,
          index.html newest first, the oldest page deleted, no temporary
          file; waits on files with a deadline, never on a clock

Screenshots (1280 px wide) go to --artifacts. Exits 77 (CTest SKIP) only
when no Chromium is installed.

  test_html_report.py --dagprof PATH --scenario small|xss|large|daemon --artifacts DIR
"""

import argparse
import calendar
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from html.parser import HTMLParser

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from e2e_common import Checker, Daemon  # noqa: E402

SKIP = 77
# 2026-01-02 03:04:05.678 UTC: the run start of every generated trace, as
# the report writes it (ISO 8601, UTC)
T0_NS = calendar.timegm((2026, 1, 2, 3, 4, 5)) * 10**9 + 678 * 10**6
T0_TEXT = "2026-01-02T03:04:05.678Z"


# ---- OTLP/JSON written by the test --------------------------------------------

def value(v):
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, (list, tuple)):
        return {"arrayValue": {"values": [value(x) for x in v]}}
    return {"stringValue": v}


class Trace:
    """Spans of one trace, times in ms from T0."""

    def __init__(self, trace_byte, service="html-e2e"):
        self.trace_id = ("%02x" % trace_byte) * 16
        self.service = service
        self.spans = []

    def span(self, name, start_ms, end_ms, attrs=None, parent=None, error=False):
        span_id = "%016x" % (len(self.spans) + 1)
        s = {"traceId": self.trace_id, "spanId": span_id, "name": name, "kind": 1,
             "startTimeUnixNano": str(T0_NS + int(round(start_ms * 1e6))),
             "endTimeUnixNano": str(T0_NS + int(round(end_ms * 1e6))),
             "attributes": [{"key": k, "value": value(v)} for k, v in (attrs or {}).items()],
             "status": {"code": 2} if error else {}}
        if parent:
            s["parentSpanId"] = parent
        self.spans.append(s)
        return span_id

    def document(self):
        return {"resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name",
                                         "value": {"stringValue": self.service}}]},
            "scopeSpans": [{"scope": {"name": "html-e2e"}, "spans": self.spans}]}]}

    def write(self, path):
        with open(path, "w") as f:
            json.dump(self.document(), f)
        return path


def small_trace():
    """
    root "pipeline" 0..1000 ms, dag.id html-dag, service html-e2e
      plan    0..200    LLM call gpt-4o 20..180: 1000 in, 200 out, cost $0.0045
      search  250..650  tool call web_search 300..500
      audit   260..400
      write   700..1000 LLM call e2e-model 720..980: 2000 in (500 cache read), 500 out,
              priced by the test's price file (USD per 1M: input 2, output 8, cache read 0.5):
              uncached 1500*2 = 3000, cache read 500*0.5 = 250, output 500*8 = 4000;
              7250 / 1e6 = $0.00725
    No declared edges: inferred (docs/metrics.md section 5). search and audit
    start after plan ends: both depend on plan (ready 200: waits 50 and 60).
    write starts at 700 after search (650) and audit (400); plan is left out
    (search started after plan ended and ended before write): ready 650, wait 50.
    Edges plan->search, plan->audit, search->write, audit->write.
    Critical path: ends at write (the last end); write <- search (later end)
    <- plan: 1000 - 0 = 1000 ms. wall 1000 ms. execution 200+400+140+300 =
    1040 ms, parallelism 1040/1000 = 1.04. Tokens 3000 in + 700 out = 3700.
    Cost 0.0045 + 0.00725 = $0.01175.
    Tools: web_search, one call of 200 ms (300..500), not failed: p50 = max =
    total = 200 ms.
    Recommendations (docs/metrics.md section 8): parallelize, the four
    top-level nodes replayed from 0 end at max(200, 400, 140, 300) = 400
    instead of 1000: saves 600 ms (60 % of the wall time). model_downgrade:
    gpt-4o ($2.50 + $10 per 1M) is dearer than e2e-model ($2 + $8) and holds
    1200 of 3700 tokens (32 % >= 30 %); its sibling gpt-4o-mini ($0.15 in,
    $0.60 out) would cost (1000 x 0.15 + 200 x 0.60) / 1e6 = $0.00027 for
    plan's call instead of its $0.0045: saves $0.00423, 0.00423 / 0.01175 =
    36 % of the cost; it concerns node plan. No cache (no inputs), no
    reduce_context (mean input 1500), no restructure_dag (a path of 3 nodes).
    Top fixes: parallelize (60 %), model_downgrade (36 %); they claim
    different savings (time, cost): together 600 ms and $0.00423.
    """
    t = Trace(0x51)
    root = t.span("pipeline", 0, 1000, {"dag.id": "html-dag"})
    plan = t.span("plan", 0, 200, {"dag.node.id": "plan"}, root)
    t.span("chat gpt-4o", 20, 180, {"gen_ai.operation.name": "chat",
                                    "gen_ai.request.model": "gpt-4o",
                                    "gen_ai.usage.input_tokens": 1000,
                                    "gen_ai.usage.output_tokens": 200,
                                    "gen_ai.usage.cost": 0.0045}, plan)
    search = t.span("search", 250, 650, {"dag.node.id": "search"}, root)
    t.span("execute_tool web_search", 300, 500, {"gen_ai.operation.name": "execute_tool",
                                                 "gen_ai.tool.name": "web_search"}, search)
    t.span("audit", 260, 400, {"dag.node.id": "audit"}, root)
    write = t.span("write", 700, 1000, {"dag.node.id": "write"}, root)
    t.span("chat e2e-model", 720, 980, {"gen_ai.operation.name": "chat",
                                        "gen_ai.request.model": "e2e-model",
                                        "gen_ai.usage.input_tokens": 2000,
                                        "gen_ai.usage.cache_read.input_tokens": 500,
                                        "gen_ai.usage.output_tokens": 500}, write)
    return t


PRICES = """- model: e2e-model
  input: 2
  output: 8
  cache_read: 0.5
  cache_write: 2.5
"""


def layered_trace(trace_byte, layers, width, dag_id):
    """
    `layers` layers of `width` nodes, declared edges (dag.depends_on). Node i
    of layer L runs from L*100 ms for 80 ms, node 0 for 90 ms; node i of
    layer L > 0 depends on node 0 and node i of layer L-1. Every node is
    ready at the end of node 0 before it ((L-1)*100 + 90): wait 10 ms. The
    last end is node 0 of the last layer, and node 0 depends only on node 0:
    the critical path is node 0 of every layer, (layers-1)*100 + 90 ms long,
    which is also the wall time (the root spans exactly the nodes).
    Edges: (layers-1) * (2*width - 1); the path's own: layers - 1.
    """
    t = Trace(trace_byte, service="gen")
    last_end = (layers - 1) * 100 + 90
    root = t.span("big", 0, last_end, {"dag.id": dag_id})
    for layer in range(layers):
        for i in range(width):
            attrs = {"dag.node.id": "L%02d-n%02d" % (layer, i)}
            if layer:
                deps = ["L%02d-n00" % (layer - 1)]
                if i:
                    deps.append("L%02d-n%02d" % (layer - 1, i))
                attrs["dag.depends_on"] = deps
            start = layer * 100
            t.span("step", start, start + (90 if i == 0 else 80), attrs, root)
    return t


# ---- the browser ----------------------------------------------------------------

def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    def __init__(self, binary, workdir):
        self.binary = binary
        self.profile = tempfile.mkdtemp(prefix="chromium-", dir=workdir)

    def _run(self, extra, url):
        args = [self.binary, "--headless", "--no-sandbox", "--disable-gpu",
                "--user-data-dir=" + self.profile, "--no-first-run",
                "--disable-background-networking"] + extra + [url]
        return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=180)

    def dom(self, path):
        """The DOM Chromium built from the page, serialised."""
        r = self._run(["--dump-dom"], "file://" + os.path.abspath(path))
        if r.returncode != 0 or not r.stdout:
            raise RuntimeError("chromium --dump-dom failed (%d): %s" % (
                r.returncode, r.stderr.decode(errors="replace")[-2000:]))
        return r.stdout.decode("utf-8")

    def screenshot(self, path, out_png, height=2000):
        r = self._run(["--screenshot=" + os.path.abspath(out_png),
                       "--window-size=1280,%d" % height, "--hide-scrollbars"],
                      "file://" + os.path.abspath(path))
        return r.returncode == 0 and os.path.getsize(out_png) > 10000


# ---- a small DOM from html.parser --------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class Element:
    def __init__(self, tag, attrs, parent):
        self.tag = tag
        self.attrs = dict(attrs)
        self.parent = parent
        self.children = []
        self.parts = []  # text and child elements in order

    def text(self):
        return "".join(p if isinstance(p, str) else p.text() for p in self.parts)

    def classes(self):
        return (self.attrs.get("class") or "").split()

    def iter(self):
        yield self
        for c in self.children:
            yield from c.iter()

    def find_all(self, tag=None, cls=None, **attrs):
        out = []
        for e in self.iter():
            if tag and e.tag != tag:
                continue
            if cls and cls not in e.classes():
                continue
            if any(e.attrs.get(k.replace("_", "-")) != v for k, v in attrs.items()):
                continue
            out.append(e)
        return out

    def find(self, tag=None, cls=None, **attrs):
        found = self.find_all(tag, cls, **attrs)
        return found[0] if found else None


class DomBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", [], None)
        self.cur = self.root

    def handle_starttag(self, tag, attrs):
        e = Element(tag, attrs, self.cur)
        self.cur.children.append(e)
        self.cur.parts.append(e)
        if tag not in VOID:
            self.cur = e

    def handle_startendtag(self, tag, attrs):
        e = Element(tag, attrs, self.cur)
        self.cur.children.append(e)
        self.cur.parts.append(e)

    def handle_endtag(self, tag):
        e = self.cur
        while e is not self.root and e.tag != tag:
            e = e.parent
        if e is not self.root:
            self.cur = e.parent

    def handle_data(self, data):
        self.cur.parts.append(data)


def parse(html):
    b = DomBuilder()
    b.feed(html)
    b.close()
    return b.root


# ---- checks shared by the scenarios ---------------------------------------------------

def check_self_contained(c, dom, what):
    """No script, no event handler, nothing fetched from anywhere."""
    c.eq(len(dom.find_all("script")), 0, "%s: script elements" % what)
    for tag in ("img", "iframe", "object", "embed", "link", "video", "audio", "source", "base"):
        c.eq(len(dom.find_all(tag)), 0, "%s: <%s> elements" % (what, tag))
    handlers = [(e.tag, k) for e in dom.iter() for k in e.attrs if k.startswith("on")]
    c.eq(handlers, [], "%s: event handler attributes" % what)
    for e in dom.iter():
        for k in ("src", "href", "xlink:href", "action", "formaction"):
            v = e.attrs.get(k)
            if v is not None and k != "href":
                c.ok(False, "%s: %s=%r on <%s>" % (what, k, v, e.tag))
            if k == "href" and v is not None and not v.startswith("#") and ":" in v:
                c.ok(False, "%s: link out of the page: %r" % (what, v))
    for st in dom.find_all("style"):
        css = st.text()
        c.ok("url(" not in css and "@import" not in css, "%s: the stylesheet fetches nothing" % what)


def check_anchors(c, dom, what):
    ids = {e.attrs["id"] for e in dom.iter() if "id" in e.attrs}
    bad = [e.attrs["href"] for e in dom.find_all("a")
           if e.attrs.get("href", "").startswith("#") and e.attrs["href"][1:] not in ids]
    c.eq(bad, [], "%s: in-page links without their target" % what)


def cell(row, cls):
    td = row.find("td", cls)
    return td.text().strip() if td else None


def node_rows(section):
    return section.find_all("tr", "node")


def render(dagprof, files, out_path, extra=()):
    with open(out_path, "w") as out:
        r = subprocess.run([dagprof, "report", "--format", "html"] + list(extra) + files,
                           stdout=out, stderr=subprocess.PIPE, timeout=300)
    return r.returncode, r.stderr.decode(errors="replace")


# ---- scenarios --------------------------------------------------------------------

def scenario_small(c, args, browser, work):
    path = small_trace().write(os.path.join(work, "small.json"))
    prices = os.path.join(work, "prices.yaml")
    with open(prices, "w") as f:
        f.write(PRICES)
    page = os.path.join(work, "small.html")
    rc, err = render(args.dagprof, [path], page, ["--price-file", prices])
    c.eq(rc, 0, "dagprof report exit code (%s)" % err.strip())
    dom = parse(browser.dom(page))
    check_self_contained(c, dom, "small")
    check_anchors(c, dom, "small")
    sections = dom.find_all("section", "run")
    c.eq(len(sections), 1, "one run section")
    s = sections[0]
    c.eq(s.find(cls="dag-id").text(), "html-dag", "DAG id")
    c.eq(s.find(cls="service").text(), "html-e2e", "service")
    c.eq(s.find(cls="run-start").text(), T0_TEXT, "run start date")
    c.eq(s.find(cls="deps").text(), "inferred", "dependencies")

    def card(cls):
        d = s.find("div", cls)
        return d.find("b").text() if d else None
    c.eq(card("wall"), "1000.0 ms", "wall")
    c.eq(card("critical-path"), "1000.0 ms", "critical path")
    c.eq(card("parallelism"), "1.04", "parallelism")
    c.eq(card("tokens"), "3700", "tokens")
    c.eq(card("cost"), "$0.01175", "cost")

    rows = {r.attrs["data-node"]: r for r in node_rows(s)}
    c.eq(sorted(rows), ["audit", "plan", "search", "write"], "node rows")
    want = {  # start, duration, wait, cost, critical
        "plan": ("0.0 ms", "200.0 ms", "0.0 ms", "$0.0045", "1"),
        "search": ("250.0 ms", "400.0 ms", "50.0 ms", "$0.0", "1"),
        "audit": ("260.0 ms", "140.0 ms", "60.0 ms", "$0.0", "0"),
        "write": ("700.0 ms", "300.0 ms", "50.0 ms", "$0.00725", "1"),
    }
    for node, (start, dur, wait, cost, crit) in want.items():
        r = rows.get(node)
        if not c.ok(r is not None, "row of %s" % node):
            continue
        c.eq((cell(r, "start"), cell(r, "duration"), cell(r, "wait"), cell(r, "cost")),
             (start, dur, wait, cost), "figures of %s" % node)
        c.eq(r.attrs.get("data-critical"), crit, "critical mark of %s" % node)
        c.eq("crit" in r.classes(), crit == "1", "critical class of %s" % node)
    path_links = [a.text() for a in s.find("p", "critical-path-nodes").find_all("a")]
    c.eq(path_links, ["plan", "search", "write"], "critical path in the summary")

    # the waterfall: calls inside their node's <details>; wait drawn before the node
    wf = s.find("div", "waterfall")
    details = {d.find(cls="lbl").text(): d for d in wf.find_all("details")}
    c.eq(sorted(details), ["plan", "search", "write"], "nodes with calls are expandable")
    if "plan" in details:
        calls = details["plan"].find_all("div", "call")
        c.eq(len(calls), 1, "plan's calls")
        c.ok(calls and "gpt-4o" in calls[0].text(), "plan's call names its model")
    if "search" in details:
        tool = details["search"].find("span", "tool")
        c.ok(tool is not None and "web_search: start 300.0 ms, duration 200.0 ms" in
             tool.attrs.get("title", ""), "the tool call's tooltip has its exact figures")
        wait = details["search"].find("span", "wait")
        # 50 ms of wait from 200 ms, on a 1000 ms axis
        c.ok(wait is not None and "left:20.000%" in wait.attrs.get("style", "") and
             "width:5.000%" in wait.attrs.get("style", ""), "search's wait drawn before it")

    # the graph: 4 nodes, 4 dashed (inferred) edges, 2 on the critical path
    svg = s.find("svg", "dag")
    c.ok(svg is not None, "the DAG is drawn")
    if svg is not None:
        gnodes = svg.find_all("g")
        c.eq(len(gnodes), 4, "graph nodes")
        c.eq(sorted(g.attrs.get("data-node") for g in gnodes if "crit" in g.classes()),
             ["plan", "search", "write"], "critical graph nodes")
        edges = svg.find_all("path")
        c.eq(len(edges), 4, "graph edges")
        c.ok(all("inferred" in e.classes() for e in edges), "inferred edges are marked inferred")
        c.eq(sorted(e.find("title").text() for e in edges if "crit" in e.classes()),
             ["plan \u2192 search (inferred)", "search \u2192 write (inferred)"],
             "critical edges")
        # layers by depth: plan 0, search and audit 1, write 2
        xs = {g.attrs["data-node"]: float(g.find("rect").attrs["x"]) for g in gnodes}
        c.ok(xs["plan"] < xs["search"] == xs["audit"] < xs["write"], "layers by depth: %r" % xs)
    models = {r.attrs["data-model"]: r for r in s.find_all("tr", None) if "data-model" in r.attrs}
    c.eq(sorted(models), ["e2e-model", "gpt-4o"], "models")
    if "e2e-model" in models:
        m = models["e2e-model"]
        c.eq((cell(m, "calls"), cell(m, "input"), cell(m, "output"), cell(m, "cache-read"),
              cell(m, "cost")), ("1", "2000", "500", "500", "$0.00725"), "e2e-model usage")
        bars = [sp.attrs.get("title") for sp in m.find_all("span") if "title" in sp.attrs]
        # the cost by what it paid for (see small_trace), then the tokens:
        # 2000 input of which 500 cache read: 1500 uncached
        c.eq(bars, ["uncached input $0.003", "cache read $0.00025", "output $0.004",
                    "uncached input 1500 tokens", "cache read 500 tokens", "output 500 tokens"],
             "e2e-model's stacked cost and token bars")
        split = m.find("small", "cost-split")
        c.eq(split.text() if split else None,
             "uncached input $0.003 \u00b7 cache read $0.00025 \u00b7 output $0.004",
             "e2e-model's cost split in figures")
    if "gpt-4o" in models:
        given = [sp.attrs.get("title") for sp in models["gpt-4o"].find_all("span", "k-given")]
        c.eq(given, ["given on the span $0.0045"], "a cost given on the span has no split")
    fixes = s.find("ol", "top-fixes")
    c.ok(fixes is not None, "the summary lists the top fixes")
    if fixes is not None:
        items = fixes.find_all("li")
        c.eq([li.find("b").text() for li in items], ["parallelize", "model_downgrade"],
             "top fixes, largest saving first")
        c.eq([li.find("span", "share").text() for li in items],
             ["(60.0% of the run's wall time)", "(36.0% of the run's cost)"], "their shares")
        c.eq([li.find("span", "save-ms").text() for li in items], ["600.0 ms", "0.0 ms"],
             "time saved")
        c.eq([li.find("span", "save-usd").text() for li in items], ["$0.0", "$0.00423"],
             "cost saved")
        # what saves nothing is in the page but hidden (class zero), as the text report omits it
        c.eq([[sp.find_all("span")[1].attrs.get("class") for sp in li.find_all("span", "save")
               if "zero" not in sp.classes()] for li in items],
             [["save-ms"], ["save-usd"]], "only the parts that save something are shown")
        nodes = items[1].find("span", "rec-nodes") if len(items) > 1 else None
        c.eq([a.text() for a in nodes.find_all("a")] if nodes else None, ["plan"],
             "model_downgrade links to the node it concerns")
    combined = s.find("p", "combined")
    c.eq(combined.find("b").text() if combined else None, "600.0 ms, $0.00423",
         "the fixes' combined savings")
    c.eq(combined.attrs.get("data-overlapping") if combined else None, "0",
         "the fixes do not overlap")
    # bottlenecks link to their node's row, waterfall row and graph box
    btable = s.find("table", "bottlenecks")
    for tr in btable.find_all("tr") if btable is not None else []:
        links = [a.attrs.get("href", "") for a in tr.find_all("a")]
        if links:
            c.eq([h.rsplit("-", 1)[1][0] for h in links], ["n", "w", "g"],
                 "a bottleneck's links: node row, waterfall, graph")
    # per-tool statistics
    tools = {r.attrs["data-tool"]: r for r in s.find_all("tr") if "data-tool" in r.attrs}
    c.eq(sorted(tools), ["web_search"], "tools")
    if "web_search" in tools:
        t = tools["web_search"]
        c.eq((cell(t, "calls"), cell(t, "p50"), cell(t, "max"), cell(t, "total"),
              cell(t, "failures")), ("1", "200.0 ms", "200.0 ms", "200.0 ms", "0"),
             "web_search statistics")
    # the same figures as the JSON report of the same file, node by node
    r = subprocess.run([args.dagprof, "report", "--format", "json", "--price-file", prices, path],
                       stdout=subprocess.PIPE, timeout=120)
    report = json.loads(r.stdout)
    for jn in report["nodes"]:
        row = rows.get(jn["id"])
        if row is None:
            continue
        for key, cls in (("start_ms", "start"), ("duration_ms", "duration"),
                         ("wait_ms", "wait"), ("execution_ms", "execution")):
            c.eq(float(cell(row, cls).removesuffix(" ms")), jn[key],
                 "%s %s as in the JSON report" % (jn["id"], key))
        c.eq(float(cell(row, "cost").lstrip("$")), jn["cost_usd"],
             "%s cost as in the JSON report" % jn["id"])
    c.eq(float(card("parallelism")), report["summary"]["parallelism"],
         "parallelism as in the JSON report")
    c.eq(report["start_time"], T0_TEXT, "run start as in the JSON report")
    c.eq(report["service"], "html-e2e", "service in the JSON report")
    if fixes is not None:
        c.eq([f["type"] for f in report["top_fixes"]["fixes"]],
             [li.find("b").text() for li in fixes.find_all("li")],
             "the same top fixes as the JSON report")
    c.eq([(t["name"], t["calls"], t["p50_ms"], t["failures"]) for t in report["tool_stats"]],
         [("web_search", 1, 200.0, 0)], "tool statistics in the JSON report")
    # the text report of the same file: the header, the fixes and the tools
    r = subprocess.run([args.dagprof, "report", "--price-file", prices, path],
                       stdout=subprocess.PIPE, timeout=120)
    text = r.stdout.decode()
    c.ok("  DAG html-dag   service html-e2e   run start %s\n" % T0_TEXT in text,
         "text header")
    c.ok("  1. parallelize       saves 600.0 ms (60.0% of the run's wall time)" in text and
         "  2. model_downgrade   saves $0.0042 (36.0% of the run's cost)" in text,
         "text top fixes")
    c.ok("  combined: 600.0 ms, $0.0042  (no two claim the same savings: the sum)\n" in text,
         "text combined savings")
    c.ok("  cost per 1,000 runs $11.75 (extrapolated from this run: its cost x 1000)\n" in text,
         "text cost per 1,000 runs")
    png = os.path.join(args.artifacts, "html_small.png")
    c.ok(browser.screenshot(page, png), "screenshot %s" % png)


XSS = {
    "dag": "<img src=x onerror=alert(1)>\"'&amp;",
    "service": "\"><script>alert(2)</script>",
    "node_a": "<script>alert(1)</script>",
    "node_b": "a\"b'c&d",
    "tool": "</title><script>alert(3)</script>",
    "model": "<svg onload=alert(4)>",
}


def scenario_xss(c, args, browser, work):
    t = Trace(0x66, service=XSS["service"])
    root = t.span("r", 0, 100, {"dag.id": XSS["dag"]})
    a = t.span("a", 0, 40, {"dag.node.id": XSS["node_a"]}, root)
    t.span("tool", 5, 30, {"gen_ai.tool.name": XSS["tool"]}, a, error=True)
    b = t.span("b", 50, 100, {"dag.node.id": XSS["node_b"]}, root)
    t.span("call", 55, 95, {"gen_ai.operation.name": "chat", "gen_ai.request.model": XSS["model"],
                            "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5}, b)
    path = t.write(os.path.join(work, "xss.json"))
    page = os.path.join(work, "xss.html")
    pages = os.path.join(work, "xss-pages")
    rc, err = render(args.dagprof, [path], page, ["--html-dir", pages])
    c.eq(rc, 0, "dagprof report exit code (%s)" % err.strip())
    # the run's own page (--html-dir) is titled by its DAG id
    own = [n for n in os.listdir(pages) if n != "index.html"]
    c.eq(own, ["20260102T030405.678Z-" + "66" * 16 + ".html"], "the run's page")
    for name in own + ["index.html"]:
        d = parse(browser.dom(os.path.join(pages, name)))
        check_self_contained(c, d, name)
        if name != "index.html":
            c.eq(d.find("title").text(), "dagprof: " + XSS["dag"], "page title")
        else:
            c.eq(d.find("td", "dag-id").text(), XSS["dag"], "index: DAG id as text")
    dom = parse(browser.dom(page))
    check_self_contained(c, dom, "xss")
    check_anchors(c, dom, "xss")
    c.eq(len(dom.find_all("svg")), 2 + 1, "only the page's own svg elements (2 legends, 1 graph)")
    s = dom.find("section", "run")
    c.eq(s.find(cls="dag-id").text(), XSS["dag"], "DAG id read back as text")
    c.eq(s.find(cls="service").text(), XSS["service"], "service read back as text")
    ids = sorted(r.attrs.get("data-node") for r in node_rows(s))
    c.eq(ids, sorted([XSS["node_a"], XSS["node_b"]]), "node ids in attributes")
    c.eq(sorted(cell(r, "id") for r in node_rows(s)), ids, "node ids in text")
    c.ok(any(cell(r, "model") == XSS["model"] for r in node_rows(s)), "model as text")
    tool = s.find("div", "waterfall").find("span", "tool")
    c.ok(tool is not None and tool.attrs.get("title", "").startswith(XSS["tool"] + ":"),
         "tool name in a title attribute")
    tool_row = s.find("table", "tools").find("tr", None, data_tool=XSS["tool"])
    c.ok(tool_row is not None and cell(tool_row, "tool-name") == XSS["tool"],
         "tool name in the tools table, as text and attribute")
    svg_titles = [e.text() for e in s.find("svg", "dag").find_all("title")]
    c.ok(any(t.startswith(XSS["node_a"] + ":") for t in svg_titles), "node id in an SVG title")


def scenario_large(c, args, browser, work):
    for layers, width, byte in ((8, 5, 0x40), (25, 20, 0x50)):
        n = layers * width
        path = layered_trace(byte, layers, width, "layered-%d" % n).write(
            os.path.join(work, "n%d.json" % n))
        page = os.path.join(work, "n%d.html" % n)
        rc, err = render(args.dagprof, [path], page)
        c.eq(rc, 0, "%d nodes: dagprof report exit code (%s)" % (n, err.strip()))
        started = time.monotonic()
        dom = parse(browser.dom(page))
        print("%d nodes: %d bytes of HTML, DOM dumped in %.2f s" % (
            n, os.path.getsize(page), time.monotonic() - started))
        check_self_contained(c, dom, "%d nodes" % n)
        check_anchors(c, dom, "%d nodes" % n)
        s = dom.find("section", "run")
        rows = node_rows(s)
        c.eq(len(rows), n, "%d nodes: node rows" % n)
        crit = [r.attrs["data-node"] for r in rows if r.attrs.get("data-critical") == "1"]
        c.eq(crit, ["L%02d-n00" % layer for layer in range(layers)], "%d nodes: critical path" % n)
        cp = "%d.0 ms" % ((layers - 1) * 100 + 90)
        c.eq(s.find("div", "critical-path").find("b").text(), cp, "%d nodes: critical path ms" % n)
        c.eq(s.find("div", "wall").find("b").text(), cp, "%d nodes: wall" % n)
        waits = {cell(r, "wait") for r in rows if not r.attrs["data-node"].startswith("L00")}
        c.eq(waits, {"10.0 ms"}, "%d nodes: every later node waits 10 ms" % n)
        svg = s.find("svg", "dag")
        gnodes = svg.find_all("g")
        c.eq(len(gnodes), n, "%d nodes: graph nodes" % n)
        c.eq(len({g.find("rect").attrs["x"] for g in gnodes}), layers, "%d nodes: layers" % n)
        edges = svg.find_all("path")
        c.eq(len(edges), (layers - 1) * (2 * width - 1), "%d nodes: edges" % n)
        c.ok(all("explicit" in e.classes() and "inferred" not in e.classes() for e in edges),
             "%d nodes: declared edges drawn solid" % n)
        c.eq(len([e for e in edges if "crit" in e.classes()]), layers - 1,
             "%d nodes: critical edges" % n)
        png = os.path.join(args.artifacts, "html_%d_nodes.png" % n)
        c.ok(browser.screenshot(page, png), "screenshot %s" % png)


def post_json(url, doc):
    req = urllib.request.Request(url + "/v1/traces", data=json.dumps(doc).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status


def wait_for(cond, timeout=60.0):
    """Poll a condition on files until it holds or the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def scenario_daemon(c, args, browser, work):
    out_dir = os.path.join(work, "pages")
    daemon = Daemon(args.dagprof, extra_args=["--html-dir", out_dir,
                                              "--set", "output.html_max_files=2"]).start()
    index = os.path.join(out_dir, "index.html")

    def index_has(text):
        try:
            with open(index, encoding="utf-8") as f:
                return text in f.read()
        except FileNotFoundError:
            return False
    try:
        # three runs, one after the other; each a second later than the one before
        for k in range(3):
            t = Trace(0x70 + k)
            root = t.span("r", k * 1000, k * 1000 + 100, {"dag.id": "daemon-run-%d" % k})
            t.span("n", k * 1000, k * 1000 + 100, {"dag.node.id": "only"}, root)
            c.eq(post_json(daemon.http_endpoint, t.document()), 200, "POST run %d" % k)
            c.ok(wait_for(lambda: index_has("daemon-run-%d" % k)),
                 "run %d is in index.html" % k)
    finally:
        rc, _reports = daemon.stop()
    c.eq(rc, 0, "daemon exit code")
    names = sorted(os.listdir(out_dir))
    pages = [n for n in names if n != "index.html"]
    c.eq(len(pages), 2, "two pages kept: %r" % names)
    c.eq([n for n in names if n.startswith(".")], [], "no temporary file left")
    # 2026-01-02 03:04:06.678 and 03:04:07.678 UTC: runs 1 and 2
    c.eq(pages, ["20260102T030406.678Z-" + "71" * 16 + ".html",
                 "20260102T030407.678Z-" + "72" * 16 + ".html"], "page names")
    dom = parse(browser.dom(index))
    check_self_contained(c, dom, "index")
    rows = dom.find("table", "runs").find("tbody").find_all("tr")
    c.eq([r.find("td", "dag-id").text() for r in rows], ["daemon-run-2", "daemon-run-1"],
         "index: newest first, the oldest deleted")
    c.eq([r.find("a").attrs.get("href") for r in rows], list(reversed(pages)), "index links")
    c.eq([cell(r, "wall") for r in rows], ["100.0 ms", "100.0 ms"], "index: wall")
    c.eq(rows[0].find("td").text() if rows else None, "2026-01-02 03:04:07.678 UTC",
         "index: date")
    page_dom = parse(browser.dom(os.path.join(out_dir, pages[-1])))
    c.eq(page_dom.find(cls="dag-id").text(), "daemon-run-2", "the newest page")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dagprof", required=True)
    ap.add_argument("--scenario", required=True, choices=["small", "xss", "large", "daemon"])
    ap.add_argument("--artifacts", required=True)
    args = ap.parse_args()
    chromium = find_chromium()
    if not chromium:
        print("SKIP: no chromium (scripts/install-deps.sh --test installs it)")
        return SKIP
    os.makedirs(args.artifacts, exist_ok=True)
    c = Checker("e2e_html_" + args.scenario)
    work = tempfile.mkdtemp(prefix="dp_html_")
    try:
        browser = Browser(chromium, work)
        {"small": scenario_small, "xss": scenario_xss, "large": scenario_large,
         "daemon": scenario_daemon}[args.scenario](c, args, browser, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return c.report()


if __name__ == "__main__":
    sys.exit(main())
