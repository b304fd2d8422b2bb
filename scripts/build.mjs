// Bundles each entry point in src/bin/ into dist/bin/ with esbuild: one file to parse at start-up
// instead of hundreds of modules, which is what makes the client start fast. The benchmarks'
// entry points (bench/<name>/main.ts) become dist/bench/<name>.js.
import { build } from "esbuild"
import { readdir } from "node:fs/promises"

const bins = (await readdir("src/bin")).filter((file) => file.endsWith(".ts"))
const benches = (await readdir("bench", { withFileTypes: true })).filter((entry) => entry.isDirectory())

const entries = [
  ...bins.map((file) => ({ in: `src/bin/${file}`, out: `bin/${file.replace(/\.ts$/, "")}` })),
  ...benches.map((dir) => ({ in: `bench/${dir.name}/main.ts`, out: `bench/${dir.name}` }))
]

await build({
  entryPoints: entries,
  outdir: "dist",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  minifySyntax: true,
  sourcemap: "linked",
  logLevel: "warning",
  // Bundled CommonJS dependencies call require(); give the ESM bundle one.
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __ferryCreateRequire } from \"node:module\"\n" +
      "const require = __ferryCreateRequire(import.meta.url)"
  }
})
