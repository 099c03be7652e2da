/**
 * What the chaos suite and its host agree on: the command line of each child (it names the run
 * and the entity, so that /proc tells which entity a process is a life of).
 */

/** the command line of child `i` of the run `run` (digits) */
export const childArgs = (run: string, i: number): ReadonlyArray<string> => ["sleep", `3600.${run}${i}`]

/** the same, as /proc shows it (arguments joined by spaces) */
export const childLine = (run: string, i: number): string => childArgs(run, i).join(" ")
