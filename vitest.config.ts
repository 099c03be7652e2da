import { configDefaults, defineConfig } from "vitest/config"

/**
 * The long runs of real processes (guardian takeovers, store crash and corruption matrices, every
 * example, children beating over the notify socket, the package packed and installed, the
 * spawner's process tests, the remote HAM's floods of frames and connections, the daemon's longer CLI runs, two
 * daemons in two network namespaces, `ham top` in tmux, `ham web` in headless Chromium, the
 * cluster's nodes and two clustered daemons over a throwaway PostgreSQL):
 * `npm run test:slow` runs these, `npm test` the others (vitest runs one file at a time on a
 * 2-core machine). Run by hand (`npx vitest run`) or in CI on other Node versions, the suite is
 * all of them.
 */
const slow = [
  "test/GuardianCrash.test.ts",
  "test/GuardianProcess.test.ts",
  "test/StoreCorruption.test.ts",
  "test/GuardianFencing.test.ts",
  "test/Guardian.test.ts",
  "test/Examples.test.ts",
  "test/NotifyIntegration.test.ts",
  "test/Package.test.ts",
  "test/Spawner.test.ts",
  "test/RemoteLimits.test.ts",
  "test/DaemonControl.test.ts",
  "test/DaemonMirror.test.ts",
  "test/Netns.test.ts",
  "test/TopTerminal.test.ts",
  "test/WebBrowser.test.ts",
  "test/ClusterPostgres.test.ts",
  "test/Cluster.test.ts",
  "test/ClusterPartition.test.ts",
  "test/DaemonCluster.test.ts"
]

/** the npm script that runs vitest, when one does */
const script = process.env.npm_lifecycle_event

export default defineConfig({
  resolve: { conditions: ["source", "module", "node", "import", "default"] },
  // vitest gives the SSR conditions to Node itself (--conditions): "import" there would make a
  // require() pick a package's ESM file (pg's require of pg-pool then gets a module namespace)
  ssr: { resolve: { conditions: ["source", "module", "node"] } },
  test: {
    include: script === "test:slow" ? slow : ["test/**/*.test.ts"],
    exclude: script === "test" ? [...configDefaults.exclude, ...slow] : configDefaults.exclude,
    globalSetup: ["test/globalSetup.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000
  }
})
