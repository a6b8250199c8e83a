/** The dashboard's style sheet, served as `/dashboard.css` (see dashboard-page.ts). */
export const DASHBOARD_STYLE = `  :root { --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --run: #0969da; --mute: #57606a; --line: #d0d7de; }
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
  th { background: #eaeef2; position: sticky; top: 0; z-index: 1; }
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
  .panel { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; margin-bottom: 12px; }
  .panel h2 { margin: 0 0 6px; font-size: 15px; }
  .split { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 1fr); gap: 12px; align-items: start; }
  .scroll { max-height: 240px; overflow: auto; }
  tr.paused { background: #fff8c5; }
  tr.dead { color: var(--mute); }
  .alive { color: var(--ok); font-weight: 600; }
  .waiting, .hold-why { color: var(--warn); }
  meter { width: 64px; margin-right: 6px; vertical-align: middle; }
  dialog { border: 1px solid var(--line); border-radius: 6px; padding: 12px 16px; max-width: 560px; }
  dialog::backdrop { background: rgba(31, 35, 40, 0.3); }
  dialog input { width: 100%; margin-top: 4px; }
  @media (max-width: 900px) { .split { grid-template-columns: 1fr; } }
.gate { border: 1px solid #c90; background: #fff8e6; padding: 0.4em; margin: 0.3em 0; }
  .split2 { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 12px; align-items: start; }
  @media (max-width: 1100px) { .split2 { grid-template-columns: 1fr; } }
  .scroll-x { overflow-x: auto; }
  #d-timeline { max-height: 420px; }
  svg text { font: 11px system-ui, sans-serif; fill: #1f2328; }
  svg .axis { fill: var(--mute); }
  svg .tick { stroke: var(--line); }
  .dag .box { fill: #fff; stroke: var(--line); stroke-width: 1.5; }
  .dag .label { font-weight: 600; }
  .dag .sub { fill: var(--mute); }
  .dag .edge { fill: none; stroke: #8c959f; stroke-width: 1.5; }
  .dag .node.n-completed .box { fill: #dafbe1; stroke: var(--ok); }
  .dag .node.n-running .box { fill: #ddf4ff; stroke: var(--run); }
  .dag .node.n-failed .box { fill: #ffebe9; stroke: var(--bad); }
  .dag .node.n-held .box { fill: #fff8c5; stroke: var(--warn); }
  .dag .node.n-waiting .box { fill: #fff1e5; stroke: #bc4c00; }
  .dag .node.n-idle .box, .dag .node.n-unplanned .box { fill: #f6f8fa; stroke: #8c959f; }
  .dag .node.n-removed .box, .dag .node.n-skipped .box { fill: #eaeef2; stroke: #8c959f; stroke-dasharray: 4 3; }
  .dag .gate-node .box { stroke-width: 3; }
  .dag .gate-node.n-waiting .box { stroke: #bc4c00; }
  .n-completed.share, .n-completed.tl-bar, .n-completed.tl-inst { fill: var(--ok); }
  .n-running.share, .n-running.tl-bar, .n-running.tl-inst { fill: var(--run); }
  .n-failed.share, .n-failed.tl-bar, .n-failed.tl-inst { fill: var(--bad); }
  .n-held.share, .n-held.tl-bar, .n-held.tl-inst { fill: var(--warn); }
  .n-waiting.share, .n-waiting.tl-bar, .n-waiting.tl-inst { fill: #bc4c00; }
  .n-idle.share, .n-removed.share, .n-skipped.share, .n-removed.tl-bar, .n-removed.tl-inst, .n-idle.tl-bar, .n-skipped.tl-bar { fill: #8c959f; }
  .tl-bar.n-envelope { fill: #afb8c1; }
  .svg-btn { cursor: pointer; }
  .svg-btn rect { fill: #f6f8fa; stroke: #8c959f; }
  .svg-btn.approve rect { fill: var(--ok); stroke: var(--ok); }
  .svg-btn.reject rect { fill: var(--bad); stroke: var(--bad); }
  .svg-btn text { fill: #fff; font-weight: 600; }
  .svg-btn:focus { outline: 2px solid var(--run); }
  .hourly .bar-finished, .legend .bar-finished { fill: #8c959f; background: #8c959f; }
  .hourly .bar-failed, .legend .bar-failed { fill: var(--bad); background: var(--bad); }
  .hourly { width: 100%; max-height: 200px; }
  .legend { margin: 2px 0 0; color: var(--mute); font-size: 12px; }
  .legend .key { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 10px; vertical-align: middle; }
`;
