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
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body>
<header>
  <h1>ham web</h1>
  <span id="summary">connecting…</span>
  <span id="live" class="off">feed: connecting</span>
  <label class="operator">signal
    <select id="signal">
      <option>SIGTERM</option><option>SIGHUP</option><option>SIGINT</option>
      <option>SIGUSR1</option><option>SIGUSR2</option><option>SIGKILL</option>
    </select>
  </label>
  <label>operator token
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
main { padding: 0 1em 1em; }
#tree-section { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 2px 6px; border-bottom: 1px solid var(--line); vertical-align: top;
  white-space: nowrap; font-variant-numeric: tabular-nums; }
th { font-weight: 600; font-size: 11px; color: var(--dim); }
td.name { font-family: ui-monospace, monospace; }
button.fold { border: none; background: none; padding: 0 .3em 0 0; cursor: pointer; color: inherit; font: inherit; }
tr.conditions td { color: var(--dim); font-size: 12px; white-space: normal; }
tr.conditions ul, #global ul { margin: .1em 0 .3em; padding-left: 2.2em; }
tr.conditions ol { margin: 0; padding-left: 1.6em; }
tr.dead td.state, tr.gaveUp td.state, td.unhealthy { color: var(--bad); }
tr.running td.state { color: var(--good); }
tr.off td { opacity: .6; }
svg.timeline { display: block; background: linear-gradient(to right, transparent calc(25% - 1px), var(--line) 25%,
  transparent calc(25% + 1px)) 0 3px / 25% 10px repeat-x; }
svg.timeline .axis { stroke: var(--line); }
svg.timeline .death, .key.death { fill: var(--bad); color: var(--bad); }
svg.timeline .restart, .key.restart { fill: var(--good); color: var(--good); }
td.ops button { font-size: 11px; padding: 0 4px; }
#feed { list-style: none; margin: 0; padding: 0; font-family: ui-monospace, monospace; font-size: 12px;
  max-height: 40vh; overflow-y: auto; }
#feed li { padding: 1px 0; border-bottom: 1px solid var(--line); }
#feed .t { color: var(--dim); } #feed .Death, #feed .AbnormalDeath { color: var(--bad); }
#feed .Restart { color: var(--good); } #feed .dropped { color: var(--dim); font-style: italic; }
`

/** @internal the page's icon: a heart beat */
export const icon = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">` +
  `<path d="M1 9h4l2-6 2 10 2-4h4" fill="none" stroke="#2a2" stroke-width="2"/></svg>`
