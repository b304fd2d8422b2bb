/**
 * An S3 server in the test process (s3rver, over a scoped temporary directory) with one bucket, and
 * objects put into it and removed as another client of the bucket would. s3rver knows one access key
 * (S3RVER / S3RVER) and refuses others, but does not check SigV4 signatures; it ignores If-Match and
 * If-Range, gets suffix ranges wrong, and cannot page a listing on Node 20 (its continuation tokens
 * need DES): those paths are tested on a fake bucket (test/support/fakeS3.ts) instead.
 */
import { AwsClient } from "aws4fetch"
import * as Effect from "effect/Effect"
import S3rver from "s3rver"
import * as TempDirectory from "./TempDirectory.js"

export const BUCKET = "bucket"
export const CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const
export const REGION = "us-east-1"

export interface S3World {
  /** The server's base URL, for --s3-endpoint. */
  readonly endpoint: string
  /** Creates or replaces the object `key` (a new ETag when the bytes differ). */
  readonly put: (key: string, bytes: Uint8Array | string) => Effect.Effect<void>
  readonly remove: (key: string) => Effect.Effect<void>
}

const client = new AwsClient({ ...CREDENTIALS, service: "s3", region: REGION, retries: 0 })

const objectUrl = (endpoint: string, key: string) =>
  `${endpoint}/${BUCKET}/${key.split("/").map(encodeURIComponent).join("/")}`

const call = (what: string, request: Promise<Response>) =>
  Effect.promise(async () => {
    const response = await request
    const body = await response.text()
    if (!response.ok) throw new Error(`${what}: ${response.status} ${body}`)
  })

/** s3rver on a free port of 127.0.0.1, with the bucket `bucket`, stopped when the scope closes. */
export const make = Effect.gen(function*() {
  const directory = yield* TempDirectory.make("ferry-s3rver-")
  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: BUCKET }]
  })
  const address = yield* Effect.acquireRelease(
    Effect.promise(() => server.run()),
    () => Effect.promise(() => server.close())
  )
  const endpoint = `http://127.0.0.1:${address.port}`
  return {
    endpoint,
    put: (key, bytes) => call(`PUT ${key}`, client.fetch(objectUrl(endpoint, key), { method: "PUT", body: bytes })),
    remove: (key) => call(`DELETE ${key}`, client.fetch(objectUrl(endpoint, key), { method: "DELETE" }))
  } satisfies S3World
})
