/**
 * Bad input over HTTP (QUALITY.md "Bad input", CONTRACT.md section 2): every
 * refusal is a clear 4xx in the contract's envelope, never a 5xx or a stack
 * trace, and leaves nothing behind (no row, no event, no file, no directory).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { startStack, Stack, TOKENS } from '@wfs/testing';
import { lexists, postMultipart } from './support/files';

const MAX_UPLOAD = 1024;
const MAX_JOBS = 1000;
const SMALL = { nField: 1, nSpw: 1, nScan: 1 }; // 20 job instances
const BIG = { nField: 1, nSpw: 50, nScan: 100 }; // 10,655 job instances > MAX_JOBS

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    workers: 1,
    env: { WFS_MAX_JOBS_PER_RUN: String(MAX_JOBS), WFS_MAX_UPLOAD_BYTES: String(MAX_UPLOAD) },
  });
});
afterAll(async () => {
  await stack?.stop();
});

type Reply = {
  status: number;
  body: any;
  text: string;
  headers: Headers | http.IncomingHttpHeaders;
};

/** The contract's error envelope, with nothing of the server's insides in it. */
function expectError(res: Reply, status: number, code?: string | RegExp): any {
  const context = `${res.status} ${res.text.slice(0, 500)}`;
  expect([res.status, context]).toEqual([status, context]);
  expect(res.body).toEqual({
    error: {
      code: expect.stringMatching(/^[A-Z][A-Z0-9_]*$/),
      message: expect.any(String),
      details: expect.any(Object),
    },
  });
  expect(Object.keys(res.body)).toEqual(['error']);
  expect(res.body.error.message.length).toBeGreaterThan(0);
  expect(res.text).not.toMatch(/\n\s+at |node_modules|\.ts:\d+|\.js:\d+/);
  if (code instanceof RegExp) expect(res.body.error.code).toMatch(code);
  else if (code) expect(res.body.error.code).toBe(code);
  return res.body.error;
}

/** A 400 whose details name `field`. */
function expectInvalidField(res: Reply, field: string, code?: string): void {
  const error = expectError(res, 400, code);
  expect(Object.keys(error.details.fields ?? {})).toContain(field);
}

/** Plain node:http, for paths fetch would normalise (`..`, `%2e%2e`) and for exact headers. */
function raw(
  method: string,
  p: string,
  opts: {
    headers?: Record<string, string>;
    body?: Buffer | string;
    role?: keyof typeof TOKENS | null;
  } = {},
): Promise<Reply> {
  const u = new URL(stack.url);
  const role = opts.role === undefined ? 'admin' : opts.role;
  const headers: Record<string, string> = {
    ...(role ? { authorization: `Bearer ${TOKENS[role]}` } : {}),
    ...opts.headers,
  };
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, method, path: p, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let body: unknown = null;
          try {
            body = JSON.parse(text);
          } catch {
            body = null;
          }
          resolve({ status: res.statusCode ?? 0, body, text, headers: res.headers });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

const createUrl = (workflow = 'radps_skeleton') => `/api/v1/workflows/${workflow}/runs`;
const octet = { 'content-type': 'application/octet-stream' };

async function createRun(body: Record<string, unknown> = { parameters: SMALL }): Promise<any> {
  const r = await stack.call('POST', createUrl(), { body });
  expect([r.status, r.text.slice(0, 300)]).toEqual([201, expect.any(String)]);
  return r.body;
}

function tree(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).map(String).sort();
}

/** Everything a refused call must leave untouched. */
async function snapshot(): Promise<unknown> {
  const [counts] = await stack.db.query(
    `SELECT (SELECT count(*) FROM runs) AS runs, (SELECT count(*) FROM requests) AS requests,
            (SELECT count(*) FROM run_files) AS files, (SELECT count(*) FROM events) AS events,
            (SELECT count(*) FROM jobs) AS jobs, (SELECT count(*) FROM job_groups) AS groups,
            (SELECT count(*) FROM idempotency_keys) AS keys, (SELECT count(*) FROM api_tokens) AS tokens`,
  );
  const roots = [
    ...new Set([stack.config.processingRoot, stack.config.qaRoot, ...stack.config.resultsRoots]),
  ];
  return { counts, dirs: Object.fromEntries(roots.map((r) => [r, tree(r)])) };
}

/** Runs `fn` (a batch of refused calls) and checks nothing changed. */
async function changesNothing(fn: () => Promise<void>): Promise<void> {
  const before = await snapshot();
  await fn();
  expect(await snapshot()).toEqual(before);
}

const runCount = async (where = 'true', params: unknown[] = []): Promise<number> =>
  Number(
    (
      await stack.db.query<{ n: string }>(`SELECT count(*) AS n FROM runs WHERE ${where}`, params)
    )[0]?.n,
  );

