/**
 * A self-signed certificate made by `openssl` for the TLS tests: for the given subject names
 * (`IP:10.0.0.2`, `DNS:ham.test`), valid one day, its key mode 0600.
 */
import { expect } from "@effect/vitest"
import * as cp from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

/** writes `cert.pem` and `key.pem` (0600) in `dir` */
export const selfSigned = (dir: string, altNames: ReadonlyArray<string>) => {
  const certFile = path.join(dir, "cert.pem")
  const keyFile = path.join(dir, "key.pem")
  const r = cp.spawnSync("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    keyFile,
    "-out",
    certFile,
    "-days",
    "1",
    "-subj",
    "/CN=ham-test",
    "-addext",
    `subjectAltName=${altNames.join(",")}`
  ], { encoding: "utf8" })
  expect(r.status, r.stderr).toBe(0)
  fs.chmodSync(keyFile, 0o600)
  return { certFile, keyFile }
}
