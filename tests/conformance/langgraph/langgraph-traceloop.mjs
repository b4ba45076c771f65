// Conformance setup `langgraph-traceloop` (see ../PROTOCOL.md): the LangGraph
// workflow of workflow.mjs, traced by @traceloop/node-server-sdk (OpenLLMetry)
// with both its LangChain instrumentation (callback handler) and its OpenAI
// instrumentation (the `openai` client under @langchain/openai), exported over
// OTLP/gRPC to dagprof through Traceloop's own BatchSpanProcessor
// (disableBatch: false) with our exporter.
//
// Each run is wrapped in traceloop.withWorkflow({name: "langgraph_run"}), as
// Traceloop's users do: that workflow span is the run's only root span, and
// its trace id is the run's. A RootSpanRecorder (passed as `processor`)
// records the root spans; the script checks there is exactly one per run.
//
// Runs: <prefix>-1 (quick) and <prefix>-2 (its draft step waits LONG_RUN_MS).

import * as traceloop from "@traceloop/node-server-sdk";
import { trace } from "@opentelemetry/api";
import { OpenAI } from "openai";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-grpc";
import { OTLP_ENDPOINT, DUMP_FILE, JsonLinesFileExporter, TeeExporter, RootSpanRecorder } from "./workflow.mjs";

const grpc = new OTLPTraceExporter({ url: OTLP_ENDPOINT });
const exporter = DUMP_FILE ? new TeeExporter([grpc, new JsonLinesFileExporter(DUMP_FILE)]) : grpc;
const roots = new RootSpanRecorder();

traceloop.initialize({
  appName: "langgraph-traceloop",
  apiKey: "unused", // no Traceloop cloud: spans go to `exporter`
  exporter,
  processor: roots,
  disableBatch: false,
  instrumentModules: { langchain: true, openAI: OpenAI },
  traceloopSyncEnabled: false,
  silenceInitializationMessage: true,
});
// The LangChain instrumentation patches the ESM CallbackManager from a dynamic
// import() in its constructor; let that settle before the first run.
await import("@langchain/core/callbacks/manager");
await new Promise((r) => setTimeout(r, 50));

const { buildGraph, runWorkflow, printRun } = await import("./workflow.mjs");
// Every node runs inside traceloop.withTask({name: <node>}), Traceloop's way
// of naming a workflow's steps: its LangChain callback handler (0.27.0) names
// chain spans after the class ("workflow RunnableSequence"), not the node.
const graph = buildGraph((name, fn) => (state, config) => traceloop.withTask({ name }, () => fn(state, config)));

const PREFIX = "lg-tl";
let failed = false;
try {
  for (const [i, long] of [[1, false], [2, true]]) {
    const runId = `${PREFIX}-${i}`;
    roots.take();
    const state = await traceloop.withWorkflow({ name: "langgraph_run" }, () => runWorkflow(graph, runId, long));
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
  // Traceloop exports forceFlush but no shutdown; the SDK registered its
  // NodeTracerProvider globally, shut that down (flushes the batch processor).
  await traceloop.forceFlush();
  const tp = trace.getTracerProvider();
  await (tp.getDelegate?.() ?? tp).shutdown?.();
}
process.exit(failed ? 1 : 0);
