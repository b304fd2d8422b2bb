/** `npm run bench [-- --only 1,3] [--quick] [--cpu-prof DIR]`: see Perf.ts. */
import { runCommand } from "../../src/cli/run.js"
import { command } from "./Perf.js"

runCommand(command, { name: "ferry-perf", interrupted: 130 })
