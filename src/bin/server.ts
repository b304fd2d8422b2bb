/**
 * `ferry-server HOST PORT DIR [options]`, or `ferry-server token create ...`: the layers depend on
 * the arguments, so the commands build them.
 */
import { runCommand } from "../cli/run.js"
import { command } from "../cli/server.js"
import * as Token from "../cli/tokenCommand.js"

// The server's HOST would swallow the word `token`: the subcommand is chosen by it first.
if (process.argv[2] === "token") runCommand(Token.command, { name: "ferry-server", interrupted: 130 })
else runCommand(command, { name: "ferry-server", interrupted: 0, logLevelVariable: "FERRY_LOG_LEVEL" })
