/**
 * The fuzz pass over the file-system facing inputs (issue 9; QUALITY.md "a
 * fuzz pass over every endpoint ... finding no 5xx"): generated upload file
 * names, result directories (built from hostile segments and from planted
 * files, dangling links and links out of the roots) and multipart bodies on
 * rerun and ingest (well-formed with random parts and fields, and raw bytes
 * with a multipart content type). No answer is a 5xx, every refusal is the
 * contract's envelope without a stack trace, and nothing is written outside
 * the roots.
 *
 * Reproduce a failure with FUZZ_SEED=<seed printed by fast-check>; widen the
 * pass with FUZZ_RUNS=<n>.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import fc from 'fast-check';
import { startStack, Stack, TOKENS } from '@wfs/testing';
import { isErrorEnvelope, lstatTree, outsideDir } from './support/files';

const RUNS = Number(process.env.FUZZ_RUNS ?? 150);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const params = { numRuns: RUNS, seed: SEED, endOnFailure: true };

let stack: Stack;
let outside: string;
let resultsRoot: string;
/** A created std_calibration run (rerun source, upload target) and a complete one (ingest target). */
let createdRun: any;
let completeRun: any;

beforeAll(async () => {
  stack = await startStack({ workers: 1, env: { WFS_MAX_UPLOAD_BYTES: '65536' } });
  resultsRoot = stack.config.resultsRoots[0] as string;
  outside = outsideDir('fuzz');
  // Things for generated paths to run into: a file, a dangling link, a link out, a link back in.
  fs.writeFileSync(path.join(resultsRoot, 'a-file'), 'x');
  fs.symlinkSync(path.join(outside, 'missing'), path.join(resultsRoot, 'dangling'));
  fs.symlinkSync(outside, path.join(resultsRoot, 'link-out'));
  fs.mkdirSync(path.join(resultsRoot, 'real-dir'));
  fs.symlinkSync(path.join(resultsRoot, 'real-dir'), path.join(resultsRoot, 'link-in'));

  const make = async (body: Record<string, unknown>) => {
    const r = await stack.call('POST', '/api/v1/workflows/std_calibration/runs', { body });
    if (r.status !== 201) throw new Error(`fixture run: ${r.status} ${r.text}`);
    return r.body;
  };
  createdRun = await make({ subject: '19A-001.sb1.eb1' });
  await stack.call('PUT', `/api/v1/runs/${createdRun.id}/files/PPR.xml`, {
    raw: '<ppr/>',
    headers: { 'content-type': 'application/octet-stream' },
  });
  const done = await make({ subject: '19A-002.sb1.eb1', submit: true });
  completeRun = await stack.waitForRun(done.id);
  if (completeRun.state !== 'complete')
    throw new Error(`fixture run ${done.id} ${completeRun.state}`);
}, 120_000);

afterAll(async () => {
  if (process.env.FUZZ_VERBOSE) console.log(seen);
  await stack?.stop();
  if (outside) fs.rmSync(outside, { recursive: true, force: true });
});

// ---------------------------------------------------------------- checks

interface Reply {
  status: number;
  body: any;
  text: string;
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** Plain node:http: bytes and paths exactly as generated (fetch would normalise some). */
function raw(
  method: string,
  p: string,
  headers: Record<string, string>,
  body?: Buffer | string,
): Promise<Reply> {
  const u = new URL(stack.url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        method,
        path: p,
        headers: { authorization: `Bearer ${TOKENS.admin}`, ...headers },
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode ?? 0, body: parse(text), text });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${p}: no answer in 10 s`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** No 5xx; a refusal is the envelope without the server's insides; nothing written outside. */
const seen: Record<string, number> = {};
function acceptable(what: string, r: Reply): void {
  const key = `${what.split(' ')[0]} ${r.status} ${r.body?.error?.code ?? ''}`;
  seen[key] = (seen[key] ?? 0) + 1;
  const context = `${what} -> ${r.status} ${r.text.slice(0, 300)}`;
  expect([r.status < 500, context]).toEqual([true, context]);
  if (r.status >= 400) {
    expect([isErrorEnvelope(r.body), context]).toEqual([true, context]);
    expect(r.text).not.toMatch(/\n\s+at |node_modules|\.ts:\d+|\.js:\d+/);
  }
  expect([lstatTree(outside), context]).toEqual([[], context]);
}

// ---------------------------------------------------------------- arbitraries

const HOSTILE = [
  '..',
  '.',
  '',
  '...',
  '.hidden',
  '-dash',
  'a/b',
  'a\\b',
  'a\u0000b',
  'a\nb',
  'a\rb',
  '\t',
  '\u0001',
  '\u001b[31m',
  '\u007f',
  '\u202e',
  '\ufeff',
  'é',
  '日本',
  '😀',
  'x'.repeat(129),
  'y'.repeat(255),
  'z'.repeat(300),
  'CON',
  'nul',
  '%2e%2e',
  '%00',
  '$(id)',
  '`id`',
  '; rm -rf x',
  '*',
  '?',
  ' ',
  'name ',
  'PPR.xml',
  'flux.csv',
  'a-file',
  'dangling',
  'link-out',
  'link-in',
  'real-dir',
];

const segment = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...HOSTILE) },
  { weight: 2, arbitrary: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
);

/** A file name as it goes in the URL: mostly percent-encoded, sometimes raw escapes. */
const fileNameInUrl = fc.oneof(
  { weight: 4, arbitrary: segment.map((s) => encodeURIComponent(s)) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('%2e%2e', '..%2F..%2Fx', '%00', '%FF', '%', 'a%2Fb', '%5C'),
  },
);

const resultsDir = fc.oneof(
  {
    weight: 5,
    arbitrary: fc
      .array(segment, { minLength: 1, maxLength: 4 })
      .map((segs) => `${resultsRoot}/${segs.join('/')}`),
  },
  { weight: 1, arbitrary: fc.array(segment, { maxLength: 3 }).map((s) => `/${s.join('/')}`) },
  { weight: 1, arbitrary: segment },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(
        () => resultsRoot,
        () => `${resultsRoot}/`,
        () => `${resultsRoot}//x`,
        () => `${resultsRoot}/./x`,
        () => `${resultsRoot}/link-out/x`,
        () => `${resultsRoot}/link-in/x`,
        () => `${resultsRoot}/a-file/x`,
        () => `${resultsRoot}/dangling/x`,
      )
      .map((f) => f()),
  },
);