describe('JSON bodies', () => {
  test('malformed JSON, non-object bodies and non-UTF-8 bytes are 400s', async () => {
    await changesNothing(async () => {
      for (const text of [
        '{',
        '{"parameters":',
        '{"a":1,}',
        "{'a':1}",
        '{"a":1}}',
        'nul',
        '{"a":"\\x"}',
      ]) {
        const r = await stack.call('POST', createUrl(), {
          raw: text,
          headers: { 'content-type': 'application/json' },
        });
        expectError(r, 400, 'MALFORMED_JSON');
      }
      // strict JSON: only objects and arrays at the top; an array is not an object
      for (const text of ['"a string"', '5', 'true', 'null']) {
        expectError(
          await stack.call('POST', createUrl(), {
            raw: text,
            headers: { 'content-type': 'application/json' },
          }),
          400,
        );
      }
      for (const text of ['[]', '[{"parameters":{}}]']) {
        expectError(
          await stack.call('POST', createUrl(), {
            raw: text,
            headers: { 'content-type': 'application/json' },
          }),
          400,
          'INVALID_REQUEST',
        );
      }
      const bytes = Buffer.from([0x7b, 0xff, 0xfe, 0x7d]);
      expectError(
        await stack.call('POST', createUrl(), {
          raw: bytes,
          headers: { 'content-type': 'application/json' },
        }),
        400,
      );
      // the same on other JSON endpoints
      expectError(
        await stack.call('POST', '/api/v1/tokens', {
          raw: '{"name":',
          headers: { 'content-type': 'application/json' },
        }),
        400,
        'MALFORMED_JSON',
      );
      expectError(
        await stack.call('POST', '/api/v1/tokens', {
          raw: '[1]',
          headers: { 'content-type': 'application/json' },
        }),
        400,
        'INVALID_REQUEST',
      );
    });
  });

  test('wrong types name each bad field', async () => {
    await changesNothing(async () => {
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ subject: 5 }, 'subject'],
        [{ subject: ['a'] }, 'subject'],
        [{ subject: 'x'.repeat(201) }, 'subject'],
        [{ submit: 'yes' }, 'submit'],
        [{ submit: 1 }, 'submit'],
        [{ parameters: [] }, 'parameters'],
        [{ parameters: 'nField=1' }, 'parameters'],
        [{ parameters: 3 }, 'parameters'],
        [{ correlationId: 5 }, 'correlationId'],
        [{ correlationId: { a: 1 } }, 'correlationId'],
        [{ resultsDir: 5 }, 'resultsDir'],
        [{ resultsDir: ['/tmp'] }, 'resultsDir'],
      ];
      for (const [body, field] of cases) {
        expectInvalidField(
          await stack.call('POST', createUrl(), { body: { parameters: SMALL, ...body } }),
          field,
        );
      }
      // several at once: each is named
      const r = await stack.call('POST', createUrl(), {
        body: { subject: 5, submit: 'yes', parameters: [] },
      });
      expectError(r, 400);
      expect(Object.keys(r.body.error.details.fields)).toEqual(
        expect.arrayContaining(['subject', 'submit', 'parameters']),
      );
    });
  });

  test('unknown fields are 400 naming the field', async () => {
    await changesNothing(async () => {
      expectInvalidField(
        await stack.call('POST', createUrl(), { body: { parameters: SMALL, foo: 1 } }),
        'foo',
      );
      expectInvalidField(
        await stack.call('POST', createUrl(), { body: { parameters: SMALL, Subject: 'x' } }),
        'Subject',
      );
      for (const key of ['__proto__', 'constructor', 'prototype']) {
        const text = `{"parameters":{"nField":1,"nSpw":1,"nScan":1},"${key}":{"polluted":true}}`;
        expectInvalidField(
          await stack.call('POST', createUrl(), {
            raw: text,
            headers: { 'content-type': 'application/json' },
          }),
          key,
        );
      }
      const nested = '{"parameters":{"nField":1,"nSpw":1,"nScan":1,"__proto__":{"polluted":true}}}';
      expectError(
        await stack.call('POST', createUrl(), {
          raw: nested,
          headers: { 'content-type': 'application/json' },
        }),
        400,
      );
      expect(({} as any).polluted).toBeUndefined();
      expectInvalidField(
        await stack.call('POST', '/api/v1/tokens', {
          body: { name: 'x', role: 'da', scopes: ['all'] },
        }),
        'scopes',
      );
    });
  });

  test('NUL characters and absurd nesting are 400s, not database errors', async () => {
    await changesNothing(async () => {
      expectInvalidField(
        await stack.call('POST', createUrl(), {
          body: { parameters: SMALL, correlationId: 'a\u0000b' },
        }),
        'correlationId',
      );
      expectError(
        await stack.call('POST', createUrl('std_calibration'), {
          body: { subject: '19A-1.eb1', parameters: { casaVersion: '6.6.1\u0000' } },
        }),
        400,
      );
      expectInvalidField(
        await stack.call('POST', createUrl(), {
          body: { parameters: SMALL, resultsDir: `${stack.config.resultsRoots[0]}/a\u0000b` },
        }),
        'resultsDir',
      );
      for (const depth of [50, 5_000, 50_000]) {
        const deep = '{"parameters":' + '{"a":'.repeat(depth) + '1' + '}'.repeat(depth) + '}';
        expectError(
          await stack.call('POST', createUrl(), {
            raw: deep,
            headers: { 'content-type': 'application/json' },
          }),
          400,
        );
        const arrays = '{"parameters":{"x":' + '['.repeat(depth) + ']'.repeat(depth) + '}}';
        expectError(
          await stack.call('POST', createUrl(), {
            raw: arrays,
            headers: { 'content-type': 'application/json' },
          }),
          400,
        );
      }
    });
  });

  test('bodies over 1 MB are 413, with or without a Content-Length', async () => {
    await changesNothing(async () => {
      const huge = JSON.stringify({ parameters: SMALL, correlationId: 'x'.repeat(1_100_000) });
      expectError(await stack.call('POST', createUrl(), { body: JSON.parse(huge) }), 413);
      expectError(
        await stack.call('POST', '/api/v1/tokens', {
          raw: huge,
          headers: { 'content-type': 'application/json' },
        }),
        413,
      );
      // chunked: body-parser counts as it reads
      let sent = 0;
      const stream = new ReadableStream({
        pull(ctrl) {
          if (sent === 0) ctrl.enqueue(new TextEncoder().encode('{"correlationId":"'));
          if (sent > 2_000_000) return ctrl.close();
          sent += 64 * 1024;
          ctrl.enqueue(new Uint8Array(64 * 1024).fill(0x61));
        },
      });
      const r = await fetch(stack.url + createUrl(), {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKENS.admin}`, 'content-type': 'application/json' },
        body: stream,
        duplex: 'half',
      } as RequestInit);
      const text = await r.text();
      expectError({ status: r.status, text, body: JSON.parse(text), headers: r.headers }, 413);

      // a body that never ends: only a count kept while reading can answer at all
      let endlessSent = 0;
      const endless = new ReadableStream({
        async pull(ctrl) {
          await new Promise((res) => setTimeout(res, 1));
          endlessSent += 16 * 1024;
          ctrl.enqueue(new Uint8Array(16 * 1024).fill(0x20));
        },
      });
      const e = await fetch(stack.url + createUrl(), {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKENS.admin}`, 'content-type': 'application/json' },
        body: endless,
        duplex: 'half',
        signal: AbortSignal.timeout(10_000),
      } as RequestInit);
      const endlessText = await e.text();
      expectError(
        { status: e.status, text: endlessText, body: JSON.parse(endlessText), headers: e.headers },
        413,
      );
      expect(endlessSent).toBeLessThan(16 * 1024 * 1024);
    });
  });

  test('unknown workflows are 404', async () => {
    await changesNothing(async () => {
      for (const name of [
        'nope',
        'RADPS_SKELETON',
        'radps_skeleton ',
        '..',
        'std_calibration.yaml',
      ]) {
        expectError(
          await stack.call('POST', createUrl(encodeURIComponent(name)), {
            body: { parameters: SMALL },
          }),
          404,
        );
        expectError(
          await stack.call('GET', `/api/v1/workflows/${encodeURIComponent(name)}`, {
            role: 'viewer',
          }),
          404,
        );
      }
    });
  });

  test('parameters failing the schema name parameters.<x>', async () => {
    await changesNothing(async () => {
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ ...SMALL, nField: 0 }, 'parameters.nField'],
        [{ ...SMALL, nSpw: -3 }, 'parameters.nSpw'],
        [{ ...SMALL, nScan: 1.5 }, 'parameters.nScan'],
        [{ ...SMALL, nScan: '4' }, 'parameters.nScan'],
        [{ ...SMALL, nField: 11 }, 'parameters.nField'],
        [{ nField: 1, nSpw: 1 }, 'parameters.nScan'],
        [{ ...SMALL, workSeconds: 'soon' }, 'parameters.workSeconds'],
        [{ ...SMALL, bogus: true }, 'parameters.bogus'],
      ];
      for (const [parameters, field] of cases) {
        expectInvalidField(
          await stack.call('POST', createUrl(), { body: { parameters } }),
          field,
          'INVALID_PARAMETERS',
        );
      }
      // every missing one is named
      const r = await stack.call('POST', createUrl(), { body: {} });
      expectError(r, 400, 'INVALID_PARAMETERS');
      expect(Object.keys(r.body.error.details.fields)).toEqual(
        expect.arrayContaining(['parameters.nField', 'parameters.nSpw', 'parameters.nScan']),
      );
      const std = (parameters: Record<string, unknown>) =>
        stack.call('POST', createUrl('std_calibration'), {
          body: { subject: '19A-001.sb1.eb1', parameters },
        });
      expectInvalidField(await std({ recipe: 'hifa' }), 'parameters.recipe', 'INVALID_PARAMETERS');
      expectInvalidField(await std({ recipe: 5 }), 'parameters.recipe', 'INVALID_PARAMETERS');
      expectInvalidField(
        await std({ casaVersion: '6.6; rm -rf /' }),
        'parameters.casaVersion',
        'INVALID_PARAMETERS',
      );
    });
  });

  test('std_calibration without a subject, or with one CONTRACT 5.2 refuses, is 400', async () => {
    await changesNothing(async () => {
      expectInvalidField(
        await stack.call('POST', createUrl('std_calibration'), { body: {} }),
        'subject',
        'SUBJECT_REQUIRED',
      );
      expectInvalidField(
        await stack.call('POST', createUrl('std_calibration'), { body: { subject: null } }),
        'subject',
        'SUBJECT_REQUIRED',
      );
      // CONTRACT 5.2: any 1-200 printable characters are a subject (../x and $(reboot) are
      // data, never paths or commands: test/new-user.test.ts); these are not.
      for (const subject of [
        '',
        'x'.repeat(201),
        'a\u0000b',
        'a\nb',
        'a\u007fb',
        'a\u0085b',
        'a\u202eb',
      ]) {
        expectInvalidField(
          await stack.call('POST', createUrl('std_calibration'), { body: { subject } }),
          'subject',
        );
      }
    });
  });

  test('an invalid Idempotency-Key is 400', async () => {
    await changesNothing(async () => {
      for (const key of ['has space', 'x'.repeat(201)]) {
        expectInvalidField(
          await stack.call('POST', createUrl(), {
            body: { parameters: SMALL },
            headers: { 'idempotency-key': key },
          }),
          'Idempotency-Key',
        );
      }
    });
  });
});

