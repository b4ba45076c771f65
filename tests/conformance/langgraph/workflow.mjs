// The LangGraph workflow shared by langgraph-openinference.mjs and
// langgraph-traceloop.mjs (see ../PROTOCOL.md), plus the small OTel helpers
// both scripts need (DUMP_FILE exporter, an exporter tee, a root-span recorder).
//
// Graph (one invoke = one run):
//
//   __start__ -> plan -> research -+-> tools -> research (tool loop) -+
//                     -> embed ----+                                  |
//                     -> draft ----+----------------------------------+-> aggregator -> __end__
//                     -> flaky ----+
//
// plan, research, flaky: ChatOpenAI gpt-4o-mini; draft: ChatOpenAI acme-llm-1
// (unpriced); embed: OpenAIEmbeddings text-embedding-3-small; aggregator:
// ChatOpenAI gpt-4o. research has the tool search_docs bound and the prompt
// carries [tool:search_docs], so the mock answers with a tool call, the graph
// routes to the ToolNode `tools`, then back to research for the final answer.
// flaky's prompt carries [fail-once:KEY]: its first request gets HTTP 500 and
// the node's LangGraph retryPolicy runs it again. aggregator is a deferred
// node (defer: true), so it runs once, after every branch has finished,
// however many steps the tool loop takes.
// The long run's draft prompt carries [delay-ms:LONG_RUN_MS].

import fs from "node:fs";
import { z } from "zod";
import { StateGraph, Annotation, START, END, messagesStateReducer } from "@langchain/langgraph";
import { ToolNode } from "@langchain/langgraph/prebuilt";
import { ChatOpenAI, OpenAIEmbeddings } from "@langchain/openai";
import { tool } from "@langchain/core/tools";
import { HumanMessage, SystemMessage } from "@langchain/core/messages";
import { JsonTraceSerializer } from "@opentelemetry/otlp-transformer";
// ExportResultCode from @opentelemetry/core
const ExportResultCode = { SUCCESS: 0, FAILED: 1 };

export const MOCK_URL = process.env.MOCK_URL ?? "http://127.0.0.1:8000/v1";
export const OTLP_ENDPOINT = process.env.OTLP_ENDPOINT ?? "http://127.0.0.1:4317";
export const LONG_RUN_MS = Number(process.env.LONG_RUN_MS ?? 41000);
export const DUMP_FILE = process.env.DUMP_FILE || null;

// The workflow's own steps, as RUN lines list them.
export const NODES = ["plan", "research", "tools", "embed", "draft", "flaky", "aggregator"];

// ---------------------------------------------------------------------------
// OTel helpers

/** Writes every exported batch as one OTLP/JSON ExportTraceServiceRequest line. */
export class JsonLinesFileExporter {
  constructor(path) {
    this.fd = fs.openSync(path, "w");
  }
  export(spans, resultCallback) {
    try {
      const bytes = JsonTraceSerializer.serializeRequest(spans);
      fs.writeSync(this.fd, Buffer.from(bytes).toString("utf8") + "\n");
      resultCallback({ code: ExportResultCode.SUCCESS });
    } catch (error) {
      resultCallback({ code: ExportResultCode.FAILED, error });
    }
  }
  async forceFlush() {}
  async shutdown() {
    if (this.fd !== null) {
      fs.closeSync(this.fd);
      this.fd = null;
    }
  }
}

/** Sends each batch to several exporters; fails if any of them fails. */
export class TeeExporter {
  constructor(exporters) {
    this.exporters = exporters;
  }
  export(spans, resultCallback) {
    let pending = this.exporters.length;
    let failed = null;
    for (const e of this.exporters) {
      e.export(spans, (r) => {
        if (r.code !== ExportResultCode.SUCCESS && !failed) failed = r;
        if (--pending === 0) resultCallback(failed ?? { code: ExportResultCode.SUCCESS });
      });
    }
  }
  async forceFlush() {
    await Promise.all(this.exporters.map((e) => e.forceFlush?.()));
  }
  async shutdown() {
    await Promise.all(this.exporters.map((e) => e.shutdown()));
  }
}

/** A SpanProcessor that records the spans started without a parent. */
export class RootSpanRecorder {
  constructor() {
    this.roots = [];
  }
  onStart(span) {
    // SDK 2.x: ReadableSpan.parentSpanContext (1.x had parentSpanId).
    const parent = span.parentSpanContext ?? (span.parentSpanId ? { spanId: span.parentSpanId } : undefined);
    if (!parent) this.roots.push({ name: span.name, traceId: span.spanContext().traceId });
  }
  onEnd() {}
  async forceFlush() {}
  async shutdown() {}
  take() {
    const r = this.roots;
    this.roots = [];
    return r;
  }
}

// ---------------------------------------------------------------------------
// The graph

const common = {
  apiKey: process.env.OPENAI_API_KEY ?? "test",
  configuration: { baseURL: MOCK_URL },
  maxRetries: 0,
};
const mini = new ChatOpenAI({ ...common, model: "gpt-4o-mini", temperature: 0 });
const big = new ChatOpenAI({ ...common, model: "gpt-4o", temperature: 0 });
const acme = new ChatOpenAI({ ...common, model: "acme-llm-1", temperature: 0 });
const embeddings = new OpenAIEmbeddings({ ...common, model: "text-embedding-3-small" });

