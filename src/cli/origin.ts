/**
 * Where the served files come from: a directory on disk, or with an `s3://BUCKET/PREFIX` DIR the
 * objects of a bucket, reached at `--s3-endpoint` with the usual AWS variables. The S3 code is loaded
 * only for an s3:// DIR, as node:http is only for --metrics: a start from disk costs nothing more.
 */
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { isS3Url, parseS3Url } from "../layers/internal/s3Location.js"
import * as NodeFileStore from "../layers/NodeFileStore.js"
import type { BucketError } from "../layers/S3FileStore.js"
import type { FileStore } from "../services/FileStore.js"

export const DEFAULT_REGION = "us-east-1"

const invalid = (message: string) => Effect.fail(ValidationError.invalidValue(HelpDoc.p(message)))

export const s3Endpoint = Options.text("s3-endpoint").pipe(
  Options.withFallbackConfig(Config.string("FERRY_S3_ENDPOINT")),
  Options.withDescription(
    "For an s3:// DIR: the base URL of an S3-compatible server (MinIO, Ceph, s3rver...), addressed " +
      "path-style; without it, AWS's endpoint for AWS_REGION. Env: FERRY_S3_ENDPOINT."
  ),
  Options.mapEffect((text) => {
    const url = URL.canParse(text) ? new URL(text) : undefined
    return url !== undefined && (url.protocol === "http:" || url.protocol === "https:") && url.search === ""
      ? Effect.succeed(text)
      : invalid(`--s3-endpoint: "${text}" is not an http:// or https:// URL, e.g. http://localhost:9000`)
  }),
  Options.optional
)

/** DIR as given, checked when it names a bucket. */
export const checkDirectory = (text: string) =>
  !isS3Url(text) || parseS3Url(text) !== undefined
    ? Effect.succeed(text)
    : Effect.fail(HelpDoc.p(`DIR: "${text}" is not s3://BUCKET or s3://BUCKET/PREFIX (no empty, . or .. segments)`))

// The variables the AWS tools read. Without a key the requests go unsigned, as to a public bucket.
const awsEnvironment = Config.all({
  accessKeyId: Config.option(Config.string("AWS_ACCESS_KEY_ID")),
  secretAccessKey: Config.option(Config.redacted("AWS_SECRET_ACCESS_KEY")),
  sessionToken: Config.option(Config.redacted("AWS_SESSION_TOKEN")),
  region: Config.string("AWS_REGION").pipe(
    Config.orElse(() => Config.string("AWS_DEFAULT_REGION")),
    Config.withDefault(DEFAULT_REGION)
  )
})

const s3Layer = (url: string, endpoint: Option.Option<string>) =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const S3FileStore = yield* Effect.promise(() => import("../layers/S3FileStore.js"))
    const env = yield* Effect.orDie(awsEnvironment)
    const credentials = Option.isSome(env.accessKeyId) && Option.isSome(env.secretAccessKey)
      ? {
        accessKeyId: env.accessKeyId.value,
        secretAccessKey: Redacted.value(env.secretAccessKey.value),
        sessionToken: Option.getOrUndefined(Option.map(env.sessionToken, Redacted.value))
      }
      : undefined
    return S3FileStore.layer({
      url,
      location: parseS3Url(url)!,
      endpoint: Option.getOrUndefined(endpoint),
      region: env.region,
      credentials
    })
  }))

/** The FileStore for DIR: NodeFileStore's, or an S3FileStore's for an s3:// URL. */
export const fileStoreLayer = (
  directory: string,
  endpoint: Option.Option<string>
): Layer.Layer<FileStore, NodeFileStore.DirectoryError | BucketError> =>
  isS3Url(directory) ? s3Layer(directory, endpoint) : NodeFileStore.layer(directory)
