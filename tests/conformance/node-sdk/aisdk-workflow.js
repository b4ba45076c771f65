'use strict';
// The research workflow of the two AI SDK setups. Every step is one AI SDK
// call whose telemetry functionId is the step name; steps of a stage run in
// parallel (Promise.all) under one user root span per run, so one run is one
// trace:
//
//   plan (gpt-4o-mini, [cached])  |  embed_query (text-embedding-3-small)
//   research_a (gpt-4o, tool web_search, two model calls)
//     | research_b (gpt-4o-mini, fails once, retried by the workflow)
//     | draft (acme-llm-1, no list price)
//     | slow_review (gpt-4o-mini, answer after LONG_RUN_MS; long run only)
//   summarize (gpt-4o-mini, streamed)
//
// The AI SDK's own retries are off (maxRetries: 0) so each HTTP request is
// one model-call span; research_b's failure is retried by the loop below.
// `lib` adapts the calls to one AI SDK major version (see the setup scripts).

const { setupTracing, shutdownTracing, runPlan, withRoot, printRun, trace } = require('./otel');

async function retrying(attempts, fn, onRetry) {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts) throw err;
      onRetry(err);
    }
  }
}

async function runOnce(tracer, lib, run) {
  return withRoot(tracer, 'research_agent', { 'run.id': run.id }, async (root) => {
    const traceId = root.spanContext().traceId;
    const tag = `[run:${run.id}]`;
    const nodes = new Set();
    let toolCalls = 0;
    let retries = 0;
    const step = (name, p) => { nodes.add(name); return p; };

    const webSearch = async ({ query }) => {
      toolCalls += 1;
      await new Promise((r) => setTimeout(r, 30)); // the tool's own work
      return { query, results: ['solar cells reach 47% efficiency', 'perovskite tandem record'] };
    };

    const [plan, emb] = await Promise.all([
      step('plan', lib.text('plan', 'gpt-4o-mini',
        `${tag} [cached] Plan a short research report on solar panel efficiency.`)),
      step('embed_query', lib.embed('embed_query', 'text-embedding-3-small',
        `${tag} solar panel efficiency`)),
    ]);

    const branches = [
      step('research_a', lib.textWithTool('research_a', 'gpt-4o',
        `${tag} [tool:web_search] Find recent results. Plan: ${plan}`, 'web_search', webSearch)),
      step('research_b', retrying(2,
        () => lib.text('research_b', 'gpt-4o-mini',
          `${tag} [fail-once:${run.id}-research_b] Summarise known studies (${emb.length} dims).`),
        () => { retries += 1; })),
      step('draft', lib.text('draft', 'acme-llm-1', `${tag} Draft an outline of the report.`)),
    ];
    if (run.longMs > 0) {
      branches.push(step('slow_review', lib.text('slow_review', 'gpt-4o-mini',
        `${tag} [delay-ms:${run.longMs}] Review the sources thoroughly.`)));
    }
    const [research, studies, outline] = await Promise.all(branches);

    await step('summarize', lib.streamText('summarize', 'gpt-4o-mini',
      `${tag} Write the report. Research: ${research} Studies: ${studies} Outline: ${outline}`));

    printRun(run.id, traceId, [...nodes], toolCalls, retries);
  });
}

async function main(setup, lib) {
  const provider = setupTracing(`dagprof-conformance-${setup}`);
  lib.init();
  const tracer = trace.getTracer('dagprof-conformance', '0.1.0');
  let failed = false;
  try {
    for (const run of runPlan(setup)) {
      await runOnce(tracer, lib, run);
    }
  } catch (err) {
    console.error('workflow failed:', err);
    failed = true;
  } finally {
    await shutdownTracing(provider);
  }
  if (failed) process.exitCode = 1;
}

module.exports = { main };
