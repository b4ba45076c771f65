'use strict';
// Tracing set-up shared by the node-sdk setups: the OpenTelemetry Node SDK
// (2.x line) exporting over OTLP/gRPC to OTLP_ENDPOINT with a
// BatchSpanProcessor and, when DUMP_FILE is set, a second processor writing
// every export as one OTLP/JSON ExportTraceServiceRequest line (as the
// Collector's file exporter does). Also the run plan and the RUN line.

const fs = require('fs');
const { trace, SpanStatusCode } = require('@opentelemetry/api');
const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-grpc');
const { JsonTraceSerializer } = require('@opentelemetry/otlp-transformer');
const { resourceFromAttributes } = require('@opentelemetry/resources');

const SUCCESS = 0; // ExportResultCode.SUCCESS
const FAILED = 1;

const stats = { exported: 0, failed_exports: 0 };

// Counts what the gRPC exporter delivered, so a lost export shows on stderr.
class CountingExporter {
  constructor(inner) { this.inner = inner; }
  export(spans, done) {
    this.inner.export(spans, (result) => {
      if (result.code === SUCCESS) stats.exported += spans.length;
      else {
        stats.failed_exports += 1;
        console.error('OTLP export of %d spans failed: %s', spans.length, result.error);
      }
      done(result);
    });
  }
  shutdown() { return this.inner.shutdown(); }
  forceFlush() { return this.inner.forceFlush ? this.inner.forceFlush() : Promise.resolve(); }
}

// One OTLP/JSON ExportTraceServiceRequest per export, one per line.
class JsonFileExporter {
  constructor(path) { this.path = path; }
  export(spans, done) {
    try {
      const bytes = JsonTraceSerializer.serializeRequest(spans);
      fs.appendFileSync(this.path, Buffer.from(bytes).toString('utf8') + '\n');
      done({ code: SUCCESS });
    } catch (err) {
      done({ code: FAILED, error: err });
    }
  }
  shutdown() { return Promise.resolve(); }
  forceFlush() { return Promise.resolve(); }
}

function setupTracing(serviceName) {
  const endpoint = process.env.OTLP_ENDPOINT || 'http://127.0.0.1:4317';
  const processors = [new BatchSpanProcessor(new CountingExporter(new OTLPTraceExporter({ url: endpoint })))];
  if (process.env.DUMP_FILE) {
    processors.push(new BatchSpanProcessor(new JsonFileExporter(process.env.DUMP_FILE)));
  }
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName }),
    spanProcessors: processors,
  });
  provider.register();
  return provider;
}

async function shutdownTracing(provider) {
  try {
    await provider.forceFlush();
    await provider.shutdown();
  } catch (err) {
    stats.failed_exports += 1;
    console.error('tracer provider shutdown failed:', err);
  }
  console.error('EXPORT %s', JSON.stringify(stats));
  if (stats.failed_exports) process.exitCode = 1;
}

// Three runs per setup; the second has the slow step of LONG_RUN_MS.
function runPlan(setup) {
  const longMs = parseInt(process.env.LONG_RUN_MS || '41000', 10);
  return [1, 2, 3].map((i) => ({ id: `${setup}-${i}`, longMs: i === 2 ? longMs : 0 }));
}

// The user's root span of one run: one run = one trace.
async function withRoot(tracer, name, attributes, fn) {
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err);
      span.setStatus({ code: SpanStatusCode.ERROR, message: String(err && err.message) });
      throw err;
    } finally {
      span.end();
    }
  });
}

function printRun(run, traceId, nodes, toolCalls, retries) {
  console.log('RUN ' + JSON.stringify({ run, trace_id: traceId, nodes, tool_calls: toolCalls, retries }));
}

function mockUrl() {
  return process.env.MOCK_URL || 'http://127.0.0.1:8000/v1';
}

module.exports = { setupTracing, shutdownTracing, runPlan, withRoot, printRun, mockUrl, trace, SpanStatusCode };