describe('scatter limit (WFS_MAX_JOBS_PER_RUN)', () => {
  test('create with submit: 400 TOO_MANY_JOBS and no run, request, job or event row', async () => {
    const before = (await snapshot()) as { counts: unknown };
    const r = await stack.call('POST', createUrl(), { body: { parameters: BIG, submit: true } });
    const error = expectError(r, 400, 'TOO_MANY_JOBS');
    expect(error.details).toMatchObject({ instances: 10_655, limit: MAX_JOBS });
    expect(((await snapshot()) as { counts: unknown }).counts).toEqual(before.counts);
  });

  // A refused create leaves nothing behind: the plan is checked before anything is written,
  // and a transaction that rolls back removes the run directories it made.
  test('create with submit over the limit leaves no directory behind', async () => {
    await changesNothing(async () => {
      expectError(
        await stack.call('POST', createUrl(), { body: { parameters: BIG, submit: true } }),
        400,
        'TOO_MANY_JOBS',
      );
    });
  });

  test('submit of a created run over the limit: 400, the run stays created with no jobs', async () => {
    const run = await createRun({ parameters: BIG });
    await changesNothing(async () => {
      expectError(await stack.call('POST', `/api/v1/runs/${run.id}/submit`), 400, 'TOO_MANY_JOBS');
    });
    const after = await stack.call('GET', `/api/v1/runs/${run.id}`);
    expect(after.body.state).toBe('created');
    expect(after.body.jobs).toEqual([]);
  });
});

describe('content types', () => {
  test('a JSON endpoint given text/plain (or no type) is 415', async () => {
    const run = await createRun();
    await changesNothing(async () => {
      const text = JSON.stringify({ parameters: SMALL });
      for (const type of [
        'text/plain',
        'application/x-www-form-urlencoded',
        'application/octet-stream',
        'multipart/form-data; boundary=x',
        'application/jsonx',
      ]) {
        expectError(
          await stack.call('POST', createUrl(), { raw: text, headers: { 'content-type': type } }),
          415,
          'UNSUPPORTED_MEDIA_TYPE',
        );
      }
      expectError(await raw('POST', createUrl(), { body: text }), 415, 'UNSUPPORTED_MEDIA_TYPE');
      expectError(
        await stack.call('POST', `/api/v1/runs/${run.id}/submit`, {
          raw: 'go',
          headers: { 'content-type': 'text/plain' },
        }),
        415,
      );
      expectError(
        await stack.call('POST', `/api/v1/runs/${run.id}/cancel`, {
          raw: 'go',
          headers: { 'content-type': 'text/plain' },
        }),
        415,
      );
      expectError(
        await stack.call('POST', '/api/v1/tokens', {
          raw: 'name=x&role=da',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        }),
        415,
      );
    });
    // the type's parameters and case do not matter
    const ok = await stack.call('POST', createUrl(), {
      raw: JSON.stringify({ parameters: SMALL }),
      headers: { 'content-type': 'Application/JSON; charset=utf-8' },
    });
    expect(ok.status).toBe(201);
  });

  test('an upload that is not application/octet-stream is 415, whatever its bytes', async () => {
    const run = await createRun();
    await changesNothing(async () => {
      for (const [type, body] of [
        ['application/json', '{"a":1}'],
        ['application/json', Buffer.from([0xff, 0x00, 0x01])],
        ['text/plain', 'hello'],
        ['multipart/form-data; boundary=x', '--x--'],
      ] as Array<[string, string | Buffer]>) {
        expectError(
          await stack.call('PUT', `/api/v1/runs/${run.id}/files/a.txt`, {
            raw: body,
            headers: { 'content-type': type },
          }),
          415,
          'UNSUPPORTED_MEDIA_TYPE',
        );
      }
      expectError(
        await raw('PUT', `/api/v1/runs/${run.id}/files/a.txt`, { body: 'hello' }),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      );
      // a JSON-labelled upload larger than the JSON limit is still a 415, not parsed
      expectError(
        await stack.call('PUT', `/api/v1/runs/${run.id}/files/a.txt`, {
          raw: Buffer.alloc(1_200_000, 0x20),
          headers: { 'content-type': 'application/json' },
        }),
        415,
      );
    });
  });
});

