#!/usr/bin/env node
// A survey manager's wfs event consumer, as an example of how to consume wfs
// events properly. See README.md next to it and docs/events.md for the contract.
//
//   AMQP_URL=amqp://guest:guest@127.0.0.1:5672 MANAGER_QUEUE=my-manager.wfs-status \
//   MANAGER_BINDINGS='run.std_calibration.*' node manager.mjs
//
// By default it binds every workflow that ships in workflows/ (DEFAULT_BINDINGS);
// narrow it to the ones you launch with MANAGER_BINDINGS.
import fs from 'node:fs';
import amqp from 'amqplib';

const env = process.env;
const QUEUE = env.MANAGER_QUEUE || 'my-manager.wfs-status';
/** Every workflow wfs ships (workflows/*.yaml), so the example shows events out of the box. */
const DEFAULT_BINDINGS = [
  'calibration_ingestion',
  'image_ingestion',
  'radps_pipeline',
  'radps_skeleton',
  'std_calibration',
  'std_imaging',
  'vlass_calibration',
  'vlass_calibration_ingestion',
  'vlass_image_caching',
  'vlass_quicklook',
  'vlass_quicklook_ingestion',
  'vlass_se_calibration',
  'vlass_se_coarse_cube_imaging',
  'vlass_se_continuum_imaging',
  'vlass_seci_split_measurement_sets',
]
  .map((w) => `run.${w}.*`)
  .join('|');
const cfg = {
  url: env.AMQP_URL || 'amqp://guest:guest@127.0.0.1:5672',
  exchange: env.WFS_EVENTS_EXCHANGE || 'wfs.events',
  queue: QUEUE,
  bindings: (env.MANAGER_BINDINGS || DEFAULT_BINDINGS).split('|').map((s) => s.trim()).filter(Boolean),
  prefetch: Number(env.MANAGER_PREFETCH || 32),
  // Bad messages are copied here (with the reason in a header), then acked. Set to "" to only log and ack.
  deadLetterQueue: env.MANAGER_DEAD_LETTER_QUEUE ?? `${QUEUE}.dead-letter`,
  seenFile: env.MANAGER_SEEN_FILE || '', // optional: persist the dedupe set across restarts
  seenMax: Number(env.MANAGER_SEEN_MAX || 50_000),
};

const log = (...parts) => console.log(new Date().toISOString(), ...parts);

// ---- Dedupe: wfs publishes at least once, so the same event (same messageId)
// may arrive twice, e.g. after a broker or wfs restart. A bounded LRU set of
// the ids seen (a Map keeps insertion order: the first key is the oldest),
// plus each run's last sequence for the ordering check, both optionally saved.
const seen = new Map(); // messageId -> true
const lastSequence = new Map(); // runId -> last sequence handled
function put(lru, key, value) {
  lru.delete(key);
  lru.set(key, value);
  if (lru.size > cfg.seenMax) lru.delete(lru.keys().next().value); // forget the oldest
}
if (cfg.seenFile && fs.existsSync(cfg.seenFile)) {
  const saved = JSON.parse(fs.readFileSync(cfg.seenFile, 'utf8'));
  for (const id of saved.seen ?? []) put(seen, id, true);
  for (const [run, seq] of Object.entries(saved.lastSequence ?? {})) put(lastSequence, Number(run), seq);
  log(`loaded ${seen.size} seen message ids from ${cfg.seenFile}`);
}
let dirty = false;
function saveSeen() {
  if (!cfg.seenFile || !dirty) return;
  const tmp = `${cfg.seenFile}.tmp`; // write then rename: a crash never leaves half a file
  fs.writeFileSync(tmp, JSON.stringify({ seen: [...seen.keys()], lastSequence: Object.fromEntries(lastSequence) }));
  fs.renameSync(tmp, cfg.seenFile);
  dirty = false;
}
const saver = setInterval(saveSeen, 2000);

// ---- Validation: never trust a message. Returns the event, or the reason it is unusable.
const REQUIRED = { messageId: 'string', type: 'string', runId: 'number', sequence: 'number', workflow: 'string', state: 'string' };
function parse(content) {
  let body;
  try {
    body = JSON.parse(content.toString('utf8'));
  } catch {
    return { reason: 'not JSON' };
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) return { reason: 'not a JSON object' };
  for (const [field, type] of Object.entries(REQUIRED)) {
    if (typeof body[field] !== type) return { reason: `missing or invalid field: ${field}` };
  }
  if (body.specVersion !== 1) return { reason: `unknown specVersion ${body.specVersion}` };
  return { event: body };
}

// ---- What the manager does with an event. Here: one human line. A real
// manager updates its own database here, idempotently, keyed by runId (and
// keeps runId and the ingestion run's id apart: see sourceRunId/ingestionRunId).
async function onEvent(e) {
  const job = e.job ? ` ${e.job.name}[${e.job.index}]${e.job.stage ? ` (${e.job.stage})` : ''} ${e.job.state}` : '';
  const why = e.job?.statusReason ? ` reason="${e.job.statusReason}"` : e.error ? ` error=${e.error.code}: ${e.error.message}` : '';
  const products = e.products ? ` products=${e.products.map((p) => p.name).join(',')}` : '';
  log(`run ${e.runId} ${e.workflow} v${e.version} [${e.subject ?? '-'}] #${e.sequence} ${e.type}${job} state=${e.state}` +
    ` qa=${e.qaState}${why}${products}${e.type === 'complete' ? ` dir=${e.processingDir}` : ''}`);
}

