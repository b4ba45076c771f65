'use strict';
// The research workflow of the two `openai` client setups. The user's own
// step spans wrap the client's calls; steps of a stage run in parallel
// (Promise.all) under one user root span per run, so one run is one trace:
//
//   plan (gpt-4o-mini, [cached])
//   research_a (gpt-4o, tool web_search run by the workflow, two model calls)
//     | research_b (gpt-4o-mini, fails once, retried by the workflow's loop)
//     | draft (acme-llm-1, no list price)
//     | embed_docs (text-embedding-3-small)
//     | slow_review (gpt-4o-mini, answer after LONG_RUN_MS; long run only)
//   summarize (gpt-4o-mini, streamed with usage)
//
// The client's own retries are off (maxRetries: 0) so each HTTP request is
// one span of the instrumentation. `flavour` names the user spans the way
// users of each instrumentation do (step attributes, the tool span).

const { setupTracing, shutdownTracing, runPlan, withRoot, printRun, mockUrl, trace, SpanStatusCode } = require('./otel');

const TOOLS = [{
  type: 'function',
  function: {
    name: 'web_search',
    description: 'Search the web',
    parameters: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] },
  },
}];

async function inSpan(tracer, name, attributes, fn) {
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

async function runOnce(tracer, client, flavour, run) {
  return withRoot(tracer, 'research_agent', flavour.rootAttributes(run), async (root) => {
    const traceId = root.spanContext().traceId;
    const tag = `[run:${run.id}]`;
    const nodes = new Set();
    let toolCalls = 0;
    let retries = 0;
    const step = (name, fn) => {
      nodes.add(name);
      return inSpan(tracer, name, flavour.stepAttributes(name), fn);
    };
    const chat = async (model, content, extra = {}) => {
      const r = await client.chat.completions.create({
        model, messages: [{ role: 'user', content }], ...extra,
      });
      return r;
    };

    const webSearch = (call) => inSpan(tracer, flavour.toolSpanName('web_search'),
      flavour.toolAttributes('web_search', call), async () => {
        toolCalls += 1;
        await new Promise((r) => setTimeout(r, 30)); // the tool's own work
        return JSON.stringify({ results: ['solar cells reach 47% efficiency', 'perovskite tandem record'] });
      });

    const plan = await step('plan', async () => (await chat('gpt-4o-mini',
      `${tag} [cached] Plan a short research report on solar panel efficiency.`)).choices[0].message.content);

    const branches = [
      step('research_a', async () => {
        const messages = [{ role: 'user', content: `${tag} [tool:web_search] Find recent results. Plan: ${plan}` }];
        const first = await client.chat.completions.create({ model: 'gpt-4o', messages, tools: TOOLS });
        const msg = first.choices[0].message;
        messages.push(msg);
        for (const call of msg.tool_calls || []) {
          messages.push({ role: 'tool', tool_call_id: call.id, content: await webSearch(call) });
        }
        const second = await client.chat.completions.create({ model: 'gpt-4o', messages, tools: TOOLS });
        return second.choices[0].message.content;
      }),
      step('research_b', async () => {
        for (let attempt = 1; ; attempt++) {
          try {
            return (await chat('gpt-4o-mini',
              `${tag} [fail-once:${run.id}-research_b] Summarise known studies.`)).choices[0].message.content;
          } catch (err) {
            if (attempt >= 2) throw err;
            retries += 1;
          }
        }
      }),
      step('draft', async () => (await chat('acme-llm-1', `${tag} Draft an outline of the report.`)).choices[0].message.content),
      step('embed_docs', async () => {
        const r = await client.embeddings.create({ model: 'text-embedding-3-small', input: `${tag} solar panel efficiency` });
        return r.data[0].embedding.length;
      }),
    ];
    if (run.longMs > 0) {
      branches.push(step('slow_review', async () => (await chat('gpt-4o-mini',
        `${tag} [delay-ms:${run.longMs}] Review the sources thoroughly.`)).choices[0].message.content));
    }
    const [research, studies, outline, dims] = await Promise.all(branches);

    await step('summarize', async () => {
      const stream = await chat('gpt-4o-mini',
        `${tag} Write the report (${dims} dims). Research: ${research} Studies: ${studies} Outline: ${outline}`,
        { stream: true, stream_options: { include_usage: true } });
      let text = '';
      for await (const chunk of stream) text += (chunk.choices[0] && chunk.choices[0].delta.content) || '';
      return text;
    });

    printRun(run.id, traceId, [...nodes], toolCalls, retries);
  });
}

// instrument(provider) registers the instrumentation; it runs before the
// `openai` module is required so the require hook patches it.
async function main(setup, flavour, instrument) {
  const provider = setupTracing(`dagprof-conformance-${setup}`);
  instrument(provider);
  const { OpenAI } = require('openai');
  const client = new OpenAI({ baseURL: mockUrl(), apiKey: process.env.OPENAI_API_KEY || 'test', maxRetries: 0 });
  const tracer = trace.getTracer('dagprof-conformance', '0.1.0');
  let failed = false;
  try {
    for (const run of runPlan(setup)) {
      await runOnce(tracer, client, flavour, run);
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
