#!/usr/bin/env python3
"""dagprof against the price files users keep, as their projects publish them.

LiteLLM's model_prices_and_context_window.json (the copy shipped in the npm
package llm-cost) and pydantic genai-prices' provider data (exported from
the npm package @pydantic/genai-prices by export_genai.mjs) are loaded with
`dagprof prices --price-file FILE MODEL...`. This script reads the same
files itself and works out, with its own arithmetic, which entries carry a
token price and what each costs per 1M tokens; then every priced entry must
load, resolve to itself and show those prices.

--install-only runs `npm ci` here (the CTest fixture); without npm, or
without node_modules, the tests are skipped (exit 77).
"""
import argparse
import datetime
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SKIP = 77
LITELLM_FILE = os.path.join(HERE, "node_modules", "llm-cost", "model_prices_and_context_window.json")
LITELLM_FIELDS = ["input_cost_per_token", "output_cost_per_token", "cache_read_input_token_cost",
                  "cache_creation_input_token_cost"]
GENAI_FIELDS = ["input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok"]
# docs/prices.md: a date / version suffix after an entry's name
SUFFIX = re.compile(r"(?:[-@](?:\d{4}-\d{2}-\d{2}|\d{3,})|-v\d+|:\d+|-latest)+", re.I)
PER_MILLION = 1_000_000


def install():
    if os.path.isdir(os.path.join(HERE, "node_modules", "@pydantic", "genai-prices")) and \
            os.path.isfile(LITELLM_FILE):
        return 0
    npm = shutil.which("npm")
    if not npm:
        print("npm not found: the price file tests are skipped (scripts/install-deps.sh --test)")
        return SKIP
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)
    return 0


def run_dagprof(dagprof, path, names):
    """Blocks of `dagprof prices` output by model name, and the load log line."""
    out = subprocess.run([dagprof, "prices", "--price-file", path, "--"] + names,
                         capture_output=True, text=True, check=True)
    blocks, current = {}, None
    for line in out.stdout.splitlines():
        if not line.startswith("  "):
            current = blocks.setdefault(line, {})
            continue
        m = re.match(r"  entry: (.*) \((.*?)(?:, provider (.*))?\)$", line)
        if m:
            current["entry"], current["origin"], current["provider"] = m.groups()
        m = re.match(r"  price: input (\S+), output (\S+), cache read (\S+), cache write (\S+) ",
                     line)
        if m:
            current["price"] = [float(x) for x in m.groups()]
        m = re.match(r"  above (\d+) input tokens: input (\S+), output (\S+), cache read (\S+), "
                     r"cache write (\S+) ", line)
        if m:
            current["tier"] = [int(m.group(1))] + [float(x) for x in m.groups()[1:]]
        if line.startswith("  no price"):
            current["unknown"] = True
    m = re.search(r"(\d+) prices loaded, (\d+) entries skipped", out.stderr)
    if not m:
        raise AssertionError("no load summary in: " + out.stderr)
    return blocks, int(m.group(1)), int(m.group(2))


def close(a, b):
    # dagprof prints %g: six significant digits
    return math.isclose(a, b, rel_tol=2e-6, abs_tol=1e-12)


def same_prices(got, want):
    if "price" not in got or len(got["price"]) != 4:
        return False
    if not all(close(a, b) for a, b in zip(got["price"], want["price"])):
        return False
    if want.get("tier") is None:
        return "tier" not in got
    return "tier" in got and got["tier"][0] == want["tier"][0] and \
        all(close(a, b) for a, b in zip(got["tier"][1:], want["tier"][1:]))


# ---- LiteLLM ---------------------------------------------------------------

def litellm_number(v):
    return float(v)  # numbers, or numbers written as strings


