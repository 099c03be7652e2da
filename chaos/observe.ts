/**
 * What the chaos suite reads while it runs: the store (its lease, the epoch of its last commit,
 * its record of epochs), read as another process would, and the files the run appends to (the
 * hosts' ledger, the guardians' log), read as they grow.
 */
import { Effect } from "effect"
import { open } from "lmdb"
import * as NodeFs from "node:fs"
import * as lease_ from "../src/internal/store/lease.js"

/** the store at `path`, read as another process would: a fresh read transaction each time */
export const storeReader = (path: string) => {
  const db = open({ path, noSubdir: true })
  let closed = false
  return {
    lease: (): lease_.Lease | undefined => {
      db.resetReadTxn()
      return lease_.read(db)
    },
    /** the epoch of the store's last commit (every fenced commit records it) */
    lastCommitEpoch: (): number | undefined => {
      db.resetReadTxn()
      const commits = db.get("commits") as { readonly epoch?: unknown } | undefined
      return typeof commits?.epoch === "number" ? commits.epoch : undefined
    },
    epochs: () => lease_.epochs(db),
    /** closes it (once) */
    close: Effect.suspend(() =>
      closed ? Effect.void : Effect.promise(() => {
        closed = true
        return db.close()
      })
    )
  }
}

/** the complete lines appended to `file` since the last call (none while it does not exist) */
export const tailOf = (file: string) => {
  let offset = 0
  let rest = ""
  return (): Array<string> => {
    let fd: number
    try {
      fd = NodeFs.openSync(file, "r")
    } catch {
      return []
    }
    try {
      const size = NodeFs.fstatSync(fd).size
      if (size <= offset) return []
      const bytes = Buffer.alloc(size - offset)
      NodeFs.readSync(fd, bytes, 0, bytes.length, offset)
      offset = size
      const lines = (rest + bytes.toString("utf8")).split("\n")
      rest = lines.pop()!
      return lines
    } finally {
      NodeFs.closeSync(fd)
    }
  }
}

/**
 * The ledger's account, line by line. Each host writes `r <pid> <n>` when it starts (the counter
 * it found in the store), `a <n>` after each acknowledged change, `up <pid>` once it is set up,
 * `x <pid> <reason>` when its changes stop being acknowledged.
 *
 * An acknowledged change is lost when a host starts from a counter below it (the store did not
 * keep it); an acknowledgement that is not above every earlier one means two hosts changed the
 * counter at once (or one started from a lost value).
 */
export const ledgerAccount = () => {
  const account = {
    /** acknowledged changes */
    acknowledged: 0,
    /** the highest acknowledged value */
    highest: 0,
    /** acknowledged changes the store did not keep */
    lost: 0,
    /** acknowledgements not above an earlier one */
    outOfOrder: 0,
    /** hosts that are set up */
    up: new Set<number>(),
    /** hosts whose changes stopped being acknowledged, with why */
    stopped: [] as Array<string>,
    /** what the lost and out-of-order counts come from */
    problems: [] as Array<string>
  }
  const read = (line: string) => {
    const [tag, first, second] = line.split(" ")
    if (tag === "a") {
      const n = Number(first)
      account.acknowledged++
      if (n > account.highest) account.highest = n
      else {
        account.outOfOrder++
        account.problems.push(`acknowledged ${n} after ${account.highest}`)
      }
    } else if (tag === "r") {
      const found = Number(second)
      if (found < account.highest) {
        account.lost += account.highest - found
        account.problems.push(`host ${first} found ${found} in the store after ${account.highest} was acknowledged`)
      }
    } else if (tag === "up") {
      account.up.add(Number(first))
    } else if (tag === "x") {
      account.stopped.push(line)
    }
  }
  /** the store's final counter: what it lacks of the acknowledged changes is lost too */
  const final = (stored: number) => {
    if (stored < account.highest) {
      account.lost += account.highest - stored
      account.problems.push(`the store ends at ${stored} after ${account.highest} was acknowledged`)
    }
  }
  return { account, read, final }
}
