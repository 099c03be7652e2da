/**
 * Output files rotated by the HAM itself, with no logrotate: a chatty child writes numbered
 * lines; its file is cut at 2 KB, three old files are kept (`chatty.log.1` … `.3`), the oldest
 * dropped, and every line carries the time the HAM read it. What is kept is every line from the
 * oldest file's first one to the last one, with none lost at a cut.
 *
 *   npm run example -- examples/log-rotation.ts
 */
import { Command } from "@effect/platform"
import { Console, Effect, Queue } from "effect"
import { Entity, Ham, HamLive } from "effect-ham"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const program = Effect.gen(function*() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ham-log-rotation-"))
  const file = path.join(dir, "chatty.log")
  const events = yield* Ham.subscribe
  yield* Ham.attach(
    Entity.process(
      "chatty",
      Command.make("/bin/sh", "-c", "i=0; while [ $i -lt 3000 ]; do i=$((i+1)); echo line $i; done"),
      {
        output: { file, maxSize: "2K", keep: 3, timestamps: true }
      }
    )
  )
  // the child writes its 3,000 lines and exits
  while ((yield* Queue.take(events))._tag !== "CondDeath") continue
  // the writes of the last cut may still be flushing: wait until the last line is in
  const kept = () =>
    ["chatty.log.3", "chatty.log.2", "chatty.log.1", "chatty.log"]
      .map((name) => path.join(dir, name))
      .filter(fs.existsSync)
      .flatMap((f) => fs.readFileSync(f, "utf8").split("\n").filter((line) => line !== ""))
  while (!kept().at(-1)?.endsWith("line 3000")) yield* Effect.sleep("20 millis")

  for (const name of fs.readdirSync(dir).sort()) {
    yield* Console.log(`${name}: ${fs.statSync(path.join(dir, name)).size} bytes`)
  }
  const lines = kept()
  const numbers = lines.map((line) => Number(line.split(" ").at(-1)))
  const consecutive = numbers.every((n, i) => i === 0 || n === numbers[i - 1] + 1)
  yield* Console.log(`first line kept: ${lines[0]}`)
  yield* Console.log(`lines ${numbers[0]} to ${numbers.at(-1)} kept, none missing between the files: ${consecutive}`)
  fs.rmSync(dir, { recursive: true, force: true })
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(HamLive)))
