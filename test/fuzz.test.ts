/**
 * A property-based pass over every endpoint (QUALITY.md: "a fuzz pass over
 * every endpoint ... finding no 5xx"): random methods, paths from the route
 * list with random path values (ids, names, unicode, traversal, broken
 * escapes), random query strings, bodies, content types and headers. No
 * answer may be a 5xx, every error is the contract's envelope without a stack
 * trace, and the service still works afterwards.
 *
 * Reproduce a failure with FUZZ_SEED=<seed printed by fast-check>; widen the
 * pass with FUZZ_RUNS=<n>.
 */
import * as http from 'node:http';
import fc from 'fast-check';
import { startStack, Stack, TOKENS } from '@wfs/testing';

const RUNS = Number(process.env.FUZZ_RUNS ?? 500);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const REQUEST_TIMEOUT_MS = 10_000;

let stack: Stack;
/** [METHOD, /path/{with}/{params}] from the OpenAPI document, plus the contract's routes. */
let routes: Array<[string, string]>;
const ids = { runs: [] as number[], requests: [] as number[], tokens: [] as number[] };

const CONTRACT_ROUTES: Array<[string, string]> = [
  ['GET', '/api/v1/workflows'],
  ['GET', '/api/v1/workflows/{name}'],
  ['POST', '/api/v1/workflows/{name}/runs'],
  ['GET', '/api/v1/runs'],
  ['GET', '/api/v1/runs/{id}'],
  ['PUT', '/api/v1/runs/{id}/files/{filename}'],
  ['GET', '/api/v1/runs/{id}/files'],
  ['GET', '/api/v1/runs/{id}/files/{filename}'],
  ['POST', '/api/v1/runs/{id}/submit'],
  ['POST', '/api/v1/runs/{id}/cancel'],
  ['GET', '/api/v1/runs/{id}/events'],
  ['GET', '/api/v1/runs/{id}/events/stream'],
  ['GET', '/api/v1/runs/{id}/jobs/{name}/{index}/log'],
  ['GET', '/api/v1/requests/{id}'],
  ['GET', '/api/v1/tokens'],
  ['POST', '/api/v1/tokens'],
  ['DELETE', '/api/v1/tokens/{id}'],
  ['GET', '/api/v1/workers'],
  ['GET', '/api/v1/limits'],
  ['PUT', '/api/v1/limits/{name}'],
  ['DELETE', '/api/v1/limits/{name}'],
  ['POST', '/api/v1/workflows/{name}/pause'],
  ['POST', '/api/v1/workflows/{name}/unpause'],
  ['PATCH', '/api/v1/runs/{id}'],
  ['POST', '/api/v1/runs/{id}/jobs/{name}/{index}/hold'],
  ['POST', '/api/v1/runs/{id}/jobs/{name}/{index}/release'],
  ['GET', '/health'],
  ['GET', '/metrics'],
  ['GET', '/api/docs-json'],
];

beforeAll(async () => {
  stack = await startStack({
    workers: 1,
    env: { WFS_MAX_JOBS_PER_RUN: '2000', WFS_MAX_UPLOAD_BYTES: '65536' },
  });
  const doc = await stack.call('GET', '/api/docs-json', { role: null });
  const documented: Array<[string, string]> = [];
  for (const [p, ops] of Object.entries(
    doc.body.paths as Record<string, Record<string, unknown>>,
  )) {
    for (const m of Object.keys(ops))
      if (['get', 'post', 'put', 'patch', 'delete'].includes(m))
        documented.push([m.toUpperCase(), p]);
  }
  const seen = new Set<string>();
  routes = [...CONTRACT_ROUTES, ...documented].filter(
    ([m, p]) => !seen.has(`${m} ${p}`) && seen.add(`${m} ${p}`),
  );

  // Real things for the fuzzer to hit: runs in several states, a file, a token.
  const make = async (body: Record<string, unknown>, workflow = 'radps_skeleton') => {
    const r = await stack.call('POST', `/api/v1/workflows/${workflow}/runs`, { body });
    if (r.status !== 201) throw new Error(`fixture run: ${r.status} ${r.text}`);
    ids.runs.push(r.body.id);
    ids.requests.push(r.body.requestId);
    return r.body;
  };
  const created = await make({ parameters: { nField: 1, nSpw: 1, nScan: 1 } });
  await stack.call('PUT', `/api/v1/runs/${created.id}/files/PPR.xml`, {
    raw: '<ppr/>',
    headers: { 'content-type': 'application/octet-stream' },
  });
  const done = await make({ parameters: { nField: 1, nSpw: 1, nScan: 1 }, submit: true });
  await make({ subject: '19A-001.sb1.eb1', parameters: { recipe: 'hifv' } }, 'std_calibration');
  const cancelled = await make({ parameters: { nField: 1, nSpw: 2, nScan: 2 } });
  await stack.call('POST', `/api/v1/runs/${cancelled.id}/cancel`);
  await stack.waitForRun(done.id);
  const token = await stack.call('POST', '/api/v1/tokens', {
    body: { name: 'fuzz-fixture', role: 'viewer' },
  });
  ids.tokens.push(token.body.id);
});
afterAll(async () => {
  await stack?.stop();
});

