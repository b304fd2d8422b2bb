/** `npm run cluster -- [--mode tcp|http|both] [--files 60] [--rounds 3]`: see Cluster.ts. */
import { runCommand } from "../../src/cli/run.js"
import { command } from "./Cluster.js"

runCommand(command, { name: "ferry-cluster", interrupted: 130 })
