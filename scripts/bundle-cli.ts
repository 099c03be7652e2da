/**
 * The `ham` CLI as one file (all its commands but `start`): `npm run build:bin` writes
 * `dist/internal/cli/bundle.js`, which the package's bin loads (Node loads one file much faster
 * than the ~650 modules it is made of); the tests bundle the sources the same way, once per run
 * (`test/globalSetup.ts`).
 */
import * as esbuild from "esbuild"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))

/** bundles `src/internal/cli/bundle.ts` into `outfile` (an ES module for Node 20 and later) */
export const bundleCli = (outfile: string) =>
  esbuild.build({
    entryPoints: [path.join(root, "src", "internal", "cli", "bundle.ts")],
    bundle: true,
    minify: true,
    platform: "node",
    format: "esm",
    target: "node20",
    // `ham start` loads the daemon, `ham web` its server, from the unbundled build (`ham.ts`)
    external: ["../daemon/daemon.js", "../web/server.js"],
    // some dependencies `require` Node's modules: the bundle, an ES module, gives them `require`
    banner: {
      js: "import { createRequire as __hamRequire } from 'node:module'; const require = __hamRequire(import.meta.url);"
    },
    outfile,
    logLevel: "warning"
  })

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await bundleCli(path.join(root, "dist", "internal", "cli", "bundle.js"))
}
