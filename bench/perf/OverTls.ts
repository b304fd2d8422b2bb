/**
 * Scenarios 8 and 9: scenarios 1 and 3 over TLS, beside the same without it. A cached large file
 * (48 MiB, XXH3-128 checked by the in-process client) and many small cached files (64 KiB, 64
 * connections, the lean load generator), each from a TLS server and a plain one started alike, in
 * alternating rounds: the ratio is what TLS costs. The certificate is self-signed (P-256), made at
 * the start with openssl, and the client checks it.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import * as NodeSocketClient from "../../src/layers/NodeSocketClient.js"
import * as Baselines from "./Baselines.js"
import * as Fetch from "./Fetch.js"
import * as LoadGenerator from "./LoadGenerator.js"
import { addCpu, BenchError, type CpuUse, describeCpu, measuringCpu, NO_CPU, timedOk } from "./Processes.js"
import { comparison, fixed, median, type Result, runs } from "./Report.js"
import type { Scenario } from "./Scenario.js"
import { FILE_COUNT, smallFileSet } from "./SmallFiles.js"
import { ensure, HOST, MiB, statsOf, type Workspace } from "./Workspace.js"

interface Certificate {
  readonly certFile: string
  readonly keyFile: string
  readonly pem: string
}

/** A self-signed certificate for HOST, in the workspace. */
const certificate = (workspace: Workspace) =>
  Effect.gen(function*() {
    const missing = yield* Baselines.missingTools("openssl")
    if (Option.isSome(missing)) return yield* new BenchError({ detail: `openssl is needed: ${missing.value.skipped}` })
    const certFile = path.join(workspace.root, "tls-cert.pem")
    const keyFile = path.join(workspace.root, "tls-key.pem")
    yield* timedOk("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      keyFile,
      "-out",
      certFile,
      "-subj",
      `/CN=${HOST}`,
      "-days",
      "2",
      "-addext",
      `subjectAltName=IP:${HOST}`
    ])
    const pem = yield* Effect.promise(() => fsp.readFile(certFile, "utf8"))
    return { certFile, keyFile, pem } satisfies Certificate
  })

/** The same server twice, plain and over TLS; `overTls` gives an effect the client that trusts it. */
const servers = (workspace: Workspace, args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const cert = yield* certificate(workspace)
    const plain = yield* workspace.startServer(args)
    const tls = yield* workspace.startServer([...args, "--tls-cert", cert.certFile, "--tls-key", cert.keyFile])
    const overTls = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.provide(effect, NodeSocketClient.layerWith({ tls: { ca: cert.pem } }))
    return { cert, plain, tls, overTls }
  })

const LARGE_BYTES = 48 * MiB

const cachedLarge = (workspace: Workspace) =>
  Effect.gen(function*() {
    const rounds = workspace.quick ? 2 : 5
    const seconds = workspace.quick ? 2 : 4
    const file = yield* workspace.file("cached-48MiB.bin", LARGE_BYTES)
    const { overTls, plain, tls } = yield* servers(workspace, ["--cache-size", "64MiB"])
    const prime = (port: number) =>
      Effect.scoped(Effect.flatMap(Fetch.session(port), (s) => Fetch.get(s, file, { hash: true })))
    yield* prime(plain.port)
    yield* overTls(prime(tls.port))

    const downloads = (server: { readonly port: number; readonly pid: number }) =>
      Effect.scoped(Effect.gen(function*() {
        const session = yield* Fetch.session(server.port, { reusedReads: true })
        const get = Fetch.get(session, file, { hash: true, digest: "xxh3-128" })
        const [rate, cpu] = yield* measuringCpu(server.pid, Fetch.rateOver(seconds, LARGE_BYTES / 1e6, get))
        return { rate, cpu }
      }))
    const rates = { plain: [] as Array<number>, tls: [] as Array<number> }
    const cpu: { plain: CpuUse; tls: CpuUse } = { plain: NO_CPU, tls: NO_CPU }
    for (let round = 1; round <= rounds; round++) {
      yield* Console.error(`ferry-perf: [8] round ${round}/${rounds}`)
      const overPlain = yield* downloads(plain)
      const overTlsToo = yield* overTls(downloads(tls))
      rates.plain.push(overPlain.rate)
      rates.tls.push(overTlsToo.rate)
      cpu.plain = addCpu(cpu.plain, overPlain.cpu)
      cpu.tls = addCpu(cpu.tls, overTlsToo.cpu)
    }
    const loads = yield* overTls(statsOf(tls))
    yield* ensure(loads.loads === 1, `the TLS server loaded the file ${loads.loads} times, not once`)
    return {
      rows: [comparison({
        scenario: "8. Cached large file over TLS (48 MiB, XXH3-128 checked)",
        unit: "MB/s",
        ferry: median(rates.tls),
        baseline: median(rates.plain),
        baselineName: "ferry without TLS"
      })],
      notes: [
        `8. As scenario 1 (XXH3-128 checked, reused slabs), from a TLS server and a plain one in alternating ` +
        `rounds of ${seconds} s, median of ${rounds}: TLS ${runs(rates.tls, "MB/s")}; plain ` +
        `${runs(rates.plain, "MB/s")}. TLS 1.3 as Node negotiates it (TLS_AES_256_GCM_SHA384), a self-signed ` +
        `P-256 certificate checked by the client. CPU over TLS: ${describeCpu(cpu.tls)}; plain: ${
          describeCpu(cpu.plain)
        }.`
      ]
    } satisfies Result
  })

