'use strict';
/*
 * End-to-end client: builds LLM-agent DAG runs with the official
 * OpenTelemetry JS SDK (BasicTracerProvider + BatchSpanProcessor +
 * OTLPTraceExporter over gRPC, OTLP/HTTP protobuf or OTLP/HTTP JSON) and
 * sends them to a dagprof daemon.
 *
 * Every timestamp is explicit ([seconds, nanos] relative to a fixed base) so
 * the driver (tests/e2e/run_js.py) can check durations, waits, critical paths,
 * tokens and costs against figures worked out by hand from the runs below.
 *
 *   node send_runs.js --endpoint http://127.0.0.1:PORT --scenario standard
 *   node send_runs.js --endpoint http://127.0.0.1:PORT --scenario volume --runs 250
 *   node send_runs.js --endpoint http://127.0.0.1:PORT/v1/traces --protocol http/protobuf
 * (--protocol grpc, the default, http/protobuf or http/json: the SDK's
 * exporter-trace-otlp-grpc, -otlp-proto or -otlp-http; the HTTP ones take
 * the full URL of the traces path).
 *
 * On success it prints one JSON line on stdout:
 *   {"scenario":..,"runs":[{"dag_id":..,"trace_id":..,"spans":N}],
 *    "spans_created":N,"spans_exported":N,"export_calls":N,"export_failures":N}
 * and exits 0; any export failure or lost span makes it exit 1.
 */

const api = require('@opentelemetry/api');
const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const EXPORTERS = {
  grpc: () => require('@opentelemetry/exporter-trace-otlp-grpc').OTLPTraceExporter,
  'http/protobuf': () => require('@opentelemetry/exporter-trace-otlp-proto').OTLPTraceExporter,
  'http/json': () => require('@opentelemetry/exporter-trace-otlp-http').OTLPTraceExporter,
};
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { ExportResultCode } = require('@opentelemetry/core');

function parseArgs(argv) {
  const args = { endpoint: null, scenario: 'standard', runs: 250, compression: 'none', protocol: 'grpc' };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--endpoint') args.endpoint = next();
    else if (a === '--scenario') args.scenario = next();
    else if (a === '--runs') args.runs = parseInt(next(), 10);
    else if (a === '--compression') args.compression = next();
    else if (a === '--protocol') args.protocol = next();
    else throw new Error(`unknown argument ${a}`);
  }
  if (!args.endpoint) throw new Error('--endpoint http://HOST:PORT is required');
  if (!EXPORTERS[args.protocol]) throw new Error(`unknown --protocol ${args.protocol}`);
  return args;
}

/*
 * Counts what the OTLP exporter really delivered: the BatchSpanProcessor
 * only logs failed exports, and the gRPC exporter never retries, so the
 * driver needs these numbers to tell an SDK problem from a daemon problem.
 */
class CountingExporter {
  constructor(inner) {
    this.inner = inner;
    this.calls = 0;
    this.failures = 0;
    this.spans = 0;
    this.errors = [];
  }
  export(spans, resultCallback) {
    this.calls++;
    this.inner.export(spans, (result) => {
      if (result.code === ExportResultCode.SUCCESS) {
        this.spans += spans.length;
      } else {
        this.failures++;
        if (this.errors.length < 5) this.errors.push(String(result.error && result.error.message));
      }
      resultCallback(result);
    });
  }
  shutdown() {
    return this.inner.shutdown();
  }
  forceFlush() {
    return this.inner.forceFlush ? this.inner.forceFlush() : Promise.resolve();
  }
}

/*
 * Time base: an hour ago, whole seconds, so run times are realistic and
 * offsets in milliseconds (fractions allowed) convert exactly to
 * [seconds, nanos] without floating-point rounding of the epoch.
 */
const BASE_SEC = Math.floor(Date.now() / 1000) - 3600;

function hrtime(runOffsetSec, ms) {
  // ms may be fractional (e.g. 12022.5); nanos computed in integers.
  const totalNs = BigInt(Math.round(ms * 1e6));
  const sec = BASE_SEC + runOffsetSec + Number(totalNs / 1000000000n);
  const nanos = Number(totalNs % 1000000000n);
  return [sec, nanos];
}

const OP = 'gen_ai.operation.name';