describe('uploads', () => {
  let run: any;
  let inputs: string;
  beforeAll(async () => {
    run = await createRun();
    inputs = path.join(run.processingDir, 'inputs');
  });

  test('bad file names are 400 naming filename, and store nothing', async () => {
    await changesNothing(async () => {
      const names = [
        'a%2Fb.txt', // '/'
        '%2Fetc%2Fpasswd',
        'a%5Cb.txt', // '\'
        '..%5C..%5Cx',
        'a..b',
        '..txt',
        '%00', // NUL
        'a%00b',
        'x.txt%00.png',
        '.hidden',
        '-rf',
        '_x',
        'a%20b',
        '%C3%A9.txt', // é
        'x'.repeat(300),
        'x'.repeat(129),
      ];
      for (const name of names) {
        const r = await stack.call('PUT', `/api/v1/runs/${run.id}/files/${name}`, {
          raw: 'data',
          headers: octet,
        });
        expectInvalidField(r, 'filename');
      }
      // '..' and its encoded forms, sent as-is (fetch would normalise them away)
      for (const name of ['..', '.', '%2e%2e', '%2E%2E', '.%2e']) {
        expectInvalidField(
          await raw('PUT', `/api/v1/runs/${run.id}/files/${name}`, {
            headers: octet,
            body: 'data',
          }),
          'filename',
        );
      }
      // an unencoded '/' is another path: no such route
      expectError(
        await raw('PUT', `/api/v1/runs/${run.id}/files/a/b.txt`, { headers: octet, body: 'data' }),
        404,
      );
      expectError(
        await raw('PUT', `/api/v1/runs/${run.id}/files/../../x`, { headers: octet, body: 'data' }),
        404,
      );
    });
    expect(fs.readdirSync(inputs)).toEqual([]);
  });

  test('a 128-character name is fine, and the same bad names are refused on download', async () => {
    const long = 'x'.repeat(128);
    const r = await stack.call('PUT', `/api/v1/runs/${run.id}/files/${long}`, {
      raw: 'data',
      headers: octet,
    });
    expect(r.status).toBe(201);
    expect((await stack.call('GET', `/api/v1/runs/${run.id}/files/${long}`)).text).toBe('data');
    for (const name of ['a%2Fb.txt', '.hidden', 'x'.repeat(300), 'a%00b', 'nope.txt']) {
      const d = await stack.call('GET', `/api/v1/runs/${run.id}/files/${name}`, { role: 'viewer' });
      expect([400, 404]).toContain(d.status);
      expectError(d, d.status);
    }
    // the contract's 404 for an unknown name
    expectError(
      await stack.call('GET', `/api/v1/runs/${run.id}/files/nope.txt`, { role: 'viewer' }),
      404,
    );
    for (const name of ['..', '%2e%2e']) {
      const d = await raw('GET', `/api/v1/runs/${run.id}/files/${name}`);
      expect([400, 404]).toContain(d.status);
      expectError(d, d.status);
    }
    // a row whose bytes vanished from disk: a 404 envelope, not express's page
    fs.rmSync(path.join(inputs, long));
    const gone = await stack.call('GET', `/api/v1/runs/${run.id}/files/${long}`);
    expectError(gone, 404);
    expect(String((gone.headers as Headers).get('content-type'))).toMatch(/^application\/json/);
  });

  test('a Content-Length over the limit is 413 before reading; exactly the limit is fine', async () => {
    await changesNothing(async () => {
      const r = await stack.call('PUT', `/api/v1/runs/${run.id}/files/big.bin`, {
        raw: Buffer.alloc(MAX_UPLOAD + 1),
        headers: octet,
      });
      expectError(r, 413, 'FILE_TOO_LARGE');
    });
    const ok = await stack.call('PUT', `/api/v1/runs/${run.id}/files/exact.bin`, {
      raw: Buffer.alloc(MAX_UPLOAD, 7),
      headers: octet,
    });
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({ name: 'exact.bin', size: MAX_UPLOAD });
  });

  test('a chunked upload (no Content-Length) over the limit is 413 while streaming, and leaves no file', async () => {
    const listed = fs.readdirSync(inputs).sort();
    await changesNothing(async () => {
      // finite but over the limit
      let chunks = 0;
      const finite = new ReadableStream({
        pull(ctrl) {
          if (chunks++ >= 8) return ctrl.close();
          ctrl.enqueue(new Uint8Array(512).fill(1));
        },
      });
      const r1 = await fetch(`${stack.url}/api/v1/runs/${run.id}/files/chunked.bin`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${TOKENS.da}`, ...octet },
        body: finite,
        duplex: 'half',
      } as RequestInit);
      const t1 = await r1.text();
      expectError(
        { status: r1.status, text: t1, body: JSON.parse(t1), headers: r1.headers },
        413,
        'FILE_TOO_LARGE',
      );

      // never ends: only a check made while streaming can answer at all
      let sent = 0;
      const endless = new ReadableStream({
        async pull(ctrl) {
          await new Promise((res) => setTimeout(res, 1));
          sent += 512;
          ctrl.enqueue(new Uint8Array(512).fill(2));
        },
      });
      const r2 = await fetch(`${stack.url}/api/v1/runs/${run.id}/files/endless.bin`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${TOKENS.da}`, ...octet },
        body: endless,
        duplex: 'half',
        signal: AbortSignal.timeout(10_000),
      } as RequestInit);
      const t2 = await r2.text();
      expectError(
        { status: r2.status, text: t2, body: JSON.parse(t2), headers: r2.headers },
        413,
        'FILE_TOO_LARGE',
      );
      expect(sent).toBeLessThan(1024 * 1024);
    });
    expect(fs.readdirSync(inputs).sort()).toEqual(listed); // no temp or partial file
  });

  test('uploads to unknown or malformed run ids are refused and store nothing', async () => {
    await changesNothing(async () => {
      expectError(
        await stack.call('PUT', '/api/v1/runs/999999/files/a.txt', { raw: 'x', headers: octet }),
        404,
      );
      expectError(
        await stack.call('PUT', '/api/v1/runs/abc/files/a.txt', { raw: 'x', headers: octet }),
        400,
      );
    });
  });
});

describe('illegal transitions', () => {
  test('submit twice, upload after submit, cancel a finished run: 409 with the state', async () => {
    const run = await createRun();
    const first = await stack.call('POST', `/api/v1/runs/${run.id}/submit`, { role: 'da' });
    expect(first.status).toBe(202);
    const again = await stack.call('POST', `/api/v1/runs/${run.id}/submit`, { role: 'da' });
    const error = expectError(again, 409);
    expect(['submitted', 'running', 'complete']).toContain(error.details.state);

    const upload = await stack.call('PUT', `/api/v1/runs/${run.id}/files/late.txt`, {
      raw: 'late',
      headers: octet,
      role: 'da',
    });
    expect(['submitted', 'running', 'complete']).toContain(expectError(upload, 409).details.state);
    expect(fs.readdirSync(path.join(run.processingDir, 'inputs'))).toEqual([]);

    const done = await stack.waitForRun(run.id);
    expect(done.state).toBe('complete');
    await changesNothing(async () => {
      expect(
        expectError(await stack.call('POST', `/api/v1/runs/${run.id}/cancel`, { role: 'da' }), 409)
          .details.state,
      ).toBe('complete');
      expect(
        expectError(await stack.call('POST', `/api/v1/runs/${run.id}/submit`, { role: 'da' }), 409)
          .details.state,
      ).toBe('complete');
      expect(
        expectError(
          await stack.call('PUT', `/api/v1/runs/${run.id}/files/late.txt`, {
            raw: 'x',
            headers: octet,
          }),
          409,
        ).details.state,
      ).toBe('complete');
    });
  });

  test('a cancelled run cannot be cancelled, submitted or given files', async () => {
    const run = await createRun();
    expect((await stack.call('POST', `/api/v1/runs/${run.id}/cancel`, { role: 'da' })).status).toBe(
      202,
    );
    await changesNothing(async () => {
      for (const call of [
        () => stack.call('POST', `/api/v1/runs/${run.id}/cancel`, { role: 'da' }),
        () => stack.call('POST', `/api/v1/runs/${run.id}/submit`, { role: 'da' }),
        () => stack.call('PUT', `/api/v1/runs/${run.id}/files/a.txt`, { raw: 'x', headers: octet }),
      ]) {
        expect(expectError(await call(), 409).details.state).toBe('cancelled');
      }
    });
  });
});

