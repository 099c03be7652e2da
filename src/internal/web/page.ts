/**
 * The page of `ham web`: its HTML and its style sheet, part of the package (no build step, nothing
 * fetched at run time). The page holds no inline script or style: its script is `script.ts`,
 * served as a file of its own, so that the content security policy allows only the server's own
 * files.
 *
 * @internal
 */

/** @internal the page */
export const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ham web</title>
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body>
<header>
  <h1>ham web</h1>
  <span id="summary">connecting…</span>
  <span id="live" class="off">feed: connecting</span>
  <label class="operator">operator token
    <input id="operator" type="password" autocomplete="off" spellcheck="false" placeholder="needed to act">
  </label>
</header>
<p id="status" role="status"></p>
<main>
  <section id="tree-section">
    <h2>Entities <small>(the timeline: deaths <span class="key death">▮</span> and restarts
      <span class="key restart">▮</span> over the last hour, since ham web started)</small></h2>
    <table id="tree">
      <thead><tr id="heads"></tr></thead>
      <tbody id="rows"></tbody>
    </table>
    <details id="global"><summary>global conditions</summary><ul id="global-list"></ul></details>
  </section>
  <section id="feed-section">
    <h2>Events <small>(the newest first)</small></h2>
    <ol id="feed"></ol>
  </section>
</main>
</body>
</html>
`

/** @internal the style sheet */
export const css = `:root { color-scheme: light dark; --bad: #d33; --good: #2a2; --dim: #888; --line: #8884; }
* { box-sizing: border-box; }
body { font: 13px/1.35 system-ui, sans-serif; margin: 0; }
header { display: flex; gap: 1.2em; align-items: baseline; padding: .5em 1em; border-bottom: 1px solid var(--line); }
h1 { font-size: 16px; margin: 0; }
h2 { font-size: 14px; margin: .6em 0 .3em; }
h2 small, #summary { color: var(--dim); font-weight: normal; }
#live.on { color: var(--good); } #live.off { color: var(--bad); }
.operator { margin-left: auto; color: var(--dim); }
#status { margin: 0; padding: 0 1em; min-height: 1.4em; }
#status.error { color: var(--bad); }
main { display: grid; grid-template-columns: minmax(0, 3fr) minmax(16em, 1fr); gap: 1em; padding: 0 1em 1em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 2px 6px; border-bottom: 1px solid var(--line); vertical-align: top;
  white-space: nowrap; font-variant-numeric: tabular-nums; }
th { font-weight: 600; font-size: 11px; color: var(--dim); }
td.name details { white-space: normal; }
td.name summary { cursor: pointer; font-family: ui-monospace, monospace; }
td.name ul { margin: .2em 0; padding-left: 1.2em; color: var(--dim); font-size: 12px; }
tr.dead td.state, tr.gaveUp td.state, td.unhealthy { color: var(--bad); }
tr.running td.state { color: var(--good); }
tr.off td { opacity: .6; }
svg.timeline { display: block; }
svg.timeline .axis { stroke: var(--line); }
svg.timeline .death, .key.death { fill: var(--bad); color: var(--bad); }
svg.timeline .restart, .key.restart { fill: var(--good); color: var(--good); }
td.ops button, td.ops select { font-size: 11px; padding: 0 4px; }
#feed { list-style: none; margin: 0; padding: 0; font-family: ui-monospace, monospace; font-size: 12px;
  max-height: 80vh; overflow-y: auto; }
#feed li { padding: 1px 0; border-bottom: 1px solid var(--line); }
#feed .t { color: var(--dim); } #feed .Death, #feed .AbnormalDeath { color: var(--bad); }
#feed .Restart { color: var(--good); } #feed .dropped { color: var(--dim); font-style: italic; }
`
