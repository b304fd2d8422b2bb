/** `ferry-client HOST PORT NAME DEST_DIR` and `ferry-client HOST PORT list`. */
import * as Command from "@effect/cli/Command"
import { command } from "../cli/client.js"
import { runCommand } from "../cli/run.js"
import { clientLayer } from "../cli/tlsOptions.js"

runCommand(Command.provide(command, (args) => clientLayer(args.tls)), { name: "ferry-client", interrupted: 130 })
