'use strict';
// Setup aisdk-genai: Vercel AI SDK 7 (`ai`) with `@ai-sdk/openai` and the
// OpenTelemetry integration of `@ai-sdk/otel` registered through
// registerTelemetry(): spans follow the OpenTelemetry GenAI semantic
// conventions (invoke_agent / chat / embeddings / execute_tool, gen_ai.*).

const { generateText, streamText, embed, tool, stepCountIs, registerTelemetry } = require('ai');
const { createOpenAI } = require('@ai-sdk/openai');
const { OpenTelemetry } = require('@ai-sdk/otel');
const { z } = require('zod');
const { main } = require('./aisdk-workflow');
const { mockUrl, withRoot, trace } = require('./otel');

const openai = createOpenAI({ baseURL: mockUrl(), apiKey: process.env.OPENAI_API_KEY || 'test' });
const telemetry = (functionId) => ({ isEnabled: true, functionId });

const lib = {
  init() { registerTelemetry(new OpenTelemetry()); },
  async text(step, model, prompt) {
    const r = await generateText({ model: openai.chat(model), prompt, maxRetries: 0, telemetry: telemetry(step) });
    return r.text;
  },
  async textWithTool(step, model, prompt, toolName, execute) {
    const r = await generateText({
      model: openai.chat(model), prompt, maxRetries: 0, telemetry: telemetry(step),
      tools: {
        [toolName]: tool({
          description: 'Search the web',
          inputSchema: z.object({ query: z.string() }),
          execute,
        }),
      },
      stopWhen: stepCountIs(2), // send the tool result back to the model
    });
    return r.text;
  },
  // The integration's embeddings spans carry no functionId (no
  // gen_ai.agent.name, unlike invoke_agent): the step is named by the
  // user's own span around the call.
  async embed(step, model, value) {
    return withRoot(trace.getTracer('dagprof-conformance', '0.1.0'), step, {}, async () => {
      const r = await embed({ model: openai.embedding(model), value, maxRetries: 0, telemetry: telemetry(step) });
      return r.embedding;
    });
  },
  async streamText(step, model, prompt) {
    const r = streamText({ model: openai.chat(model), prompt, maxRetries: 0, telemetry: telemetry(step) });
    let text = '';
    for await (const part of r.textStream) text += part;
    return text;
  },
};

main('aisdk-genai', lib);