const CONNECTIONS = 64

const smallFiles = (workspace: Workspace) =>
  Effect.gen(function*() {
    const rounds = workspace.quick ? 1 : 3
    const warmupSeconds = workspace.quick ? 1 : 2
    const seconds = workspace.quick ? 3 : 10
    const files = yield* smallFileSet(workspace)
    const { cert, overTls, plain, tls } = yield* servers(workspace, ["--cache-size", "64MiB"])
    const prime = (port: number) =>
      Effect.scoped(Effect.flatMap(
        Fetch.session(port),
        (session) => Effect.forEach(files, (file) => Fetch.get(session, file, { hash: true }), { discard: true })
      ))
    yield* prime(plain.port)
    yield* overTls(prime(tls.port))

    const load = (server: { readonly port: number; readonly pid: number }, ca?: string) =>
      LoadGenerator.generate({
        port: server.port,
        serverPid: server.pid,
        files,
        connections: CONNECTIONS,
        warmupSeconds,
        seconds,
        rehashEvery: 64,
        ...(ca === undefined ? {} : { tls: { ca } })
      })
    const rates = { plain: [] as Array<number>, tls: [] as Array<number> }
    const used = { plain: { cpu: NO_CPU, requests: 0 }, tls: { cpu: NO_CPU, requests: 0 } }
    for (let round = 1; round <= rounds; round++) {
      yield* Console.error(`ferry-perf: [9] round ${round}/${rounds}`)
      for (const [mode, measured] of [["plain", yield* load(plain)], ["tls", yield* load(tls, cert.pem)]] as const) {
        rates[mode].push(measured.requests / measured.seconds)
        used[mode] = { cpu: addCpu(used[mode].cpu, measured.cpu), requests: used[mode].requests + measured.requests }
      }
    }
    const perRequest = (mode: "plain" | "tls") => (used[mode].cpu.process / used[mode].requests) * 1e6
    return {
      rows: [
        comparison({
          scenario: "9. Many small files over TLS (64 KiB, 64 connections)",
          unit: "req/s",
          ferry: median(rates.tls),
          baseline: median(rates.plain),
          baselineName: "ferry without TLS"
        }),
        comparison({
          scenario: "9. Many small files over TLS, server CPU per request",
          unit: "µs/req",
          digits: 1,
          ferry: perRequest("tls"),
          baseline: perRequest("plain"),
          baselineName: "ferry without TLS"
        })
      ],
      notes: [
        `9. As scenario 3 (the lean load generator, ${CONNECTIONS} persistent connections, ${FILE_COUNT} cached ` +
        `files of 64 KiB), from a TLS server and a plain one in alternating rounds of ${seconds} s after ` +
        `${warmupSeconds} s of warm-up, median of ${rounds}: TLS ${runs(rates.tls, "req/s")}; plain ` +
        `${runs(rates.plain, "req/s")}; ${fixed(used.tls.requests)} and ${fixed(used.plain.requests)} requests. ` +
        `Connections are persistent, so the handshakes are not what is measured. CPU over TLS: ` +
        `${describeCpu(used.tls.cpu)}; plain: ${describeCpu(used.plain.cpu)}.`
      ]
    } satisfies Result
  })

export const cachedLargeOverTls: Scenario = { id: 8, title: "Cached large file over TLS", run: cachedLarge }
export const smallFilesOverTls: Scenario = { id: 9, title: "Many small files over TLS", run: smallFiles }
