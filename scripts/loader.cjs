#!/usr/bin/env node
// Starts a bundled binary (dist/bin/<name>.bundle.cjs) with V8's code cache for it, made at build
// time: compiling the bundle is most of what a start would otherwise cost. The cache begins with
// the SHA-256 of the bundle it was made from and is used only for that bundle (V8 itself checks
// little more than the source's length); a missing, stale or rejected cache only means the bundle
// is compiled as usual.
"use strict"
const crypto = require("node:crypto")
const fs = require("node:fs")
const Module = require("node:module")
const path = require("node:path")
const vm = require("node:vm")

const bundle = path.join(__dirname, path.basename(__filename, ".js") + ".bundle.cjs")
const cacheFile = bundle + ".cache"
const source = fs.readFileSync(bundle, "utf8")
const digest = crypto.createHash("sha256").update(source).digest()

let cachedData
try {
  const cache = fs.readFileSync(cacheFile)
  if (cache.subarray(0, digest.length).equals(digest)) cachedData = cache.subarray(digest.length)
} catch {
  cachedData = undefined
}
const script = new vm.Script(Module.wrap(source), { filename: bundle, cachedData })
const bundleModule = new Module(bundle, module)
bundleModule.filename = bundle
bundleModule.paths = Module._nodeModulePaths(__dirname)
script.runInThisContext()(bundleModule.exports, Module.createRequire(bundle), bundleModule, bundle, __dirname)

// At build time: once the run is over, the cache holds the functions it compiled lazily too.
if (process.env.FERRY_WRITE_CODE_CACHE === "1") {
  process.on("exit", () => fs.writeFileSync(cacheFile, Buffer.concat([digest, script.createCachedData()])))
}
