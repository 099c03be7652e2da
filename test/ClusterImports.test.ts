/**
 * The cluster's packages are optional peers: only `effect-ham/HamCluster` may load them. Walks the
 * static imports from every public module but HamCluster: none reaches `@effect/cluster`,
 * `@effect/sql`, `@effect/sql-pg`, the platform's cluster modules, or `internal/cluster/`.
 */
import { describe, expect, it } from "@effect/vitest"
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
})
