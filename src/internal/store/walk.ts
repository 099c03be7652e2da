/**
 * The program of the store's probe (`probe.ts`): plain Node, no Effect, run with `node -e` and
 * the arguments `<lmdb's CommonJS entry> <the store file>`, and a third one, `standby`, for a
 * probe started ahead: it loads lmdb, then waits for a line on stdin before it opens the file (and
 * ends when stdin ends first). It says on stdout, in one JSON line,
 * `{ "ok": true, "records", "pages" }`, `{ "foreign": reason }` (an LMDB file that uses what an
 * effect-ham store never does) or `{ "damaged": reason }`.
 *
 * It opens the file read-only through LMDB and holds a read transaction the whole time: its
 * reader slot keeps a live writer (a guardian handing the store over) from reusing any page of
 * the snapshots it reads. Then it walks, without native code, every page the newest meta page
 * reaches: the free list's and the main database's branch, leaf and overflow pages (and those of
 * named databases, if any). It checks each page's header (its own page number, a transaction not
 * after the last, the type its place in the tree calls for, the bounds of its free space), each
 * entry (inside its page, keys in order and inside their branch's range, overflow runs inside the
 * file), that no page is reached twice, the counts each tree's record gives, and every range the
 * free list names (inside the file, not in use). Last it reads every record through LMDB: the keys
 * with a cursor, each value by its key, the values the HAM decodes outside its reading of the
 * entity records decoded (the HAM decodes those itself, and a record that does not decode is a
 * StoreCorrupt there). LMDB's data file is opened `O_RDONLY` and mapped read-only; only the lock
 * file (checked beforehand) gets its reader slot.
 *
 * The layout is that of the LMDB in the lmdb package (lmdb-js's fork of LMDB 1.0): 24-byte page
 * headers (page number, transaction id, pad, flags, lower and upper bounds or an overflow page
 * count), overflow references of 24 bytes (page, transaction, page count), and free-list records
 * keyed by transaction whose values are a count and then page numbers, a negative number -n
 * standing for the n pages from the page number after it.
 *
 * @internal
 */