describe('resultsDir', () => {
  const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-elsewhere-'));
  afterAll(() => fs.rmSync(elsewhere, { recursive: true, force: true }));

  test('outside the roots, relative, the root itself, traversal or via a symlink: 400 and nothing made', async () => {
    const root = stack.config.resultsRoots[0] as string;
    const link = path.join(root, `escape-${Date.now()}`);
    fs.symlinkSync(elsewhere, link);
    try {
      await changesNothing(async () => {
        const cases = [
          path.join(elsewhere, 'out'),
          '/etc/wfs-results',
          'relative/dir',
          './x',
          '~/x',
          root,
          `${root}/`,
          `${root}/../escaped`,
          `${root}/a/../../escaped`,
          path.join(link, 'sub'),
          link,
          `${link}/../../escaped-too`,
        ];
        for (const resultsDir of cases) {
          expectInvalidField(
            await stack.call('POST', createUrl(), { body: { parameters: SMALL, resultsDir } }),
            'resultsDir',
          );
        }
      });
    } finally {
      fs.unlinkSync(link);
    }
    expect(fs.readdirSync(elsewhere)).toEqual([]);
    expect(fs.existsSync(path.join(path.dirname(root), 'escaped'))).toBe(false);
  });

  // Two runs never share a directory: a resultsDir that is, contains or lies inside another
  // run's directory is refused (a cleanup of one would delete the other's files).
  test('a resultsDir that is, or is inside, another run directory is refused', async () => {
    const first = await createRun();
    const shared = path.join(stack.config.resultsRoots[0] as string, `shared-${Date.now()}`);
    await createRun({ parameters: SMALL, resultsDir: shared });
    await changesNothing(async () => {
      for (const resultsDir of [
        shared,
        first.processingDir,
        path.join(first.processingDir, 'inputs'),
      ]) {
        const r = await stack.call('POST', createUrl(), {
          body: { parameters: SMALL, resultsDir },
        });
        expect(r.status).toBeGreaterThanOrEqual(400);
        expectError(r, r.status);
      }
    });
  });

  test('a resultsDir inside a root is accepted (control)', async () => {
    const wanted = path.join(stack.config.resultsRoots[0] as string, 'mine', `r${Date.now()}`);
    const run = await createRun({ parameters: SMALL, resultsDir: wanted });
    expect(run.resultsDir).toBe(fs.realpathSync(wanted));
  });
});

describe('Idempotency-Key', () => {
  test('same key and body: the same run (200 the second time), one row; another body: 409', async () => {
    const key = `idem-${Date.now()}`;
    const body = { parameters: SMALL, correlationId: key };
    const first = await stack.call('POST', createUrl(), {
      body,
      role: 'da',
      headers: { 'idempotency-key': key },
    });
    expect(first.status).toBe(201);
    const second = await stack.call('POST', createUrl(), {
      body,
      role: 'da',
      headers: { 'idempotency-key': key },
    });
    expect(second.status).toBe(200);
    expect(second.body.id).toBe(first.body.id);
    const concurrent = await Promise.all(
      Array.from({ length: 5 }, () =>
        stack.call('POST', createUrl(), { body, role: 'da', headers: { 'idempotency-key': key } }),
      ),
    );
    for (const r of concurrent) expect([r.status, r.body.id]).toEqual([200, first.body.id]);
    expect(await runCount('correlation_id = $1', [key])).toBe(1);

    await changesNothing(async () => {
      const other = await stack.call('POST', createUrl(), {
        body: { ...body, parameters: { ...SMALL, nScan: 2 } },
        role: 'da',
        headers: { 'idempotency-key': key },
      });
      expectError(other, 409, 'IDEMPOTENCY_KEY_REUSED');
      const submitted = await stack.call('POST', createUrl(), {
        body: { ...body, submit: true },
        role: 'da',
        headers: { 'idempotency-key': key },
      });
      expectError(submitted, 409, 'IDEMPOTENCY_KEY_REUSED');
    });
    expect(await runCount('correlation_id = $1', [key])).toBe(1);
  });

  test('a concurrent first use of a key creates one run', async () => {
    const key = `idem-race-${Date.now()}`;
    const body = { parameters: SMALL, correlationId: key };
    const replies = await Promise.all(
      Array.from({ length: 6 }, () =>
        stack.call('POST', createUrl(), {
          body,
          role: 'service',
          headers: { 'idempotency-key': key },
        }),
      ),
    );
    const ids = new Set(replies.map((r) => r.body?.id));
    expect(replies.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 201]);
    expect(ids.size).toBe(1);
    expect(await runCount('correlation_id = $1', [key])).toBe(1);
  });
});

describe('tokens and roles', () => {
  test('missing, wrong or malformed tokens are 401', async () => {
    await changesNothing(async () => {
      const headerCases: Array<Record<string, string>> = [
        {},
        { authorization: 'Bearer wrong-token' },
        { authorization: `Bearer ${TOKENS.admin}x` },
        { authorization: `Basic ${Buffer.from(`admin:${TOKENS.admin}`).toString('base64')}` },
        { authorization: TOKENS.admin },
        { authorization: 'Bearer ' },
        { authorization: `Bearer ${'a'.repeat(2000)}` },
      ];
      for (const headers of headerCases) {
        expectError(
          await raw('GET', '/api/v1/runs', { role: null, headers }),
          401,
          'UNAUTHENTICATED',
        );
        expectError(
          await raw('POST', createUrl(), {
            role: null,
            headers: { ...headers, 'content-type': 'application/json' },
            body: JSON.stringify({ parameters: SMALL }),
          }),
          401,
        );
      }
    });
  });

  test('a valid token without the role is 403', async () => {
    const run = await createRun();
    await changesNothing(async () => {
      expectError(
        await stack.call('POST', createUrl(), { body: { parameters: SMALL }, role: 'viewer' }),
        403,
        'FORBIDDEN',
      );
      expectError(
        await stack.call('POST', `/api/v1/runs/${run.id}/submit`, { role: 'viewer' }),
        403,
      );
      expectError(
        await stack.call('POST', `/api/v1/runs/${run.id}/cancel`, { role: 'viewer' }),
        403,
      );
      expectError(
        await stack.call('PUT', `/api/v1/runs/${run.id}/files/a.txt`, {
          raw: 'x',
          headers: octet,
          role: 'viewer',
        }),
        403,
      );
      for (const role of ['viewer', 'da', 'service'] as const) {
        expectError(
          await stack.call('POST', '/api/v1/tokens', { body: { name: 'x', role: 'viewer' }, role }),
          403,
        );
        expectError(await stack.call('GET', '/api/v1/tokens', { role }), 403);
        expectError(await stack.call('DELETE', '/api/v1/tokens/1', { role }), 403);
      }
      const tooHigh = await stack.call('POST', '/api/v1/tokens', {
        body: { name: 'x', role: 'admin' },
        role: 'ops',
      });
      expectError(tooHigh, 403, 'ROLE_TOO_HIGH');
    });
    // the service role is da for programs
    expect(
      (await stack.call('POST', createUrl(), { body: { parameters: SMALL }, role: 'service' }))
        .status,
    ).toBe(201);
  });

  test('token bodies are validated; created tokens work until revoked', async () => {
    await changesNothing(async () => {
      expectInvalidField(
        await stack.call('POST', '/api/v1/tokens', {
          body: { name: 'x', role: 'root' },
          role: 'ops',
        }),
        'role',
      );
      expectInvalidField(
        await stack.call('POST', '/api/v1/tokens', {
          body: { name: '../x', role: 'da' },
          role: 'ops',
        }),
        'name',
      );
      expectInvalidField(
        await stack.call('POST', '/api/v1/tokens', { body: { name: 5, role: 'da' }, role: 'ops' }),
        'name',
      );
      const none = await stack.call('POST', '/api/v1/tokens', { body: {}, role: 'ops' });
      expectError(none, 400);
      expect(Object.keys(none.body.error.details.fields)).toEqual(
        expect.arrayContaining(['name', 'role']),
      );
      expectError(await stack.call('DELETE', '/api/v1/tokens/abc', { role: 'ops' }), 400);
      expectError(await stack.call('DELETE', '/api/v1/tokens/999999', { role: 'ops' }), 404);
    });
    const made = await stack.call('POST', '/api/v1/tokens', {
      body: { name: 'robot-1', role: 'da' },
      role: 'ops',
    });
    expect(made.status).toBe(201);
    const use = (token: string) =>
      raw('GET', '/api/v1/runs?limit=1', {
        role: null,
        headers: { authorization: `Bearer ${token}` },
      });
    expect((await use(made.body.token)).status).toBe(200);
    expect(
      JSON.stringify((await stack.call('GET', '/api/v1/tokens', { role: 'ops' })).body),
    ).not.toContain(made.body.token);
    expect(
      (await stack.call('DELETE', `/api/v1/tokens/${made.body.id}`, { role: 'ops' })).status,
    ).toBe(204);
    expectError(await use(made.body.token), 401);
    expectError(await stack.call('DELETE', `/api/v1/tokens/${made.body.id}`, { role: 'ops' }), 404);
  });

  test('every route but /health, /metrics and the docs needs a token', async () => {
    const doc = await stack.call('GET', '/api/docs-json', { role: null });
    expect(doc.status).toBe(200);
    const routes: Array<[string, string]> = [];
    for (const [p, ops] of Object.entries(
      doc.body.paths as Record<string, Record<string, unknown>>,
    )) {
      for (const method of Object.keys(ops)) {
        if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
        routes.push([method.toUpperCase(), p]);
      }
    }
    expect(routes.length).toBeGreaterThanOrEqual(15);
    const publicRoutes = new Set(['GET /health', 'GET /metrics']);
    for (const [method, p] of routes) {
      const concrete = p.replace(/\{[^}]+\}/g, (m) =>
        m === '{index}' || m === '{id}' ? '1' : 'x',
      );
      const r = await raw(method, concrete, {
        role: null,
        headers: { 'content-type': 'application/json' },
        body: method === 'GET' || method === 'DELETE' ? undefined : '{}',
      });
      if (publicRoutes.has(`${method} ${p}`)) {
        expect([`${method} ${p}`, [200, 503].includes(r.status)]).toEqual([`${method} ${p}`, true]);
      } else {
        expect([`${method} ${p}`, r.status]).toEqual([`${method} ${p}`, 401]);
        expectError(r, 401);
      }
    }
    // the docs themselves are public
    expect((await raw('GET', '/api/docs', { role: null })).status).toBe(200);
  });
});

