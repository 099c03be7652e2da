/**
 * The cluster's packages are optional peers: only `effect-ham/HamCluster` may load them. Walks the
 * static imports from every public module but HamCluster: none reaches `@effect/cluster`,
 * `@effect/sql`, `@effect/sql-pg`, the platform's cluster modules, or `internal/cluster/`. The
 * `ham` CLI and daemon neither: `ham start` loads `daemon/cluster.ts` (which joins) by a dynamic
 * import, for a config with a `cluster` section only, and the CLI's bundle holds none of it.
 */
import { describe, expect, inject, it } from "@effect/vitest"
import * as fs from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const src = fileURLToPath(new URL("../src", import.meta.url))

const importsOf = (file: string): Array<string> =>
  [...fs.readFileSync(file, "utf8").matchAll(/^(?:import|export)[^"']*?from\s*["']([^"']+)["']/gm)].map((m) => m[1])

/** every module reached from `file` (relative ones followed), and every package named */
const reach = (file: string, seen = new Set<string>(), packages = new Set<string>()) => {
  if (seen.has(file)) return { seen, packages }
  seen.add(file)
  for (const spec of importsOf(file)) {
    if (spec.startsWith(".")) reach(resolve(dirname(file), spec).replace(/\.js$/, ".ts"), seen, packages)
    else packages.add(spec)
  }
  return { seen, packages }
}

const clusterOnly = /^@effect\/(cluster|sql|sql-pg)(\/|$)|^@effect\/platform-node\/NodeCluster/

describe("the cluster's packages are HamCluster's alone", () => {
  it("no public module but HamCluster reaches them", () => {
    const modules = fs.readdirSync(src).filter((f) => f.endsWith(".ts") && f !== "HamCluster.ts")
    expect(modules).toContain("index.ts")
    for (const module of modules) {
      const { packages, seen } = reach(join(src, module))
      expect([...packages].filter((p) => clusterOnly.test(p)), module).toEqual([])
      expect([...seen].filter((f) => f.includes(`${join("internal", "cluster")}`)), module).toEqual([])
    }
  })

  it("HamCluster reaches them (the walk can see them)", () => {
    const { packages } = reach(join(src, "HamCluster.ts"))
    expect([...packages].filter((p) => clusterOnly.test(p)).length).toBeGreaterThan(0)
  })

  it("the CLI and the daemon reach them only through daemon/cluster.ts, imported dynamically", () => {
    // (the bin, `cli/ham.ts`, only imports `bin.ts` or the bundle, dynamically)
    const entries = [
      ["internal", "cli", "bin.ts"],
      ["internal", "cli", "bundle.ts"],
      ["internal", "cli", "main.ts"],
      ["internal", "daemon", "daemon.ts"]
    ]
    for (const entry of entries) {
      const { packages, seen } = reach(join(src, ...entry))
      expect(seen.size, entry.join("/")).toBeGreaterThan(1)
      expect([...packages].filter((p) => clusterOnly.test(p)), entry.join("/")).toEqual([])
      expect([...seen].filter((f) => f.includes(join("internal", "cluster"))), entry.join("/")).toEqual([])
      expect([...seen].filter((f) => f.endsWith(join("daemon", "cluster.ts"))), entry.join("/")).toEqual([])
    }
    // the walk sees them from the module that joins
    const joining = reach(join(src, "internal", "daemon", "cluster.ts")).packages
    expect([...joining].filter((p) => clusterOnly.test(p)).length).toBeGreaterThan(0)
    // and the daemon loads that module by a dynamic import, behind the config's section
    const daemon = fs.readFileSync(join(src, "internal", "daemon", "daemon.ts"), "utf8")
    expect(daemon).toMatch(
      /if \(cluster !== undefined\) \{\s+const clustering = yield\* Effect\.promise\(\(\) => import\("\.\/cluster\.js"\)\)/
    )
  })

  it("the CLI's bundle holds none of the cluster's code", () => {
    const bundle = fs.readFileSync(inject("hamBundle"), "utf8")
    expect(bundle.length).toBeGreaterThan(10_000)
    for (const mark of ["pg_try_advisory_lock", "ham_cluster_nodes", "ham-group:", "cluster_runners"]) {
      expect(bundle, mark).not.toContain(mark)
    }
  })
})
