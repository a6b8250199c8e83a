import { DASHBOARD_DAG_SCRIPT } from './dashboard-dag-script';
import { DASHBOARD_PANELS_SCRIPT } from './dashboard-panels-script';
import { DASHBOARD_SCHEDULING_SCRIPT } from './dashboard-scheduling-script';

/**
 * The dashboard's script, served as `/dashboard.js` (see dashboard-page.ts):
 * one script, this file's part, the scheduling part
 * (dashboard-scheduling-script.ts), the run's graph and timeline
 * (dashboard-dag-script.ts) and the overview panels
 * (dashboard-panels-script.ts), started by `setup()` at its end.
 */
export const DASHBOARD_SCRIPT = `"use strict";
var RUN_STATES = ["created", "submitted", "running", "complete", "failed", "cancelled"];
var QA_STATES = ["not_required", "pending", "awaiting", "pass", "fail"];
var state = { token: sessionStorage.getItem("wfs-token") || "", cursor: null, selected: routeRun(), rows: 0, actions: [], role: null };
var $ = function (id) { return document.getElementById(id); };

/* A run's own address: /#/runs/12 (the token stays in the tab's sessionStorage). */
function routeRun() { var m = /^#\\/runs\\/([1-9][0-9]*)$/.exec(location.hash); return m ? Number(m[1]) : null; }
function select(id) {
  state.selected = id; $("d-log").hidden = true;
  var hash = id ? "#/runs/" + id : "";
  if (location.hash !== hash) history.replaceState(null, "", hash || location.pathname);
}

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
    card("queued", (o.queue.waiting || 0) + (o.queue.placed || 0), "job instances ready, waiting for a slot or placed on a worker");
    card("executing", o.queue.active || 0);
    card("retry later", o.queue.delayed || 0);
    card("held", o.queue.held || 0, "job instances held: not started until released");
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
  var link = el("a", r.id); link.href = "#/runs/" + r.id;
  var tr = row([link, r.workflow, r.subject, r.version, stateCell(r.state), r.qaState, r.archiveState, r.diskState, when(r.createdAt), why]);
  tr.className = "run" + (state.selected === r.id ? " selected" : "");
  tr.dataset.runId = r.id;
  tr.addEventListener("click", function (ev) {
    ev.preventDefault(); select(r.id);
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
  return Promise.all([api("GET", "/api/v1/runs/" + id), api("GET", "/api/v1/runs/" + id + "/events?tail=50"), pictureOf(id)]).then(function (res) {
    var r = res[0], events = res[1].items, picture = res[2];
    $("detail").style.display = "block";
    $("d-title").textContent = "Run " + r.id + " \\u2014 " + r.workflow + " v" + r.version + (r.subject ? " \\u2014 " + r.subject : "");
    var dl = $("d-fields"); dl.textContent = "";
    [["state", stateCell(r.state)], ["error", r.error ? el("span", r.error.code + ": " + r.error.message, "why") : "none"],
     ["QA", r.qaState], ["priority", r.priority], ["archive", r.archiveState], ["disk", r.diskState],
     ["directory", r.processingDir && ["removed", "expired", "none"].indexOf(r.diskState) >= 0 ? r.processingDir + " (" + r.diskState + ": no longer on disk)" : r.processingDir],
     ["request", r.requestId], ["correlation id", r.correlationId], ["created", when(r.createdAt) + " by " + r.createdBy],
     ["started", when(r.startedAt)], ["finished", when(r.finishedAt)], ["parameters", JSON.stringify(r.parameters)],
     ["files", r.files.map(function (f) { return f.name + " (" + f.size + " B)"; }).join(", ") || "none"]
    ].forEach(function (kv) {
      dl.appendChild(el("dt", kv[0]));
      var dd = document.createElement("dd");
      if (kv[1] instanceof Node) dd.appendChild(kv[1]); else dd.textContent = kv[1] === null || kv[1] === undefined ? "" : String(kv[1]);
      dl.appendChild(dd);
    });
    // A role is offered only what it may do (GET /api/v1/me); the API checks again all the same.
    $("d-cancel").hidden = state.actions.indexOf("cancel") < 0 || ["created", "submitted", "running"].indexOf(r.state) < 0;
    $("d-rerun").hidden = state.actions.indexOf("rerun") < 0;
    $("d-resume").hidden = !may("resume") || ["failed", "cancelled"].indexOf(r.state) < 0;
    // Open gates, with approve and reject for a role that may decide (as the API decides: the gate's approvers, else da and above).
    var gates = $("d-gates"); gates.textContent = "";
    (r.waiting || []).forEach(function (g) {
      var box = el("div", null, "gate");
      box.dataset.gate = g.job;
      box.appendChild(el("strong", "Gate " + g.job + ": "));
      box.appendChild(el("span", g.prompt));
      box.appendChild(el("span", " (waiting since " + when(g.since) + ") ", "muted"));
      var node = nodeOf(picture, g.job);
      if (node ? mayDecide(node) : may("gate")) {
        var comment = document.createElement("input"); comment.placeholder = "comment"; comment.size = 28;
        var path = "/api/v1/runs/" + r.id + "/gates/" + encodeURIComponent(g.job) + "/";
        var decide = function (what) {
          act("POST", path + what, comment.value ? { comment: comment.value } : {}, what[0].toUpperCase() + what.slice(1) + " gate " + g.job + " of run " + r.id + "?");
        };
        box.appendChild(comment);
        box.appendChild(button("Approve", function () { decide("approve"); }));
        box.appendChild(button("Reject", function () { decide("reject"); }));
      }
      gates.appendChild(box);
    });
    $("d-jobcount").textContent = r.jobsPrunedAt
      ? r.jobsTotal + " (their rows deleted by the retention sweep at " + r.jobsPrunedAt + ")"
      : r.jobs.length + " of " + r.jobsTotal;
    $("d-ctl").hidden = !may("hold");
    var jobs = $("d-jobs").tBodies[0]; jobs.textContent = "";
    r.jobs.forEach(function (j) {
      var log = el("button", "stdout"); var err = el("button", "stderr");
      log.addEventListener("click", function () { showLog(r.id, j, "stdout"); });
      err.addEventListener("click", function () { showLog(r.id, j, "stderr"); });
      var both = document.createElement("span"); both.appendChild(log); both.appendChild(err);
      var cells = [j.name + "[" + j.index + "]" + (j.stage ? " · " + j.stage : ""), stateCell(j.state), waitingCell(j), requestsText(j.requests), j.attempts, j.exitCode,
        j.statusReason ? el("span", j.statusReason, j.state === "held" ? "hold-why" : "why") : "", j.host, when(j.startedAt), when(j.finishedAt), both];
      if (may("hold")) cells.push(jobControl(r, j));
      var tr = row(cells);
      tr.dataset.job = j.name + "." + j.index;
      jobs.appendChild(tr);
    });
    var ev = $("d-events").tBodies[0]; ev.textContent = "";
    events.slice().reverse().forEach(function (e) {
      var p = e.progress;
      var what = p ? p.job + " " + p.completed + "/" + p.total + (p.running ? ", " + p.running + " running" : "") + (p.failed ? ", " + p.failed + " failed" : "") + (p.stage ? " · " + p.stage : "")
        : e.job ? e.job.name + "[" + e.job.index + "] " + e.job.state + (e.job.stage ? " · " + e.job.stage : "") : "";
      ev.appendChild(row([e.sequence, e.type, when(e.occurredAt), what, e.state]));
    });
    drawPicture(picture);
  });
}

function showLog(runId, job, stream) {
  api("GET", "/api/v1/runs/" + runId + "/jobs/" + encodeURIComponent(job.name) + "/" + job.index + "/log?stream=" + stream + "&tail=200")
    .then(function (text) { var p = $("d-log"); p.hidden = false; p.textContent = typeof text === "string" ? (text || "(no output)") : JSON.stringify(text, null, 2); })
    .catch(function (e) { banner(e.message); });
}

function whoami() {
  return api("GET", "/api/v1/me").then(function (me) {
    state.actions = me.actions || []; state.role = me.role;
    $("whoami").textContent = me.name + " (" + me.role + ")";
  });
}

function refresh() {
  if (!state.token) { banner("Give an API token (a viewer token shows; a DA token may also cancel and re-run; an ops token may also hold, release and pause)."); return Promise.resolve(); }
  return Promise.all([overview(), qaQueue(), hourly(), workers(), scheduling(), listRuns(false), detail(), audit.rows > 50 ? null : auditLog(false)]).then(function () { banner(""); }).catch(function (e) { banner(e.message); });
}

function act(method, path, body, confirmText) {
  if (confirmText && !window.confirm(confirmText)) return;
  api(method, path, body).then(function (r) {
    if (r && r.id && r.id !== state.selected) select(r.id);
    return refresh();
  }).catch(function (e) { banner(e.message); });
}

function setup() {
  RUN_STATES.forEach(function (s) { $("f-state").appendChild(el("option", s)); });
  QA_STATES.forEach(function (s) { $("f-qa").appendChild(el("option", s)); });
  $("token").value = state.token;
  $("use-token").addEventListener("click", function () {
    state.token = $("token").value.trim(); sessionStorage.setItem("wfs-token", state.token);
    whoami().then(refresh).catch(function (e) { banner(e.message); });
  });
  $("apply").addEventListener("click", function () { refresh(); });
  $("more").addEventListener("click", function () { listRuns(true).catch(function (e) { banner(e.message); }); });
  $("d-close").addEventListener("click", function () { select(null); refresh(); });
  window.addEventListener("hashchange", function () { select(routeRun()); refresh(); });
  $("d-cancel").addEventListener("click", function () { act("POST", "/api/v1/runs/" + state.selected + "/cancel", undefined, "Cancel run " + state.selected + "?"); });
  $("d-rerun").addEventListener("click", function () { act("POST", "/api/v1/runs/" + state.selected + "/rerun", { submit: true }, "Re-run " + state.selected + " as a new version?"); });
  $("d-resume").addEventListener("click", function () { act("POST", "/api/v1/runs/" + state.selected + "/resume", undefined, "Resume run " + state.selected + " where it stopped?"); });
  setupScheduling(); setupPanels(); health();
  if (state.token) whoami().then(refresh).catch(function (e) { banner(e.message); }); else refresh();
  setInterval(function () { if ($("auto").checked) { health(); refresh(); } }, 3000);
}

/* The runs filter's workflows (GET /api/v1/workflows, read with the scheduling part): rebuilt only when they change. */
function fillWorkflowFilter(items) {
  var sel = $("f-workflow"); var names = items.map(function (w) { return w.name; }).join(",");
  if (sel.dataset.names === names) return;
  sel.dataset.names = names;
  var keep = sel.value; sel.textContent = ""; sel.appendChild(el("option", "any")).value = "";
  items.forEach(function (w) { sel.appendChild(el("option", w.name)); });
  sel.value = keep;
}
${DASHBOARD_SCHEDULING_SCRIPT}
${DASHBOARD_DAG_SCRIPT}
${DASHBOARD_PANELS_SCRIPT}
setup();
`;
