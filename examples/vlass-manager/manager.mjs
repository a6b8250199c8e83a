#!/usr/bin/env node
// A small VLASS survey manager driving wfs the way the survey does: quick-look
// imaging of each tile (vlass_quicklook), then caching of its two images
// (vlass_image_caching), then one bulk quick-look ingestion for the tiles
// whose caching completed (POST /api/v1/ingestions). Plain REST (fetch) and
// AMQP (amqplib); no wfs code. See README.md next to it and docs/events.md.
//
//   WFS_URL=http://127.0.0.1:3000 WFS_TOKEN=... VLASS_MANAGER_RESULTS_ROOT=/srv/wfs/results/vlass \
//   node manager.mjs tiles.json            # or: node manager.mjs VLASS2.1:T10t12:J101700+433000 ...
import fs from 'node:fs';
import path from 'node:path';
import amqp from 'amqplib';

const env = process.env;
const cfg = {
  wfsUrl: (env.WFS_URL || 'http://127.0.0.1:3000').replace(/\/+$/, ''),
  token: env.WFS_TOKEN || '',
  amqpUrl: env.AMQP_URL || 'amqp://guest:guest@127.0.0.1:5672',
  exchange: env.WFS_EVENTS_EXCHANGE || 'wfs.events',
  queue: env.VLASS_MANAGER_QUEUE || 'vlass-manager.workspaces-status',
  // Only what this manager launches: every event of its quick-look runs (stages,
  // outcome, and the ingestion events, which arrive on the source run), and only
  // the outcomes of its caching runs. Not vlass_quicklook_ingestion: what the
  // manager needs of it comes as ingestion-started/ingested/ingestion-failed
  // on each quick-look run.
  bindings: (
    env.VLASS_MANAGER_BINDINGS ||
    'run.vlass_quicklook.*|run.vlass_image_caching.complete|run.vlass_image_caching.failed|run.vlass_image_caching.cancelled'
  )
    .split('|')
    .map((s) => s.trim())
    .filter(Boolean),
  prefetch: Number(env.VLASS_MANAGER_PREFETCH || 16),
  stateFile: env.VLASS_MANAGER_STATE || 'vlass-manager.state.json',
  // Where the quick-look runs write: must lie inside one of the service's WFS_RESULTS_ROOTS.
  resultsRoot: env.VLASS_MANAGER_RESULTS_ROOT || '',
  // Launch an ingestion once this many tiles are cached, or when no tile is still on its way there.
  ingestBatch: Number(env.VLASS_MANAGER_INGEST_BATCH || 100),
  analyst: env.VLASS_MANAGER_ANALYST || 'vlass-manager',
  seenMax: Number(env.VLASS_MANAGER_SEEN_MAX || 50_000),
};

const log = (...parts) => console.log(new Date().toISOString(), ...parts);
const fail = (why) => {
  console.error(`vlass-manager: ${why}`);
  process.exit(2);
};
if (!cfg.token) fail('WFS_TOKEN is not set (a token with the service role)');
if (!cfg.resultsRoot || !path.isAbsolute(cfg.resultsRoot))
  fail('VLASS_MANAGER_RESULTS_ROOT must be an absolute directory inside one of the service WFS_RESULTS_ROOTS');
if (!(cfg.ingestBatch >= 1 && cfg.ingestBatch <= 1000)) fail('VLASS_MANAGER_INGEST_BATCH must be 1..1000');

// ---- The "database": one JSON file, written whole (write then rename) after
// every change and before the message that caused it is acked.
//   tiles[imageName] = { epoch, tile, phaseCenter, imageName, executionBlocks,
//     processingId, processingState, stage, progress, resultsDir,
//     cachingId, cachingState, cacheName,
//     ingestionId, ingestionState, productName, error, lastSequence }
//   seen = messageIds already handled (dedupe survives a restart)
const db = fs.existsSync(cfg.stateFile)
  ? JSON.parse(fs.readFileSync(cfg.stateFile, 'utf8'))
  : { tiles: {}, seen: [], batches: 0 };
