// Generates the wire types from the contract in protocol/: the REST API from openapi.yaml
// (openapi-typescript) and the socket's frames from live.schema.json (json-schema-to-typescript).
// Usage: node scripts/generate.js OUT_DIR. The output is committed; CI regenerates it into a
// temporary directory and fails on any difference.
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import openapiTS, { astToString } from "openapi-typescript";
import { compileFromFile } from "json-schema-to-typescript";

const here = dirname(fileURLToPath(import.meta.url));
const protocol = resolve(here, "../../../protocol");
const out = resolve(process.argv[2] ?? join(here, "../src/generated"));

const banner = (source) =>
  `// Generated from protocol/${source} by scripts/generate.js: do not edit by hand.\n\n`;

const rest = astToString(await openapiTS(pathToFileURL(join(protocol, "openapi.yaml"))));
const live = await compileFromFile(join(protocol, "live.schema.json"), {
  // The schema is a set of $defs with no root type: emit every definition.
  unreachableDefinitions: true,
  bannerComment: "",
  additionalProperties: false,
  cwd: protocol,
});

await mkdir(out, { recursive: true });
await writeFile(join(out, "rest.ts"), banner("openapi.yaml") + rest);
await writeFile(join(out, "live.ts"), banner("live.schema.json") + live);
