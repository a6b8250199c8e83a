/**
 * The operations dashboard (`GET /`): one self-contained page, no build step,
 * nothing loaded from elsewhere. It reads and acts through the REST API with
 * the user's token; every value from the API is put on the page as text
 * (textContent), never as markup.
 */
export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>wfs operations</title>
<link rel="icon" href="data:,">
<style>
  :root { --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --run: #0969da; --mute: #57606a; --line: #d0d7de; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: #1f2328; background: #f6f8fa; }
  header { display: flex; flex-wrap: wrap; gap: 12px; align-items: center; padding: 10px 16px; background: #24292f; color: #fff; }
  header h1 { font-size: 16px; margin: 0 12px 0 0; }
  header input { width: 260px; }
  .health span { margin-right: 10px; }
  .health .up::before { content: "\\25CF "; color: #3fb950; }
  .health .down::before { content: "\\25CF "; color: #f85149; }
  main { padding: 12px 16px; }
  #banner { display: none; padding: 8px 12px; margin-bottom: 10px; border: 1px solid var(--bad); background: #ffebe9; color: var(--bad); }
  .cards { display: flex; flex-wrap: wrap; gap: 8px; margin-bottom: 12px; }
  .card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; min-width: 110px; }
  .card b { display: block; font-size: 20px; }
  .card small { color: var(--mute); }
  .filters { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin-bottom: 8px; }
  table { border-collapse: collapse; width: 100%; background: #fff; }
  th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
  th { background: #eaeef2; position: sticky; top: 0; }
  tr.run { cursor: pointer; }
  tr.run:hover, tr.selected { background: #ddf4ff; }
  .state { font-weight: 600; }
  .s-complete { color: var(--ok); } .s-failed { color: var(--bad); } .s-running, .s-submitted { color: var(--run); }
  .s-cancelled, .s-removed, .s-skipped { color: var(--mute); } .s-held { color: var(--warn); }
  .why { color: var(--bad); }
  #detail { display: none; margin-top: 14px; background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; }
  #detail h2 { margin: 0 0 6px; font-size: 16px; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0 0 10px; }
  dt { color: var(--mute); }
  dd { margin: 0; word-break: break-all; }
  pre { background: #0d1117; color: #e6edf3; padding: 8px; max-height: 320px; overflow: auto; white-space: pre-wrap; }
  button { cursor: pointer; }
  .actions { margin: 8px 0; display: flex; gap: 8px; }
  .muted { color: var(--mute); }
</style>
</head>
<body>
<header>
  <h1>wfs operations</h1>
  <label>API token <input id="token" type="password" autocomplete="off" placeholder="Bearer token"></label>
  <button id="use-token">Use</button>
  <span class="health" id="health"></span>
  <label><input type="checkbox" id="auto" checked> refresh every 3 s</label>
</header>
<main>
  <div id="banner" role="alert"></div>
  <div class="cards" id="cards"></div>
  <div class="filters">
    <label>state <select id="f-state"><option value="">any</option></select></label>
    <label>workflow <select id="f-workflow"><option value="">any</option></select></label>
    <label>QA <select id="f-qa"><option value="">any</option></select></label>
    <label>subject <input id="f-subject" size="24"></label>
    <button id="apply">Show</button>
  </div>
  <table id="runs">
    <thead><tr><th>run</th><th>workflow</th><th>subject</th><th>v</th><th>state</th><th>QA</th><th>archive</th><th>disk</th><th>created</th><th>why</th></tr></thead>
    <tbody></tbody>
  </table>
  <p><button id="more" hidden>More</button> <span id="count" class="muted"></span></p>
  <section id="detail" aria-live="polite">
    <h2 id="d-title"></h2>
    <div class="actions">
      <button id="d-cancel" hidden>Cancel run</button>
      <button id="d-rerun" hidden>Re-run (new version)</button>
      <button id="d-close">Close</button>
    </div>
    <dl id="d-fields"></dl>
    <h3>Jobs <small class="muted" id="d-jobcount"></small></h3>
    <table id="d-jobs">
      <thead><tr><th>job</th><th>state</th><th>attempts</th><th>exit</th><th>reason</th><th>host</th><th>started</th><th>finished</th><th>log</th></tr></thead>
      <tbody></tbody>
    </table>
    <pre id="d-log" hidden></pre>
    <h3>Events <small class="muted">(latest 50)</small></h3>
    <table id="d-events">
      <thead><tr><th>#</th><th>type</th><th>at</th><th>job</th><th>state</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
</main>
<script>
"use strict";
var RUN_STATES = ["created", "submitted", "running", "complete", "failed", "cancelled"];
var QA_STATES = ["not_required", "pending", "awaiting", "pass", "fail"];
var state = { token: sessionStorage.getItem("wfs-token") || "", cursor: null, selected: null, rows: 0 };
var $ = function (id) { return document.getElementById(id); };

function el(tag, text, cls) {
  var e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function row(cells) {
  var tr = document.createElement("tr");
  cells.forEach(function (c) {
    var td = document.createElement("td");
    if (c instanceof Node) td.appendChild(c); else td.textContent = c === null || c === undefined ? "" : String(c);
    tr.appendChild(td);
  });
  return tr;
}
function when(iso) { return iso ? iso.replace("T", " ").replace(/\\.\\d+Z$/, "Z") : ""; }
function stateCell(s) { return el("span", s, "state s-" + s); }
function banner(msg) { var b = $("banner"); b.textContent = msg || ""; b.style.display = msg ? "block" : "none"; }

function api(method, path, body) {
  var headers = { authorization: "Bearer " + state.token };
  if (body !== undefined) headers["content-type"] = "application/json";
  return fetch(path, { method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body) })
    .then(function (r) {
      var type = r.headers.get("content-type") || "";
      var read = type.indexOf("json") >= 0 ? r.json() : r.text();
      return read.then(function (data) {
        if (!r.ok) {
          var e = data && data.error ? data.error : { code: String(r.status), message: String(data) };
          throw new Error(e.code + ": " + e.message);
        }
        return data;
      });
    });
}

function health() {
  fetch("/health").then(function (r) { return r.json(); }).then(function (h) {
    var box = $("health"); box.textContent = "";
    var checks = h.checks || h.components || h;
    Object.keys(checks).forEach(function (k) {
      var v = checks[k]; var up = v === true || v === "up" || v === "ok" || (v && (v.ok === true || v.status === "up"));
      if (typeof v === "string" && k === "status") return;
      box.appendChild(el("span", k, up ? "up" : "down"));
    });
  }).catch(function () { $("health").textContent = "health: unreachable"; });
}

function overview() {
  return api("GET", "/api/v1/overview").then(function (o) {
    var cards = $("cards"); cards.textContent = "";
    function card(label, n, hint) {
      var c = el("div", null, "card"); c.appendChild(el("b", n)); c.appendChild(el("small", label));
      if (hint) c.title = hint; c.dataset.card = label; cards.appendChild(c);
    }
    RUN_STATES.forEach(function (s) { card(s, o.runs[s] || 0); });
    card("awaiting QA", o.awaitingQa, "complete runs whose QA a DA has to set");
    card("queued", (o.queue.waiting || 0) + (o.queue.prioritized || 0), "job instances waiting for a worker");
    card("executing", o.queue.active || 0);
    card("retry later", o.queue.delayed || 0);
    card("events unsent", o.eventsUnpublished, "events the broker has not confirmed yet");
    var alive = o.workers.filter(function (w) { return w.alive; }).length;
    card("workers alive", alive + " / " + o.workers.length,
      o.workers.map(function (w) { return w.host + ":" + w.pid + (w.alive ? "" : " (silent since " + w.lastSeen + ")"); }).join("\\n"));
  });
}

function query() {
  var p = ["limit=50"];
  [["state", "f-state"], ["workflow", "f-workflow"], ["qaState", "f-qa"], ["subject", "f-subject"]].forEach(function (f) {
    var v = $(f[1]).value.trim(); if (v) p.push(f[0] + "=" + encodeURIComponent(v));
  });
  return "/api/v1/runs?" + p.join("&");
}

function runRow(r) {
  var why = r.error ? el("span", r.error.code + ": " + r.error.message, "why") : "";
  var tr = row([r.id, r.workflow, r.subject, r.version, stateCell(r.state), r.qaState, r.archiveState, r.diskState, when(r.createdAt), why]);
  tr.className = "run" + (state.selected === r.id ? " selected" : "");
  tr.dataset.runId = r.id;
  tr.addEventListener("click", function () {
    state.selected = r.id; $("d-log").hidden = true;
    detail().then(function () { $("detail").scrollIntoView({ block: "start" }); }).catch(function (e) { banner(e.message); });
    listRuns(false).catch(function (e) { banner(e.message); });
  });
  return tr;
}

function listRuns(more) {
  var url = query() + (more && state.cursor ? "&cursor=" + encodeURIComponent(state.cursor) : "");
  return api("GET", url).then(function (page) {
    var body = $("runs").tBodies[0];
    if (!more) { body.textContent = ""; state.rows = 0; }
    page.items.forEach(function (r) { body.appendChild(runRow(r)); state.rows++; });
    state.cursor = page.nextCursor;
    $("more").hidden = !page.nextCursor;
    $("count").textContent = state.rows + " run(s) shown" + (page.nextCursor ? ", more below" : "");
  });
}

function detail() {
  var id = state.selected;
  if (!id) { $("detail").style.display = "none"; return Promise.resolve(); }
  return Promise.all([api("GET", "/api/v1/runs/" + id), api("GET", "/api/v1/runs/" + id + "/events?tail=50")]).then(function (res) {
    var r = res[0], events = res[1].items;
    $("detail").style.display = "block";
    $("d-title").textContent = "Run " + r.id + " \\u2014 " + r.workflow + " v" + r.version + (r.subject ? " \\u2014 " + r.subject : "");
    var dl = $("d-fields"); dl.textContent = "";
    [["state", stateCell(r.state)], ["error", r.error ? el("span", r.error.code + ": " + r.error.message, "why") : "none"],
     ["QA", r.qaState], ["archive", r.archiveState], ["disk", r.diskState], ["directory", r.processingDir],
     ["request", r.requestId], ["correlation id", r.correlationId], ["created", when(r.createdAt) + " by " + r.createdBy],
     ["started", when(r.startedAt)], ["finished", when(r.finishedAt)], ["parameters", JSON.stringify(r.parameters)],
     ["files", r.files.map(function (f) { return f.name + " (" + f.size + " B)"; }).join(", ") || "none"]
    ].forEach(function (kv) {
      dl.appendChild(el("dt", kv[0]));
      var dd = document.createElement("dd");
      if (kv[1] instanceof Node) dd.appendChild(kv[1]); else dd.textContent = kv[1] === null || kv[1] === undefined ? "" : String(kv[1]);
      dl.appendChild(dd);
    });
    $("d-cancel").hidden = ["created", "submitted", "running"].indexOf(r.state) < 0;
    $("d-rerun").hidden = false;
    $("d-jobcount").textContent = r.jobs.length + " of " + r.jobsTotal;
    var jobs = $("d-jobs").tBodies[0]; jobs.textContent = "";
    r.jobs.forEach(function (j) {
      var log = el("button", "stdout"); var err = el("button", "stderr");
      log.addEventListener("click", function () { showLog(r.id, j, "stdout"); });
      err.addEventListener("click", function () { showLog(r.id, j, "stderr"); });
      var both = document.createElement("span"); both.appendChild(log); both.appendChild(err);
      var tr = row([j.name + "[" + j.index + "]", stateCell(j.state), j.attempts, j.exitCode, j.statusReason ? el("span", j.statusReason, "why") : "",
        j.host, when(j.startedAt), when(j.finishedAt), both]);
      tr.dataset.job = j.name + "." + j.index;
      jobs.appendChild(tr);
    });
    var ev = $("d-events").tBodies[0]; ev.textContent = "";
    events.slice().reverse().forEach(function (e) {
      ev.appendChild(row([e.sequence, e.type, when(e.occurredAt), e.job ? e.job.name + "[" + e.job.index + "] " + e.job.state : "", e.state]));
    });
  });
}

function showLog(runId, job, stream) {
  api("GET", "/api/v1/runs/" + runId + "/jobs/" + encodeURIComponent(job.name) + "/" + job.index + "/log?stream=" + stream + "&tail=200")
    .then(function (text) { var p = $("d-log"); p.hidden = false; p.textContent = typeof text === "string" ? (text || "(no output)") : JSON.stringify(text, null, 2); })
    .catch(function (e) { banner(e.message); });
}

function refresh() {
  if (!state.token) { banner("Give an API token (a viewer token shows; a DA token may also cancel and re-run)."); return Promise.resolve(); }
  return Promise.all([overview(), listRuns(false), detail()]).then(function () { banner(""); }).catch(function (e) { banner(e.message); });
}

function act(method, path, body, confirmText) {
  if (confirmText && !window.confirm(confirmText)) return;
  api(method, path, body).then(function (r) {
    if (r && r.id && r.id !== state.selected) state.selected = r.id;
    return refresh();
  }).catch(function (e) { banner(e.message); });
}

function setup() {
  RUN_STATES.forEach(function (s) { $("f-state").appendChild(el("option", s)); });
  QA_STATES.forEach(function (s) { $("f-qa").appendChild(el("option", s)); });
  $("token").value = state.token;
  $("use-token").addEventListener("click", function () {
    state.token = $("token").value.trim(); sessionStorage.setItem("wfs-token", state.token); loadWorkflows(); refresh();
  });
  $("apply").addEventListener("click", function () { refresh(); });
  $("more").addEventListener("click", function () { listRuns(true).catch(function (e) { banner(e.message); }); });
  $("d-close").addEventListener("click", function () { state.selected = null; $("d-log").hidden = true; refresh(); });
  $("d-cancel").addEventListener("click", function () { act("POST", "/api/v1/runs/" + state.selected + "/cancel", undefined, "Cancel run " + state.selected + "?"); });
  $("d-rerun").addEventListener("click", function () { act("POST", "/api/v1/runs/" + state.selected + "/rerun", { submit: true }, "Re-run " + state.selected + " as a new version?"); });
  health(); loadWorkflows(); refresh();
  setInterval(function () { if ($("auto").checked) { health(); refresh(); } }, 3000);
}

function loadWorkflows() {
  if (!state.token) return;
  api("GET", "/api/v1/workflows").then(function (list) {
    var items = Array.isArray(list) ? list : list.items || [];
    var sel = $("f-workflow"); var keep = sel.value; sel.textContent = ""; sel.appendChild(el("option", "any")).value = "";
    items.forEach(function (w) { sel.appendChild(el("option", w.name)); });
    sel.value = keep;
  }).catch(function () {});
}

setup();
</script>
</body>
</html>
`;
