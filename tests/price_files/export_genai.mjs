// Writes the provider data @pydantic/genai-prices ships (Provider[] as JSON)
// to stdout. The package exports no list of its providers, so the provider
// ids are read from its bundle's data (the `id:` lines of the provider
// objects) and each provider is then taken from the package's own exported
// findProvider(), so what is written is the data the library itself uses.
import { readFileSync } from "node:fs";
import { findProvider } from "@pydantic/genai-prices";

const bundle = readFileSync(new URL(import.meta.resolve("@pydantic/genai-prices")), "utf8");
const ids = [...new Set([...bundle.matchAll(/^    id: "([^"]+)",$/gm)].map((m) => m[1]))];
const providers = [];
for (const id of ids) {
  const provider = findProvider({ providerId: id });
  if (provider && provider.id === id) providers.push(provider);
}
if (providers.length < 10) {
  console.error(`only ${providers.length} providers found: the bundle's layout changed`);
  process.exit(1);
}
process.stdout.write(JSON.stringify(providers));