// ---------------------------------------------------------------- arbitraries

/** Path values already safe to put in a URL as they are (escapes included on purpose). */
const RAW_SEGMENTS = [
  '..',
  '.',
  '%2e%2e',
  '%2E%2E',
  '.%2e',
  '%00',
  'a%00b',
  '%FF',
  '%E0%A4%A',
  '%',
  '%zz',
  '%C0%AE%C0%AE',
  '..%2F..%2Fetc%2Fpasswd',
  'a%2Fb',
  '%2F',
  '%5C',
  'a%5Cb',
  '%20',
  '+',
  '%2B',
  '~',
  '*',
  ';',
  ',',
  ':',
  '@',
  '$',
  '!',
  '0',
  '-1',
  '1e3',
  '0x10',
  '01',
  '1.5',
  'NaN',
  'Infinity',
  'null',
  'undefined',
  'true',
  '[]',
  '{}',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  '99999999999999999999',
  '9007199254740991',
  '9007199254740993',
  '2147483648',
  '-0',
  'radps_skeleton',
  'std_calibration',
  'import_target',
  'fetch',
  'casa',
  'checkpoint_imaging',
  'PPR.xml',
  'flux.csv',
  '.hidden',
  'x'.repeat(300),
  'stream',
  'files',
  'events',
];

const encodedString = fc
  .oneof(
    fc.string({ maxLength: 40 }),
    fc.string({ unit: 'grapheme', maxLength: 20 }),
    fc.string({ unit: 'binary', maxLength: 20 }),
    fc.string({
      unit: fc.constantFrom('.', '/', '\\', '\u0000', 'a', '%', '\n', ' ', '\u202e', '\ud800'),
      maxLength: 12,
    }),
  )
  .map((s) =>
    encodeURIComponent(
      s.replace(
        /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g,
        '\ufffd',
      ),
    ),
  );

const junk = fc.oneof(
  { weight: 2, arbitrary: fc.integer({ min: -3, max: 1_000_000 }).map(String) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 10n ** 22n }).map(String) },
  { weight: 3, arbitrary: fc.constantFrom(...RAW_SEGMENTS) },
  { weight: 3, arbitrary: encodedString },
);
/** A value for each kind of path placeholder: usually a plausible one, often junk. */
const pathValues = fc.constant(null).chain(() =>
  fc.record({
    id: fc.oneof(
      {
        weight: 3,
        arbitrary: fc.constantFrom(...ids.runs, ...ids.requests, ...ids.tokens).map(String),
      },
      { weight: 2, arbitrary: junk },
    ),
    name: fc.oneof(
      {
        weight: 3,
        arbitrary: fc.constantFrom(
          'radps_skeleton',
          'std_calibration',
          'import_target',
          'fetch',
          'casa',
          'checkpoint_imaging',
        ),
      },
      { weight: 2, arbitrary: junk },
    ),
    workflow: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom('radps_skeleton', 'std_calibration') },
      { weight: 1, arbitrary: junk },
    ),
    filename: fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom('PPR.xml', 'flux.csv', 'a.txt', 'x'.repeat(128)) },
      { weight: 2, arbitrary: junk },
    ),
    index: fc.oneof(
      { weight: 3, arbitrary: fc.integer({ min: 0, max: 3 }).map(String) },
      { weight: 2, arbitrary: junk },
    ),
    other: junk,
  }),
);

