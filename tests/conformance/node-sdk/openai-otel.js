'use strict';
// Setup openai-otel: the official `openai` client (6.x) instrumented by
// `@opentelemetry/instrumentation-openai` (OpenTelemetry GenAI conventions:
// spans "chat <model>" / "embeddings <model>" with gen_ai.* attributes).
// The user's step spans are plain spans; the tool run is a user span
// "execute_tool web_search" with gen_ai.operation.name=execute_tool and
// gen_ai.tool.name, as the GenAI conventions describe.

const { OpenAIInstrumentation } = require('@opentelemetry/instrumentation-openai');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { main } = require('./openai-workflow');

const flavour = {
  rootAttributes: (run) => ({ 'run.id': run.id }),
  stepAttributes: () => ({}),
  toolSpanName: (name) => `execute_tool ${name}`,
  toolAttributes: (name, call) => ({
    'gen_ai.operation.name': 'execute_tool',
    'gen_ai.tool.name': name,
    'gen_ai.tool.call.id': call.id,
    'gen_ai.tool.type': 'function',
  }),
};

main('openai-otel', flavour, (provider) => {
  // As users do: before `openai` is required, so the require hook patches it.
  registerInstrumentations({ instrumentations: [new OpenAIInstrumentation()], tracerProvider: provider });
});
