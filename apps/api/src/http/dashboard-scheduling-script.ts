/**
 * The dashboard's scheduling part (CONTRACT 5.3, 5.5): the workers and what
 * they have in use, the workflows (paused or not) and the named limits, why
 * an idle job waits, and an operator's hold / release and pause / unpause.
 * Part of `/dashboard.js`: dashboard-script.ts puts it in before `setup()`,
 * so it shares that script's helpers (`$`, `el`, `row`, `api`, `act`...).
 */
export const DASHBOARD_SCHEDULING_SCRIPT = `
var WAITING_HINTS = {
  dependencies: "jobs it needs have not finished",
  resources: "no live worker has the cpus, memory or gpus free",
  priority: "jobs of higher priority (or another run's turn) go first",
  workflow_paused: "its workflow is paused",
  retry_backoff: "waiting before its next attempt"
};
var asking = null;

function may(action) { return state.actions.indexOf(action) >= 0; }
function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }
function button(label, onClick) { var b = el("button", label); b.addEventListener("click", onClick); return b; }
/* "24G" -> megabytes, for the memory gauge (the definitions' units: K, M, G, T; none is M). */
function megabytes(text) {
  var m = /^([0-9.]+)([KMGT]?)$/.exec(text || "");
  return m ? Number(m[1]) * ({ "": 1, K: 1 / 1024, M: 1, G: 1024, T: 1048576 })[m[2]] : 0;
}
function gauge(used, total, text) {
  var box = document.createElement("span");
  var m = document.createElement("meter"); m.min = 0; m.max = total || 1; m.value = Math.min(used, total); m.high = total * 0.99;
  box.appendChild(m); box.appendChild(document.createTextNode(text));
  return box;
}
/* A job's requests as the scheduler's own reasons word them: "2 cpus, 1G, labels casa". */
function requestsText(q) {
  if (!q) return "";
  // Built-in steps (noop, gates) ask for nothing.
  if (!q.cpus && !megabytes(q.memory) && !q.gpus && !(q.labels && q.labels.length)) return "none";
  var parts = [plural(q.cpus, "cpu"), q.memory];
  if (q.gpus) parts.push(plural(q.gpus, "gpu"));
  if (q.labels && q.labels.length) parts.push("labels " + q.labels.join(","));
  return parts.join(", ");
}
function waitingCell(j) {
  if (!j.waitingFor) return "";
  var s = el("span", j.waitingFor, "waiting");
  s.title = /^limit:/.test(j.waitingFor) ? "the limit " + j.waitingFor.slice(6) + " has no room" : WAITING_HINTS[j.waitingFor] || "";
  return s;
}

/* Asks for a reason in a small dialog (the reason is required by the API and shown to others). */
function ask(title, okLabel, then) {
  asking = then;
  $("ask-title").textContent = title; $("ask-ok").textContent = okLabel; $("ask-reason").value = "";
  $("ask").showModal(); $("ask-reason").focus();
}

function workers() {
  return api("GET", "/api/v1/workers").then(function (res) {
    var body = $("workers").tBodies[0]; body.textContent = "";
    var alive = 0;
    res.items.forEach(function (w) {
      if (w.alive) alive++;
      var jobs = document.createElement("span");
      w.jobs.forEach(function (j, i) {
        if (i) jobs.appendChild(document.createTextNode(", "));
        var a = el("a", "run " + j.runId + " " + j.job + "[" + j.index + "]"); a.href = "#/runs/" + j.runId;
        jobs.appendChild(a);
        if (j.state === "placed") jobs.appendChild(el("small", " (starting)", "muted"));
      });
      var tr = row([w.host, w.executor,
        w.alive ? el("span", "alive", "alive") : el("span", "silent since " + when(w.lastSeenAt), "why"),
        gauge(w.cpusInUse, w.cpus, w.cpusInUse + " / " + w.cpus),
        gauge(megabytes(w.memoryInUse), megabytes(w.memory), w.memoryInUse + " / " + w.memory),
        w.gpus ? w.gpusInUse + " / " + w.gpus : "none",
        w.jobs.length + " / " + w.slots, w.labels.join(", "), jobs]);
      tr.dataset.worker = w.id; tr.dataset.host = w.host;
      if (!w.alive) tr.className = "dead";
      body.appendChild(tr);
    });
    if (!res.items.length) body.appendChild(row([el("span", "no worker has registered", "muted")]));
    $("w-count").textContent = alive + " alive of " + res.items.length;
  });
}

function workflowRow(w) {
  var p = w.paused;
  var cells = [w.name, p ? el("span", "paused", "state s-held") : "active", p ? p.by : "", p ? p.reason : "",
    p ? when(p.at) : "", w.priority, w.maxConcurrentJobs === null ? "" : w.maxConcurrentJobs];
  if (may("pause")) cells.push(p
    ? button("Unpause", function () { act("POST", "/api/v1/workflows/" + encodeURIComponent(w.name) + "/unpause"); })
    : button("Pause", function () {
      ask("Pause " + w.name + ": none of its jobs starts until it is unpaused; running jobs go on, runs can still be submitted.", "Pause",
        function (reason) { act("POST", "/api/v1/workflows/" + encodeURIComponent(w.name) + "/pause", { reason: reason }); });
    }));
  var tr = row(cells); tr.dataset.workflow = w.name;
  if (p) tr.className = "paused";
  return tr;
}

function scheduling() {
  return Promise.all([api("GET", "/api/v1/workflows"), api("GET", "/api/v1/limits")]).then(function (res) {
    var items = res[0].items, limits = res[1].items;
    fillWorkflowFilter(items);
    var paused = items.filter(function (w) { return w.paused; });
    $("s-ctl").hidden = !may("pause");
    var body = $("s-workflows").tBodies[0]; body.textContent = "";
    // Paused first: they are what an operator looks for.
    paused.concat(items.filter(function (w) { return !w.paused; })).forEach(function (w) { body.appendChild(workflowRow(w)); });
    $("s-count").textContent = paused.length ? plural(paused.length, "workflow") + " paused" : "no workflow paused";
    var lim = $("s-limits").tBodies[0]; lim.textContent = "";
    limits.forEach(function (l) {
      var tr = row([l.name, gauge(l.inUse, l.max, l.inUse + " / " + l.max)]); tr.dataset.limit = l.name; lim.appendChild(tr);
    });
    if (!limits.length) lim.appendChild(row([el("span", "no limit set", "muted")]));
  });
}

/* Hold (idle or running) or release (held) one instance, for ops, while its run is live. */
function jobControl(run, j) {
  if (["submitted", "running"].indexOf(run.state) < 0) return "";
  var path = "/api/v1/runs/" + run.id + "/jobs/" + encodeURIComponent(j.name) + "/" + j.index;
  if (j.state === "held") return button("Release", function () { act("POST", path + "/release"); });
  if (j.state !== "idle" && j.state !== "running") return "";
  return button("Hold", function () {
    ask("Hold " + j.name + "[" + j.index + "] of run " + run.id + ": it does not start until released" +
      (j.state === "running" ? " (it is stopped now; the attempt does not count as a failure)." : "."), "Hold",
      function (reason) { act("POST", path + "/hold", { reason: reason }); });
  });
}

function setupScheduling() {
  $("ask-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var reason = $("ask-reason").value.trim();
    if (!reason) { $("ask-reason").focus(); return; }
    var then = asking; asking = null; $("ask").close();
    if (then) then(reason);
  });
  $("ask-cancel").addEventListener("click", function () { asking = null; $("ask").close(); });
}
`;
