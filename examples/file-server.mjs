/**
 * A tiny file server over TCP, the process that examples/file-server-recovery.ts supervises.
 *
 *   node examples/file-server.mjs <port> <file>
 *
 * Protocol: a client sends one line "<offset> <length>\n"; the server answers with the bytes of
 * the file from <offset> (at most <length> of them; none past its end) and closes the
 * connection. A malformed request gets "ERR <reason>\n".
 *
 * It reads the file at each request (it may change between requests), listens on 127.0.0.1
 * only, prints "listening on <port> (pid <pid>)" once it accepts connections, and exits with
 * code 2 at once when the file does not exist.
 */
import { Buffer } from "node:buffer"
import { closeSync, existsSync, openSync, readSync } from "node:fs"
import { createServer } from "node:net"

const maxLength = 1024 * 1024

const [portArg, file] = process.argv.slice(2)
const port = Number(portArg)
if (!Number.isInteger(port) || port <= 0 || port > 65535 || file === undefined) {
  process.stderr.write("usage: file-server.mjs <port> <file>\n")
  process.exit(64)
}
if (!existsSync(file)) {
  process.stderr.write(`file-server: no such file: ${file}\n`)
  process.exit(2)
}

/** the bytes of the file in [offset, offset + length) */
const readRange = (offset, length) => {
  const fd = openSync(file, "r")
  try {
    const buffer = Buffer.alloc(length)
    const n = readSync(fd, buffer, 0, length, offset)
    return buffer.subarray(0, n)
  } finally {
    closeSync(fd)
  }
}

const answer = (line) => {
  const match = /^(\d+) (\d+)$/.exec(line.trim())
  if (match === null) return Buffer.from("ERR expected \"<offset> <length>\"\n")
  const offset = Number(match[1])
  const length = Number(match[2])
  if (length > maxLength) return Buffer.from(`ERR length above ${maxLength}\n`)
  try {
    return readRange(offset, length)
  } catch (error) {
    return Buffer.from(`ERR ${error.code ?? error.message}\n`)
  }
}

const server = createServer((socket) => {
  let request = ""
  socket.setEncoding("utf8")
  socket.on("data", (chunk) => {
    request += chunk
    const end = request.indexOf("\n")
    if (end >= 0) socket.end(answer(request.slice(0, end)))
    else if (request.length > 100) socket.end(Buffer.from("ERR request too long\n"))
  })
  socket.on("error", () => socket.destroy())
})

server.listen(port, "127.0.0.1", () => {
  process.stdout.write(`listening on ${port} (pid ${process.pid})\n`)
})
