// Bundles each entry point in src/bin/ into dist/bin/ with esbuild: one file to parse at start-up
// instead of hundreds of modules, which is what makes the client start fast.
import { build } from "esbuild"
import { readdir } from "node:fs/promises"

const entries = (await readdir("src/bin")).filter((file) => file.endsWith(".ts")).map((file) => `src/bin/${file}`)

await build({
  entryPoints: entries,
  outdir: "dist/bin",
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