const seen = new Set(db.seen);
function save() {
  db.seen = [...seen].slice(-cfg.seenMax);
  const tmp = `${cfg.stateFile}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(db, null, 2));
  fs.renameSync(tmp, cfg.stateFile);
}
const byRun = () => {
  const m = new Map();
  for (const t of Object.values(db.tiles)) {
    if (t.processingId) m.set(t.processingId, { tile: t, role: 'processing' });
    if (t.cachingId) m.set(t.cachingId, { tile: t, role: 'caching' });
  }
  return m;
};

// ---- Tiles to process: a JSON file ([{epoch, tile, phaseCenter, imageName?,
// executionBlocks}]) or epoch:tile:phaseCenter[:eb,eb...] arguments.
function tilesFromArgs(args) {
  const out = [];
  for (const a of args) {
    if (a.endsWith('.json')) out.push(...JSON.parse(fs.readFileSync(a, 'utf8')));
    else {
      const [epoch, tile, phaseCenter, ebs] = a.split(':');
      out.push({ epoch, tile, phaseCenter, executionBlocks: ebs ? ebs.split(',') : undefined });
    }
  }
  return out.map((t) => ({
    ...t,
    imageName: t.imageName || `${t.epoch}.ql.${t.tile}.${t.phaseCenter}.10.2048.v1`,
    executionBlocks: t.executionBlocks?.length ? t.executionBlocks : [`${t.epoch}.sb0.eb0.59000.0`],
  }));
}
for (const t of tilesFromArgs(process.argv.slice(2))) {
  if (db.tiles[t.imageName]) continue; // known from an earlier start: resume, do not relaunch
  db.tiles[t.imageName] = { ...t, processingState: 'new', cachingState: null, ingestionState: null };
}
save();

// ---- REST
async function api(method, p, { body, raw, headers = {} } = {}) {
  const h = { authorization: `Bearer ${cfg.token}`, ...headers };
  if (body !== undefined) h['content-type'] = 'application/json';
  const res = await fetch(cfg.wfsUrl + p, { method, headers: h, body: raw ?? (body === undefined ? undefined : JSON.stringify(body)) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  if (!res.ok) {
    const e = new Error(`${method} ${p} -> ${res.status} ${json?.error?.code ?? ''} ${json?.error?.message ?? text.slice(0, 300)}`);
    e.status = res.status;
    e.code = json?.error?.code;
    throw e;
  }
  return json;
}

const ppr = (t) => Buffer.from(
  `<?xml version="1.0" encoding="UTF-8"?>\n<SciPipeRequest>\n  <ProjectSummary><ProposalCode>VLASS</ProposalCode></ProjectSummary>\n` +
  `  <ProcessingRequests><ProcessingRequest><ProcessingProcedure>vlass_ql_imaging</ProcessingProcedure>\n` +
  `    <ImageName>${t.imageName}</ImageName><PhaseCenter>${t.phaseCenter}</PhaseCenter><Tile>${t.tile}</Tile>\n` +
  `  </ProcessingRequest></ProcessingRequests>\n</SciPipeRequest>\n`);

// Every launch carries an Idempotency-Key derived from what it is for, so a
// crash between "created" and "saved the id" gets the same run back on retry.
// A request wfs refuses (4xx) will be refused again: the tile is marked failed
// with the reason. Anything else (wfs down, 5xx) is thrown, to be retried.
function refused(t, what, err) {
  if (!(err.status >= 400 && err.status < 500)) throw err;
  t[`${what}State`] = 'failed';
  t.error = `${what} refused: ${err.message}`;
  save();
  log(`tile ${t.imageName}: FAILED ${t.error}`);
}

async function launchProcessing(t) {
  try {
    await createProcessing(t);
  } catch (err) {
    refused(t, 'processing', err);
  }
}

async function createProcessing(t) {
  t.resultsDir = path.join(cfg.resultsRoot, t.epoch, t.tile, t.imageName);
  const run = await api('POST', '/api/v1/workflows/vlass_quicklook/runs', {
    headers: { 'idempotency-key': `vlass-manager:processing:${t.imageName}` },
    body: {
      subject: t.imageName,
      correlationId: `vlass-manager:${t.imageName}`,
      resultsDir: t.resultsDir,
      parameters: { epoch: t.epoch, tile: t.tile, phaseCenter: t.phaseCenter, imageName: t.imageName, executionBlocks: t.executionBlocks },
    },
  });
  t.processingId = run.id;
  if (RANK[run.state] > (RANK[t.processingState] ?? 0)) t.processingState = run.state;
  save();
  if (run.state === 'created') {
    await api('PUT', `/api/v1/runs/${run.id}/files/PPR.xml`, { raw: ppr(t), headers: { 'content-type': 'application/octet-stream' } });
    await api('POST', `/api/v1/runs/${run.id}/submit`);
    if (RANK[t.processingState] < RANK.submitted) t.processingState = 'submitted';
    save();
  }
  log(`tile ${t.imageName}: processing run ${run.id} submitted into ${t.resultsDir}`);
}

async function launchCaching(t) {
  try {
    await createCaching(t);
  } catch (err) {
    refused(t, 'caching', err);
  }
}

async function createCaching(t) {
  t.cacheName = `${t.epoch}/${t.tile}/${t.phaseCenter}/${t.imageName}`;
  const image = `${t.imageName}.I.iter1.image.pbcor.tt0`;
  const run = await api('POST', '/api/v1/workflows/vlass_image_caching/runs', {
    headers: { 'idempotency-key': `vlass-manager:caching:${t.processingId}` },
    body: {
      subject: t.imageName,
      correlationId: `vlass-manager:${t.imageName}`,
      submit: true,
      parameters: { imagesDir: path.join(t.resultsDir, 'products'), images: [`${image}.subim.fits`, `${image}.rms.subim.fits`], cacheName: t.cacheName },
    },
  });
  t.cachingId = run.id;
  t.cachingState = 'submitted';
  save();
  log(`tile ${t.imageName}: caching run ${run.id} launched (cache ${t.cacheName})`);
}

// One bulk ingestion for the tiles whose caching completed, once there are
// ingestBatch of them or nothing else is still on its way to being cached.
async function maybeIngest() {
  await settleRequested();
  const tiles = Object.values(db.tiles);
  const ready = tiles.filter((t) => t.cachingState === 'complete' && !t.ingestionState);
  if (ready.length === 0) return;
  const inFlight = tiles.some((t) => t.processingState !== 'failed' && t.processingState !== 'cancelled' &&
    t.cachingState !== 'complete' && t.cachingState !== 'failed' && t.cachingState !== 'cancelled');
  if (ready.length < cfg.ingestBatch && inFlight) return;
  for (const batch of chunks(ready, cfg.ingestBatch)) {
    const correlationId = `vlass-manager:ingestion:${++db.batches}`;
    for (const t of batch) Object.assign(t, { ingestionState: 'requested', ingestionRequest: correlationId });
    save();
    let res;
    try {
      res = await api('POST', '/api/v1/ingestions', {
        body: { runIds: batch.map((t) => t.processingId), analyst: cfg.analyst, correlationId },
      });
    } catch (err) {
      // Refused: will be refused again. Otherwise it may have been accepted: settleRequested() finds out.
      for (const t of batch) refused(t, 'ingestion', err);
      continue;
    }
    for (const t of batch) {
      t.ingestionId = res.ingestionRun.id;
      t.ingestionState = 'ingesting';
    }
    save();
    log(`ingestion run ${res.ingestionRun.id} launched for ${batch.length} tile(s): runs ${batch.map((t) => t.processingId).join(', ')}`);
  }
}
// A bulk ingestion asked for when the answer was lost (wfs or we went down):
// look for it by the correlationId it was sent with, or ask again.
async function settleRequested() {
  for (const t of Object.values(db.tiles)) {
    if (t.ingestionState !== 'requested') continue;
    const q = new URLSearchParams({ workflow: 'vlass_quicklook_ingestion', correlationId: t.ingestionRequest });
    const found = (await api('GET', `/api/v1/runs?${q}`)).items?.[0];
    Object.assign(t, found ? { ingestionId: found.id, ingestionState: 'ingesting' } : { ingestionState: null });
  }
  save();
}
const chunks = (a, n) => Array.from({ length: Math.ceil(a.length / n) }, (_, i) => a.slice(i * n, i * n + n));

// ---- Validation: never trust a message.
const REQUIRED = { messageId: 'string', type: 'string', runId: 'number', sequence: 'number', workflow: 'string', state: 'string' };
function parse(content) {
  let body;
  try { body = JSON.parse(content.toString('utf8')); } catch { return { reason: 'not JSON' }; }
  if (!body || typeof body !== 'object' || Array.isArray(body)) return { reason: 'not a JSON object' };
  for (const [field, type] of Object.entries(REQUIRED)) {
    if (typeof body[field] !== type) return { reason: `missing or invalid field: ${field}` };
  }
  return { event: body };
}

// ---- What each event means to the survey.
const RANK = { new: 0, created: 1, submitted: 2, running: 3, complete: 4, failed: 4, cancelled: 4 };
async function onEvent(e) {
  const mine = byRun().get(e.runId);
  if (!mine) return { bad: `unknown run ${e.runId} (${e.workflow}): not launched by this manager` };
  const { tile: t, role } = mine;
  const stale = e.sequence <= (t.lastSequence?.[e.runId] ?? 0); // an old redelivery overtaken by newer events
  t.lastSequence = { ...t.lastSequence, [e.runId]: Math.max(e.sequence, t.lastSequence?.[e.runId] ?? 0) };
  if (role === 'caching') {
    if (e.type === 'complete') t.cachingState = 'complete';
    else if (e.type === 'failed' || e.type === 'cancelled') {
      t.cachingState = e.type;
      t.error = `caching ${e.type}: ${e.error?.code ?? '-'}: ${e.error?.message ?? ''}`;
    }
    log(`tile ${t.imageName}: caching run ${e.runId} ${e.type}${t.error && e.type !== 'complete' ? ` (${t.error})` : ''}`);
    await maybeIngest(); // on failure too: the others may now be waiting for nothing
    return {};
  }
  switch (e.type) {
    case 'created':
    case 'submitted':
    case 'running':
      if (RANK[e.state] > (RANK[t.processingState] ?? 0)) t.processingState = e.state; // forward only
      break;
    case 'job-started':
    case 'job-completed':
    case 'job-retrying':
    case 'job-failed':
      if (!stale && e.job?.stage) t.stage = e.job.stage;
      log(`tile ${t.imageName}: ${e.type} ${e.job?.name}[${e.job?.index}] (${e.job?.stage ?? '-'})`);
      break;
    case 'group-progress':
      if (!stale) t.progress = e.progress;
      break;
    case 'complete':
      t.processingState = 'complete';
      t.stage = 'done';
      if (e.resultsDir) t.resultsDir = e.resultsDir;
      log(`tile ${t.imageName}: processing run ${e.runId} complete`);
      if (!t.cachingId) await launchCaching(t); // once: the id is saved before the message is acked
      break;
    case 'failed':
    case 'cancelled':
      t.processingState = e.type;
      t.error = `processing ${e.type}: ${e.error?.code ?? '-'}: ${e.error?.message ?? ''}`;
      log(`tile ${t.imageName}: FAILED ${t.error}`);
      await maybeIngest();
      break;
    case 'ingestion-started':
      if (e.ingestionRunId) t.ingestionId = e.ingestionRunId;
      if (t.ingestionState !== 'ingested') t.ingestionState = 'ingesting';
      break;
    case 'ingested':
      t.ingestionState = 'ingested';
      if (e.ingestionRunId) t.ingestionId = e.ingestionRunId;
      t.productName = e.products?.find((p) => p.sourceRunId === undefined || p.sourceRunId === e.runId)?.name ?? e.products?.[0]?.name ?? null;
      log(`tile ${t.imageName}: ingested as ${t.productName} (ingestion run ${t.ingestionId})`);
      break;
    case 'ingestion-failed':
      t.ingestionState = 'failed';
      t.error = `ingestion failed: ${e.error?.code ?? '-'}: ${e.error?.message ?? ''}`;
      log(`tile ${t.imageName}: INGESTION FAILED ${t.error}`);
      break;
    default:
      break; // qa-set, cleaned, expired...: nothing the survey keeps
  }
  const left = Object.values(db.tiles).filter((x) => !['ingested', 'failed'].includes(x.ingestionState) &&
    !['failed', 'cancelled'].includes(x.processingState) && !['failed', 'cancelled'].includes(x.cachingState));
  if (e.type === 'ingested' && left.length === 0) log('all tiles done');
  return {};
}

// ---- Per message: validate, dedupe, handle, save, then ack.
async function handle(ch, msg) {
  const parsed = parse(msg.content);
  if (!parsed.event) return skip(ch, msg, parsed.reason);
  const e = parsed.event;
  if (seen.has(e.messageId)) {
    log(`duplicate ${e.messageId} (run ${e.runId} #${e.sequence} ${e.type}): already handled, acked`);
    return ch.ack(msg);
  }
  let result;
  try {
    result = await onEvent(e);
  } catch (err) {
    // wfs or our disk said no (API down, a 5xx): put it back and try again later.
    log(`WARN handling ${e.messageId} (run ${e.runId} ${e.type}) failed: ${err.message}; requeued`);
    save();
    await new Promise((r) => setTimeout(r, 1000));
    return safe(() => ch.nack(msg, false, true));
  }
  if (result.bad) return skip(ch, msg, result.bad);
  seen.add(e.messageId);
  save();
  ch.ack(msg); // after the state is saved: a crash before this means a redelivery, which dedupe absorbs
}