function chat(model, startMs, endMs, input, output, extra) {
  const attrs = {
    [OP]: 'chat',
    'gen_ai.request.model': model,
    'gen_ai.usage.input_tokens': input,
    'gen_ai.usage.output_tokens': output,
  };
  if (model.startsWith('gpt')) attrs['gen_ai.system'] = 'openai';
  else if (model.startsWith('claude')) attrs['gen_ai.system'] = 'anthropic';
  return Object.assign(
    { name: `chat ${model}`, kind: api.SpanKind.CLIENT, start: startMs, end: endMs, attrs },
    extra || {}
  );
}

function tool(name, startMs, endMs, ok) {
  const s = {
    name: `execute_tool ${name}`,
    kind: api.SpanKind.INTERNAL,
    start: startMs,
    end: endMs,
    attrs: { [OP]: 'execute_tool', 'gen_ai.tool.name': name },
  };
  if (ok === false) s.status = { code: api.SpanStatusCode.ERROR, message: `${name} failed` };
  else s.status = { code: api.SpanStatusCode.OK };
  return s;
}

function node(id, startMs, endMs, extraAttrs, children) {
  return {
    name: id.replace(/-/g, '_'),
    start: startMs,
    end: endMs,
    attrs: Object.assign({ 'dag.node.id': id }, extraAttrs || {}),
    children: children || [],
  };
}

/*
 * Run A, "code-review-dag": fetch, then three reviews in parallel with
 * explicit dag.depends_on, then an aggregation. A nested chat below an
 * intermediate span, a tool retry (first semgrep attempt fails), a
 * 12.5 ms tool call (sub-millisecond precision) and one node on a model
 * with no known price. Times in ms from the run's start.
 */
function runCodeReview() {
  return {
    name: 'code-review',
    start: 0,
    end: 15000,
    attrs: { 'dag.id': 'code-review-dag' },
    children: [
      node('fetch-code', 0, 3000, {}, [tool('git_clone', 100, 2900, true)]),
      node('analyze-complexity', 3000, 12000,
        { 'dag.model': 'claude-3-5-sonnet-20241022', 'dag.depends_on': ['fetch-code'] }, [
          chat('claude-3-5-sonnet-20241022', 3100, 7100, 5000, 1200),
          {
            name: 'prepare-followup', start: 7150, end: 11950, attrs: {},
            children: [chat('claude-3-5-sonnet-20241022', 7200, 11900, 3000, 800)],
          },
        ]),
      node('review-security', 3000, 7000,
        { 'dag.model': 'gpt-4o-mini', 'dag.depends_on': ['fetch-code'] }, [
          chat('gpt-4o-mini', 3050, 5000, 2000, 500),
          tool('semgrep', 5000, 5400, false),
          tool('semgrep', 5450, 6950, true),
        ]),
      node('review-style', 3500, 5500,
        { 'dag.model': 'acme-llm-7b', 'dag.depends_on': 'fetch-code' }, [
          chat('acme-llm-7b', 3510, 5490, 1000, 200),
        ]),
      node('aggregate-results', 12000, 15000, {
        'dag.model': 'claude-3-5-haiku-20241022',
        'dag.depends_on': ['analyze-complexity', 'review-security', 'review-style'],
      }, [
        tool('grep', 12010, 12022.5, true),
        chat('claude-3-5-haiku-20241022', 12100, 14900, 4000, 1000),
      ]),
    ],
  };
}

/*
 * Run B, "research-dag": no explicit dependencies, so dagprof must infer
 * them from time (siblings that ended before a node started). A plan, three
 * searches fanned out after it with small start gaps, and a synthesis after
 * all of them. search-papers declares dag.retries = 2.
 */
function runResearch() {
  return {
    name: 'research',
    start: 0,
    end: 10000,
    attrs: { 'dag.id': 'research-dag' },
    children: [
      node('plan', 0, 1000, { 'dag.model': 'gpt-4o' }, [chat('gpt-4o', 50, 950, 1500, 300)]),
      node('search-web', 1010, 4010, {}, [tool('web_search', 1100, 3900, true)]),
      node('search-papers', 1020, 6020, { 'dag.retries': 2 }, [tool('arxiv_search', 1100, 5900, true)]),
      node('search-code', 1200, 3200, { 'dag.model': 'gpt-4o-mini' }, [
        chat('gpt-4o-mini', 1250, 3150, 800, 100),
      ]),
      node('synthesize', 6100, 10000, { 'dag.model': 'gpt-4o' }, [
        chat('gpt-4o', 6150, 9950, 3000, 1000),
      ]),
    ],
  };
}

