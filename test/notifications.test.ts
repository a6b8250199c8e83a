/**
 * Run notices by mail, end to end through the real API, worker, Postgres and
 * Redis: events of the outbox become mail jobs (once each) and are written as
 * .eml files (no WFS_SMTP_URL) or sent to a real SMTP server started here
 * with the smtp-server package.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { SMTPServer } from 'smtp-server';
import { loadConfig } from '@wfs/config';
import { NotificationsService } from '@wfs/notifications';
import { startStack, Stack, until } from '@wfs/testing';

const REPO = path.resolve(__dirname, '..');
const nonce = () => randomBytes(4).toString('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ROLES = 'da=da-team@example.org;srdp_ops=srdp-ops@example.org,srdp-backup@example.org';

/** A workflow of this test: the ALMA-imaging notice pattern (ops manager on completion), on an in-process job. */
const FIXTURE = `
name: t_notify_ops
version: 3
description: Completion notice to the SRDP operations manager; failure to both.
subjectKind: mous
parameters:
  type: object
  additionalProperties: false
  properties:
    fail: { type: boolean, default: false }
notify:
  started: [nobody_configured]
  complete: [srdp_ops]
  failed: [srdp_ops, da]
jobs:
  - name: image
    stage: running casa
    executable: builtin:work
    arguments: ['0']
`;

function workflowsDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-notify-workflows-'));
  // The shipped workflows with their template libraries (workflows/lib).
  fs.cpSync(path.join(REPO, 'workflows'), dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 't_notify_ops.yaml'), FIXTURE);
  return dir;
}

interface Mail {
  file?: string;
  headers: Record<string, string>;
  text: string;
}

