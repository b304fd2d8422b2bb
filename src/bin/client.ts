/** `ferry-client HOST PORT NAME DEST_DIR` and `ferry-client HOST PORT list`. */
import * as Command from "@effect/cli/Command"
import { command } from "../cli/client.js"
import { runCommand } from "../cli/run.js"
import * as NodeSocketClient from "../layers/NodeSocketClient.js"

runCommand(Command.provide(command, NodeSocketClient.layer), { name: "ferry-client", interrupted: 130 })