const INPUT_NAMES = [
  'PPR.xml',
  'flagtemplate.txt',
  'flux.csv',
  'qa_report.txt',
  'flagtargetstemplate.txt',
];
const partName = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...INPUT_NAMES) },
  { weight: 1, arbitrary: segment },
);
const part = fc.record({
  name: partName,
  filename: fc.option(segment, { nil: undefined }),
  data: fc.uint8Array({ maxLength: 2048 }),
});
const jsonish = fc.oneof(
  fc.json({ maxDepth: 4 }),
  fc.constantFrom(
    '{"recipe":"hifv"}',
    '{"recipe":' + '['.repeat(3000) + ']'.repeat(3000) + '}',
    '{"casaVersion":' + '{"a":'.repeat(3000) + '1' + '}'.repeat(3000) + '}',
    '{"__proto__":{"x":1}}',
    '{"recipe":"hifv","recipe":"hifv_calimage_cont"}',
    '',
    'null',
    '[]',
  ),
  fc.string({ maxLength: 50 }),
);
/** Mostly absent: an unknown field is refused before anything else is looked at. */
const rarely = <T>(a: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 6, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: a });
const rerunFields = fc.record(
  {
    parameters: fc.oneof(
      { weight: 2, arbitrary: fc.constant(undefined) },
      { weight: 2, arbitrary: fc.constantFrom('{}', '{"recipe":"hifv_calimage_cont"}') },
      { weight: 3, arbitrary: jsonish },
    ),
    // Never "true", nor absent (the default is true): the pass makes runs, it does not run them.
    submit: fc.oneof(
      { weight: 4, arbitrary: fc.constant('false') },
      { weight: 1, arbitrary: fc.constantFrom('FALSE', '0', '', 'no') },
    ),
    extra: rarely(fc.string({ maxLength: 20 })),
  },
  { requiredKeys: ['submit'] },
);
const ingestFields = fc.record(
  {
    qa: fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom('pass', 'fail', 'null') },
      { weight: 1, arbitrary: fc.constantFrom('PASS', '') },
      { weight: 1, arbitrary: fc.string({ maxLength: 10 }) },
    ),
    analyst: fc.oneof(
      { weight: 3, arbitrary: fc.constant('tester') },
      { weight: 1, arbitrary: fc.string({ maxLength: 300 }) },
    ),
    comments: fc.string({ maxLength: 100 }),
    extra: rarely(fc.string({ maxLength: 10 })),
  },
  { requiredKeys: ['qa', 'analyst'] },
);

/** A well-formed multipart body, built by hand so that names, file names and duplicates are exactly as generated. */
function multipart(
  fields: Record<string, string>,
  parts: Array<{ name: string; filename?: string; data: Uint8Array }>,
): { body: Buffer; type: string } {
  const boundary = `----wfsfuzz${Math.random().toString(16).slice(2)}`;
  const chunks: Buffer[] = [];
  const quote = (s: string) => s.replace(/["\r\n\\]/g, (c) => encodeURIComponent(c));
  for (const [k, v] of Object.entries(fields)) {
    chunks.push(
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${quote(k)}"\r\n\r\n`),
      Buffer.from(v),
      Buffer.from('\r\n'),
    );
  }
  for (const p of parts) {
    chunks.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${quote(p.name)}"; filename="${quote(p.filename ?? p.name)}"\r\n` +
          'Content-Type: application/octet-stream\r\n\r\n',
      ),
      Buffer.from(p.data),
      Buffer.from('\r\n'),
    );
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), type: `multipart/form-data; boundary=${boundary}` };
}