/** @internal */
export const source = String.raw`"use strict"
const fs = require("node:fs")
const [entry, path, mode] = process.argv.slice(1)
// lmdb is loaded before the file is known: a standby probe waits with it loaded
const { open } = require(entry)
const say = (verdict) => process.stdout.write(JSON.stringify(verdict) + "\n")

// what the file holds goes into a message: control characters escaped, and at most 200 of them
const printable = (text) => (text.length > 200 ? text.slice(0, 200) + "..." : text)
  .replace(/[\u0000-\u001f\u007f]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"))

class Damage extends Error {}
class Foreign extends Error {}
const fail = (message) => { throw new Damage(message) }

const HDR = 24
const NONE = 0xffffffffffffffffn
const P_BRANCH = 1, P_LEAF = 2, P_OVERFLOW = 4
const F_BIGDATA = 1, F_SUBDATA = 2, F_DUPDATA = 4
const KNOWN_DB_FLAGS = 0x08 | 0x4000 | 0x1000 // integer keys (the free list), no subdirectory, overlapping sync

const dbAt = (b, o) => ({
  flags: b.readUInt16LE(o + 4), depth: b.readUInt16LE(o + 6),
  branch: b.readBigUInt64LE(o + 8), leaf: b.readBigUInt64LE(o + 16), overflow: b.readBigUInt64LE(o + 24),
  entries: b.readBigUInt64LE(o + 32), root: b.readBigUInt64LE(o + 40)
})

const walkFile = (fd) => {
  const head = Buffer.alloc(HDR + 144)
  const readAt = (buffer, position, what) => {
    if (fs.readSync(fd, buffer, 0, buffer.length, position) !== buffer.length) fail(what + " lies past the end of the file")
  }
  const metaAt = (position) => {
    readAt(head, position, "a meta page")
    const m = HDR
    return {
      psize: head.readUInt32LE(m + 24), free: dbAt(head, m + 24), main: dbAt(head, m + 72),
      last: head.readBigUInt64LE(m + 120), txnid: head.readBigUInt64LE(m + 128)
    }
  }
  const first = metaAt(0)
  const second = metaAt(first.psize)
  const meta = first.txnid >= second.txnid ? first : second
  const psize = first.psize
  if (meta.last > BigInt(Number.MAX_SAFE_INTEGER)) fail("its meta page names page " + meta.last)
  const last = Number(meta.last)
  const size = fs.fstatSync(fd).size
  if (size < (last + 1) * psize) fail("cut short: " + size + " bytes where its meta page needs " + (last + 1) * psize)
  // the pages are read a chunk of 256 at a time, the chunks the walk reaches only (a file whose
  // free pages are most of it is not read whole)
  const chunkPages = 256
  const chunks = new Map()
  const chunkOf = (index) => {
    let chunk = chunks.get(index)
    if (chunk === undefined) {
      const pages = Math.min(chunkPages, last + 1 - index * chunkPages)
      readAt(chunk = Buffer.allocUnsafe(pages * psize), index * chunkPages * psize, "page " + (index * chunkPages + pages - 1))
      chunks.set(index, chunk)
    }
    return chunk
  }
  const used = new Uint8Array(last + 1)
  used[0] = used[1] = 1
  const use = (pgno, count, what) => {
    if (pgno < 2 || pgno + count - 1 > last) fail(what + ": page " + pgno + " is outside the file (pages 2 to " + last + ")")
    for (let i = pgno; i < pgno + count; i++) {
      if (used[i]) fail(what + ": page " + i + " is used twice")
      used[i] = 1
    }
  }
  const pageOf = (pgno, count) => {
    let page
    const index = Math.floor(pgno / chunkPages)
    if (Math.floor((pgno + count - 1) / chunkPages) === index) {
      const at = (pgno - index * chunkPages) * psize
      page = chunkOf(index).subarray(at, at + count * psize)
    } else readAt(page = Buffer.allocUnsafe(psize * count), pgno * psize, "page " + pgno)
    if (page.readBigUInt64LE(0) !== BigInt(pgno)) fail("page " + pgno + ": its header names page " + page.readBigUInt64LE(0))
    if (page.readBigUInt64LE(8) > meta.txnid) fail("page " + pgno + ": written by a transaction after the last one")
    return page
  }
  const u64 = (a, b) => { const x = a.readBigUInt64LE(0), y = b.readBigUInt64LE(0); return x < y ? -1 : x > y ? 1 : 0 }
  const pages = { branch: 0, leaf: 0, overflow: 0, free: 0 }
  const freePages = []

  const walkTree = (db, name, isFree) => {
    if ((db.flags & ~KNOWN_DB_FLAGS) !== 0) {
      const uses = (db.flags & 0x04) !== 0 ? "sorted duplicates" : (db.flags & 0x02) !== 0 ? "reversed keys" : "flags"
      throw new Foreign(name + " uses " + uses + " (flags 0x" + db.flags.toString(16) + ")")
    }
    const found = { branch: 0n, leaf: 0n, overflow: 0n, entries: 0n }
    if (db.root === NONE) {
      if (db.depth !== 0 || db.entries !== 0n) fail(name + " has no root page but " + db.entries + " entries")
      return
    }
    if (db.root > BigInt(last)) fail(name + ": its root page " + db.root + " is outside the file")
    const compare = isFree ? u64 : Buffer.compare
    const keyOf = (page, at, what) => {
      const ksize = page.readUInt16LE(at + 6)
      if (at + 8 + ksize > psize) fail(what + ": its key runs past the page")
      return page.subarray(at + 8, at + 8 + ksize)
    }
    const visit = (pgno, level, low, high) => {
      const where = name + ", page " + pgno
      use(pgno, 1, where)
      const page = pageOf(pgno, 1)
      const leaf = level === db.depth
      const flags = page.readUInt16LE(18)
      if (flags !== (leaf ? P_LEAF : P_BRANCH)) {
        fail(where + ": a " + (leaf ? "leaf" : "branch") + " page was expected (its flags are 0x" + flags.toString(16) + ")")
      }
      const lower = page.readUInt16LE(20), upper = page.readUInt16LE(22)
      if ((lower & 1) !== 0 || lower > upper || upper > psize - HDR) fail(where + ": impossible bounds " + lower + ", " + upper)
      const n = lower >> 1
      if (n === 0 || (!leaf && n < (isFree ? 1 : 2))) fail(where + ": " + n + " entries")
      const nodeAt = (i) => {
        const offset = page.readUInt16LE(HDR + 2 * i)
        if (offset < upper || (offset & 1) !== 0 || HDR + offset + 8 > psize) fail(where + ": entry " + i + " is at an impossible offset")
        return HDR + offset
      }
      pages[leaf ? "leaf" : "branch"]++
      found[leaf ? "leaf" : "branch"]++
      let previous
      // the entries fill the page from its upper bound to its end, each of an even size
      let filled = 0
      for (let i = 0; i < n; i++) {
        const at = nodeAt(i)
        const what = where + ", entry " + i
        const key = keyOf(page, at, what)
        const flagged = page.readUInt16LE(at + 4)
        const inline = !leaf ? 0 : (flagged & F_BIGDATA) !== 0 ? 24 : page.readUInt16LE(at) + page.readUInt16LE(at + 2) * 0x10000
        filled += (8 + key.length + inline + 1) & ~1
        if (leaf || i > 0) {
          if (key.length === 0 || (isFree && key.length !== 8)) fail(what + ": a key of " + key.length + " bytes")
          if (previous !== undefined && compare(previous, key) >= 0) fail(what + ": keys out of order")
          if ((low !== undefined && compare(key, low) < 0) || (high !== undefined && compare(key, high) >= 0)) {
            fail(what + ": a key outside its branch's range")
          }
          previous = key
        }
        const lo = page.readUInt16LE(at), hi = page.readUInt16LE(at + 2), nodeFlags = page.readUInt16LE(at + 4)
        if (!leaf) {
          const next = i + 1 < n ? keyOf(page, nodeAt(i + 1), where + ", entry " + (i + 1)) : high
          visit(lo + hi * 0x10000 + nodeFlags * 0x100000000, level + 1, i === 0 ? low : key, next)
          continue
        }
        found.entries++
        const dsize = lo + hi * 0x10000
        const end = at + 8 + key.length
        if ((nodeFlags & F_DUPDATA) !== 0) throw new Foreign(what + " holds sorted duplicates")
        if ((nodeFlags & ~(F_BIGDATA | F_SUBDATA)) !== 0) fail(what + ": unknown flags 0x" + nodeFlags.toString(16))
        let value
        if ((nodeFlags & F_BIGDATA) !== 0) {
          if (end + 24 > psize) fail(what + ": its overflow reference runs past the page")
          const first = page.readBigUInt64LE(end), count = page.readBigUInt64LE(end + 16)
          if (first > BigInt(last) || count < 1n || count > BigInt(last)) fail(what + ": an overflow reference outside the file")
          const pgno = Number(first), npages = Number(count)
          if (dsize === 0 || HDR + dsize > npages * psize) fail(what + ": " + dsize + " bytes on " + npages + " overflow pages")
          use(pgno, npages, what + "'s overflow pages")
          const overflow = pageOf(pgno, isFree ? npages : 1)
          if (overflow.readUInt16LE(18) !== P_OVERFLOW) fail("page " + pgno + ": an overflow page was expected")
          if (overflow.readUInt32LE(20) !== npages) fail("page " + pgno + ": " + overflow.readUInt32LE(20) + " overflow pages where its entry says " + npages)
          pages.overflow += npages
          found.overflow += count
          if (isFree) value = overflow.subarray(HDR, HDR + dsize)
        } else {
          if (end + dsize > psize) fail(what + ": its value runs past the page")
          value = page.subarray(end, end + dsize)
        }
        if ((nodeFlags & F_SUBDATA) !== 0) {
          if (dsize !== 48 || value === undefined) fail(what + ": a named database's record of " + dsize + " bytes")
          walkTree(dbAt(value, 0), "the database " + printable(key.toString("latin1").replace(/\0$/, "")), false)
        } else if (isFree) {
          if (dsize < 8 || dsize % 8 !== 0) fail(what + ": a free-list record of " + dsize + " bytes")
          const count = value.readBigUInt64LE(0)
          if ((count + 1n) * 8n > BigInt(dsize)) fail(what + ": a free-list record of " + dsize + " bytes says it holds " + count)
          for (let j = 1; j <= Number(count); j++) {
            let start = value.readBigInt64LE(j * 8), length = 1n
            if (start === 0n) continue
            if (start < 0n) {
              if (j === Number(count)) fail(what + ": a free-list record ends inside a range")
              length = -start
              start = value.readBigInt64LE(++j * 8)
            }
            if (start < 2n || start + length - 1n > BigInt(last)) fail(what + ": the free list names pages outside the file")
            freePages.push(Number(start), Number(length))
          }
        }
      }
      if (filled !== psize - HDR - upper) fail(where + ": its entries take " + filled + " bytes of the " + (psize - HDR - upper) + " its bounds give them")
    }
    visit(Number(db.root), 1, undefined, undefined)
    if (found.branch !== db.branch || found.leaf !== db.leaf || found.overflow !== db.overflow || found.entries !== db.entries) {
      fail(name + ": " + found.entries + " entries on " + found.branch + " branch, " + found.leaf + " leaf and " + found.overflow +
        " overflow pages where its record says " + db.entries + " on " + db.branch + ", " + db.leaf + " and " + db.overflow)
    }
  }
  walkTree(meta.free, "the free list", true)
  walkTree(meta.main, "the main database", false)
  // a page both free and in use would be handed out again while it holds data
  for (let i = 0; i < freePages.length; i += 2) {
    for (let p = freePages[i]; p < freePages[i] + freePages[i + 1]; p++) {
      if (used[p] === 1) fail("the free list names page " + p + ", which is in use")
      pages.free++
    }
  }
  return pages
}

const describe = (e) => printable((e && e.message) || String(e))

const probe = () => {
  let verdict
  try {
    const db = open({ path, noSubdir: true, readOnly: true })
    const transaction = db.useReadTransaction()
    const fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK)
    const pages = walkFile(fd)
    fs.closeSync(fd)
    // every record through LMDB: the keys in order (a cursor, as the HAM reads its entities), each
    // value by its key (a search from the root, as the HAM writes), its bytes read whole; the values
    // the HAM decodes outside its reading of the entity records (the store's meta record, the
    // lease, LMDB's shared structures) are decoded here too. The entity records ("e/...") are
    // decoded by the HAM, which turns a record that does not decode into a StoreCorrupt.
    let records = 0
    let previous
    const show = (key) => typeof key === "string" ? "\"" + printable(key) + "\"" : printable(String(key))
    const readOne = (key) => {
      try {
        db.getBinary(key, { transaction })
        if (typeof key !== "string" || !key.startsWith("e/")) db.get(key, { transaction })
      } catch (e) {
        throw new Damage("the record " + show(key) + " cannot be read: " + describe(e))
      }
    }
    try {
      for (const key of db.getKeys({ transaction })) {
        previous = key
        readOne(key)
        records++
      }
    } catch (e) {
      if (e instanceof Damage) throw e
      throw new Damage((previous === undefined ? "the first record" : "the record after " + show(previous)) + " cannot be read: " + describe(e))
    }
    transaction.done()
    verdict = { ok: true, records, pages }
  } catch (e) {
    verdict = e instanceof Foreign ? { foreign: e.message } : { damaged: describe(e) }
  }
  say(verdict)
  process.exit(0)
}

if (mode !== "standby") probe()
else {
  // a standby: it probes when a line comes on stdin; stdin ending first (its HAM went away) ends it
  process.stdin.setEncoding("utf8")
  process.stdin.on("data", (chunk) => {
    if (chunk.includes("\n")) probe()
  })
  process.stdin.on("end", () => process.exit(0))
}
`
