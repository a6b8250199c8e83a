/**
 * The dashboard's run picture (CONTRACT 5.10): the run's DAG as SVG, from
 * `GET /api/v1/runs/{id}/graph`, and a timeline of its instances' latest
 * attempts, from `.../timeline`. Part of `/dashboard.js`, sharing that
 * script's helpers (`$`, `el`, `api`, `act`, `may`, `ask`, `state`...).
 *
 * Layout: topological layers computed here (a node's column is one more than
 * its deepest need's), rows within a column ordered by the mean row of the
 * needs (one barycentre pass), edges as curves from a need's right side to
 * the node's left. No library: the graph is at most a few dozen nodes
 * because a scattered group is one node however many instances it has.
 * Every label is set with textContent; colours come from classes in
 * dashboard.css (n-<state>), never from data.
 */
export const DASHBOARD_DAG_SCRIPT = `
var SVG_NS = "http://www.w3.org/2000/svg";
var NODE_W = 210, MAX_W = 420, CHAR_W = 6.8, NODE_H = 46, COL_GAP = 60, ROW_GAP = 18, PAD = 10;
/* The order states are listed in a group's label, and the one a group takes its colour from. */
var JOB_STATES = ["completed", "running", "waiting", "idle", "held", "failed", "removed", "skipped"];
var drawnGraph = null;
var SEVERITY = ["failed", "held", "waiting", "running", "idle", "removed", "completed", "skipped"];

function svg(tag, attrs, text) {
  var e = document.createElementNS(SVG_NS, tag);
  Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, String(attrs[k])); });
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

/* A group's one state for its colour: the most pressing one any instance is in. */
function nodeState(n) {
  var total = 0; Object.keys(n.counts).forEach(function (s) { total += n.counts[s]; });
  if (!total) return n.planned ? "idle" : "unplanned";
  if (n.counts.skipped === total) return "skipped";
  for (var i = 0; i < SEVERITY.length; i++) if (n.counts[SEVERITY[i]]) return SEVERITY[i];
  return "idle";
}

/* "split 12/40 · 3 running · 1 failed": completed of all, then every other state that has instances. */
function nodeLabel(n) {
  if (!n.scatter) return n.name;
  var parts = [n.name + " " + (n.counts.completed || 0) + "/" + n.instances];
  JOB_STATES.forEach(function (s) { if (s !== "completed" && n.counts[s]) parts.push(n.counts[s] + " " + s); });
  if (!n.planned) parts.push("not planned yet");
  return parts.join(" \\u00b7 ");
}

/* Columns by longest path from a root; rows by the mean row of the needs, in definition order otherwise. */
function layout(nodes) {
  var byName = {}, layer = {};
  nodes.forEach(function (n, i) { byName[n.name] = n; n.order = i; });
  function depth(n, seen) {
    if (layer[n.name] !== undefined) return layer[n.name];
    if (seen[n.name]) return 0; // a cycle cannot be planned; the API would not have it, the page does not loop
    seen[n.name] = true;
    var d = 0;
    n.needs.forEach(function (m) { if (byName[m]) d = Math.max(d, depth(byName[m], seen) + 1); });
    layer[n.name] = d;
    return d;
  }
  var columns = [];
  nodes.forEach(function (n) { var d = depth(n, {}); (columns[d] = columns[d] || []).push(n); });
  var pos = {};
  columns.forEach(function (col, c) {
    col.forEach(function (n) {
      var rows = n.needs.filter(function (m) { return pos[m]; }).map(function (m) { return pos[m].row; });
      n.bary = rows.length ? rows.reduce(function (a, b) { return a + b; }, 0) / rows.length : n.order;
    });
    col.sort(function (a, b) { return a.bary - b.bary || a.order - b.order; });
  });
  // A column is as wide as its longest label needs (a group's counts make long ones), within bounds.
  var x = PAD;
  columns.forEach(function (col, c) {
    var w = NODE_W;
    col.forEach(function (n) { w = Math.max(w, Math.min(MAX_W, Math.ceil(nodeLabel(n).length * CHAR_W) + 16)); });
    col.forEach(function (n, r) { pos[n.name] = { col: c, row: r, x: x, y: PAD + r * (NODE_H + ROW_GAP), w: w }; });
    x += w + COL_GAP;
  });
  var rows = Math.max.apply(null, columns.map(function (c) { return c.length; }).concat([1]));
  return { pos: pos, width: x - COL_GAP + PAD, height: PAD * 2 + rows * NODE_H + (rows - 1) * ROW_GAP };
}

/* May this token decide this gate? As the API decides (DecideGate): admin always, else the gate's approvers, else da and above. */
function mayDecide(n) {
  if (state.role === "admin") return true;
  if (n.approvers && n.approvers.length) return n.approvers.indexOf(state.role) >= 0;
  return may("gate");
}

function svgButton(parent, x, y, label, cls, onClick) {
  var g = svg("g", { class: "svg-btn " + cls, transform: "translate(" + x + "," + y + ")", role: "button", tabindex: 0 });
  g.appendChild(svg("rect", { width: 56, height: 16, rx: 3 }));
  g.appendChild(svg("text", { x: 28, y: 12, "text-anchor": "middle" }, label));
  g.dataset.action = label.toLowerCase();
  g.addEventListener("click", onClick);
  g.addEventListener("keydown", function (ev) { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); onClick(); } });
  parent.appendChild(g);
}

function drawNode(run, n, p, box) {
  var st = nodeState(n);
  var g = svg("g", { class: "node n-" + st + (n.gate ? " gate-node" : "") + (n.scatter ? " group" : ""), transform: "translate(" + p.x + "," + p.y + ")" });
  g.dataset.node = n.name; g.dataset.state = st;
  var W = p.w;
  g.appendChild(svg("rect", { class: "box", width: W, height: NODE_H, rx: 6 }));
  g.appendChild(svg("title", {}, (n.gate ? "gate: " + (n.prompt || "") + "\\n" : "") + nodeLabel(n) + (n.stage ? "\\nstage " + n.stage : "")));
  var label = svg("text", { class: "label", x: 8, y: 17 }, nodeLabel(n));
  g.appendChild(label);
  // Shares of the group's instances by state, as a bar along the bottom.
  var total = n.instances || 1, x = 8, width = W - 16;
  JOB_STATES.forEach(function (s) {
    var k = n.counts[s] || 0; if (!k) return;
    var w = Math.max(1, width * k / total);
    g.appendChild(svg("rect", { class: "share n-" + s, x: x, y: NODE_H - 11, width: w, height: 5 }));
    x += w;
  });
  var sub = n.gate ? (st === "waiting" ? "gate: waiting" : "gate: " + st) : n.scatter ? "scattered" : st;
  g.appendChild(svg("text", { class: "sub", x: 8, y: 31 }, sub));
  if (n.gate && st === "waiting" && mayDecide(n)) {
    var path = "/api/v1/runs/" + run + "/gates/" + encodeURIComponent(n.name) + "/";
    svgButton(g, W - 124, 20, "Approve", "approve", function () { act("POST", path + "approve", {}, "Approve gate " + n.name + " of run " + run + "?"); });
    svgButton(g, W - 64, 20, "Reject", "reject", function () {
      ask("Reject gate " + n.name + " of run " + run + ": the run fails with GATE_REJECTED.", "Reject",
        function (comment) { act("POST", path + "reject", { comment: comment }); });
    });
  }
  box.appendChild(g);
}

/* Draws the graph into #d-dag and returns the time it took (ms), kept on the element too. */
function drawDag(graph) {
  var t0 = performance.now();
  var holder = $("d-dag"); holder.textContent = "";
  if (!graph.nodes.length) { holder.appendChild(el("p", "no job planned yet (the run is not submitted)", "muted")); return 0; }
  var lay = layout(graph.nodes);
  var root = svg("svg", { class: "dag", width: lay.width, height: lay.height, viewBox: "0 0 " + lay.width + " " + lay.height, role: "img", "aria-label": "jobs of run " + graph.runId });
  var edges = svg("g", { class: "edges" });
  graph.nodes.forEach(function (n) {
    n.needs.forEach(function (m) {
      var a = lay.pos[m], b = lay.pos[n.name]; if (!a || !b) return;
      var x1 = a.x + a.w, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2, mid = (x1 + x2) / 2;
      var e = svg("path", { class: "edge", d: "M" + x1 + "," + y1 + " C" + mid + "," + y1 + " " + mid + "," + y2 + " " + x2 + "," + y2 });
      e.dataset.edge = m + ">" + n.name;
      edges.appendChild(e);
    });
  });
  root.appendChild(edges);
  graph.nodes.forEach(function (n) { drawNode(graph.runId, n, lay.pos[n.name], root); });
  holder.appendChild(root);
  var ms = performance.now() - t0;
  holder.dataset.renderMs = ms.toFixed(1);
  holder.dataset.nodes = String(graph.nodes.length);
  return ms;
}

function seconds(iso) { return iso ? Date.parse(iso) / 1000 : null; }
function duration(s) {
  if (s < 10) return Math.max(0, s).toFixed(1).replace(/\\.0$/, "") + "s";
  s = Math.round(s);
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
  if (s < 86400) return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
  return Math.floor(s / 86400) + "d " + Math.floor((s % 86400) / 3600) + "h";
}

/*
 * One row per instance (its latest attempt, from start to finish, or to now
 * while it runs), a thin one per instance of a group; a group of more
 * instances than the API sends is drawn as its envelope plus an even sample,
 * and says so.
 */
function drawTimeline(tl) {
  var holder = $("d-timeline"); holder.textContent = "";
  var now = Date.now() / 1000, t0 = null, t1 = null;
  tl.groups.forEach(function (g) {
    var a = seconds(g.startedAt), b = seconds(g.finishedAt);
    if (a !== null && (t0 === null || a < t0)) t0 = a;
    if (b !== null && (t1 === null || b > t1)) t1 = b;
    g.bars.forEach(function (bar) { if (bar.state === "running" && bar.startedAt) t1 = now; });
  });
  if (t0 === null) { holder.appendChild(el("p", "no job has started yet", "muted")); return; }
  if (t1 === null || t1 < t0 + 1) t1 = t0 + 1; // a span of milliseconds would make every tick +0s
  // Instances that have not started have nothing to draw: no row for them.
  tl.groups.forEach(function (g) { g.started = g.bars.filter(function (b) { return b.startedAt; }); });
  var LEFT = 230, W = 900, y = 22, rowsH = 0;
  tl.groups.forEach(function (g) { rowsH += 16 + (g.instances > 1 && g.started.length ? g.started.length * 4 + 4 : 0); });
  var root = svg("svg", { class: "timeline", width: LEFT + W + 20, height: rowsH + 30 });
  var scale = function (t) { return LEFT + (W * (t - t0)) / (t1 - t0); };
  for (var k = 0; k <= 4; k++) {
    var tx = LEFT + (W * k) / 4;
    root.appendChild(svg("line", { class: "tick", x1: tx, y1: 14, x2: tx, y2: rowsH + 24 }));
    root.appendChild(svg("text", { class: "axis", x: tx, y: 10, "text-anchor": "middle" }, "+" + duration(((t1 - t0) * k) / 4)));
  }
  tl.groups.forEach(function (g) {
    var row = svg("g", { class: "tl-group" }); row.dataset.group = g.name;
    var label = g.name + (g.instances > 1 ? " (" + (g.sampled ? "sample of " + g.bars.length + " of " : "") + g.instances + ")" : "");
    row.appendChild(svg("text", { class: "tl-label", x: 4, y: y + 11 }, label));
    var a = seconds(g.startedAt);
    if (a !== null) {
      var b = seconds(g.finishedAt) || now;
      var single = g.instances === 1 && g.bars[0] ? g.bars[0].state : "envelope";
      row.appendChild(svg("rect", { class: "tl-bar n-" + single, x: scale(a), y: y + 2, width: Math.max(2, scale(Math.max(b, a)) - scale(a)), height: 10 }))
        .appendChild(svg("title", {}, g.name + ": " + when(g.startedAt) + " \\u2192 " + (g.finishedAt ? when(g.finishedAt) : "now")));
    }
    y += 16;
    if (g.instances > 1 && g.started.length) {
      g.started.forEach(function (bar) {
        var s = seconds(bar.startedAt);
        var f = seconds(bar.finishedAt) || (bar.state === "running" ? now : s);
        var r = svg("rect", { class: "tl-inst n-" + bar.state, x: scale(s), y: y, width: Math.max(1, scale(f) - scale(s)), height: 3 });
        r.appendChild(svg("title", {}, g.name + "[" + bar.index + "] " + bar.state + ", attempt " + bar.attempts + (bar.host ? " on " + bar.host : "")));
        row.appendChild(r);
        y += 4;
      });
      y += 4;
    }
    root.appendChild(row);
  });
  holder.appendChild(root);
}

/*
 * The selected run's graph and timeline, fetched with the rest of its detail
 * on each refresh: pictureOf(id) starts the reads, drawPicture(picture) draws
 * them once the detail is drawn.
 */
function pictureOf(id) {
  var t0 = performance.now();
  return Promise.all([api("GET", "/api/v1/runs/" + id + "/graph"), api("GET", "/api/v1/runs/" + id + "/timeline")]).then(function (res) {
    return { id: id, graph: res[0], timeline: res[1], fetchMs: performance.now() - t0 };
  });
}
function drawPicture(p) {
  if (state.selected !== p.id) return;
  var seen = state.role + JSON.stringify(p.graph);
  $("d-dag").dataset.fetchMs = p.fetchMs.toFixed(1);
  // Drawn again only when it changed, so a button being pressed or a tooltip stays put.
  if (drawnGraph !== seen) { drawDag(p.graph); drawnGraph = seen; }
  drawTimeline(p.timeline);
}
/* The graph's node of a job, for what it knows that the run does not say (a gate's approvers). */
function nodeOf(p, name) {
  for (var i = 0; i < p.graph.nodes.length; i++) if (p.graph.nodes[i].name === name) return p.graph.nodes[i];
  return null;
}
`;
