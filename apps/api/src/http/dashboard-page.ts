/**
 * The operations dashboard (`GET /`): a page, its script (`/dashboard.js`,
 * dashboard-script.ts) and its style sheet (`/dashboard.css`,
 * dashboard-style.ts), all from the API itself: no build step, nothing from
 * elsewhere, and no inline script or style, so the Content-Security-Policy
 * needs no 'unsafe-inline'. It reads and acts through the REST API with the
 * user's token; every value from the API is put on the page as text
 * (textContent), never as markup.
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
<script src="/dashboard.js"></script>
</body>
</html>
`;
