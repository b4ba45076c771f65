'use strict';
/*
 * End-to-end client for upstream delivery: one OpenTelemetry JS SDK tracer
 * provider with two BatchSpanProcessors, each with its own OTLP/gRPC
 * exporter, so the very same spans (same ids, times, attributes, events,
 * links) go both to dagprof and straight to a reference OTLP receiver. The
 * driver (tests/e2e/test_upstream_e2e.py) then compares what dagprof
 * forwarded with what the reference receiver got.
 *
 *   node send_tee.js --dagprof http://127.0.0.1:P1 --direct http://127.0.0.1:P2
 *
 * The run ("tee-dag", times in ms from its start):
 *   root "tee-run"  0..6000   dag.id=tee-dag
 *   plan            0..2000   chat gpt-4o 100..1900, 1000 in / 200 out; event, link
 *   write        2000..6000   depends on plan; chat gpt-4o-mini 2100..5900, 2000 in / 500 out
 *   search       2000..4000   depends on plan; tool web_search 2050..3950 (status ERROR)
 * Prints {"trace_id":..,"spans":N,"exported":{"dagprof":N,"direct":N},"failures":N}.
 */

const api = require('@opentelemetry/api');
const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-grpc');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { ExportResultCode } = require('@opentelemetry/core');

function parseArgs(argv) {
  const args = { dagprof: null, direct: null };
  for (let i = 2; i < argv.length; i++) {
    if (argv[i] === '--dagprof') args.dagprof = argv[++i];
    else if (argv[i] === '--direct') args.direct = argv[++i];
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (!args.dagprof || !args.direct) throw new Error('--dagprof URL and --direct URL are required');
  return args;
}

/* Counts spans each exporter really delivered (the SDK only logs failures). */
function counting(inner, tally, key) {
  return {
    export(spans, done) {
      inner.export(spans, (result) => {
        if (result.code === ExportResultCode.SUCCESS) tally[key] += spans.length;
        else tally.failures++;
        done(result);
      });
    },
    shutdown: () => inner.shutdown(),
    forceFlush: () => (inner.forceFlush ? inner.forceFlush() : Promise.resolve()),
  };
}

const BASE_SEC = Math.floor(Date.now() / 1000) - 3600;
const at = (ms) => [BASE_SEC + Math.floor(ms / 1000), (ms % 1000) * 1e6];

async function main() {
  const args = parseArgs(process.argv);
  const tally = { dagprof: 0, direct: 0, failures: 0 };
  const processor = (url, key) =>
    new BatchSpanProcessor(counting(new OTLPTraceExporter({ url, timeoutMillis: 30000 }), tally, key), {
      maxExportBatchSize: 512,
      scheduledDelayMillis: 50,
    });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'dagprof-e2e-tee', 'deployment.environment': 'test' }),
    spanProcessors: [processor(args.dagprof, 'dagprof'), processor(args.direct, 'direct')],
  });
  const tracer = provider.getTracer('dagprof-e2e-tee', '2.0.0');
  let count = 0;
  const start = (name, ms, attrs, parent, extra) => {
    count++;
    return tracer.startSpan(name, Object.assign({ startTime: at(ms), attributes: attrs }, extra || {}),
      parent ? api.trace.setSpan(api.ROOT_CONTEXT, parent) : api.ROOT_CONTEXT);
  };

  const root = start('tee-run', 0, { 'dag.id': 'tee-dag', 'app.tags': ['a', 'b'], 'app.ratio': 0.25, 'app.flag': true });
  const plan = start('plan', 0, { 'dag.node.id': 'plan' }, root);
  const chat1 = start('chat gpt-4o', 100, {
    'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-4o', 'gen_ai.system': 'openai',
    'gen_ai.usage.input_tokens': 1000, 'gen_ai.usage.output_tokens': 200,
  }, plan, { kind: api.SpanKind.CLIENT });
  chat1.addEvent('gen_ai.choice', { 'gen_ai.response.finish_reason': 'stop' }, at(1800));
  chat1.end(at(1900));
  plan.addEvent('plan.ready', { steps: 2 }, at(1950));
  plan.end(at(2000));

  const write = start('write', 2000, { 'dag.node.id': 'write', 'dag.depends_on': ['plan'] }, root,
    { links: [{ context: plan.spanContext(), attributes: { 'link.kind': 'input' } }] });
  const chat2 = start('chat gpt-4o-mini', 2100, {
    'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-4o-mini', 'gen_ai.system': 'openai',
    'gen_ai.usage.input_tokens': 2000, 'gen_ai.usage.output_tokens': 500,
  }, write, { kind: api.SpanKind.CLIENT });
  chat2.end(at(5900));
  write.end(at(6000));

  const search = start('search', 2000, { 'dag.node.id': 'search', 'dag.depends_on': ['plan'] }, root);
  const t = start('execute_tool web_search', 2050, {
    'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'web_search',
  }, search);
  t.setStatus({ code: api.SpanStatusCode.ERROR, message: 'rate limited' });
  t.end(at(3950));
  search.end(at(4000));
  root.end(at(6000));

  await provider.forceFlush();
  await provider.shutdown();
  process.stdout.write(JSON.stringify({
    trace_id: root.spanContext().traceId, spans: count, exported: { dagprof: tally.dagprof, direct: tally.direct },
    failures: tally.failures,
  }) + '\n');
  process.exitCode = tally.failures === 0 && tally.dagprof === count && tally.direct === count ? 0 : 1;
}

main().catch((err) => {
  process.stderr.write(`send_tee: ${err && err.stack ? err.stack : err}\n`);
  process.exitCode = 2;
});
