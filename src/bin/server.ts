/** `ferry-server HOST PORT DIR [options]`: the layers depend on the arguments, so the command builds them. */
import { runCommand } from "../cli/run.js"
import { command } from "../cli/server.js"

runCommand(command, { name: "ferry-server", interrupted: 0, logLevelVariable: "FERRY_LOG_LEVEL" })
