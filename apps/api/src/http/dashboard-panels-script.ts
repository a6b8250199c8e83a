/**
 * The dashboard's overview panels (CONTRACT 5.10): the QA queue (oldest
 * first, with its age), runs finished and failed per hour over the last 24 h
 * as SVG bars, and the audit log (CONTRACT 5.6) for ops. Part of
 * `/dashboard.js`, sharing that script's helpers. Every value is set as text.
 */
export const DASHBOARD_PANELS_SCRIPT = `
var audit = { absent: false, cursor: null, rows: 0 };

function qaQueue() {
  return api("GET", "/api/v1/overview/qa-queue?limit=50").then(function (res) {
    var body = $("qa-queue").tBodies[0]; body.textContent = "";
    res.items.forEach(function (r) {
      var link = el("a", r.id); link.href = "#/runs/" + r.id;
      var tr = row([link, r.workflow, r.subject, r.version, when(r.finishedAt), duration(r.ageSeconds)]);
      tr.dataset.runId = r.id; tr.dataset.age = r.ageSeconds;
      body.appendChild(tr);
    });
    if (!res.items.length) body.appendChild(row([el("span", "nothing awaits QA", "muted")]));
    $("qa-count").textContent = res.total > res.items.length ? res.items.length + " oldest of " + res.total : plural(res.total, "run");
  });
}

/* 24 bars: each hour's finished runs, the failed ones drawn over them from the bottom. */
function hourly() {
  return api("GET", "/api/v1/overview/hourly").then(function (res) {
    var holder = $("hourly"); holder.textContent = "";
    var H = 120, BAR = 26, GAP = 6, LEFT = 34, top = 1;
    res.hours.forEach(function (h) { top = Math.max(top, h.finished); });
    var width = LEFT + res.hours.length * (BAR + GAP);
    var root = svg("svg", { class: "hourly", viewBox: "0 0 " + width + " " + (H + 20), preserveAspectRatio: "xMinYMin meet", role: "img", "aria-label": "runs finished and failed per hour" });
    root.appendChild(svg("text", { class: "axis", x: LEFT - 4, y: 12, "text-anchor": "end" }, top));
    root.appendChild(svg("text", { class: "axis", x: LEFT - 4, y: H + 4, "text-anchor": "end" }, 0));
    root.appendChild(svg("line", { class: "tick", x1: LEFT, y1: H, x2: LEFT + res.hours.length * (BAR + GAP), y2: H }));
    var totals = { finished: 0, failed: 0 };
    res.hours.forEach(function (h, i) {
      var x = LEFT + i * (BAR + GAP) + GAP / 2;
      var g = svg("g", { class: "hour" });
      g.dataset.hour = h.hour; g.dataset.finished = h.finished; g.dataset.failed = h.failed;
      var fh = (H - 14) * h.finished / top, bh = (H - 14) * h.failed / top;
      g.appendChild(svg("rect", { class: "bar-finished", x: x, y: H - fh, width: BAR, height: fh }));
      g.appendChild(svg("rect", { class: "bar-failed", x: x, y: H - bh, width: BAR, height: bh }));
      if (h.finished) g.appendChild(svg("text", { class: "axis", x: x + BAR / 2, y: H - fh - 3, "text-anchor": "middle" }, h.finished));
      var hour = new Date(h.hour).toISOString().slice(11, 13);
      if (i % 3 === 0 || i === res.hours.length - 1) g.appendChild(svg("text", { class: "axis", x: x + BAR / 2, y: H + 14, "text-anchor": "middle" }, hour + "h"));
      g.appendChild(svg("title", {}, when(h.hour) + ": " + h.finished + " finished (" + h.complete + " complete, " + h.failed + " failed, " + h.cancelled + " cancelled)"));
      totals.finished += h.finished; totals.failed += h.failed;
      root.appendChild(g);
    });
    holder.appendChild(root);
    $("h-count").textContent = totals.finished + " finished, " + totals.failed + " failed in 24 h (UTC hours)";
  });
}

function auditTarget(t) {
  if (!t) return "";
  var parts = [];
  if (t.runId) parts.push("run " + t.runId);
  if (t.workflow) parts.push(t.workflow);
  if (t.job) parts.push(t.job + (t.index !== undefined && t.index !== null ? "[" + t.index + "]" : ""));
  return parts.join(" ");
}

/*
 * The audit log, newest first, for ops (GET /api/v1/audit). A service
 * without it (404) hides the panel and asks no more until the page is
 * loaded again; any other error shows in the panel.
 */
function auditLog(more) {
  var panel = $("audit-panel");
  if (!may("tokens") || audit.absent) { panel.hidden = true; return Promise.resolve(); }
  var url = "/api/v1/audit?limit=50" + (more && audit.cursor ? "&cursor=" + encodeURIComponent(audit.cursor) : "");
  return fetch(url, { headers: { authorization: "Bearer " + state.token } }).then(function (r) {
    if (r.status === 404) { audit.absent = true; panel.hidden = true; return; }
    return r.json().then(function (page) {
      if (!r.ok) { $("a-count").textContent = (page.error ? page.error.code + ": " + page.error.message : "HTTP " + r.status); panel.hidden = false; return; }
      panel.hidden = false;
      var body = $("audit").tBodies[0];
      if (!more) { body.textContent = ""; audit.rows = 0; }
      page.items.forEach(function (a) {
        var outcome = a.outcome ? a.outcome.status + (a.outcome.code ? " " + a.outcome.code : "") : "";
        var refused = a.outcome && a.outcome.status >= 400;
        var details = a.details === undefined || a.details === null ? "" : JSON.stringify(a.details);
        var tr = row([when(a.at), a.actor ? a.actor.token + " (" + a.actor.role + ")" : "anonymous", a.action, auditTarget(a.target),
          el("span", outcome, refused ? "why" : ""), details.length > 160 ? details.slice(0, 157) + "..." : details, a.remote ? a.remote.ip : ""]);
        tr.dataset.audit = a.id; tr.dataset.action = a.action;
        body.appendChild(tr); audit.rows++;
      });
      audit.cursor = page.nextCursor;
      $("a-more").hidden = !page.nextCursor;
      $("a-count").textContent = audit.rows + " shown" + (page.nextCursor ? ", more below" : "");
    });
  });
}

function setupPanels() {
  $("a-more").addEventListener("click", function () { auditLog(true).catch(function (e) { banner(e.message); }); });
}
`;
