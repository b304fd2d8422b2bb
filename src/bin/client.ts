/** `ferry-client HOST PORT NAME DEST_DIR`, `ferry-client HOST PORT list`, and `--servers` for a ring. */
import * as Command from "@effect/cli/Command"
import { command } from "../cli/client.js"
import { ringCommand, wantsRing } from "../cli/clientRing.js"
import { runCommand } from "../cli/run.js"
import { clientLayer } from "../cli/tlsOptions.js"

// Two forms, told apart before parsing: HOST PORT are positional, and --servers takes their place.
if (wantsRing(process.argv, process.env)) {
  runCommand(Command.provide(ringCommand, (args) => clientLayer(args.tls)), { name: "ferry-client", interrupted: 130 })
} else {
  runCommand(Command.provide(command, (args) => clientLayer(args.tls)), { name: "ferry-client", interrupted: 130 })
}