const queryKey = fc.oneof(
  fc.constantFrom(
    'limit',
    'cursor',
    'state',
    'qaState',
    'archiveState',
    'subject',
    'workflow',
    'correlationId',
    'requestId',
    'after',
    'stream',
    'tail',
    'dryRun',
    'index',
  ),
  fc.constantFrom('__proto__', 'constructor', 'state[]', 'state[x]', 'a[b][c]', '', '%00', '%FF'),
  encodedString,
);
const queryValue = fc.oneof(
  fc.constantFrom(
    'created',
    'submitted',
    'running',
    'complete',
    'failed',
    'cancelled',
    'pass',
    'fail',
    'null',
    'not_ingested',
    'stdout',
    'stderr',
    'true',
    'false',
  ),
  fc.integer({ min: -10, max: 100_000 }).map(String),
  fc.constantFrom(
    '',
    '0',
    '500',
    '501',
    '1e2',
    '99999999999999999999',
    '%00',
    '%FF',
    '%',
    'cjo1',
    Buffer.from('r:1').toString('base64url'),
    Buffer.from('1.0').toString('base64url'),
  ),
  encodedString,
);
const queryString = fc
  .array(fc.tuple(queryKey, queryValue), { maxLength: 4 })
  .map((pairs) => (pairs.length === 0 ? '' : '?' + pairs.map(([k, v]) => `${k}=${v}`).join('&')));

const plausibleBody = fc.record(
  {
    subject: fc.oneof(
      fc.constantFrom('19A-001.sb1.eb1', '', '../x', '; rm -rf /', '$(id)'),
      fc.string(),
      fc.jsonValue(),
    ),
    parameters: fc.oneof(
      fc.record(
        {
          nField: fc.integer({ min: -1, max: 3 }),
          nSpw: fc.integer({ min: -1, max: 3 }),
          nScan: fc.integer({ min: -1, max: 3 }),
        },
        { requiredKeys: [] },
      ),
      fc.record(
        {
          recipe: fc.constantFrom('hifv', 'hifv_calimage_cont', 'x', '`id`'),
          casaVersion: fc.string(),
        },
        { requiredKeys: [] },
      ),
      fc.jsonValue(),
    ),
    correlationId: fc.oneof(fc.string(), fc.jsonValue()),
    resultsDir: fc.oneof(fc.constantFrom('/tmp/x', '/etc', 'rel', '', '/'), fc.string()),
    submit: fc.oneof(fc.boolean(), fc.jsonValue()),
    name: fc.oneof(fc.constantFrom('bot', 'x', '../x'), fc.string()),
    role: fc.oneof(
      fc.constantFrom('viewer', 'da', 'service', 'ops', 'admin', 'root'),
      fc.jsonValue(),
    ),
    status: fc.constantFrom('pass', 'fail', 'null', 'maybe'),
    analyst: fc.string(),
    extra: fc.jsonValue(),
  },
  { requiredKeys: [] },
);

/** Mostly well-formed create and token bodies, so calls get past validation into the use cases. */
const createBody = fc.constant(null).chain(() =>
  fc.record(
    {
      subject: fc.constantFrom('19A-001.sb1.eb1', '19A-002.sb2.eb2', 'uid___A002_X1_X2', '', 'a b'),
      parameters: fc.oneof(
        {
          weight: 4,
          arbitrary: fc.record(
            {
              nField: fc.integer({ min: 0, max: 2 }),
              nSpw: fc.integer({ min: 1, max: 2 }),
              nScan: fc.integer({ min: 1, max: 2 }),
              workSeconds: fc.constantFrom(0, 0.01),
            },
            { requiredKeys: ['nField', 'nSpw', 'nScan'] },
          ),
        },
        fc.record({
          nField: fc.constant(10),
          nSpw: fc.constant(100),
          nScan: fc.integer({ min: 1, max: 1000 }),
        }),
        fc.record(
          {
            recipe: fc.constantFrom('hifv', 'hifv_calimage_cont', 'nope'),
            casaVersion: fc.constantFrom('6.6.1-17', '6.6', '6.6.1; id'),
          },
          { requiredKeys: [] },
        ),
      ),
      correlationId: fc.string({ maxLength: 30 }),
      resultsDir: fc.oneof(
        {
          weight: 4,
          arbitrary: fc.nat({ max: 5 }).map((n) => `${stack.config.resultsRoots[0]}/fuzz/${n}`),
        },
        fc.constantFrom(
          '/tmp',
          `${stack.config.resultsRoots[0]}/../x`,
          `${stack.config.resultsRoots[0]}`,
          'x/y',
        ),
      ),
      submit: fc.boolean(),
    },
    { requiredKeys: [] },
  ),
);
const tokenBody = fc.record({
  name: fc.constantFrom('bot', 'a.b@c', '../x', ''),
  role: fc.constantFrom('viewer', 'da', 'service', 'ops', 'admin', 'root'),
});