/** Just enough RFC 822 for nodemailer's plain-text output: unfolded headers, 7bit or quoted-printable body. */
function parseMail(raw: string): Omit<Mail, 'file'> {
  const norm = raw.replace(/\r\n/g, '\n');
  const split = norm.indexOf('\n\n');
  const head = norm.slice(0, split).replace(/\n[ \t]+/g, ' ');
  const headers: Record<string, string> = {};
  for (const line of head.split('\n')) {
    const i = line.indexOf(':');
    headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  let text = norm.slice(split + 2);
  if (/quoted-printable/i.test(headers['content-transfer-encoding'] ?? '')) {
    text = Buffer.from(
      text
        .replace(/=\n/g, '')
        .replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
      'latin1',
    ).toString('utf8');
  }
  return { headers, text };
}

function mailFiles(stack: Stack): Mail[] {
  const dir = stack.config.mailDir;
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.eml'))
    .map((f) => ({ file: f, ...parseMail(fs.readFileSync(path.join(dir, f), 'utf8')) }));
}

const mailsOf = (mails: Mail[], runId: number) =>
  mails.filter((m) => m.headers['x-wfs-run-id'] === String(runId));

async function runToEnd(
  stack: Stack,
  workflow: string,
  body: Record<string, unknown>,
): Promise<any> {
  const res = await stack.call('POST', `/api/v1/workflows/${workflow}/runs`, {
    body: { submit: true, ...body },
    role: 'da',
  });
  expect(res.status).toBe(201);
  return stack.waitForRun(res.body.id);
}

test('WFS_MAIL_ROLES, WFS_MAIL_FROM and WFS_SMTP_URL are validated naming the variable', () => {
  expect(loadConfig({}).mailRoles).toEqual({
    da: ['data-analysts@localhost'],
    srdp_ops: ['srdp-ops-manager@localhost'],
  });
  expect(loadConfig({ WFS_MAIL_ROLES: ROLES }).mailRoles.srdp_ops).toEqual([
    'srdp-ops@example.org',
    'srdp-backup@example.org',
  ]);
  expect(() => loadConfig({ WFS_MAIL_ROLES: 'da' })).toThrow(/WFS_MAIL_ROLES/);
  expect(() => loadConfig({ WFS_MAIL_ROLES: 'da=not-an-address' })).toThrow(/WFS_MAIL_ROLES/);
  expect(() => loadConfig({ WFS_MAIL_FROM: 'nobody' })).toThrow(/WFS_MAIL_FROM/);
  expect(() => loadConfig({ WFS_SMTP_URL: 'http://mail.example.org' })).toThrow(/WFS_SMTP_URL/);
  expect(loadConfig({ WFS_SMTP_URL: 'smtp://127.0.0.1:2525' }).smtpUrl).toBe(
    'smtp://127.0.0.1:2525',
  );
});

describe('without WFS_SMTP_URL: .eml files in the mail dir', () => {
  let stack: Stack;
  let dir: string;

  beforeAll(async () => {
    dir = workflowsDir();
    stack = await startStack({
      env: { WFS_WORKFLOWS_DIR: dir, WFS_MAIL_ROLES: ROLES, WFS_MAIL_FROM: 'wfs-test@example.org' },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('DAs get started, complete and failed notices, each exactly once; the ops manager gets the run id', async () => {
    const eb = `19A-001.sb1.eb${nonce()}`;
    const ok = await runToEnd(stack, 'std_calibration', { subject: eb });
    expect(ok.state).toBe('complete');
    const bad = await runToEnd(stack, 'std_calibration', {
      subject: `19A-001.SIMFAIL-EXIT3.eb${nonce()}`,
    });
    expect(bad.state).toBe('failed');
    expect(bad.error?.message).toBeTruthy();
    const mous = `uid___A001_X${nonce()}`;
    const ops = await runToEnd(stack, 't_notify_ops', { subject: mous });
    expect(ops.state).toBe('complete');

    await until('5 mails', () => mailFiles(stack).length >= 5 && mailFiles(stack));
    await sleep(1_500); // nothing more may come
    const mails = mailFiles(stack);
    expect(mails).toHaveLength(5);

    // The successful calibration: started and complete, to the DAs, naming the run.
    const okMails = mailsOf(mails, ok.id);
    expect(okMails.map((m) => m.headers['x-wfs-event']).sort()).toEqual(['complete', 'running']);
    for (const m of okMails) {
      expect(m.headers.to).toBe('da-team@example.org');
      expect(m.headers.from).toContain('wfs-test@example.org');
      expect(m.file).toMatch(new RegExp(`^run-${ok.id}-(running|complete)-[0-9a-f-]{36}\\.eml$`));
    }
    const started = okMails.find((m) => m.headers['x-wfs-event'] === 'running')!;
    expect(started.headers.subject).toBe(`[wfs] std_calibration run ${ok.id} (${eb}) started`);
    const done = okMails.find((m) => m.headers['x-wfs-event'] === 'complete')!;
    expect(done.headers.subject).toBe(`[wfs] std_calibration run ${ok.id} (${eb}) complete`);
    expect(done.text).toContain(`Run id:          ${ok.id}`);
    expect(done.text).toContain('Workflow:        std_calibration version 1');
    expect(done.text).toContain(`Subject:         ${eb}`);
    expect(done.text).toContain('State:           complete');
    expect(done.text).toContain(`QA state:        ${ok.qaState}`);
    expect(done.text).toContain(`Processing dir:  ${ok.processingDir}`);

    // The failure: a failed notice naming the error.
    const badMails = mailsOf(mails, bad.id);
    expect(badMails.map((m) => m.headers['x-wfs-event']).sort()).toEqual(['failed', 'running']);
    const failed = badMails.find((m) => m.headers['x-wfs-event'] === 'failed')!;
    expect(failed.headers.to).toBe('da-team@example.org');
    expect(failed.headers.subject).toMatch(
      new RegExp(`^\\[wfs\\] std_calibration run ${bad.id} \\(.*SIMFAIL-EXIT3.*\\) failed$`),
    );
    expect(failed.text).toContain(`Error:           ${bad.error.code}: ${bad.error.message}`);

    // ALMA-imaging pattern: the SRDP operations manager is told the run id on completion;
    // an unmapped role (started) sends nothing.
    const opsMails = mailsOf(mails, ops.id);
    expect(opsMails).toHaveLength(1);
    expect(opsMails[0]!.headers['x-wfs-event']).toBe('complete');
    expect(opsMails[0]!.headers.to).toBe('srdp-ops@example.org, srdp-backup@example.org');
    expect(opsMails[0]!.headers.subject).toBe(
      `[wfs] t_notify_ops run ${ops.id} (${mous}) complete`,
    );
    expect(opsMails[0]!.text).toContain(`Run id:          ${ops.id}`);
    expect(opsMails[0]!.text).toContain('Workflow:        t_notify_ops version 3');

    // Every notice event is marked notified.
    const left = await stack.db.query(
      `SELECT id FROM events WHERE notified_at IS NULL AND type IN ('running', 'complete', 'failed')`,
    );
    expect(left).toEqual([]);

    // Once only: the notifier seeing every event again (as after a crash between enqueue and
    // mark), a second worker, and a restarted first worker send nothing new.
    const before = new Map(
      fs
        .readdirSync(stack.config.mailDir)
        .map((f) => [f, fs.statSync(path.join(stack.config.mailDir, f)).mtimeMs]),
    );
    await stack.db.query(
      `UPDATE events SET notified_at = NULL WHERE type IN ('running', 'complete', 'failed')`,
    );
    const notifier = stack.workers[0]!.get(NotificationsService).notifier!;
    await notifier.tick();
    await stack.startWorker();
    await stack.workers[0]!.close();
    stack.workers.shift();
    await stack.startWorker();
    await until('events notified again', async () => {
      const rows = await stack.db.query(
        `SELECT id FROM events WHERE notified_at IS NULL AND type IN ('running', 'complete', 'failed')`,
      );
      return rows.length === 0;
    });
    await sleep(2_000);
    const after = new Map(
      fs
        .readdirSync(stack.config.mailDir)
        .map((f) => [f, fs.statSync(path.join(stack.config.mailDir, f)).mtimeMs]),
    );
    expect(after).toEqual(before);
  });
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

describe('with WFS_SMTP_URL: a real SMTP server', () => {
  let stack: Stack;
  let dir: string;
  let smtp: SMTPServer;
  const received: Array<Mail & { from: string; rcpt: string[] }> = [];

  beforeAll(async () => {
    const port = await freePort();
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          received.push({
            ...parseMail(Buffer.concat(chunks).toString('utf8')),
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            rcpt: session.envelope.rcptTo.map((r) => r.address),
          });
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(port, '127.0.0.1', resolve));
    dir = workflowsDir();
    stack = await startStack({
      env: {
        WFS_WORKFLOWS_DIR: dir,
        WFS_MAIL_ROLES: ROLES,
        WFS_SMTP_URL: `smtp://127.0.0.1:${port}`,
      },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await new Promise<void>((resolve) => (smtp ? smtp.close(() => resolve()) : resolve()));
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the server receives each notice once, with the right recipients and subject', async () => {
    const eb = `19A-002.sb7.eb${nonce()}`;
    const cal = await runToEnd(stack, 'std_calibration', { subject: eb });
    expect(cal.state).toBe('complete');
    const mous = `uid___A002_X${nonce()}`;
    const ops = await runToEnd(stack, 't_notify_ops', { subject: mous });
    expect(ops.state).toBe('complete');

    await until('3 mails over SMTP', () => received.length >= 3);
    await sleep(1_500);
    expect(received).toHaveLength(3);
    expect(fs.existsSync(stack.config.mailDir) ? fs.readdirSync(stack.config.mailDir) : []).toEqual(
      [],
    );

    const calMails = mailsOf(received, cal.id) as typeof received;
    expect(calMails.map((m) => m.headers.subject).sort()).toEqual([
      `[wfs] std_calibration run ${cal.id} (${eb}) complete`,
      `[wfs] std_calibration run ${cal.id} (${eb}) started`,
    ]);
    for (const m of calMails) {
      expect(m.rcpt).toEqual(['da-team@example.org']);
      expect(m.from).toBe('wfs@localhost');
    }

    const [opsMail] = mailsOf(received, ops.id) as typeof received;
    expect(opsMail!.rcpt.sort()).toEqual(['srdp-backup@example.org', 'srdp-ops@example.org']);
    expect(opsMail!.headers.subject).toBe(`[wfs] t_notify_ops run ${ops.id} (${mous}) complete`);
    expect(opsMail!.text).toContain(`Run id:          ${ops.id}`);
    expect(opsMail!.headers['message-id']).toMatch(/^<[0-9a-f-]{36}@wfs>$/);
  });
});