def litellm_expected(data):
    """name -> {'price': [in, out, cache read, cache write], 'tier': [...]|None}, skipped."""
    want, skipped = {}, 0
    for name, e in data.items():
        if name == "sample_spec":
            continue
        base, above, thresholds = {}, {}, set()
        for key, v in e.items():
            if v is None:
                continue  # a price left empty: as if absent
            m = re.fullmatch(r"(%s)_above_(\d+)k_tokens" % "|".join(LITELLM_FIELDS), key)
            if m:
                thresholds.add(int(m.group(2)) * 1000)
                above[m.group(1)] = litellm_number(v) * PER_MILLION
            elif key in LITELLM_FIELDS:
                base[key] = litellm_number(v) * PER_MILLION
        if ("input_cost_per_token" not in base and "output_cost_per_token" not in base) or \
                len(thresholds) > 1 or len(name) > 256:
            skipped += 1
            continue
        inp = base.get("input_cost_per_token", 0.0)
        price = [inp, base.get("output_cost_per_token", 0.0),
                 base.get("cache_read_input_token_cost", inp),
                 base.get("cache_creation_input_token_cost", inp)]
        tier = None
        if thresholds:
            tier = [thresholds.pop()] + [above.get(f, price[i]) for i, f in enumerate(LITELLM_FIELDS)]
        want[name] = {"price": price, "tier": tier}
    return want, skipped


def check_litellm(dagprof):
    with open(LITELLM_FILE) as f:
        data = json.load(f)
    want, skipped = litellm_expected(data)
    names = list(want)
    blocks, loaded, skipped_by_dagprof = run_dagprof(dagprof, LITELLM_FILE, names)
    assert (loaded, skipped_by_dagprof) == (len(want), skipped), \
        "LiteLLM: dagprof loaded %d, skipped %d; expected %d, %d" % (
            loaded, skipped_by_dagprof, len(want), skipped)
    by_lower = {}
    for n in names:
        by_lower.setdefault(n.lower(), []).append(n)
    bad = []
    for n in names:
        got = blocks.get(n, {})
        # names equal but for case: any of them may answer
        if got.get("origin") != LITELLM_FILE or got.get("entry") not in by_lower[n.lower()] or \
                not same_prices(got, want[got["entry"]]):
            bad.append((n, got, want[n]))
    assert not bad, "LiteLLM entries not loaded as published: %r" % bad[:5]
    # a few by hand: gpt-4o $5 / $15 per 1M (5e-06 / 1.5e-05 per token);
    # gemini-1.5-pro above 128k input tokens $10 / $30 (1e-05 / 3e-05)
    assert blocks["gpt-4o"]["price"][:2] == [5.0, 15.0], blocks["gpt-4o"]
    assert blocks["gemini-1.5-pro"]["tier"][:3] == [128000, 10.0, 30.0], blocks["gemini-1.5-pro"]
    print("LiteLLM (llm-cost): %d priced entries loaded and resolved to themselves, %d skipped"
          % (len(want), skipped))


# ---- genai-prices ------------------------------------------------------------

def genai_current(prices, today):
    if isinstance(prices, dict):
        return prices
    best, best_date = None, None
    for c in prices:
        constraint = c.get("constraint")
        if constraint and "start_date" not in constraint:
            continue  # a time-of-day window, not the list price
        date = constraint["start_date"][:10] if constraint else ""
        if date > today:
            continue
        if best is None or date >= best_date:
            best, best_date = c["prices"], date
    return best


def genai_price(mp):
    """[in, out, read, write] and the tier, or None when dagprof skips it."""
    base, above, starts, has = {}, {}, set(), set()
    for f in GENAI_FIELDS:
        v = mp.get(f)
        if v is None:
            continue
        has.add(f)
        if isinstance(v, dict):
            if len(v["tiers"]) != 1:
                return None
            base[f], above[f] = float(v["base"]), float(v["tiers"][0]["price"])
            starts.add(int(v["tiers"][0]["start"]))
        else:
            base[f] = float(v)
    if len(starts) > 1 or not ({"input_mtok", "output_mtok"} & has):
        return None
    for f in ("cache_read_mtok", "cache_write_mtok"):
        if f not in has:  # no cache price: the input price, tier and all
            base[f] = base.get("input_mtok", 0.0)
            if "input_mtok" in above:
                above[f] = above["input_mtok"]
    price = [base.get(f, 0.0) for f in GENAI_FIELDS]
    tier = [starts.pop()] + [above.get(f, base.get(f, 0.0)) for f in GENAI_FIELDS] if starts \
        else None
    return {"price": price, "tier": tier}


