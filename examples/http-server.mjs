// A small HTTP server for the examples and tests of the covered HttpClient:
//   node http-server.mjs <port>
// GET /item/<id> answers "item <id> from <pid>"; any other request answers "pong <pid> <n>".
import { createServer } from "node:http"

const port = Number(process.argv[2])
let n = 0
const server = createServer((request, response) => {
  const item = /^\/item\/(\w+)$/.exec(request.url ?? "")
  response.setHeader("content-type", "text/plain")
  response.end(item ? `item ${item[1]} from ${process.pid}` : `pong ${process.pid} ${++n}`)
})
server.listen(port, "127.0.0.1")
process.on("SIGTERM", () => process.exit(0))
