'use strict';
/*
 * End-to-end client: metrics and logs through the official OpenTelemetry
 * JS SDK's OTLP/HTTP JSON exporters (@opentelemetry/exporter-metrics-otlp-http
 * and @opentelemetry/exporter-logs-otlp-http) to a dagprof daemon, which
 * forwards them upstream; the driver (tests/e2e/test_otlp_json.py) checks
 * what arrives there.
 *
 *   node send_metrics_logs.js --endpoint http://127.0.0.1:PORT \
 *        --trace-id 32HEX --span-id 16HEX
 *
 * Sends a counter (3 then 4 with route=/a: a cumulative sum of 7), a
 * histogram (5 and 15 with the SDK's default boundaries) and two log records
 * (the first inside the given span context). Prints "ok" and exits 0 when
 * every export succeeded, exits 1 otherwise.
 */

const api = require('@opentelemetry/api');
const { SeverityNumber } = require('@opentelemetry/api-logs');
const { MeterProvider, PeriodicExportingMetricReader } = require('@opentelemetry/sdk-metrics');
const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-http');
const { LoggerProvider, SimpleLogRecordProcessor } = require('@opentelemetry/sdk-logs');
const { OTLPLogExporter } = require('@opentelemetry/exporter-logs-otlp-http');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { ExportResultCode } = require('@opentelemetry/core');

function parseArgs(argv) {
  const args = {};
  for (let i = 2; i < argv.length; i += 2) args[argv[i].replace(/^--/, '')] = argv[i + 1];
  for (const k of ['endpoint', 'trace-id', 'span-id'])
    if (!args[k]) throw new Error(`--${k} is required`);
  return args;
}

/* Wrap an exporter to count failed exports. */
function counting(exporter, failures) {
  const inner = exporter.export.bind(exporter);
  exporter.export = (items, done) => inner(items, (r) => {
    if (r.code !== ExportResultCode.SUCCESS) failures.push(String(r.error || r.code));
    done(r);
  });
  return exporter;
}

async function main() {
  const args = parseArgs(process.argv);
  const failures = [];
  const resource = resourceFromAttributes({ 'service.name': 'e2e-metrics-logs' });

  const metricExporter = counting(new OTLPMetricExporter({ url: `${args.endpoint}/v1/metrics` }), failures);
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3600000 });
  const meterProvider = new MeterProvider({ resource, readers: [reader] });
  const meter = meterProvider.getMeter('e2e-meter', '1.0.0');
  const counter = meter.createCounter('e2e.requests', { unit: '{request}', description: 'requests seen' });
  counter.add(3, { route: '/a' });
  counter.add(4, { route: '/a' });
  const latency = meter.createHistogram('e2e.latency', { unit: 'ms' });
  latency.record(5, { route: '/a' });
  latency.record(15, { route: '/a' });
  await meterProvider.forceFlush();
  await meterProvider.shutdown();

  const logExporter = counting(new OTLPLogExporter({ url: `${args.endpoint}/v1/logs` }), failures);
  const loggerProvider = new LoggerProvider({ resource, processors: [new SimpleLogRecordProcessor(logExporter)] });
  const logger = loggerProvider.getLogger('e2e-logger', '2.0.0');
  const inSpan = api.trace.setSpanContext(api.context.active(), {
    traceId: args['trace-id'], spanId: args['span-id'], traceFlags: api.TraceFlags.SAMPLED,
  });
  logger.emit({
    context: inSpan, severityNumber: SeverityNumber.WARN, severityText: 'WARN', body: 'cache miss',
    attributes: { 'dag.id': 'json-logs', retries: 2 }, timestamp: [1700000000, 5000],
  });
  logger.emit({ severityNumber: SeverityNumber.INFO, body: { step: 'plan', tokens: 12 } });
  await loggerProvider.forceFlush();
  await loggerProvider.shutdown();

  if (failures.length) {
    console.error('export failures: ' + failures.join('; '));
    process.exit(1);
  }
  console.log('ok');
}

main().catch((e) => { console.error(e); process.exit(1); });