function skip(ch, msg, reason) {
  const content = msg.content.toString('utf8').slice(0, 2000);
  log(`BAD MESSAGE (${reason}) routingKey=${msg.fields.routingKey} messageId=${msg.properties.messageId ?? '-'} content=${JSON.stringify(content)}: skipped`);
  ch.ack(msg);
}
const safe = (fn) => { try { fn(); } catch { /* channel gone: the broker redelivers */ } };

// ---- Connection: our durable queue and bindings (idempotent), manual acks, prefetch, reconnect.
let connection = null;
let channel = null;
let consumerTag = null;
let stopping = false;
let attempt = 0;
let timer = null;
let work = Promise.resolve(); // launches and messages, one at a time, in order
const enqueue = (fn) => (work = work.then(fn).catch((err) => log(`WARN ${err.message}`)));

async function connect() {
  try {
    connection = await amqp.connect(cfg.amqpUrl, { clientProperties: { connection_name: `vlass-manager ${cfg.queue}` } });
    connection.on('error', (err) => log(`WARN broker connection error: ${err.message}`));
    connection.on('close', (err) => {
      connection = channel = null;
      if (!stopping) reconnect(err?.message ?? 'connection closed');
    });
    const ch = await connection.createChannel();
    ch.on('error', (err) => log(`WARN channel error: ${err.message}`));
    ch.on('close', () => { if (!stopping) connection?.close().catch(() => undefined); });
    await ch.assertExchange(cfg.exchange, 'topic', { durable: true });
    await ch.assertQueue(cfg.queue, { durable: true });
    for (const key of cfg.bindings) await ch.bindQueue(cfg.queue, cfg.exchange, key);
    await ch.prefetch(cfg.prefetch);
    channel = ch;
    ({ consumerTag } = await ch.consume(cfg.queue, (msg) => {
      if (!msg) return void connection?.close().catch(() => undefined); // cancelled by the broker: start afresh
      enqueue(() => handle(ch, msg));
    }, { noAck: false }));
    attempt = 0;
    launchOnce();
    log(`consuming ${cfg.queue} (bindings ${cfg.bindings.join(' | ')} on ${cfg.exchange}), prefetch ${cfg.prefetch}`);
    return true;
  } catch (err) {
    if (connection) connection.close().catch(() => undefined);
    else reconnect(err.message);
    return false;
  }
}

function reconnect(why) {
  if (stopping || timer) return;
  const delay = Math.min(30_000, 500 * 2 ** attempt++);
  log(`WARN broker unavailable (${why}); reconnecting in ${delay} ms`);
  timer = setTimeout(() => { timer = null; void connect(); }, delay);
}

async function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  log(`${signal}: stopping`);
  clearTimeout(timer);
  if (channel && consumerTag) await channel.cancel(consumerTag).catch(() => undefined);
  await work;
  save();
  await channel?.close().catch(() => undefined);
  await connection?.close().catch(() => undefined);
  log('stopped');
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));

// Launches wait for the first connection: our queue must exist before any run
// of ours publishes, or its events would be routed nowhere. Tiles not launched
// yet (new, or a create that did not finish before a stop) go then; a launch
// that fails on wfs being away is logged and retried at the next start.
let launched = false;
function launchOnce() {
  if (launched) return;
  launched = true;
  for (const t of Object.values(db.tiles)) {
    if (t.processingState === 'new' || (t.processingState === 'created' && t.processingId)) {
      enqueue(async () => { if (!stopping) await launchProcessing(t); });
    }
  }
  enqueue(() => maybeIngest());
}

void connect();