/*
 * Volume runs: 21 spans each (root, 4 nodes, 4 children per node), all
 * with gen_ai attributes, to push thousands of spans through the SDK's
 * batching (many concurrent Export calls).
 */
function runVolume(i) {
  const kids = (base, model) => [
    chat(model, base + 10, base + 400, 1000 + i, 200),
    tool('lookup', base + 400, base + 500, true),
    chat(model, base + 500, base + 900, 500, 100),
    tool('store', base + 900, base + 990, true),
  ];
  return {
    name: 'volume-run',
    start: 0,
    end: 3000,
    attrs: { 'dag.id': `volume-dag-${i}` },
    children: [
      node('load', 0, 1000, { 'dag.model': 'gpt-4o-mini' }, kids(0, 'gpt-4o-mini')),
      node('left', 1000, 2000, { 'dag.model': 'gpt-4o-mini', 'dag.depends_on': ['load'] }, kids(1000, 'gpt-4o-mini')),
      node('right', 1000, 2000, { 'dag.model': 'gpt-4o-mini', 'dag.depends_on': ['load'] }, kids(1000, 'gpt-4o-mini')),
      node('join', 2000, 3000, { 'dag.model': 'gpt-4o-mini', 'dag.depends_on': ['left', 'right'] }, kids(2000, 'gpt-4o-mini')),
    ],
  };
}

/* Creates the spans of one run, parents before children, and ends them. */
function emitRun(tracer, def, runOffsetSec) {
  let count = 0;
  let traceId = null;
  const walk = (d, parentCtx) => {
    const span = tracer.startSpan(
      d.name,
      { kind: d.kind || api.SpanKind.INTERNAL, startTime: hrtime(runOffsetSec, d.start), attributes: d.attrs },
      parentCtx
    );
    count++;
    if (traceId === null) traceId = span.spanContext().traceId;
    const ctx = api.trace.setSpan(parentCtx, span);
    for (const child of d.children || []) walk(child, ctx);
    if (d.status) span.setStatus(d.status);
    span.end(hrtime(runOffsetSec, d.end));
  };
  walk(def, api.ROOT_CONTEXT);
  return { dag_id: def.attrs['dag.id'], trace_id: traceId, spans: count };
}

async function main() {
  const args = parseArgs(process.argv);
  let defs;
  if (args.scenario === 'standard') defs = [runCodeReview(), runResearch()];
  else if (args.scenario === 'volume') defs = Array.from({ length: args.runs }, (_, i) => runVolume(i));
  else throw new Error(`unknown scenario ${args.scenario}`);

  const OTLPTraceExporter = EXPORTERS[args.protocol]();
  const exporter = new CountingExporter(
    new OTLPTraceExporter({ url: args.endpoint, compression: args.compression, timeoutMillis: 30000 })
  );
  // The queue must hold every span of the scenario: beyond maxQueueSize the
  // BatchSpanProcessor drops spans without telling anyone.
  const processor = new BatchSpanProcessor(exporter, {
    maxQueueSize: 65536,
    maxExportBatchSize: 512,
    scheduledDelayMillis: 50,
    exportTimeoutMillis: 30000,
  });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'dagprof-e2e-agent', 'service.version': '1.0.0' }),
    spanProcessors: [processor],
  });
  const tracer = provider.getTracer('dagprof-e2e', '1.0.0');

  const runs = [];
  let created = 0;
  defs.forEach((def, i) => {
    // Each run an hour-ago base plus its own 100 s slot.
    const r = emitRun(tracer, def, i * 100);
    runs.push(r);
    created += r.spans;
  });

  await provider.forceFlush();
  await provider.shutdown();

  const out = {
    scenario: args.scenario,
    runs,
    spans_created: created,
    spans_exported: exporter.spans,
    export_calls: exporter.calls,
    export_failures: exporter.failures,
    errors: exporter.errors,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exitCode = exporter.failures === 0 && exporter.spans === created ? 0 : 1;
}

main().catch((err) => {
  process.stderr.write(`send_runs: ${err && err.stack ? err.stack : err}\n`);
  process.exitCode = 2;
});