// ---- Per message: validate, dedupe, check order, handle, then ack.
async function handle(ch, msg) {
  const parsed = parse(msg.content);
  if (!parsed.event) return reject(ch, msg, parsed.reason);
  const e = parsed.event;
  if (seen.has(e.messageId)) {
    log(`duplicate ${e.messageId} (run ${e.runId} #${e.sequence} ${e.type}): already handled, acked`);
    return ch.ack(msg);
  }
  // Sequences of a run start at 1 and have no gaps. A jump means events were
  // missed (the queue was bound late, or binds only some types): fetch them
  // from the REST API. A step back means a redelivery overtook newer messages.
  const last = lastSequence.get(e.runId) ?? 0;
  if (e.sequence !== last + 1) {
    log(`WARN run ${e.runId}: sequence ${e.sequence} after ${last || 'nothing'};` +
      ` missing events can be read at GET /api/v1/runs/${e.runId}/events?after=${last}`);
  }
  try {
    await onEvent(e);
  } catch (err) {
    // Our own fault (say our database is down): put it back and try later.
    log(`WARN handling ${e.messageId} failed (${err.message}); requeued`);
    return setTimeout(() => safe(() => ch.nack(msg, false, true)), 1000);
  }
  put(seen, e.messageId, true);
  put(lastSequence, e.runId, Math.max(last, e.sequence));
  dirty = true;
  ch.ack(msg); // only after the event is handled: a crash before this means redelivery, not loss
}

// A bad message is logged loudly with its content, kept in our own dead-letter
// queue when we have one, and acked: it never blocks the queue, never crashes us.
async function reject(ch, msg, reason) {
  const content = msg.content.toString('utf8').slice(0, 2000);
  log(`BAD MESSAGE (${reason}) routingKey=${msg.fields.routingKey} messageId=${msg.properties.messageId ?? '-'} content=${JSON.stringify(content)}`);
  if (cfg.deadLetterQueue) {
    ch.sendToQueue(cfg.deadLetterQueue, msg.content, {
      persistent: true,
      contentType: msg.properties.contentType,
      messageId: msg.properties.messageId,
      headers: { ...msg.properties.headers, 'x-dead-letter-reason': reason, 'x-original-routing-key': msg.fields.routingKey },
    });
    await ch.waitForConfirms(); // the copy is safe before the original goes
  }
  ch.ack(msg);
}

const safe = (fn) => { try { fn(); } catch { /* channel gone: the broker redelivers */ } };

// ---- Connection: declare our durable queue and bindings (idempotent), consume
// with manual acks and a prefetch, reconnect with backoff when the broker goes.
let connection = null;
let channel = null;
let consumerTag = null;
let stopping = false;
let attempt = 0;
let work = Promise.resolve(); // messages are handled one at a time, in delivery order

async function connect() {
  try {
    connection = await amqp.connect(cfg.url, { clientProperties: { connection_name: `manager ${cfg.queue}` } });
    connection.on('error', (err) => log(`WARN broker connection error: ${err.message}`));
    connection.on('close', (err) => {
      connection = channel = null;
      if (!stopping) reconnect(err?.message ?? 'connection closed');
    });
    const ch = await connection.createConfirmChannel();
    ch.on('error', (err) => log(`WARN channel error: ${err.message}`));
    ch.on('close', () => { if (!stopping) connection?.close().catch(() => undefined); }); // start afresh
    await ch.assertExchange(cfg.exchange, 'topic', { durable: true });
    await ch.assertQueue(cfg.queue, { durable: true });
    for (const key of cfg.bindings) await ch.bindQueue(cfg.queue, cfg.exchange, key);
    if (cfg.deadLetterQueue) await ch.assertQueue(cfg.deadLetterQueue, { durable: true });
    await ch.prefetch(cfg.prefetch);
    channel = ch;
    ({ consumerTag } = await ch.consume(cfg.queue, (msg) => {
      if (!msg) return void connection?.close().catch(() => undefined); // cancelled by the broker (queue deleted?): start afresh
      work = work.then(() => handle(ch, msg)).catch((err) => log(`WARN ${err.message}; the broker will redeliver`));
    }, { noAck: false }));
    attempt = 0;
    log(`consuming ${cfg.queue} (bindings ${cfg.bindings.join(' | ')} on ${cfg.exchange}), prefetch ${cfg.prefetch}`);
  } catch (err) {
    if (connection) connection.close().catch(() => undefined); // its 'close' reconnects
    else reconnect(err.message);
  }
}

let timer = null;
function reconnect(why) {
  if (stopping || timer) return;
  const delay = Math.min(30_000, 500 * 2 ** attempt++); // 0.5 s, 1 s, 2 s ... 30 s
  log(`WARN broker unavailable (${why}); reconnecting in ${delay} ms`);
  timer = setTimeout(() => { timer = null; void connect(); }, delay);
}

// ---- Graceful shutdown: stop new deliveries, finish the one in hand, save, close.
async function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  log(`${signal}: stopping`);
  clearTimeout(timer);
  if (channel && consumerTag) await channel.cancel(consumerTag).catch(() => undefined);
  await work;
  clearInterval(saver);
  saveSeen();
  await channel?.close().catch(() => undefined);
  await connection?.close().catch(() => undefined);
  log('stopped');
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));

void connect();
