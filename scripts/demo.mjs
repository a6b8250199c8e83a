#!/usr/bin/env node
// `npm run demo`, also the quick start's last step: against a running wfs
// (WFS_URL, default http://127.0.0.1:$PORT or :3000; WFS_TOKEN, default the
// quick start's dev-da-token), uploads a PPR, submits a std_calibration run
// for a VLA execution block and follows its event stream to the end.
const url = (process.env.WFS_URL || `http://127.0.0.1:${process.env.PORT || 3000}`).replace(/\/$/, '');
const token = process.env.WFS_TOKEN || 'dev-da-token';
const auth = { authorization: `Bearer ${token}` };

async function reach(target, init) {
  try {
    return await fetch(target, init);
  } catch (e) {
    console.error(`demo: wfs does not answer at ${url} (${e.cause?.code ?? e.message}): start it with bash scripts/quickstart.sh, or set WFS_URL`);
    process.exit(1);
  }
}

async function call(method, path, body, headers = {}) {
  const res = await reach(url + path, {
    method,
    headers: { ...auth, ...(body && !Buffer.isBuffer(body) ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : Buffer.isBuffer(body) ? body : JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${json.error?.code}: ${json.error?.message}`);
  return json;
}

const subject = `demo.eb${Date.now()}`;
const run = await call('POST', '/api/v1/workflows/std_calibration/runs', { subject, correlationId: 'quickstart-demo' });
console.log(`created run ${run.id} (request ${run.requestId}, version ${run.version}) for ${subject} in ${run.processingDir}`);
const ppr = Buffer.from(`<?xml version="1.0"?>\n<SciPipeRequest><ProcessingRequests><RecipeName>hifv</RecipeName></ProcessingRequests></SciPipeRequest>\n`);
const file = await call('PUT', `/api/v1/runs/${run.id}/files/PPR.xml`, ppr, { 'content-type': 'application/octet-stream' });
console.log(`uploaded PPR.xml (${file.size} bytes, sha256 ${file.sha256.slice(0, 12)}...)`);
await call('POST', `/api/v1/runs/${run.id}/submit`);

const res = await reach(`${url}/api/v1/runs/${run.id}/events/stream`, { headers: auth });
const decoder = new TextDecoder();
let buffer = '';
for await (const chunk of res.body) {
  buffer += decoder.decode(chunk, { stream: true });
  let cut;
  while ((cut = buffer.indexOf('\n\n')) >= 0) {
    const frame = buffer.slice(0, cut);
    buffer = buffer.slice(cut + 2);
    const data = frame.split('\n').find((l) => l.startsWith('data: '));
    if (!data) continue;
    const e = JSON.parse(data.slice(6));
    const job = e.job ? ` ${e.job.name}[${e.job.index}] (${e.job.stage || 'job'})${e.job.statusReason ? ': ' + e.job.statusReason : ''}` : '';
    console.log(`  #${String(e.sequence).padStart(2)} ${e.occurredAt.slice(11, 23)} ${e.type.padEnd(14)}${job}`);
  }
}
const final = await call('GET', `/api/v1/runs/${run.id}`);
console.log(`run ${final.id}: ${final.state}, QA ${final.qaState}, disk ${final.diskState} at ${final.processingDir}`);
if (final.state !== 'complete') {
  console.log(`error: ${final.error?.code}: ${final.error?.message}`);
  process.exit(1);
}
