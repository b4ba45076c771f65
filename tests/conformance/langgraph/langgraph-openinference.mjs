// Conformance setup `langgraph-openinference` (see ../PROTOCOL.md): the
// LangGraph workflow of workflow.mjs, traced by
// @arizeai/openinference-instrumentation-langchain, exported over OTLP/gRPC.
//
// Runs: <prefix>-1 (quick) and <prefix>-2 (its draft step waits LONG_RUN_MS).
// Trace id of a run: the graph invoke is the only span without a parent
// (OpenInference's CHAIN span "LangGraph"); a RootSpanRecorder processor
// records it, and the script checks there is exactly one per invoke.

import { NodeTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-node";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-grpc";
import { LangChainInstrumentation } from "@arizeai/openinference-instrumentation-langchain";
import * as CallbackManagerModule from "@langchain/core/callbacks/manager";
import { OTLP_ENDPOINT, DUMP_FILE, JsonLinesFileExporter, TeeExporter, RootSpanRecorder } from "./workflow.mjs";

const grpc = new OTLPTraceExporter({ url: OTLP_ENDPOINT });
const exporter = DUMP_FILE ? new TeeExporter([grpc, new JsonLinesFileExporter(DUMP_FILE)]) : grpc;
const roots = new RootSpanRecorder();
const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ "service.name": "langgraph-openinference" }),
  spanProcessors: [roots, new BatchSpanProcessor(exporter)],
});
provider.register();

const instrumentation = new LangChainInstrumentation({ tracerProvider: provider });
instrumentation.manuallyInstrument(CallbackManagerModule);

const { buildGraph, runWorkflow, printRun } = await import("./workflow.mjs");
const graph = buildGraph();

const PREFIX = "lg-oi";
let failed = false;
try {
  for (const [i, long] of [[1, false], [2, true]]) {
    const runId = `${PREFIX}-${i}`;
    roots.take();
    const state = await runWorkflow(graph, runId, long);
    const r = roots.take();
    if (r.length !== 1) {
      console.error(`run ${runId}: expected one root span, got ${JSON.stringify(r)}`);
      failed = true;
    }
    printRun(runId, r[0]?.traceId ?? null, state);
  }
} catch (e) {
  console.error(e);
  failed = true;
} finally {
  await provider.shutdown();
}
process.exit(failed ? 1 : 0);
