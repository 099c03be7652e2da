/**
 * Trees made by hand, for the tests of what prints them (`ham ls`, `ham cat`, `ham top`): an
 * entity node with every field a running process entity has, and a tree of such nodes.
 */
import type * as tree_ from "../src/internal/tree.js"

/** a running process entity named "x" at `/x`, zero counts; `fields` (and `fields.stats`) override */
export const entityNode = (fields: Partial<tree_.EntityNode> = {}): tree_.EntityNode => ({
  name: "x",
  kind: "process",
  status: "running",
  enabled: true,
  state: 0,
  path: "/x",
  conditions: [],
  ...fields,
  stats: {
    created: 0,
    deaths: 0,
    abnormalDeaths: 0,
    restarts: 0,
    heartbeats: 0,
    missedLow: 0,
    missedHigh: 0,
    ...fields.stats
  }
})

/** a tree of these entities at `time`, with no global conditions and no failures of the HAM */
export const treeOf = (entities: ReadonlyArray<tree_.EntityNode>, time = 0): tree_.Tree => ({
  time,
  verbosity: 1,
  numEntities: entities.length,
  numConditions: 0,
  numActions: 0,
  hamFailures: 0,
  watchdogFailures: 0,
  guardianFailures: 0,
  global: { conditions: [] },
  entities
})
