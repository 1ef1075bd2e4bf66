// Builds the page into OUT_DIR (default dist/): index.html, app.css, and app.js (src/main.ts
// with the client, bundled by esbuild). The server embeds dist/ (src/api/page.rs); CI builds
// again into a temporary directory and fails on any difference.
import { copyFile, mkdir } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] ?? join(here, "../dist"));
await mkdir(out, { recursive: true });
await build({
  entryPoints: [join(here, "../src/main.ts")],
  outfile: join(out, "app.js"),
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  // The client is bundled from its TypeScript sources (its package's "source" export).
  conditions: ["source"],
  legalComments: "none",
  logLevel: "warning",
});
await copyFile(join(here, "../src/index.html"), join(out, "index.html"));
await copyFile(join(here, "../src/app.css"), join(out, "app.css"));
