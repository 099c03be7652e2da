/**
 * Entity handles made by the HAM: a handle carries a hidden link to its entity's record, so that
 * a heartbeat through it needs no lookup.
 *
 * @internal
 */
import * as entity_ from "../entity.js"
import type { EntityRec } from "./state.js"

/** the hidden link from a handle to its record */
const RecordKey = Symbol.for("effect-ham/Entity/Record")

/** @internal the handle of an entity */
export const handleOf = (rec: EntityRec): entity_.EntityHandle =>
  rec.isGlobal ? entity_.global : entity_.makeHandle(rec.name, false, { [RecordKey]: rec })

/** @internal the record a handle was made for (when it was made by this HAM) */
export const recordOf = (handle: entity_.EntityHandle): EntityRec | undefined =>
  (handle as unknown as { readonly [RecordKey]?: EntityRec })[RecordKey]
