'use strict';
// Setup aisdk-legacy: Vercel AI SDK 4 (`ai-legacy` = npm:ai@4.3.19) with
// `@ai-sdk/openai` 1.x (`ai-sdk-openai-legacy`). Its built-in telemetry
// (experimental_telemetry) emits the legacy `ai.*` spans and attributes:
// ai.generateText / ai.generateText.doGenerate / ai.toolCall / ai.embed /
// ai.streamText, ai.usage.promptTokens, ai.usage.completionTokens, ...

const { generateText, streamText, embed, tool } = require('ai-legacy');
const { createOpenAI } = require('ai-sdk-openai-legacy');
const { z } = require('zod');
const { main } = require('./aisdk-workflow');
const { mockUrl } = require('./otel');

// 'strict': the OpenAI API itself, so streamed answers carry usage
// (stream_options.include_usage), as with the provider's default instance.
const openai = createOpenAI({ baseURL: mockUrl(), apiKey: process.env.OPENAI_API_KEY || 'test', compatibility: 'strict' });
const telemetry = (functionId) => ({ isEnabled: true, functionId });

const lib = {
  init() {},
  async text(step, model, prompt) {
    const r = await generateText({ model: openai.chat(model), prompt, maxRetries: 0, experimental_telemetry: telemetry(step) });
    return r.text;
  },
  async textWithTool(step, model, prompt, toolName, execute) {
    const r = await generateText({
      model: openai.chat(model), prompt, maxRetries: 0, experimental_telemetry: telemetry(step),
      tools: {
        [toolName]: tool({
          description: 'Search the web',
          parameters: z.object({ query: z.string() }),
          execute,
        }),
      },
      maxSteps: 2, // send the tool result back to the model
    });
    return r.text;
  },
  async embed(step, model, value) {
    const r = await embed({ model: openai.embedding(model), value, maxRetries: 0, experimental_telemetry: telemetry(step) });
    return r.embedding;
  },
  async streamText(step, model, prompt) {
    const r = streamText({ model: openai.chat(model), prompt, maxRetries: 0, experimental_telemetry: telemetry(step) });
    let text = '';
    for await (const part of r.textStream) text += part;
    return text;
  },
};

main('aisdk-legacy', lib);
