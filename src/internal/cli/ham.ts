#!/usr/bin/env node
/**
 * The `ham` executable (the package's `bin`). The commands are clients of a HAM: they run from
 * one bundled file (`bundle.js`, made by `npm run build:js`), with Node's compile cache on where
 * Node has one (22.1 and later; `NODE_DISABLE_COMPILE_CACHE=1` turns it off). `ham start` runs the
 * unbundled build instead (`bin.js`): the daemon starts its guardian program and helper scripts
 * from beside its own modules, and loads the engine that only it needs. `ham web` does too: its
 * HTTP server (`web/server.ts`, with the platform's) is left out of the bundle, which every other
 * command loads.
 *
 * @internal
 */
import * as NodeModule from "node:module"

// the command is the first argument that is not an option (`ham start --config x`)
const command = process.argv.slice(2).find((arg) => !arg.startsWith("-"))
if (command === "start" || command === "web") {
  await import("./bin.js")
} else {
  // typed from Node 22 on (@types/node is 20's)
  ;(NodeModule as { readonly enableCompileCache?: () => unknown }).enableCompileCache?.()
  // a path tsc does not follow: the file is esbuild's, not tsc's
  const bundle = "./bundle.js"
  await import(bundle)
}
