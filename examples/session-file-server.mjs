/**
 * A file server with sessions, the process that examples/recovery.ts supervises.
 *
 *   node examples/session-file-server.mjs <port> <file>
 *
 * Protocol, one line each way: "SEEK <n>" answers "OK <n>"; "READ <k>" answers "DATA <the next
 * k characters of the file>" and moves the position on. The position belongs to the
 * connection: a new connection starts at 0 (so a client that reconnects must say where it was).
 * Listens on 127.0.0.1 only.
 */
import { readFileSync } from "node:fs"
import { createServer } from "node:net"

const [portArg, file] = process.argv.slice(2)
const port = Number(portArg)

const answer = (session, line) => {
  const [command, argument] = line.trim().split(" ")
  const n = Number(argument)
  if (!Number.isInteger(n) || n < 0) return "ERR expected SEEK <n> or READ <k>"
  if (command === "SEEK") {
    session.offset = n
    return `OK ${n}`
  }
  if (command === "READ") {
    const text = readFileSync(file, "utf8").replace(/\n/g, " ")
    const data = text.slice(session.offset, session.offset + n)
    session.offset += data.length
    return `DATA ${data}`
  }
  return "ERR expected SEEK <n> or READ <k>"
}

createServer((socket) => {
  const session = { offset: 0 }
  let pending = ""
  socket.setEncoding("utf8")
  socket.on("error", () => {})
  socket.on("data", (chunk) => {
    pending += chunk
    let newline = pending.indexOf("\n")
    while (newline >= 0) {
      socket.write(`${answer(session, pending.slice(0, newline))}\n`)
      pending = pending.slice(newline + 1)
      newline = pending.indexOf("\n")
    }
  })
}).listen(port, "127.0.0.1", () => process.stdout.write(`listening on ${port} (pid ${process.pid})\n`))