describe('listing runs', () => {
  test('bad limit, state, filters and cursors are 400 naming the parameter', async () => {
    await changesNothing(async () => {
      const cases: Array<[string, string]> = [
        ['limit=0', 'limit'],
        ['limit=501', 'limit'],
        ['limit=abc', 'limit'],
        ['limit=-1', 'limit'],
        ['limit=1.5', 'limit'],
        ['limit=1e2', 'limit'],
        ['limit=99999999999999999999', 'limit'],
        ['state=done', 'state'],
        ['state=COMPLETE', 'state'],
        ['qaState=maybe', 'qaState'],
        ['archiveState=lost', 'archiveState'],
        ['requestId=abc', 'requestId'],
        ['requestId=0', 'requestId'],
        ['cursor=abc', 'cursor'],
        ['cursor=' + Buffer.from('r:-1').toString('base64url'), 'cursor'],
        ['cursor=' + Buffer.from('r:1 OR 1=1').toString('base64url'), 'cursor'],
        ['cursor=' + Buffer.from('r:9999999999999999999999').toString('base64url'), 'cursor'],
        ['cursor=%00', 'cursor'],
        ['subject=a%00b', 'subject'],
        ['workflow=%00', 'workflow'],
        ['state=complete&state=failed', 'state'],
        ['state[x]=complete', 'state[x]'],
        ['bogus=1', 'bogus'],
      ];
      for (const [query, field] of cases) {
        const r = await stack.call('GET', `/api/v1/runs?${query}`, { role: 'viewer' });
        expect([query, r.status]).toEqual([query, 400]);
        expectInvalidField(r, field);
      }
    });
    // controls: an empty limit is the default, a plain one is fine
    expect((await stack.call('GET', '/api/v1/runs?limit=', { role: 'viewer' })).status).toBe(200);
    expect(
      (await stack.call('GET', '/api/v1/runs?limit=500&state=created', { role: 'viewer' })).status,
    ).toBe(200);
  });

  test('cursor pagination: newest first, no duplicates or gaps, stable under inserts', async () => {
    const tag = `page-${Date.now()}`;
    const created: number[] = [];
    for (let i = 0; i < 7; i++)
      created.push((await createRun({ parameters: SMALL, correlationId: tag })).id);
    const expected = [...created].sort((a, b) => b - a);

    const seen: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    let inserted: number | null = null;
    do {
      const q: string = `/api/v1/runs?correlationId=${tag}&limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page = await stack.call('GET', q, { role: 'viewer' });
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.body.items.map((r: { id: number }) => r.id));
      cursor = page.body.nextCursor;
      pages++;
      // a newer run arrives between page fetches: later pages do not shift
      if (pages === 1) inserted = (await createRun({ parameters: SMALL, correlationId: tag })).id;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual(expected);
    expect(new Set(seen).size).toBe(seen.length);
    // a fresh listing starts with the newest
    const fresh = await stack.call('GET', `/api/v1/runs?correlationId=${tag}&limit=3`, {
      role: 'viewer',
    });
    expect(fresh.body.items[0].id).toBe(inserted);
    // an exact last page has no next cursor
    const all = await stack.call('GET', `/api/v1/runs?correlationId=${tag}&limit=8`, {
      role: 'viewer',
    });
    expect(all.body.items).toHaveLength(8);
    expect(all.body.nextCursor).toBeNull();
  });
});

describe('ids and sub-resources', () => {
  const badIds = [
    'abc',
    '0',
    '-1',
    '1.5',
    '1e3',
    '0x10',
    '01',
    '%201',
    '99999999999999999999',
    '1%00',
    'null',
    '%E2%91%A0',
  ];

  test('malformed ids are 400, unknown ids are 404, on every route with an id', async () => {
    const routes: Array<[string, (id: string) => string, Record<string, unknown>?]> = [
      ['GET', (id) => `/api/v1/runs/${id}`],
      ['POST', (id) => `/api/v1/runs/${id}/submit`],
      ['POST', (id) => `/api/v1/runs/${id}/cancel`],
      ['GET', (id) => `/api/v1/runs/${id}/files`],
      ['GET', (id) => `/api/v1/runs/${id}/files/a.txt`],
      ['PUT', (id) => `/api/v1/runs/${id}/files/a.txt`, { raw: 'x', headers: octet }],
      ['GET', (id) => `/api/v1/runs/${id}/events`],
      ['GET', (id) => `/api/v1/runs/${id}/jobs/import_target/0/log`],
      ['GET', (id) => `/api/v1/requests/${id}`],
      ['DELETE', (id) => `/api/v1/tokens/${id}`],
    ];
    await changesNothing(async () => {
      for (const [method, url, opts] of routes) {
        for (const id of badIds) {
          const r = await stack.call(method, url(id), { ...opts });
          expect([`${method} ${url(id)}`, r.status]).toEqual([`${method} ${url(id)}`, 400]);
          expectError(r, 400);
        }
        for (const id of ['999999', '9007199254740991']) {
          const r = await stack.call(method, url(id), { ...opts });
          expect([`${method} ${url(id)}`, r.status]).toEqual([`${method} ${url(id)}`, 404]);
          expectError(r, 404);
        }
      }
    });
  });

  test('events and job logs: bad query values are 400, unknown jobs 404', async () => {
    const run = await createRun();
    await changesNothing(async () => {
      for (const q of [
        'after=-1',
        'after=abc',
        'after=1.5',
        'after=99999999999',
        'limit=0',
        'limit=abc',
      ]) {
        expectError(
          await stack.call('GET', `/api/v1/runs/${run.id}/events?${q}`, { role: 'viewer' }),
          400,
        );
      }
      const log = `/api/v1/runs/${run.id}/jobs`;
      for (const q of [
        'stream=stdin',
        'stream=',
        'tail=0',
        'tail=abc',
        'tail=-5',
        'stream=stdout&stream=stderr',
      ]) {
        expectError(
          await stack.call('GET', `${log}/import_target/0/log?${q}`, { role: 'viewer' }),
          400,
        );
      }
      for (const index of ['abc', '-1', '1.5', '99999999999']) {
        expectError(
          await stack.call('GET', `${log}/import_target/${index}/log`, { role: 'viewer' }),
          400,
        );
      }
      for (const name of [
        'import_target',
        'nope',
        '..%2F..%2Fetc%2Fpasswd',
        '%2e%2e',
        'x'.repeat(500),
      ]) {
        expectError(await stack.call('GET', `${log}/${name}/0/log`, { role: 'viewer' }), 404); // not submitted: no job rows
      }
      expectError(await stack.call('GET', `${log}/a%00b/0/log`, { role: 'viewer' }), 400);
      for (const cursor of [
        'abc',
        Buffer.from('99999999999999999999.1').toString('base64url'),
        Buffer.from('1.99999999999').toString('base64url'),
      ]) {
        expectError(await stack.call('GET', `${log}?cursor=${cursor}`, { role: 'viewer' }), 400);
      }
    });
  });

  test('undecodable percent-escapes and unknown routes are 4xx envelopes', async () => {
    for (const p of [
      '/api/v1/workflows/%FF',
      '/api/v1/workflows/%E0%A4%A',
      '/api/v1/runs/%',
      '/api/v1/runs/1/files/%C0%AE%C0%AE',
    ]) {
      const r = await raw('GET', p);
      expect(r.status).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
      expectError(r, r.status);
    }
    expectError(await stack.call('GET', '/api/v1/nope'), 404);
    expectError(await stack.call('DELETE', '/api/v1/runs/1'), 404);
    expectError(await stack.call('PATCH', '/api/v1/workflows/std_calibration', { body: {} }), 404);
    // PATCH /runs/{id} is a route now (priority, ops): an empty body is refused before the id is read.
    expectError(await stack.call('PATCH', '/api/v1/runs/1', { body: {} }), 400);
  });
});

describe('OpenAPI', () => {
  test('/api/docs-json documents the run paths', async () => {
    const r = await stack.call('GET', '/api/docs-json', { role: null });
    expect(r.status).toBe(200);
    expect(r.body.openapi).toMatch(/^3\./);
    expect(Object.keys(r.body.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/workflows',
        '/api/v1/workflows/{name}',
        '/api/v1/workflows/{name}/runs',
        '/api/v1/runs',
        '/api/v1/runs/{id}',
        '/api/v1/runs/{id}/submit',
        '/api/v1/runs/{id}/cancel',
        '/api/v1/runs/{id}/files',
        '/api/v1/runs/{id}/files/{filename}',
        '/api/v1/runs/{id}/events',
        '/api/v1/requests/{id}',
        '/api/v1/tokens',
      ]),
    );
    expect(r.body.paths['/api/v1/workflows/{name}/runs'].post).toBeDefined();
    expect(r.body.paths['/api/v1/runs/{id}/files/{filename}'].put).toBeDefined();
  });
});

// ---------------------------------------------------------------- issue 9: items 5, 6 and 7

describe('resultsDir the file system cannot take: 400, nothing created or deleted', () => {
  const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-bad-resultsdir-'));
  afterAll(() => fs.rmSync(outside, { recursive: true, force: true }));
  const root = () => stack.config.resultsRoots[0] as string;
  const tag = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

  test.each([
    [
      'a regular file',
      () => {
        const file = path.join(root(), `plain-file-${tag()}`);
        fs.writeFileSync(file, 'not a directory\n');
        return file;
      },
    ],
    [
      'a path under a regular file',
      () => {
        const file = path.join(root(), `plain-file-${tag()}`);
        fs.writeFileSync(file, 'not a directory\n');
        return path.join(file, 'run');
      },
    ],
    ['a path with a 300-character component', () => path.join(root(), 'a'.repeat(300))],
    [
      'a 300-character component below a new directory',
      () => path.join(root(), `new-${tag()}`, 'b'.repeat(300)),
    ],
  ])('%s', async (_what, make) => {
    const resultsDir = make();
    await changesNothing(async () => {
      expectInvalidField(
        await stack.call('POST', createUrl(), { body: { parameters: SMALL, resultsDir } }),
        'resultsDir',
      );
    });
  });

  test('a dangling symlink: 400, the link is left where it was, its target is not made', async () => {
    const target = path.join(outside, `never-made-${tag()}`);
    const inRootTarget = path.join(root(), `never-made-${tag()}`);
    const links = [
      path.join(root(), `dangling-${tag()}`),
      path.join(root(), `dangling-in-${tag()}`),
    ];
    fs.symlinkSync(target, links[0]!);
    fs.symlinkSync(inRootTarget, links[1]!);
    const isLink = (l: string) => lexists(l) && fs.lstatSync(l).isSymbolicLink();
    const before = await snapshot();
    const replies: Reply[] = [];
    const gone: string[] = [];
    for (const link of links) {
      for (const resultsDir of [link, path.join(link, 'run')]) {
        replies.push(
          await stack.call('POST', createUrl(), { body: { parameters: SMALL, resultsDir } }),
        );
        if (!isLink(link)) gone.push(`${link} after resultsDir ${resultsDir}`);
        if (!isLink(link)) break;
      }
    }
    // The harm first: the service did not make these links, so it must not delete them.
    expect(gone).toEqual([]);
    for (const r of replies) expectInvalidField(r, 'resultsDir');
    expect(await snapshot()).toEqual(before);
    expect(fs.existsSync(target)).toBe(false);
    expect(fs.existsSync(inRootTarget)).toBe(false);
    expect(fs.readdirSync(outside)).toEqual([]);
  });

  test.each([
    ['newline', '\n'],
    ['carriage return', '\r'],
    ['tab', '\t'],
    ['U+0001', '\u0001'],
    ['escape', '\u001b'],
    ['delete', '\u007f'],
  ])('control character (%s) in resultsDir', async (_name, ch) => {
    await changesNothing(async () => {
      for (const resultsDir of [
        path.join(root(), `ctl${ch}dir-${tag()}`),
        path.join(root(), `ctl-${tag()}`, `${ch}`),
        path.join(root(), `ctl-${tag()}${ch}`),
      ]) {
        expectInvalidField(
          await stack.call('POST', createUrl(), { body: { parameters: SMALL, resultsDir } }),
          'resultsDir',
        );
      }
    });
  });
});

describe('multipart and parameters on DA operations: 400, nothing created', () => {
  const std = (extra: Record<string, unknown> = {}) =>
    stack.call('POST', createUrl('std_calibration'), {
      body: { subject: `19A-${Date.now().toString(36)}.eb1`, ...extra },
      role: 'da',
    });

  test('two parts with the same file name on rerun', async () => {
    const old = await std();
    expect(old.status).toBe(201);
    await changesNothing(async () => {
      const r = await postMultipart(
        stack,
        `/api/v1/runs/${old.body.id}/rerun`,
        [
          { name: 'PPR.xml', data: '<ppr>one</ppr>' },
          { name: 'PPR.xml', data: '<ppr>two</ppr>' },
        ],
        { submit: 'false' },
      );
      expectError(r, 400);
    });
  });

  test('two parts with the same file name on ingest', async () => {
    const made = await std({ submit: true });
    expect(made.status).toBe(201);
    const run = await stack.waitForRun(made.body.id);
    expect(run.state).toBe('complete');
    await changesNothing(async () => {
      const r = await postMultipart(
        stack,
        `/api/v1/runs/${run.id}/ingest`,
        [
          { name: 'qa_report.txt', data: 'first report' },
          { name: 'qa_report.txt', data: 'second report' },
        ],
        { qa: 'pass', analyst: 'tester' },
      );
      expectError(r, 400);
    });
    const after = await stack.call('GET', `/api/v1/runs/${run.id}`, { role: 'viewer' });
    expect(after.body).toMatchObject({ archiveState: 'not_ingested', qaState: 'awaiting' });
  });

  test('a rerun parameters JSON string nested 3,000 deep (multipart field and JSON body)', async () => {
    const old = await std();
    expect(old.status).toBe(201);
    const depth = 3000;
    const nestedObject = '{"recipe":' + '{"a":'.repeat(depth) + '1' + '}'.repeat(depth) + '}';
    const nestedArray = '{"casaVersion":' + '['.repeat(depth) + ']'.repeat(depth) + '}';
    await changesNothing(async () => {
      for (const parameters of [nestedObject, nestedArray]) {
        expectError(
          await postMultipart(stack, `/api/v1/runs/${old.body.id}/rerun`, [], {
            parameters,
            submit: 'false',
          }),
          400,
        );
        expectError(
          await stack.call('POST', `/api/v1/runs/${old.body.id}/rerun`, {
            raw: `{"submit":false,"parameters":${parameters}}`,
            headers: { 'content-type': 'application/json' },
          }),
          400,
        );
      }
    });
  });
});

describe('Idempotency-Key and canonical JSON', () => {
  test('the same body with the keys inside parameters in another order is the same run', async () => {
    const key = `idem-order-${Date.now()}`;
    const correlationId = key;
    const first = await stack.call('POST', createUrl(), {
      body: { parameters: { nField: 1, nSpw: 1, nScan: 1, workSeconds: 0 }, correlationId },
      role: 'da',
      headers: { 'idempotency-key': key },
    });
    expect(first.status).toBe(201);
    for (const parameters of [
      { nScan: 1, nSpw: 1, nField: 1, workSeconds: 0 },
      { workSeconds: 0, nSpw: 1, nField: 1, nScan: 1 },
    ]) {
      const again = await stack.call('POST', createUrl(), {
        raw: JSON.stringify({ correlationId, parameters }),
        role: 'da',
        headers: { 'idempotency-key': key, 'content-type': 'application/json' },
      });
      expect([again.status, again.body?.id]).toEqual([200, first.body.id]);
    }
    expect(await runCount('correlation_id = $1', [key])).toBe(1);
  });
});

describe('response headers', () => {
  const nosniff = (r: Reply) =>
    expect([r.status, (r.headers as http.IncomingHttpHeaders)['x-content-type-options']]).toEqual([
      r.status,
      'nosniff',
    ]);

  test('X-Content-Type-Options: nosniff on every kind of answer', async () => {
    const run = await createRun();
    const put = await raw('PUT', `/api/v1/runs/${run.id}/files/PPR.xml`, {
      headers: octet,
      body: '<ppr/>',
    });
    expect(put.status).toBe(201);
    for (const [method, p, role] of [
      ['GET', '/health', null],
      ['GET', '/metrics', null],
      ['GET', '/api/v1/runs?limit=1', 'viewer'],
      ['GET', `/api/v1/runs/${run.id}`, 'viewer'],
      ['GET', `/api/v1/runs/${run.id}/files/PPR.xml`, 'viewer'],
      ['GET', `/api/v1/runs/${run.id}/files/nope.xml`, 'viewer'],
      ['GET', '/api/v1/runs/999999999', 'viewer'],
      ['GET', '/api/v1/runs', null],
      ['POST', `/api/v1/runs/${run.id}/submit`, 'viewer'],
      ['GET', '/api/v1/no-such-route', 'viewer'],
      ['GET', '/api/docs-json', null],
    ] as Array<[string, string, keyof typeof TOKENS | null]>) {
      nosniff(await raw(method, p, { role }));
    }
    nosniff(
      await raw('POST', createUrl(), {
        headers: { 'content-type': 'application/json' },
        body: '{',
      }),
    );
  });

  test('a file download is private (never Cache-Control: public) and an attachment with a safe name', async () => {
    const run = await createRun();
    for (const name of ['PPR.xml', 'flux.csv', 'a-b_c.1.txt']) {
      const put = await raw('PUT', `/api/v1/runs/${run.id}/files/${name}`, {
        headers: octet,
        body: `<x>${name}</x>`,
      });
      expect(put.status).toBe(201);
      const r = await raw('GET', `/api/v1/runs/${run.id}/files/${name}`, { role: 'viewer' });
      expect(r.status).toBe(200);
      const headers = r.headers as http.IncomingHttpHeaders;
      const cache = String(headers['cache-control'] ?? '');
      expect(cache).not.toMatch(/\bpublic\b/i);
      expect(cache).toMatch(/\b(private|no-store)\b/i);
      expect(headers['content-disposition']).toMatch(
        new RegExp(`^attachment; ?filename="${name.replace(/\./g, '\\.')}"`),
      );
    }
  });

  test('token names are unique: a second token with a name in use is 409, and only one exists', async () => {
    const name = `unique-${Date.now()}`;
    const first = await stack.call('POST', '/api/v1/tokens', {
      body: { name, role: 'viewer' },
      role: 'ops',
    });
    expect(first.status).toBe(201);
    await changesNothing(async () => {
      for (const role of ['viewer', 'da']) {
        expectError(
          await stack.call('POST', '/api/v1/tokens', { body: { name, role }, role: 'ops' }),
          409,
        );
      }
    });
    const list = await stack.call('GET', '/api/v1/tokens', { role: 'ops' });
    expect(list.body.items.filter((t: any) => t.name === name)).toHaveLength(1);
  });
});
