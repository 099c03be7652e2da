/**
 * Every operation of the HAM that can cross a process boundary, as data: a `Schema.TaggedRequest`
 * per operation (`protocol/requests.ts`) over JSON-friendly data (`protocol/data.ts`), read and
 * written as JSON and run against a local `Ham` service (`protocol/handle.ts`). The remote server
 * and client, the daemon's config file and the CLI build on it.
 *
 * @internal
 */
export * from "./protocol/data.js"
export * from "./protocol/handle.js"
export * from "./protocol/requests.js"
