/**
 * How many terminal columns a string takes, and strings fitted to a number of columns: what the
 * `ham ls` table needs so that no line wraps on an 80-column terminal, whatever the names hold.
 * Wide characters (CJK, Hangul, fullwidth forms, emoji) take two columns, combining marks and
 * zero-width characters none, every other character one (as terminals show them).
 *
 * @internal
 */

const zeroWidth = /^[\p{Mn}\p{Me}\p{Cf}]$/u

/** the East Asian wide and fullwidth ranges, and the emoji blocks, as terminals draw them */
const wide = (code: number): boolean =>
  (code >= 0x1100 && code <= 0x115f) ||
  (code >= 0x2e80 && code <= 0x303e) ||
  (code >= 0x3041 && code <= 0x33ff) ||
  (code >= 0x3400 && code <= 0x4dbf) ||
  (code >= 0x4e00 && code <= 0x9fff) ||
  (code >= 0xa000 && code <= 0xa4cf) ||
  (code >= 0xac00 && code <= 0xd7a3) ||
  (code >= 0xf900 && code <= 0xfaff) ||
  (code >= 0xfe30 && code <= 0xfe4f) ||
  (code >= 0xff00 && code <= 0xff60) ||
  (code >= 0xffe0 && code <= 0xffe6) ||
  (code >= 0x1f300 && code <= 0x1f64f) ||
  (code >= 0x1f900 && code <= 0x1f9ff) ||
  (code >= 0x20000 && code <= 0x3fffd)

const charWidth = (char: string): number => zeroWidth.test(char) ? 0 : wide(char.codePointAt(0)!) ? 2 : 1

/** @internal the columns `s` takes on a terminal */
export const width = (s: string): number => {
  let n = 0
  for (const char of s) n += charWidth(char)
  return n
}

/** the longest head of `chars` that takes at most `columns` */
const head = (chars: ReadonlyArray<string>, columns: number): string => {
  let out = ""
  let n = 0
  for (const char of chars) {
    const w = charWidth(char)
    if (n + w > columns) break
    out += char
    n += w
  }
  return out
}

/** @internal the marker of an elided part */
export const ellipsis = "…"

/**
 * `s` in at most `columns` columns: as it is when it fits, else elided with `…` at its end
 * (`"end"`) or in its middle (`"middle"`, which keeps the end of a name: `payment…west-1`).
 *
 * @internal
 */
export const elide = (s: string, columns: number, where: "end" | "middle" = "end"): string => {
  if (width(s) <= columns) return s
  if (columns <= 0) return ""
  const chars = Array.from(s)
  if (where === "end" || columns < 5) return head(chars, columns - 1) + ellipsis
  const tail = Math.floor((columns - 1) / 2)
  const end = Array.from(head([...chars].reverse(), tail)).reverse().join("")
  return head(chars, columns - 1 - width(end)) + ellipsis + end
}

/** @internal `s` fitted to `columns` and padded to them */
export const cell = (s: string, columns: number, where: "end" | "middle" = "end"): string => {
  const fitted = elide(s, columns, where)
  return fitted + " ".repeat(Math.max(0, columns - width(fitted)))
}
