/**
 * The operations dashboard (`GET /`): a page, its script (`/dashboard.js`,
 * dashboard-script.ts) and its style sheet (`/dashboard.css`,
 * dashboard-style.ts), all from the API itself: no build step, nothing from
 * elsewhere, and no inline script or style, so the Content-Security-Policy
 * needs no 'unsafe-inline'. It reads and acts through the REST API with the
 * user's token; every value from the API is put on the page as text
 * (textContent), never as markup. Workers, paused workflows, limits and an
 * operator's hold / pause are dashboard-scheduling-script.ts; a run's graph
 * and timeline dashboard-dag-script.ts; the QA queue, runs per hour and the
 * audit log dashboard-panels-script.ts.
 */
export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>wfs operations</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard.css">
</head>
<body>
<header>
  <h1>wfs operations</h1>
  <label>API token <input id="token" type="password" autocomplete="off" placeholder="Bearer token"></label>
  <button id="use-token">Use</button>
  <span id="whoami"></span>
  <span class="health" id="health"></span>
  <label><input type="checkbox" id="auto" checked> refresh every 3 s</label>
</header>
<main>
  <div id="banner" role="alert"></div>
  <div class="cards" id="cards"></div>
  <div class="split2">
    <section class="panel" id="qa-panel">
      <h2>QA queue <small class="muted" id="qa-count"></small></h2>
      <div class="scroll">
        <table id="qa-queue">
          <thead><tr><th>run</th><th>workflow</th><th>subject</th><th>v</th><th>finished</th><th>waiting</th></tr></thead>
          <tbody></tbody>
        </table>
      </div>
    </section>
    <section class="panel" id="hourly-panel">
      <h2>Runs finished per hour <small class="muted" id="h-count"></small></h2>
      <div id="hourly"></div>
      <p class="legend"><span class="key bar-finished"></span> finished <span class="key bar-failed"></span> failed</p>
    </section>
  </div>
  <section class="panel" id="workers-panel">
    <h2>Workers <small class="muted" id="w-count"></small></h2>
    <table id="workers">
      <thead><tr><th>host</th><th>executor</th><th>state</th><th>cpus in use</th><th>memory in use</th><th>gpus</th><th>jobs / slots</th><th>labels</th><th>jobs</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section class="panel" id="scheduling">
    <h2>Scheduling <small class="muted" id="s-count"></small></h2>
    <div class="split">
      <div class="scroll">
        <table id="s-workflows">
          <thead><tr><th>workflow</th><th>state</th><th>paused by</th><th>reason</th><th>since</th><th>priority</th><th>max jobs</th><th id="s-ctl" hidden></th></tr></thead>
          <tbody></tbody>
        </table>
      </div>
      <table id="s-limits">
        <thead><tr><th>limit</th><th>in use / max</th></tr></thead>
        <tbody></tbody>
      </table>
    </div>
  </section>
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
      <button id="d-resume" hidden>Resume where it stopped</button>
      <button id="d-close">Close</button>
    </div>
    <div id="d-gates"></div>
    <h3>Graph <small class="muted">(a scattered job is one node: completed/all, then the other states)</small></h3>
    <div class="scroll-x" id="d-dag"></div>
    <h3>Timeline <small class="muted">(each instance's latest attempt)</small></h3>
    <div class="scroll-x scroll" id="d-timeline"></div>
    <dl id="d-fields"></dl>
    <h3>Jobs <small class="muted" id="d-jobcount"></small></h3>
    <table id="d-jobs">
      <thead><tr><th>job</th><th>state</th><th>waiting for</th><th>requests</th><th>attempts</th><th>exit</th><th>reason</th><th>host</th><th>started</th><th>finished</th><th>log</th><th id="d-ctl" hidden>operator</th></tr></thead>
      <tbody></tbody>
    </table>
    <pre id="d-log" hidden></pre>
    <h3>Events <small class="muted">(latest 50)</small></h3>
    <table id="d-events">
      <thead><tr><th>#</th><th>type</th><th>at</th><th>job</th><th>state</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section class="panel" id="audit-panel" hidden>
    <h2>Audit log <small class="muted" id="a-count"></small></h2>
    <div class="scroll">
      <table id="audit">
        <thead><tr><th>at</th><th>actor</th><th>action</th><th>target</th><th>outcome</th><th>details</th><th>from</th></tr></thead>
        <tbody></tbody>
      </table>
    </div>
    <p><button id="a-more" hidden>More</button></p>
  </section>
</main>
<dialog id="ask">
  <form id="ask-form">
    <p id="ask-title"></p>
    <label>reason <input id="ask-reason" size="48" maxlength="500" required autocomplete="off"></label>
    <div class="actions"><button id="ask-ok">OK</button><button type="button" id="ask-cancel">Cancel</button></div>
  </form>
</dialog>
<script src="/dashboard.js"></script>
</body>
</html>
`;
