// Builds what runs: each entry point in src/bin/ as one minified bundle that starts fast, and the
// benchmarks' entry points (bench/<name>/main.ts) as dist/bench/<name>.js.
//
// Users run the client many times, so its start-up matters. A binary is three files:
//   dist/bin/<name>.js           a loader of a few lines (scripts/loader.cjs)
//   dist/bin/<name>.bundle.cjs   everything it needs, bundled and minified by esbuild: one file to
//                                parse instead of hundreds of modules
//   dist/bin/<name>.bundle.cjs.cache
//                                V8's compiled code for the bundle, made here by running it once,
//                                so that a start does not compile it again (V8 ignores a cache
//                                made by another version of itself, and then simply compiles)
// FERRY_NO_MINIFY=1 keeps the bundles readable, for profiles that name functions and modules.
import { build } from "esbuild"
import { execFileSync } from "node:child_process"
import { copyFile, mkdir, readdir, writeFile } from "node:fs/promises"

const bins = (await readdir("src/bin")).filter((file) => file.endsWith(".ts")).map((file) => file.slice(0, -3))
const benches = (await readdir("bench", { withFileTypes: true })).filter((entry) => entry.isDirectory())

// Native addons stay in node_modules, where they find their prebuilt binaries.
const external = ["xxhash-addon"]

await build({
  entryPoints: bins.map((name) => ({ in: `src/bin/${name}.ts`, out: `${name}.bundle` })),
  outdir: "dist/bin",
  outExtension: { ".js": ".cjs" },
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  external,
  // The sources are ES modules; in a CommonJS bundle, import.meta.url is the bundle's own URL.
  define: { "import.meta.url": "__ferryImportMetaUrl" },
  banner: { js: "const __ferryImportMetaUrl = require(\"node:url\").pathToFileURL(__filename).href" },
  // The loader runs a bundle as a script, where import() cannot load: a module loaded only when
  // needed (node:http, for --metrics) is required then instead.
  supported: { "dynamic-import": false },
  minify: process.env.FERRY_NO_MINIFY !== "1",
  sourcemap: "linked",
  logLevel: "warning"
})
for (const name of bins) await copyFile("scripts/loader.cjs", `dist/bin/${name}.js`)
// The loaders are CommonJS, whatever the project's own modules are.
await writeFile("dist/bin/package.json", JSON.stringify({ type: "commonjs" }) + "\n")
for (const name of bins) {
  execFileSync(process.execPath, [`dist/bin/${name}.js`, "--help"], {
    env: { ...process.env, FERRY_WRITE_CODE_CACHE: "1" },
    stdio: "ignore"
  })
}

await mkdir("dist/bench", { recursive: true })
await build({
  entryPoints: benches.map((dir) => ({ in: `bench/${dir.name}/main.ts`, out: dir.name })),
  outdir: "dist/bench",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  // The plot's chart library (a dev dependency) is loaded from node_modules, and only by --plot.
  external: [...external, "vega", "vega-lite"],
  sourcemap: "linked",
  logLevel: "warning",
  // Bundled CommonJS dependencies call require(); give the ESM bundle one.
  banner: {
    js: "import { createRequire as __ferryCreateRequire } from \"node:module\"\n" +
      "const require = __ferryCreateRequire(import.meta.url)"
  }
})
