/** `npm run soak -- --duration 10m --connections 200 [--port N]`: see Soak.ts. */
import { runCommand } from "../../src/cli/run.js"
import { command } from "./Soak.js"

runCommand(command, { name: "ferry-soak", interrupted: 130 })
