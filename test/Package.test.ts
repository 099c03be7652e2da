/**
 * The package as a user gets it: `npm pack` of a copy of the sources with no build (the `prepack`
 * script builds), the tarball installed into a temporary project beside that project's own
 * `effect` and platform packages (its peers), an import of every public module typechecked under
 * the `node16`, `bundler` and `node10` resolutions, a tiny program run with plain `node`, and the
 * `ham` bin (one bundled file) run from the installed package: a daemon started, listed, stopped.
 *
 * The install needs no network: the temporary project starts from this repository's lockfile, so
 * npm keeps the locked versions and takes every tarball from its cache (filled by `npm ci`); when
 * the cache misses one, the install is tried again with `--prefer-offline`.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Context, Duration, Effect, Layer } from "effect"
import { execFile, spawn } from "node:child_process"
import * as NodeFs from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import ts from "typescript"
import { isLive, liveProcesses, waitUntil } from "./processes.js"

const root = fileURLToPath(new URL("..", import.meta.url))
const readJson = (path: string) => JSON.parse(NodeFs.readFileSync(path, "utf8"))
const manifest = readJson(join(root, "package.json"))

/** the public modules: every `src/<Module>.ts` but the barrel */
const publicModules = NodeFs.readdirSync(join(root, "src"))
  .filter((file) => file.endsWith(".ts") && file !== "index.ts")
  .map((file) => file.slice(0, -3))
  .sort()