const body = fc.oneof(
  { weight: 4, arbitrary: createBody.map((b) => Buffer.from(JSON.stringify(b))) },
  { weight: 1, arbitrary: tokenBody.map((b) => Buffer.from(JSON.stringify(b))) },
  { weight: 3, arbitrary: fc.constant<Buffer | undefined>(undefined) },
  { weight: 4, arbitrary: plausibleBody.map((b) => Buffer.from(JSON.stringify(b))) },
  {
    weight: 2,
    arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 60 }).map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)) },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 1, max: 60 })
      .map((n) => Buffer.from('{"a":'.repeat(n) + '1' + '}'.repeat(n))),
  },
);

const headerText = fc.string({ unit: 'grapheme-ascii', maxLength: 60 });
/** Mostly what a real client sends, sometimes odd: an odd header on every call would hide everything behind it. */
const sometimes = <T>(arb: fc.Arbitrary<T>, oneIn: number) =>
  fc.oneof({ weight: oneIn - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });
const headersFor = (preferredType: string) =>
  fc
    .record({
      authorization: fc.oneof(
        {
          weight: 12,
          arbitrary: fc
            .constantFrom('admin', 'ops', 'da', 'service', 'viewer')
            .map((r) => `Bearer ${TOKENS[r as keyof typeof TOKENS]}`),
        },
        { weight: 1, arbitrary: headerText.map((t) => `Bearer ${t}`) },
        { weight: 1, arbitrary: headerText },
        { weight: 1, arbitrary: fc.constant(undefined) },
      ),
      'content-type': fc.oneof(
        { weight: 8, arbitrary: fc.constant(preferredType) },
        { weight: 2, arbitrary: fc.constantFrom('application/json', 'application/octet-stream') },
        {
          weight: 2,
          arbitrary: fc.constantFrom(
            'application/json; charset=utf-8',
            'APPLICATION/JSON',
            'application/json; charset=utf-16',
            'application/json; charset=latin1',
            'text/plain',
            'multipart/form-data; boundary=x',
            'application/x-www-form-urlencoded',
            'application/*',
            '*/*',
            '',
          ),
        },
        { weight: 1, arbitrary: headerText },
        { weight: 1, arbitrary: fc.constant(undefined) },
      ),
      'content-encoding': sometimes(
        fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'x-unknown'),
        12,
      ),
      'idempotency-key': sometimes(fc.oneof(headerText, fc.constantFrom('k1', 'k2')), 4),
      'last-event-id': sometimes(
        fc.oneof(fc.integer({ min: -1, max: 100 }).map(String), headerText),
        6,
      ),
      accept: sometimes(
        fc.constantFrom('application/json', 'text/event-stream', 'text/html', '*/*'),
        3,
      ),
    })
    .map(
      (h) =>
        Object.fromEntries(Object.entries(h).filter(([, v]) => v !== undefined)) as Record<
          string,
          string
        >,
    );