def genai_names(rule):
    """The "equals" names of a rule that decide alone (top level or under "or")."""
    if "equals" in rule:
        return [rule["equals"]]
    if "or" in rule:
        return [n for r in rule["or"] for n in genai_names(r)]
    return []


def check_genai(dagprof, node):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "genai-prices.json")
        with open(path, "w") as f:
            subprocess.run([node, os.path.join(HERE, "export_genai.mjs")], cwd=HERE, stdout=f,
                           check=True)
        with open(path) as f:
            providers = json.load(f)
        today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
        loaded, skipped, all_names = [], 0, set()
        for p in providers:
            for m in p["models"]:
                mp = genai_current(m["prices"], today)
                w = genai_price(mp) if mp is not None else None
                if w is None:
                    skipped += 1
                    continue
                names = genai_names(m["match"])
                all_names.update(n.lower() for n in names)
                loaded.append((p["id"], m["id"], names, w))
        # every loaded model with a name is asked for as "provider/name": the
        # provider's first model with that name answers, unless the whole
        # string is itself some entry's name (or one + a version suffix)
        queries, expect, ambiguous = [], {}, 0
        for pid, mid, names, w in loaded:
            if not names:
                continue
            q = "%s/%s" % (pid, names[0])
            ql = q.lower()
            if any(ql == n or (ql.startswith(n) and SUFFIX.fullmatch(ql[len(n):]))
                   for n in all_names if n.startswith(pid.lower() + "/") or n == ql):
                ambiguous += 1
                continue
            if q not in expect:
                expect[q] = (pid, mid, w)
                queries.append(q)
        blocks, n_loaded, n_skipped = run_dagprof(dagprof, path, queries)
        assert (n_loaded, n_skipped) == (len(loaded), skipped), \
            "genai-prices: dagprof loaded %d, skipped %d; expected %d, %d" % (
                n_loaded, n_skipped, len(loaded), skipped)
        bad = []
        for q in queries:
            pid, mid, w = expect[q]
            got = blocks.get(q, {})
            if got.get("provider") != pid or got.get("entry") != mid or not same_prices(got, w):
                bad.append((q, got, mid, w))
        assert not bad, "genai-prices models not resolved as published (%d): %r" % (len(bad),
                                                                                    bad[:5])
        assert len(queries) > len(loaded) // 2, "too few models could be asked for"
        # a few by hand, from the provider data: OpenAI's gpt-4o and Google's
        # tiered gemini-2.5-pro, per 1M tokens as the file gives them
        openai = next(p for p in providers if p["id"] == "openai")
        gpt4o = next(m for m in openai["models"] if m["id"] == "gpt-4o")
        mp = genai_current(gpt4o["prices"], today)
        got = run_dagprof(dagprof, path, ["openai/gpt-4o"])[0]["openai/gpt-4o"]
        assert got["price"][:2] == [mp["input_mtok"], mp["output_mtok"]], (got, mp)
        google = next(p for p in providers if p["id"] == "google")
        pro = next(m for m in google["models"] if m["id"] == "gemini-2.5-pro")
        mp = genai_current(pro["prices"], today)
        got = run_dagprof(dagprof, path, ["gemini-2.5-pro"])[0]["gemini-2.5-pro"]
        assert got["price"][0] == mp["input_mtok"]["base"], (got, mp)
        assert got["tier"][:2] == [mp["input_mtok"]["tiers"][0]["start"],
                                   mp["input_mtok"]["tiers"][0]["price"]], (got, mp)
        print("genai-prices: %d priced models loaded (%d skipped), %d resolved by provider/name "
              "(%d names another entry also claims)" % (len(loaded), skipped, len(queries),
                                                       ambiguous))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--install-only", action="store_true")
    ap.add_argument("--dagprof")
    ap.add_argument("--node", default=shutil.which("node") or "node")
    args = ap.parse_args()
    if args.install_only:
        return install()
    if not os.path.isfile(LITELLM_FILE) or \
            not os.path.isdir(os.path.join(HERE, "node_modules", "@pydantic", "genai-prices")):
        print("node_modules missing (run with --install-only first): skipped")
        return SKIP
    check_litellm(args.dagprof)
    check_genai(args.dagprof, args.node)
    return 0


if __name__ == "__main__":
    sys.exit(main())
