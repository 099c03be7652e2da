/**
 * Every TypeScript snippet (a ```ts block) of the README, the guide and docs/cluster.md typechecks against the
 * package's sources, with the repository's compiler options (unused names allowed).
 *
 * - A snippet with an `import` is a module, checked as it is: what it leaves out, it declares.
 * - A snippet without one is a fragment of a program: it is checked inside an `Effect.gen`, after
 *   the imports and declarations of `prelude` below (the names the guide's fragments use).
 *
 * All snippets, and one broken on purpose (which must fail), are checked in one program.
 */
import { describe, expect, it } from "@effect/vitest"
import * as NodeFs from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import ts from "typescript"

const root = fileURLToPath(new URL("..", import.meta.url))
const documents = ["README.md", "docs/guide.md", "docs/cluster.md"]

/** what a fragment may use without declaring it */
const prelude = `
import { Command } from "@effect/platform"
import { Duration, Effect, Layer, PubSub, Queue, Schedule, Scope, Stream } from "effect"
import { Action, Condition, Cover, Entity, Guardian, Ham, HamLive, Tree } from "effect-ham"
import { CondAbnormalDeath, CondAny, CondAttach, CondBeatMissedHigh, CondBeatMissedLow, CondDeath, CondDetach,
  CondRaise, CondRestart, CondState } from "effect-ham/Condition"
interface Socket { readonly id: number }
declare const entity: Entity.EntityHandle
declare const worker: Entity.EntityHandle
declare const db: Entity.EntityHandle
declare const alerts: Queue.Queue<string>
declare const pager: Queue.Queue<string>
declare const port: number
declare const connect: (port: number) => Effect.Effect<Socket, Error, Scope.Scope>
declare const reconnect: (old: Socket) => Effect.Effect<Socket, Error, Scope.Scope>
declare const request: (socket: Socket, line: string) => Effect.Effect<string, Error>
declare const reopenSomewhere: (path: string, offset: number) => Effect.Effect<number, Error>
`

interface Snippet {
  /** where it is: `docs/guide.md:47` */
  readonly where: string
  readonly code: string
}

const snippetsOf = (document: string): Array<Snippet> => {
  const lines = NodeFs.readFileSync(join(root, document), "utf8").split("\n")
  const snippets: Array<Snippet> = []
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== "```ts") continue
    const start = i + 1
    let end = start
    while (end < lines.length && lines[end].trim() !== "```") end++
    snippets.push({ where: `${document}:${start}`, code: lines.slice(start, end).join("\n") })
    i = end
  }
  return snippets
}

const isModule = (code: string) => /^import /m.test(code)

const fragmentHead = `${prelude}\nexport const snippet = Effect.gen(function*() {\n`

/** a module for the snippet: itself, or the fragment inside the prelude's `Effect.gen` */
const moduleOf = (code: string): string => isModule(code) ? code : `${fragmentHead}${code}\n})\n`

/** the line of the document that a line of the snippet's module comes from */
const documentLine = (snippet: Snippet, line: number): string => {
  const [document, start] = snippet.where.split(":")
  const offset = isModule(snippet.code) ? 0 : fragmentHead.split("\n").length - 1
  return `${document}:${Number(start) + line - offset}`
}

/** the diagnostics of each file, checked together in one program with the repository's options */
const typecheck = (files: ReadonlyMap<string, string>): Map<string, Array<string>> => {
  const config = ts.getParsedCommandLineOfConfigFile(join(root, "tsconfig.json"), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"))
    }
  })!
  const options: ts.CompilerOptions = { ...config.options, noUnusedLocals: false, noUnusedParameters: false }
  const host = ts.createCompilerHost(options)
  const { fileExists, getSourceFile, readFile } = host
  host.fileExists = (name) => files.has(name) || fileExists.call(host, name)
  host.readFile = (name) => files.get(name) ?? readFile.call(host, name)
  host.getSourceFile = (name, version, onError, create) => {
    const text = files.get(name)
    return text === undefined
      ? getSourceFile.call(host, name, version, onError, create)
      : ts.createSourceFile(name, text, version, true)
  }
  const program = ts.createProgram([...files.keys()], options, host)
  const result = new Map<string, Array<string>>([...files.keys()].map((name) => [name, []]))
  for (const name of files.keys()) {
    const source = program.getSourceFile(name)!
    for (const d of [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)]) {
      const line = d.start === undefined ? 0 : source.getLineAndCharacterOfPosition(d.start).line + 1
      result.get(name)!.push(`${line}\t${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`)
    }
  }
  return result
}

describe("the snippets of the README and the guide", () => {
  it("each typechecks (and a broken one does not)", () => {
    const snippets = documents.flatMap(snippetsOf)
    expect(snippets.length).toBeGreaterThanOrEqual(10)
    // files beside the tests, so that "effect-ham" resolves to this package's sources
    const fileOf = (i: number) => join(root, "test", `snippet-${i}.virtual.ts`)
    const files = new Map(snippets.map((snippet, i) => [fileOf(i), moduleOf(snippet.code)]))
    const broken = fileOf(snippets.length)
    files.set(broken, moduleOf(`yield* Ham.attach(Entity.fiber(42, Effect.never))`))

    const diagnostics = typecheck(files)
    const failures = snippets.flatMap((snippet, i) =>
      diagnostics.get(fileOf(i))!.map((diagnostic) => {
        const [line, message] = diagnostic.split("\t")
        return `${documentLine(snippet, Number(line))}: ${message}`
      })
    )
    expect(failures).toEqual([])
    expect(diagnostics.get(broken)!.join("\n")).toMatch(/not assignable to parameter of type 'string'/)
  }, 120_000)
})