const request = fc.constant(null).chain(() =>
  fc
    .oneof(
      {
        weight: 12,
        arbitrary: fc.constantFrom(
          ...routes,
          ['GET', '/api/v1/{name}'] as [string, string],
          ['POST', '/api/v1/runs/{id}'] as [string, string],
          ['GET', '/{name}'] as [string, string],
        ),
      },
      // the calls that change things, more often
      {
        weight: 4,
        arbitrary: fc.constant<[string, string]>(['POST', '/api/v1/workflows/{name}/runs']),
      },
      {
        weight: 2,
        arbitrary: fc.constant<[string, string]>(['PUT', '/api/v1/runs/{id}/files/{filename}']),
      },
      {
        weight: 1,
        arbitrary: fc.constantFrom<[string, string]>(
          ['POST', '/api/v1/runs/{id}/submit'],
          ['POST', '/api/v1/runs/{id}/cancel'],
          ['POST', '/api/v1/tokens'],
          ['POST', '/api/v1/runs/{id}/jobs/{name}/{index}/hold'],
          ['POST', '/api/v1/workflows/{name}/pause'],
          ['PUT', '/api/v1/limits/{name}'],
          ['PATCH', '/api/v1/runs/{id}'],
        ),
      },
    )
    .chain((route) =>
      fc.record({
        route: fc.constant(route),
        otherMethod: fc.oneof(
          { weight: 5, arbitrary: fc.constant<string | null>(null) },
          {
            weight: 1,
            arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'),
          },
        ),
        values: pathValues,
        query: queryString,
        body: route[1].includes('/files/')
          ? fc.oneof(
              fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
              body,
            )
          : body,
        headers: headersFor(
          route[1].includes('/files/') ? 'application/octet-stream' : 'application/json',
        ),
        withLength: fc.boolean(),
      }),
    ),
);

// ------------------------------------------------------------------ sending

interface Sent {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** Sent without a Content-Length (Transfer-Encoding: chunked). */
  chunked: boolean;
}
interface Answer {
  status: number;
  type: string;
  text: string;
}

function send(req: Sent): Promise<Answer | { clientError: string }> {
  const u = new URL(stack.url);
  return new Promise((resolve, reject) => {
    let r: http.ClientRequest;
    try {
      r = http.request(
        {
          host: u.hostname,
          port: u.port,
          method: req.method,
          path: req.path,
          headers: req.headers,
          agent: false,
        },
        (res) => {
          const type = String(res.headers['content-type'] ?? '');
          if (type.startsWith('text/event-stream')) {
            // a live stream: its status is the answer; do not wait for it to end
            res.destroy();
            resolve({ status: res.statusCode ?? 0, type, text: '' });
            return;
          }
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, type, text: Buffer.concat(chunks).toString() }),
          );
          res.on('error', (e) =>
            reject(new Error(`response of ${req.method} ${req.path} broke: ${String(e)}`)),
          );
        },
      );
    } catch (e) {
      // node refused to send it (e.g. a header it considers invalid): not the server's business
      resolve({ clientError: String(e) });
      return;
    }
    r.setTimeout(REQUEST_TIMEOUT_MS, () =>
      r.destroy(
        new Error(`no answer to ${req.method} ${req.path} within ${REQUEST_TIMEOUT_MS} ms`),
      ),
    );
    r.on('error', reject);
    if (req.body !== undefined && req.chunked) {
      r.write(req.body);
      r.end();
    } else {
      r.end(req.body);
    }
  });
}

type Generated = typeof request extends fc.Arbitrary<infer T> ? T : never;

function build(x: Generated): Sent & { route: string } {
  const [routeMethod, template] = x.route as [string, string];
  const values: Record<string, string> = {
    ...x.values,
    ...(template.includes('/workflows/{name}') ? { name: x.values.workflow } : {}),
  };
  const p = template.replace(/\{([^}]+)\}/g, (_m, key: string) => values[key] ?? x.values.other);
  const method = x.otherMethod ?? routeMethod;
  const hdrs: Record<string, string> = { ...x.headers };
  if (x.body === undefined) delete hdrs['content-encoding'];
  // node frames a GET/DELETE/HEAD/OPTIONS body only when told (it would send stray bytes otherwise)
  else if (x.withLength) hdrs['content-length'] = String(x.body.length);
  else hdrs['transfer-encoding'] = 'chunked';
  return {
    method,
    path: p + x.query,
    headers: hdrs,
    body: x.body,
    chunked: !x.withLength,
    route: `${method} ${template}`,
  };
}

const statuses = new Map<number, number>();
/** route -> status and error code -> count, printed with FUZZ_VERBOSE=1 to see where the generators land. */
const tally = new Map<string, number>();

