import { describe, expect, it } from "@effect/vitest"
import { contentTypeOf, OCTET_STREAM } from "../../src/programs/http/contentType.js"

describe("contentTypeOf", () => {
  it("names a type by the extension, in any case, from the name's last segment; text as UTF-8", () => {
    expect(contentTypeOf("notes.txt")).toBe("text/plain; charset=utf-8")
    expect(contentTypeOf("docs/index.HTML")).toBe("text/html; charset=utf-8")
    expect(contentTypeOf("photos/a.JPG")).toBe("image/jpeg")
    expect(contentTypeOf("release/v1.2/ferry.tar")).toBe("application/x-tar")
    expect(contentTypeOf("data.json")).toBe("application/json")
  })

  it("says octet-stream for no extension, a dot file, a dot only in a directory, and unknown extensions", () => {
    for (const name of ["README", ".bashrc", "v1.2/LICENSE", "model.safetensors", "a."]) {
      expect(contentTypeOf(name), name).toBe(OCTET_STREAM)
    }
  })
})
