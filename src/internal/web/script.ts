/**
 * The script of `ham web`'s page, served as `/app.js` (plain browser JavaScript, no framework, no
 * build step). It draws the tree from `/api/tree` (again at the events, at most every 250 ms, and
 * every 2 s), the feed and the timelines from the server-sent events of `/api/events` (at once,
 * without a reload; a gap in the events' sequence is said), and sends the operator's acts as POST
 * requests with the operator token in their `Authorization` header: the token the page was opened
 * with (a cookie) never acts. Every text from the HAM is set as text (`textContent`), never parsed
 * as HTML.
 *
 * It runs in the browser, not under Effect: its timers are the browser's (`setTimeout` for the
 * detach button's confirmation and the 250 ms coalescing of redraws, `setInterval` for the 2 s
 * refresh, `Date.now` for the timelines' right edge). No rule of the HAM is timed here; the HAM's
 * own timing (server, feed, tokens) is on `Clock` in `server.ts` and `hub.ts`.
 *
 * @internal
 */

/** @internal the script (no template literals inside: it is one) */
export const js = String.raw`"use strict";
(function () {
  var SVG = "http://www.w3.org/2000/svg";
  var W = 240, H = 16;
  var state = { tree: null, marks: {}, seen: {}, lastSeq: 0, open: {}, feed: 0 };
  var $ = function (id) { return document.getElementById(id); };
  var el = function (tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  var pad = function (n) { return (n < 10 ? "0" : "") + n; };
  var clock = function (t) {
    var d = new Date(t);
    return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  };
  var status = function (text, error) {
    var s = $("status");
    s.textContent = text;
    s.className = error ? "error" : "";
  };

  // the operator token: typed once, kept for this tab only
  var operator = $("operator");
  operator.value = sessionStorage.getItem("ham-operator") || "";
  operator.addEventListener("change", function () { sessionStorage.setItem("ham-operator", operator.value); });

  var act = function (name, what, body) {
    var headers = { "Content-Type": "application/json" };
    if (operator.value) headers.Authorization = "Bearer " + operator.value;
    status(what + " " + name + "…");
    return fetch("/api/entities/" + encodeURIComponent(name) + "/" + what, {
      method: "POST", headers: headers, body: JSON.stringify(body || {}), credentials: "same-origin"
    }).then(function (r) {
      return r.text().then(function (text) {
        var message = text;
        try { message = JSON.parse(text).message || text; } catch (e) { /* plain text */ }
        if (r.ok) status(what + " " + name + ": done");
        else status(what + " " + name + ": " + r.status + " " + message, true);
        document.body.dataset.lastAction = what + " " + name + " " + r.status;
        refreshSoon();
      });
    }, function (e) { status(what + " " + name + ": " + e, true); });
  };

  // the timeline of one entity: the last hour, a tick per death (red, above) and restart (green, below)
  var timeline = function (name, now, windowMillis) {
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "timeline");
    svg.setAttribute("width", W);
    svg.setAttribute("height", H);
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.dataset.entity = name;
    var axis = document.createElementNS(SVG, "line");
    axis.setAttribute("class", "axis");
    axis.setAttribute("x1", 0); axis.setAttribute("x2", W);
    axis.setAttribute("y1", H / 2); axis.setAttribute("y2", H / 2);
    svg.appendChild(axis);
    // (a tick every 15 minutes: the style sheet's background)
    var marks = state.marks[name] || [];
    var deaths = 0, restarts = 0;
    for (var i = 0; i < marks.length; i++) {
      var m = marks[i];
      if (m.time < now - windowMillis) continue;
      var x = Math.max(0, Math.min(W - 2, ((m.time - (now - windowMillis)) / windowMillis) * (W - 2)));
      var r = document.createElementNS(SVG, "rect");
      r.setAttribute("class", m.mark);
      r.setAttribute("x", x.toFixed(1));
      r.setAttribute("y", m.mark === "death" ? 1 : H / 2 + 1);
      r.setAttribute("width", 2);
      r.setAttribute("height", H / 2 - 2);
      var title = document.createElementNS(SVG, "title");
      title.textContent = m.mark + " at " + clock(m.time);
      r.appendChild(title);
      svg.appendChild(r);
      if (m.mark === "death") deaths++; else restarts++;
    }
    svg.dataset.deaths = deaths;
    svg.dataset.restarts = restarts;
    return svg;
  };

  var addMark = function (entity, m) {
    var key = entity + "#" + m.seq;
    if (state.seen[key]) return;
    state.seen[key] = true;
    (state.marks[entity] = state.marks[entity] || []).push(m);
  };

  var conditionList = function (conditions) {
    var ul = el("ul");
    conditions.forEach(function (c) {
      var li = el("li", null, c.name + " (" + c.type + (c.enabled ? "" : ", off") + ", fired " + c.fired + ")" +
        (c.filter ? " " + c.filter : ""));
      var actions = el("ol");
      c.actions.forEach(function (a) {
        actions.appendChild(el("li", null, a.name + ": " + a.summary +
          (a.enabled ? "" : " (off)") + "  runs " + a.runs + (a.failures ? ", failures " + a.failures : "")));
      });
      li.appendChild(actions);
      ul.appendChild(li);
    });
    return ul;
  };

  var button = function (label, onClick) {
    var b = el("button", null, label);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  };

  var operations = function (e) {
    var td = el("td", "ops");
    td.appendChild(button("restart", function () { act(e.name, "restart"); }));
    // the signal: the one chosen in the header
    td.appendChild(button("signal", function () { act(e.name, "signal", { signal: $("signal").value }); }));
    td.appendChild(button(e.enabled ? "disable" : "enable", function () {
      act(e.name, e.enabled ? "disable" : "enable");
    }));
    // detach asks twice: the first click arms it for 3 s
    var detach = button("detach", function () {
      if (detach.dataset.armed) return act(e.name, "detach");
      detach.dataset.armed = "1";
      detach.textContent = "detach?";
      setTimeout(function () { delete detach.dataset.armed; detach.textContent = "detach"; }, 3000);
    });
    td.appendChild(detach);
    return td;
  };

  var render = function () {
    var tree = state.tree;
    if (!tree) return;
    var heads = $("heads");
    if (!heads.firstChild) {
      tree.headers.concat(["HEARTBEAT", "LAST HOUR", ""]).forEach(function (h) { heads.appendChild(el("th", null, h)); });
    }
    var rows = $("rows");
    var body = document.createDocumentFragment();
    var running = 0;
    tree.entities.forEach(function (e) {
      if (e.status === "running") running++;
      var tr = el("tr", "entity " + e.status + (e.enabled ? "" : " off"));
      tr.dataset.entity = e.name;
      var name = el("td", "name");
      if (e.conditions.length > 0) {
        var fold = button(state.open[e.name] ? "▾" : "▸", function () {
          if (state.open[e.name]) delete state.open[e.name]; else state.open[e.name] = true;
          render();
        });
        fold.className = "fold";
        fold.title = "its conditions and actions";
        name.appendChild(fold);
      }
      name.appendChild(document.createTextNode(e.name));
      tr.appendChild(name);
      var classes = ["kind", "pid", "state", "uptime", "restarts", "deaths"];
      e.cells.forEach(function (c, i) { tr.appendChild(el("td", classes[i], c)); });
      tr.appendChild(el("td", "last", e.last));
      tr.appendChild(el("td", e.healthy ? "health" : "health unhealthy", e.health));
      var tl = el("td", "tl");
      tl.appendChild(timeline(e.name, Math.max(tree.time, Date.now()), tree.window));
      tr.appendChild(tl);
      tr.appendChild(operations(e));
      body.appendChild(tr);
      if (state.open[e.name] && e.conditions.length > 0) {
        var more = el("tr", "conditions");
        more.dataset.entity = e.name;
        var td = el("td");
        td.colSpan = tree.headers.length + 3;
        td.appendChild(conditionList(e.conditions));
        more.appendChild(td);
        body.appendChild(more);
      }
    });
    rows.replaceChildren(body);
    $("summary").textContent = running + "/" + tree.entities.length + " running · tree at " + clock(tree.time);
    var global = $("global-list");
    global.replaceChildren(conditionList(tree.global));
    $("global").hidden = tree.global.length === 0;
    if (!document.body.dataset.rendered) {
      document.body.dataset.rendered = String(performance.now());
    }
  };

  // the timelines alone, redrawn at a mark (the table waits for the next tree)
  var redrawTimeline = function (entity) {
    var old = document.querySelector("svg.timeline[data-entity=\"" + CSS.escape(entity) + "\"]");
    if (old && state.tree) old.replaceWith(timeline(entity, Math.max(state.tree.time, Date.now()), state.tree.window));
  };

  var fetching = false, again = false, timer = null;
  var refresh = function () {
    if (fetching) { again = true; return; }
    fetching = true;
    fetch("/api/tree", { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error("the tree: " + r.status + (r.status === 401 ? " (open the address ham web printed)" : ""));
      return r.json();
    }).then(function (tree) {
      tree.entities.forEach(function (e) { e.marks.forEach(function (m) { addMark(e.name, m); }); });
      state.tree = tree;
      render();
    }).catch(function (e) { status(String(e.message || e), true); }).then(function () {
      fetching = false;
      if (again) { again = false; refreshSoon(); }
    });
  };
  var refreshSoon = function () {
    if (timer === null) timer = setTimeout(function () { timer = null; refresh(); }, 250);
  };

  var feed = $("feed");
  var show = function (e) {
    var li = el("li", e.type);
    li.dataset.seq = e.seq;
    li.dataset.entity = e.entity;
    li.dataset.type = e.type;
    li.dataset.time = e.time;
    li.appendChild(el("span", "t", clock(e.time) + " "));
    li.appendChild(document.createTextNode(e.entity + " " + e.type + (e.detail ? " " + e.detail : "")));
    feed.insertBefore(li, feed.firstChild);
    while (feed.childElementCount > 300) feed.removeChild(feed.lastChild);
  };

  var source = new EventSource("/api/events");
  source.onopen = function () { $("live").className = "on"; $("live").textContent = "feed: live"; };
  source.onerror = function () { $("live").className = "off"; $("live").textContent = "feed: reconnecting"; };
  source.onmessage = function (m) {
    var e = JSON.parse(m.data);
    if (e.seq <= state.lastSeq) return;
    // events the page missed (too many at once, or while it reconnected) leave a gap in the sequence
    if (state.lastSeq > 0 && e.seq > state.lastSeq + 1) {
      feed.insertBefore(el("li", "dropped", "… " + (e.seq - state.lastSeq - 1) + " events not shown"), feed.firstChild);
    }
    state.lastSeq = e.seq;
    show(e);
    if (e.mark) {
      addMark(e.entity, { seq: e.seq, time: e.time, mark: e.mark });
      redrawTimeline(e.entity);
    }
    refreshSoon();
  };

  refresh();
  setInterval(refresh, 2000);
})();
`
