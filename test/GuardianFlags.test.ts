/**
 * The flags a guardian process inherits from the process that starts it: loaders and the
 * application's own conditions, never Node's built-in ones (on Node 22 and 24, a guardian under
 * tsx with `--conditions import`, as a vitest worker has, died before it was up).
 */
import { describe, expect, it } from "@effect/vitest"
import { inheritedFlags } from "../src/internal/guardian/process.js"

describe("Guardian: the guardian process's flags", () => {
  it("keeps loaders and the application's conditions, drops Node's own conditions", () => {
    // what a vitest worker runs with (this project's vitest.config.ts)
    const vitestWorker = ["source", "module", "node", "import", "default", "development"].flatMap((c) => [
      "--conditions",
      c
    ])
    expect(inheritedFlags("/x/main.ts", vitestWorker)).toEqual([
      "--import",
      "tsx",
      "--conditions",
      "source",
      "--conditions",
      "module",
      "--conditions",
      "development"
    ])
    expect(
      inheritedFlags("/x/main.js", [
        "--conditions=import",
        "--conditions=require",
        "-C",
        "module-sync",
        "--conditions=source",
        "-C",
        "custom",
        "--import",
        "tsx",
        "--experimental-vm-modules",
        "--max-old-space-size=100"
      ])
    ).toEqual(["--conditions=source", "--conditions", "custom", "--import", "tsx", "--experimental-vm-modules"])
  })

  it("adds tsx for the TypeScript source only when it is not already loaded", () => {
    expect(inheritedFlags("/x/main.ts", [])).toEqual(["--import", "tsx"])
    expect(inheritedFlags("/x/main.ts", ["--import", "tsx"])).toEqual(["--import", "tsx"])
    expect(inheritedFlags("/x/main.js", [])).toEqual([])
  })
})
