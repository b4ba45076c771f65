'use strict';
// Setup openai-openinference: the official `openai` client (6.x)
// instrumented by `@arizeai/openinference-instrumentation-openai`
// (OpenInference conventions: spans "OpenAI Chat Completions" /
// "OpenAI Embeddings" with openinference.span.kind=LLM|EMBEDDING, llm.*).
// The user's spans carry OpenInference kinds as users of it set them: the
// root AGENT, the steps CHAIN, the tool run TOOL with tool.name.

const { OpenAIInstrumentation } = require('@arizeai/openinference-instrumentation-openai');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { main } = require('./openai-workflow');

const flavour = {
  rootAttributes: (run) => ({ 'openinference.span.kind': 'AGENT', 'run.id': run.id }),
  stepAttributes: () => ({ 'openinference.span.kind': 'CHAIN' }),
  toolSpanName: (name) => name,
  toolAttributes: (name, call) => ({
    'openinference.span.kind': 'TOOL',
    'tool.name': name,
    'tool_call.id': call.id,
    'tool.parameters': call.function.arguments,
  }),
};

main('openai-openinference', flavour, (provider) => {
  // As users do: before `openai` is required, so the require hook patches it.
  registerInstrumentations({ instrumentations: [new OpenAIInstrumentation()], tracerProvider: provider });
});