test('no request, however odd, gets a 5xx or an error outside the envelope', async () => {
  const t0 = Date.now();
  await fc.assert(
    fc.asyncProperty(request, async (x) => {
      const req = build(x);
      const answer = await send(req);
      if ('clientError' in answer) return;
      // runs the fuzzer made become targets too (uploads need a created run)
      if (answer.status === 201 && req.route === 'POST /api/v1/workflows/{name}/runs')
        ids.runs.push(JSON.parse(answer.text).id);
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      const code = /"code":"([A-Z_]+)"/.exec(answer.text)?.[1] ?? '';
      tally.set(
        `${req.route} ${answer.status} ${code}`,
        (tally.get(`${req.route} ${answer.status} ${code}`) ?? 0) + 1,
      );
      const where = `${req.method} ${req.path} ${JSON.stringify(req.headers)} body=${req.body?.toString('utf8').slice(0, 200)} -> ${answer.status} ${answer.type} ${answer.text.slice(0, 300)}`;
      const healthDown = answer.status === 503 && req.path.startsWith('/health');
      if (answer.status >= 500 && !healthDown) throw new Error(`5xx: ${where}`);
      if (/\n\s+at |node_modules|\.ts:\d+/.test(answer.text))
        throw new Error(`stack trace in answer: ${where}`);
      if (answer.status >= 400 && req.method !== 'HEAD' && !healthDown) {
        if (!answer.type.startsWith('application/json'))
          throw new Error(`error not JSON: ${where}`);
        let parsed: any;
        try {
          parsed = JSON.parse(answer.text);
        } catch {
          throw new Error(`error body not JSON: ${where}`);
        }
        const e = parsed?.error;
        const ok =
          Object.keys(parsed).length === 1 &&
          typeof e?.code === 'string' &&
          /^[A-Z][A-Z0-9_]*$/.test(e.code) &&
          typeof e.message === 'string' &&
          e.message.length > 0 &&
          e.details !== null &&
          typeof e.details === 'object' &&
          !Array.isArray(e.details);
        if (!ok) throw new Error(`not the error envelope: ${where}`);
        if (answer.status === 500) throw new Error(`500: ${where}`);
      }
    }),
    { numRuns: RUNS, seed: SEED, interruptAfterTimeLimit: 30_000, markInterruptAsFailure: false },
  );
  const summary = [...statuses.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([s, n]) => `${s}:${n}`)
    .join(' ');
  // Most answers should be refusals, but some must get through (the generators are not all noise).
  expect([...statuses.keys()].some((s) => s < 300)).toBe(true);
  expect([...statuses.keys()].some((s) => s >= 400)).toBe(true);
  if (process.env.FUZZ_VERBOSE) {
    const lines = [...tally.entries()]
      .sort((a, b) => a[0].localeCompare(b[0]))
      .map(([k, n]) => `  ${k}: ${n}`);
    console.log(
      `fuzz: ${RUNS} requests in ${Date.now() - t0} ms; statuses ${summary}\n${lines.join('\n')}`,
    );
  }
});

test('the service still works after the fuzz pass', async () => {
  // (another test file may be restarting the broker or Postgres on this machine: give health a moment)
  let health = await stack.call('GET', '/health', { role: null });
  for (let i = 0; i < 40 && health.status !== 200; i++) {
    await new Promise((res) => setTimeout(res, 500));
    health = await stack.call('GET', '/health', { role: null });
  }
  expect(health.status).toBe(200);
  // The fuzzer may have paused the workflow (a control that worked, as it should).
  expect((await stack.call('POST', '/api/v1/workflows/radps_skeleton/unpause')).status).toBe(200);
  const r = await stack.call('POST', '/api/v1/workflows/radps_skeleton/runs', {
    body: { parameters: { nField: 1, nSpw: 1, nScan: 1 }, submit: true },
  });
  expect(r.status).toBe(201);
  expect((await stack.waitForRun(r.body.id)).state).toBe('complete');
  const list = await stack.call('GET', '/api/v1/runs?limit=500', { role: 'viewer' });
  expect(list.status).toBe(200);
  // no run was left half made: every run has its directory and its created event
  const orphans = await stack.db.query(
    `SELECT r.id FROM runs r WHERE r.processing_dir IS NULL OR NOT EXISTS (SELECT 1 FROM events e WHERE e.run_id = r.id AND e.sequence = 1)`,
  );
  expect(orphans).toEqual([]);
});