const { body: RAW_SAMPLE } = multipart({ submit: 'false' }, [
  { name: 'PPR.xml', data: Buffer.from('<ppr/>') },
]);
/** Broken multipart: truncated, mangled or random bytes under a multipart content type. */
const brokenMultipart = fc.oneof(
  fc.nat({ max: RAW_SAMPLE.length }).map((n) => RAW_SAMPLE.subarray(0, n)),
  fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)),
  fc
    .tuple(fc.nat({ max: RAW_SAMPLE.length - 1 }), fc.uint8Array({ minLength: 1, maxLength: 16 }))
    .map(([at, junk]) =>
      Buffer.concat([RAW_SAMPLE.subarray(0, at), Buffer.from(junk), RAW_SAMPLE.subarray(at)]),
    ),
);
const boundaryHeader = fc.constantFrom(
  'multipart/form-data; boundary=----wfsfuzz',
  'multipart/form-data',
  'multipart/form-data; boundary=',
  'multipart/form-data; boundary="a b"',
  `multipart/form-data; boundary=${'b'.repeat(200)}`,
  'multipart/mixed; boundary=x',
);

// ---------------------------------------------------------------- properties

describe('fuzz: files, result directories, multipart', () => {
  test('generated upload file names: no 5xx; anything stored is listed under its contract name', async () => {
    const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
    const run = (
      await stack.call('POST', '/api/v1/workflows/std_calibration/runs', {
        body: { subject: '19A-003.sb1.eb1' },
      })
    ).body;
    await fc.assert(
      fc.asyncProperty(fileNameInUrl, fc.uint8Array({ maxLength: 256 }), async (name, data) => {
        for (const method of ['PUT', 'GET']) {
          const r = await raw(
            method,
            `/api/v1/runs/${run.id}/files/${name}`,
            method === 'PUT' ? { 'content-type': 'application/octet-stream' } : {},
            method === 'PUT' ? Buffer.from(data) : undefined,
          );
          acceptable(`${method} files/${name}`, r);
          if (method === 'PUT' && r.status === 201) expect(r.body.name).toMatch(NAME);
        }
      }),
      params,
    );
    const files = await stack.call('GET', `/api/v1/runs/${run.id}/files`, { role: 'viewer' });
    for (const f of files.body.items) expect(f.name).toMatch(NAME);
    const inputs = path.join(run.processingDir, 'inputs');
    for (const entry of fs.readdirSync(inputs)) expect(entry).toMatch(NAME);
  }, 300_000);

  test('generated result directories: no 5xx; a created run lies inside a results root', async () => {
    const realRoot = fs.realpathSync(resultsRoot);
    await fc.assert(
      fc.asyncProperty(resultsDir, async (dir) => {
        const r = await raw(
          'POST',
          '/api/v1/workflows/radps_skeleton/runs',
          { 'content-type': 'application/json' },
          JSON.stringify({ parameters: { nField: 1, nSpw: 1, nScan: 1 }, resultsDir: dir }),
        );
        acceptable(`resultsDir ${JSON.stringify(dir)}`, r);
        if (r.status === 201) {
          const real = fs.realpathSync(r.body.processingDir);
          expect(real.startsWith(realRoot + '/')).toBe(true);
          expect(r.body.resultsDir ?? '').not.toMatch(/\p{Cc}/u);
        }
      }),
      params,
    );
    // The planted things are as they were.
    expect(fs.lstatSync(path.join(resultsRoot, 'dangling')).isSymbolicLink()).toBe(true);
    expect(fs.lstatSync(path.join(resultsRoot, 'link-out')).isSymbolicLink()).toBe(true);
    expect(fs.readFileSync(path.join(resultsRoot, 'a-file'), 'utf8')).toBe('x');
  }, 300_000);

  test('generated multipart bodies on rerun and ingest: no 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('rerun', 'ingest'),
        fc.array(part, { maxLength: 4 }),
        rerunFields,
        ingestFields,
        async (op, parts, rf, inf) => {
          const fields = Object.fromEntries(
            Object.entries(op === 'rerun' ? rf : inf).filter(([, v]) => v !== undefined),
          ) as Record<string, string>;
          const { body, type } = multipart(fields, parts);
          const target = op === 'rerun' ? createdRun.id : completeRun.id;
          const r = await raw(
            'POST',
            `/api/v1/runs/${target}/${op}`,
            { 'content-type': type },
            body,
          );
          acceptable(
            `${op} ${JSON.stringify(fields).slice(0, 200)} parts ${parts.map((p) => p.name)}`,
            r,
          );
        },
      ),
      params,
    );
  }, 300_000);

  test('broken multipart bytes on rerun and ingest: no 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('rerun', 'ingest'),
        boundaryHeader,
        brokenMultipart,
        async (op, type, bytes) => {
          const target = op === 'rerun' ? createdRun.id : completeRun.id;
          const r = await raw(
            'POST',
            `/api/v1/runs/${target}/${op}`,
            { 'content-type': type },
            bytes,
          );
          acceptable(`${op} ${type} ${bytes.length} bytes`, r);
        },
      ),
      params,
    );
    // The service still works.
    const health = await stack.call('GET', '/health', { role: null });
    expect(health.status).toBe(200);
  }, 300_000);
});