export const searchDocs = tool(
  async ({ query }) => `3 documents found for "${query ?? "(no query)"}": dagprof, LangGraph, OTLP`,
  {
    name: "search_docs",
    description: "Search the internal documentation.",
    schema: z.object({ query: z.string().optional().describe("what to look for") }),
  },
);
const researcher = mini.bindTools([searchDocs]);

const State = Annotation.Root({
  runId: Annotation(),
  long: Annotation(),
  planText: Annotation(),
  // the research branch's conversation (tool loop)
  messages: Annotation({ reducer: messagesStateReducer, default: () => [] }),
  results: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }),
  summary: Annotation(),
});

const text = (m) => (typeof m.content === "string" ? m.content : JSON.stringify(m.content));

async function plan(state) {
  const r = await mini.invoke([
    new SystemMessage("You are a planner. Reuse the cached system prompt. [cached]"),
    new HumanMessage(`Plan a short report on DAG profiling. [run:${state.runId}]`),
  ]);
  return {
    planText: text(r),
    messages: [new HumanMessage(`Research the plan with the docs. [run:${state.runId}] [tool:search_docs]`)],
  };
}

async function research(state) {
  const r = await researcher.invoke(state.messages);
  return { messages: [r] };
}

function afterResearch(state) {
  const last = state.messages[state.messages.length - 1];
  return last?.tool_calls?.length ? "tools" : "aggregator";
}

async function embed(state) {
  const v = await embeddings.embedQuery(`embed the plan [run:${state.runId}] ${state.planText}`);
  return { results: [`embed:${v.length}`] };
}

async function draft(state) {
  const delay = state.long ? ` [delay-ms:${LONG_RUN_MS}]` : "";
  const r = await acme.invoke([new HumanMessage(`Draft the introduction. [run:${state.runId}]${delay}`)]);
  return { results: [`draft:${text(r).length}`] };
}

const flakyAttempts = new Map(); // runId -> attempts of the flaky node

async function flaky(state) {
  flakyAttempts.set(state.runId, (flakyAttempts.get(state.runId) ?? 0) + 1);
  const r = await mini.invoke([
    new HumanMessage(`Check the facts. [run:${state.runId}] [fail-once:flaky-${state.runId}]`),
  ]);
  return { results: [`flaky:${text(r).length}`] };
}

async function aggregator(state) {
  const research = text(state.messages[state.messages.length - 1]);
  const r = await big.invoke([
    new HumanMessage(
      `Merge the branches into one report. [run:${state.runId}]\n${state.results.join("\n")}\n${research}`,
    ),
  ]);
  return { summary: text(r) };
}

const toolNode = new ToolNode([searchDocs]);

/**
 * Builds the graph. `wrap(name, fn)` may wrap each node's function (the
 * Traceloop setup wraps them in traceloop.withTask); by default nodes are
 * the plain functions and `tools` is the ToolNode itself.
 */
export function buildGraph(wrap = null) {
  const w = (name, fn) => (wrap ? wrap(name, fn) : fn);
  const tools = wrap ? wrap("tools", (state, config) => toolNode.invoke(state, config)) : toolNode;
  return new StateGraph(State)
    .addNode("plan", w("plan", plan))
    .addNode("research", w("research", research))
    .addNode("tools", tools)
    .addNode("embed", w("embed", embed))
    .addNode("draft", w("draft", draft))
    .addNode("flaky", w("flaky", flaky), {
      retryPolicy: { maxAttempts: 3, initialInterval: 100, backoffFactor: 2, jitter: false, logWarning: false },
    })
    .addNode("aggregator", w("aggregator", aggregator), { defer: true })
    .addEdge(START, "plan")
    .addEdge("plan", "research")
    .addEdge("plan", "embed")
    .addEdge("plan", "draft")
    .addEdge("plan", "flaky")
    .addConditionalEdges("research", afterResearch, ["tools", "aggregator"])
    .addEdge("tools", "research")
    .addEdge("embed", "aggregator")
    .addEdge("draft", "aggregator")
    .addEdge("flaky", "aggregator")
    .addEdge("aggregator", END)
    .compile();
}

/** One run: returns the final state. */
export async function runWorkflow(graph, runId, long) {
  return graph.invoke({ runId, long }, { runName: "LangGraph" });
}

/** Figures of one run for its RUN line, from what the run did. */
export function runFigures(state) {
  const toolCalls = state.messages.reduce((n, m) => n + (m.tool_calls?.length ?? 0), 0);
  const retries = (flakyAttempts.get(state.runId) ?? 1) - 1;
  return { nodes: NODES, tool_calls: toolCalls, retries };
}

export function printRun(runId, traceId, state) {
  const f = runFigures(state);
  process.stdout.write(
    "RUN " + JSON.stringify({ run: runId, trace_id: traceId, nodes: f.nodes, tool_calls: f.tool_calls, retries: f.retries }) + "\n",
  );
}