/** runs a program to its end (bounded); its stdout, or a failure with its output */
const run = (command: string, args: ReadonlyArray<string>, cwd: string, timeoutMillis: number) =>
  Effect.async<string, Error>((resume) => {
    const child = execFile(
      command,
      args,
      { cwd, timeout: timeoutMillis, killSignal: "SIGKILL", maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) =>
        resume(
          error === null
            ? Effect.succeed(stdout)
            : Effect.fail(new Error(`${command} ${args.join(" ")} (in ${cwd}): ${error.message}\n${stdout}\n${stderr}`))
        )
    )
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** the version of a package installed in this repository (the pinned one, or the one CI put over it) */
const installed = (name: string): string => readJson(join(root, "node_modules", name, "package.json")).version

const timed = (what: string) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.timed(self).pipe(
    Effect.tap(([d]) => Effect.sync(() => console.log(`${what}: ${Math.round(Duration.toMillis(d))} ms`))),
    Effect.map(([, a]) => a)
  )

interface Packed {
  /** the temporary directory: the copy, the tarball and the project */
  readonly dir: string
  /** the files in the tarball, without the leading `package/` */
  readonly files: ReadonlyArray<string>
  /** the package.json in the tarball */
  readonly manifest: Record<string, any>
  /** the temporary project the tarball is installed into */
  readonly project: string
}

class PackedTag extends Context.Tag("test/Packed")<PackedTag, Packed>() {}

const consumerManifest = (tarball: string) => ({
  name: "effect-ham-consumer",
  version: "0.0.0",
  private: true,
  type: "module",
  dependencies: {
    "effect-ham": `file:${tarball}`,
    // the application's own copies, which the package must use
    "effect": installed("effect"),
    "@effect/platform": installed("@effect/platform"),
    "@effect/platform-node": installed("@effect/platform-node"),
    "@effect/rpc": installed("@effect/rpc"),
    // HamCluster's optional peers, as an application that joins a cluster has them
    "@effect/cluster": installed("@effect/cluster"),
    "@effect/sql": installed("@effect/sql"),
    "@effect/sql-pg": installed("@effect/sql-pg")
  },
  devDependencies: { "typescript": installed("typescript"), "@types/node": installed("@types/node") }
})

const pack = Effect.gen(function*() {
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => NodeFs.mkdtempSync(join(tmpdir(), "ham-package-"))),
    (dir) => Effect.sync(() => NodeFs.rmSync(dir, { recursive: true, force: true }))
  )
  // a copy of what the package is made of, with no dist: `npm pack` must build it
  const source = join(dir, "source")
  NodeFs.mkdirSync(source)
  const inputs = [
    ...(manifest.files as Array<string>).filter((file) => file !== "dist"),
    "package.json",
    "README.md",
    "LICENSE",
    "tsconfig.json",
    "tsconfig.build.json",
    // the build's own script (the CLI bundle)
    "scripts"
  ]
  for (const input of inputs) {
    if (NodeFs.existsSync(join(root, input))) NodeFs.cpSync(join(root, input), join(source, input), { recursive: true })
  }
  NodeFs.symlinkSync(join(root, "node_modules"), join(source, "node_modules"))
  yield* run("npm", ["pack", "--pack-destination", dir], source, 90_000).pipe(timed("pack"))
  const tarball = join(dir, NodeFs.readdirSync(dir).find((file) => file.endsWith(".tgz"))!)
  const files = (yield* run("tar", ["-tzf", tarball], dir, 10_000))
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => line.replace(/^package\//, ""))
  const packedManifest = JSON.parse(yield* run("tar", ["-xzOf", tarball, "package/package.json"], dir, 10_000))

  // the project: this repository's lockfile, so that npm keeps the locked versions (no registry)
  const project = join(dir, "project")
  NodeFs.mkdirSync(project)
  NodeFs.copyFileSync(join(root, "package-lock.json"), join(project, "package-lock.json"))
  NodeFs.writeFileSync(join(project, "package.json"), JSON.stringify(consumerManifest(tarball), null, 2))
  const install = (mode: string) =>
    run("npm", ["install", mode, "--ignore-scripts", "--no-audit", "--no-fund"], project, 60_000)
  yield* install("--offline").pipe(Effect.orElse(() => install("--prefer-offline")), timed("install"))
  return { dir, files, manifest: packedManifest, project }
})

const PackedLive = Layer.scoped(PackedTag, pack)

/** a file that imports every public module (and the barrel) and uses a few types */
const importsSource = () =>
  [
    `import { Effect } from "effect"`,
    `import { HamLive } from "effect-ham"`,
    ...publicModules.map((module) => `import * as ${module} from "effect-ham/${module}"`),
    `export const modules = [${publicModules.join(", ")}]`,
    `export const program: Effect.Effect<string> = Effect.gen(function*() {`,
    `  yield* Ham.attach(Entity.fiber("worker", Effect.never))`,
    `  return Tree.render(yield* Ham.snapshot)`,
    `}).pipe(Effect.scoped, Effect.provide(HamLive), Effect.orDie)`,
    `// @ts-expect-error: a name is a string (fails as unused if the types came out as any)`,
    `Entity.fiber(1, Effect.never)`,
    ``
  ].join("\n")

const resolutions = [
  { name: "node16", options: { module: ts.ModuleKind.Node16, moduleResolution: ts.ModuleResolutionKind.Node16 } },
  { name: "bundler", options: { module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler } },
  { name: "node10", options: { module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10 } }
] as const

/**
 * The declaration files parsed once for the three programs (as TypeScript's language service
 * shares them): about half the time of three `tsc` runs, the same diagnostics.
 */
const parsed = new Map<string, ts.SourceFile | undefined>()

/** typechecks a file of the project with the project's declarations; the diagnostics */
const typecheck = (
  file: string,
  resolution: { readonly module: ts.ModuleKind; readonly moduleResolution: ts.ModuleResolutionKind }
): Array<string> => {
  const options: ts.CompilerOptions = {
    ...resolution,
    // as most projects have it; with the declaration files checked too it passes as well, at twice the time
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    lib: ["lib.es2022.d.ts"],
    types: ["node"],
    strict: true,
    noEmit: true
  }
  const host = ts.createCompilerHost(options)
  const getSourceFile = host.getSourceFile
  host.getSourceFile = (fileName, languageVersion, onError, shouldCreate) => {
    const key = `${fileName} ${JSON.stringify(languageVersion)}`
    if (!parsed.has(key)) parsed.set(key, getSourceFile.call(host, fileName, languageVersion, onError, shouldCreate))
    return parsed.get(key)
  }
  const program = ts.createProgram([file], options, host)
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"))
}

/** the tiny program, run with plain node: a HAM with its store and guardian process, a fiber entity, a snapshot */
const programSource = `
import { Effect } from "effect"
import { Entity, Guardian, Ham, Tree } from "effect-ham"

const path = process.argv[2]
const program = Effect.gen(function*() {
  yield* Ham.attach(Entity.fiber("worker", Effect.never))
  const tree = yield* Ham.snapshot
  console.log(Tree.render(tree))
  console.log(JSON.stringify({ entities: tree.entities.map((e) => e.name), guardianPid: tree.guardianPid ?? null }))
})
await Effect.runPromise(
  program.pipe(Effect.scoped, Effect.provide(Ham.layer()), Effect.provide(Guardian.layer({ path, process: true })))
)
`

describe("Package: packed, installed beside the application's own effect, used", () => {
  layer(PackedLive, { excludeTestServices: true, timeout: "200 seconds" })((it) => {
    it.effect("the tarball: the build of every public module, the sources, LICENSE; no tests", () =>
      Effect.gen(function*() {
        const { files, manifest: packed } = yield* PackedTag
        for (const module of [...publicModules, "index"]) {
          expect(files).toContain(`dist/${module}.js`)
          expect(files).toContain(`dist/${module}.d.ts`)
          expect(files).toContain(`src/${module}.ts`)
        }
        // the guardian process's program, run by plain node
        expect(files).toContain("dist/internal/guardian/main.js")
        expect(files).toContain("LICENSE")
        expect(files.filter((file) => !/^(dist|src)\//.test(file)).sort()).toEqual([
          "LICENSE",
          "README.md",
          "package.json"
        ])
        expect(files.filter((file) => /test/i.test(file))).toEqual([])
        // node10 finds the barrel through main/types and each module through typesVersions
        expect(packed.main).toBe("./dist/index.js")
        expect(packed.types).toBe("./dist/index.d.ts")
        expect(Object.keys(packed.typesVersions["*"]).sort()).toEqual(publicModules)
      }))

    it.effect("effect and the platform packages are peers: the project has one copy of each", () =>
      Effect.gen(function*() {
        const { manifest: packed, project } = yield* PackedTag
        const required = ["effect", "@effect/platform", "@effect/platform-node", "@effect/rpc"]
        // used by the HamCluster module alone: optional, the core never imports them
        const optional = ["@effect/cluster", "@effect/sql", "@effect/sql-pg"]
        const peers = [...required, ...optional]
        expect(Object.keys(packed.peerDependencies).sort()).toEqual([...peers].sort())
        expect(Object.keys(packed.peerDependenciesMeta).sort()).toEqual([...optional].sort())
        for (const name of optional) expect(packed.peerDependenciesMeta[name]).toEqual({ optional: true })
        // the ham CLI ships in the package: @effect/cli is a dependency (its own peers are the project's)
        expect(Object.keys(packed.dependencies)).toEqual(["@effect/cli", "lmdb"])
        for (const name of peers) {
          expect(readJson(join(project, "node_modules", name, "package.json")).version).toBe(installed(name))
        }
        // no package of the project has a copy of its own
        const modules = join(project, "node_modules")
        const packages = NodeFs.readdirSync(modules).flatMap((entry) =>
          entry.startsWith("@")
            ? NodeFs.readdirSync(join(modules, entry)).map((name) => join(modules, entry, name))
            : [join(modules, entry)]
        )
        expect(packages.length).toBeGreaterThan(10)
        const nested = packages.flatMap((dir) =>
          peers.map((name) => join(dir, "node_modules", name)).filter((path) => NodeFs.existsSync(path))
        )
        expect(nested).toEqual([])
      }))

    for (const resolution of resolutions) {
      it.effect(
        `every public module typechecks under moduleResolution ${resolution.name}`,
        () =>
          Effect.gen(function*() {
            const { project } = yield* PackedTag
            const file = join(project, `imports-${resolution.name}.ts`)
            NodeFs.writeFileSync(file, importsSource())
            expect(typecheck(file, resolution.options)).toEqual([])
          }),
        60_000
      )
    }

    it.effect("a tiny program runs with plain node: a HAM, its guardian process, a fiber entity, a snapshot", () =>
      Effect.gen(function*() {
        const { dir, project } = yield* PackedTag
        NodeFs.writeFileSync(join(project, "main.js"), programSource)
        const path = join(dir, "state.ham")
        const out = yield* run(process.execPath, ["main.js", path], project, 30_000)
        const line = JSON.parse(out.trim().split("\n").at(-1)!)
        expect(line.entities).toEqual(["host", "worker"])
        expect(typeof line.guardianPid).toBe("number")
        // the guardian process ended with the HAM
        expect(liveProcesses(path)).toEqual([])
      }))

    it.effect("the ham bin is installed and runs (its @effect/cli with it): ham schema", () =>
      Effect.gen(function*() {
        const { project } = yield* PackedTag
        const out = yield* run(join(project, "node_modules", ".bin", "ham"), ["schema"], project, 30_000)
        expect(JSON.parse(out).$ref).toBe("#/$defs/HamConfig")
      }))

    it.effect("ham runs one bundled file: it imports Node's modules, and the unbundled build only for `ham start` and `ham web`", () =>
      Effect.gen(function*() {
        const { files, manifest: packed, project } = yield* PackedTag
        expect(packed.bin).toEqual({ ham: "./dist/internal/cli/ham.js" })
        const cli = join(project, "node_modules", "effect-ham", "dist", "internal", "cli")
        const imports = (file: string) => {
          expect(files).toContain(`dist/internal/cli/${file}`)
          const text = NodeFs.readFileSync(join(cli, file), "utf8")
          const names = [...text.matchAll(/\bfrom\s*["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']\s*\)/g)]
            .map((m) => m[1] ?? m[2])
            .filter((name) => !/^(node:)?[a-z_]+$/.test(name))
          return { text, names: [...new Set(names)].sort() }
        }
        const bin = imports("ham.js")
        expect(bin.text.startsWith("#!/usr/bin/env node\n")).toBe(true)
        expect(bin.names).toEqual(["./bin.js"])
        expect(bin.text).toContain(`"./bundle.js"`)
        expect(imports("bundle.js").names).toEqual(["../daemon/daemon.js", "../web/server.js"])
      }))

    it.effect("the installed ham runs: --version, start (its guardian store beside the config), ls, stop", () =>
      Effect.gen(function*() {
        const { dir, project } = yield* PackedTag
        const bin = join(project, "node_modules", ".bin", "ham")
        expect((yield* run(bin, ["--version"], project, 30_000)).trim()).toBe(manifest.version)
        const home = join(dir, "daemon")
        NodeFs.mkdirSync(home, { mode: 0o700 })
        const config = join(home, "ham.json")
        const sleeper = { name: "sleeper", command: { command: "sleep", args: ["300"] } }
        NodeFs.writeFileSync(config, JSON.stringify({ socket: "./ham.sock", entities: [sleeper] }))
        const socket = join(home, "ham.sock")
        const daemon = yield* Effect.acquireRelease(
          Effect.sync(() => {
            const child = spawn(bin, ["start", "--config", config], { cwd: project, stdio: ["ignore", "pipe", "pipe"] })
            const out = { text: "", exit: undefined as number | null | undefined }
            child.stdout.on("data", (d) => (out.text += d))
            child.stderr.on("data", (d) => (out.text += d))
            child.on("exit", (code) => (out.exit = code))
            return { child, out }
          }),
          ({ child, out }) => Effect.sync(() => out.exit === undefined && child.kill("SIGKILL"))
        )
        yield* waitUntil("the daemon to serve", () => daemon.out.text.includes("ham: running 1 entities"), 30_000)
        expect(NodeFs.existsSync(join(home, "ham-state"))).toBe(true)
        const lines = (yield* run(bin, ["ls", "--socket", socket], project, 30_000)).trimEnd().split("\n")
        expect(lines[0]).toMatch(/^NAME +KIND +PID +STATE/)
        const row = lines[1].match(/^sleeper +process +(\d+) +running\b/)
        expect(row, lines.join("\n")).not.toBeNull()
        const pid = Number(row![1])
        expect(isLive(pid)).toBe(true)
        // ham web from the installed package: its page and its script, given the view token
        const web = yield* Effect.acquireRelease(
          Effect.sync(() => {
            const child = spawn(bin, ["web", "--socket", socket, "--web-port", "0"], {
              cwd: project,
              stdio: ["ignore", "pipe", "pipe"]
            })
            const out = { text: "" }
            child.stdout.on("data", (d) => (out.text += d))
            child.stderr.on("data", (d) => (out.text += d))
            return { child, out }
          }),
          ({ child }) => Effect.sync(() => child.kill("SIGKILL"))
        )
        yield* waitUntil("ham web to serve", () => /view: \S+/.test(web.out.text), 30_000)
        const view = /view: (\S+)/.exec(web.out.text)![1]
        const token = new URL(view).searchParams.get("token")!
        const served = yield* Effect.promise(async () => {
          const get = (path: string) => fetch(new URL(path, view), { headers: { authorization: `Bearer ${token}` } })
          const [page, script] = [await get("/"), await get("/app.js")]
          return { page: await page.text(), script: script.status }
        })
        expect(served.page).toContain("<title>ham web</title>")
        expect(served.script).toBe(200)
        yield* run(bin, ["stop", "--socket", socket], project, 60_000)
        yield* waitUntil("the daemon to end", () => daemon.out.exit !== undefined, 30_000)
        expect(daemon.out.exit, daemon.out.text).toBe(0)
        expect(isLive(pid)).toBe(false)
        expect(liveProcesses(join(home, "ham-state"))).toEqual([])
      }).pipe(Effect.scoped))

    it.effect("CommonJS code can require it (Node loads ES modules with require)", () =>
      Effect.gen(function*() {
        const { project } = yield* PackedTag
        const out = yield* run(
          process.execPath,
          ["-e", `console.log(Object.keys(require("effect-ham")).sort().join(" "))`],
          project,
          30_000
        )
        // the barrel has every public module but HamCluster (it loads the cluster's optional peers)
        expect(out.trim().split(" ")).toEqual([...publicModules.filter((m) => m !== "HamCluster"), "HamLive"].sort())
      }))
  })
})
