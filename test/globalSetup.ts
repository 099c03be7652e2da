/**
 * Once per test run: the `ham` CLI bundled from the sources (`scripts/bundle-cli.ts`, as
 * `npm run build:bin` bundles it for the package), so that the daemon tests run the CLI as users
 * do, one file Node loads at once, instead of hundreds of modules compiled by tsx at each of their CLI runs (2 to 7 s each
 * on a loaded machine, against a fraction of a second).
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { TestProject } from "vitest/node"
import { bundleCli } from "../scripts/bundle-cli.js"

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))

declare module "vitest" {
  export interface ProvidedContext {
    /** the bundled CLI (`ham` but `start`) */
    hamBundle: string
  }
}

export default async function setup(project: TestProject) {
  // one directory per checkout: two checkouts' runs at once do not write the same file
  const dir = path.join(os.tmpdir(), `effect-ham-test-${createHash("sha256").update(root).digest("hex").slice(0, 12)}`)
  fs.mkdirSync(dir, { recursive: true })
  const outfile = path.join(dir, `ham-${process.pid}.mjs`)
  await bundleCli(outfile)
  project.provide("hamBundle", outfile)
  return () => fs.rmSync(outfile, { force: true })
}
