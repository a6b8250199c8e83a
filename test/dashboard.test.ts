import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Browser, Page } from 'playwright-core';
import { startStack, Stack, TOKENS } from '@wfs/testing';
import { launchChromium, openDashboard } from './support/browser';

/**
 * The operations dashboard (`GET /`) in a real browser (Debian's chromium,
 * driven by playwright-core) against a real stack: what runs, what failed
 * and why, what waits, and acting on it with the role the token has.
 */
// The page's globals, for the functions that run in the browser (no DOM typings in this project).
declare const document: any;
declare const window: any;

const REPO = path.resolve(__dirname, '..');
const FIXTURES = path.join(__dirname, 'fixtures');

let stack: Stack;
let browser: Browser;
let workflowsDir: string;
const ids = { complete: 0, failed: 0, running: 0, odd: 0 };

beforeAll(async () => {
  workflowsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-dash-workflows-'));
  // The shipped template libraries too (workflows/lib), which shipped workflows include.
  fs.cpSync(path.join(REPO, 'workflows', 'lib'), path.join(workflowsDir, 'lib'), {
    recursive: true,
  });
  for (const dir of [path.join(REPO, 'workflows'), path.join(FIXTURES, 'workflows')])
    for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.yaml')))
      fs.copyFileSync(path.join(dir, f), path.join(workflowsDir, f));
  stack = await startStack({
    env: {
      WFS_WORKFLOWS_DIR: workflowsDir,
      WFS_TOOL_TESTTOOL: path.join(FIXTURES, 'tools', 'testtool'),
      WFS_TOOL_SPANTOOL: path.join(FIXTURES, 'tools', 'spantool'),
      WFS_TOOL_HOSTTOOL: path.join(FIXTURES, 'tools', 'hosttool'),
    },
  });
  const post = async (workflow: string, body: Record<string, unknown>) => {
    const r = await stack.call('POST', `/api/v1/workflows/${workflow}/runs`, {
      body: { submit: true, ...body },
    });
    if (r.status !== 201) throw new Error(`POST ${workflow}: ${r.status} ${r.text}`);
    return r.body.id as number;
  };
  ids.complete = await post('t_scatter', { parameters: { n: 3 } });
  ids.failed = await post('t_outputs', {});
  ids.running = await post('t_cancel', {});
  ids.odd = await post('t_scatter', {
    parameters: { n: 1 },
    correlationId: '<img src=x onerror="window.pwned=1"><b>bold</b>',
  });
  await stack.waitForRun(ids.complete, ['complete']);
  await stack.waitForRun(ids.odd, ['complete']);
  await stack.waitForRun(ids.failed, ['failed']);
  await stack.waitForRun(ids.running, ['running']);
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  if (workflowsDir) fs.rmSync(workflowsDir, { recursive: true, force: true });
});

const open = (token: string) =>
  openDashboard(browser, stack.url + '/', token, `#runs tr[data-run-id="${ids.running}"]`);

const card = (page: Page, label: string) =>
  page.locator(`.card[data-card="${label}"] b`).textContent();

test('GET / is the page, served without a token, and it shows nothing without one', async () => {
  const res = await fetch(stack.url + '/');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/html/);
  const csp = res.headers.get('content-security-policy') ?? '';
  expect(csp).toMatch(/default-src 'none'/);
  expect(csp).toMatch(/script-src 'self'/);
  expect(csp).toMatch(/style-src 'self'/);
  expect(csp).not.toContain('unsafe-inline');
  const html = await res.text();
  // No inline script or style for the policy to have to allow.
  expect(html).not.toMatch(/<script>|<style>|\sstyle=|\son[a-z]+=/i);
  for (const [file, type] of [
    ['/dashboard.js', /^text\/javascript/],
    ['/dashboard.css', /^text\/css/],
  ] as const) {
    const asset = await fetch(stack.url + file);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toMatch(type);
  }
  const page = await browser.newPage();
  await page.goto(stack.url + '/');
  await page.waitForFunction(() => document.getElementById('banner')?.textContent !== '');
  expect(await page.locator('#banner').textContent()).toMatch(/API token/);
  expect(await page.locator('#runs tbody tr').count()).toBe(0);
  await page.close();
});

test('an operator sees what runs, what failed and why, and the queue', async () => {
  const { page, errors } = await open(TOKENS.viewer);
  await page.waitForFunction(
    () => document.querySelector('.card[data-card="workers alive"]') !== null,
  );
  expect(await card(page, 'running')).toBe('1');
  expect(await card(page, 'failed')).toBe('1');
  expect(await card(page, 'complete')).toBe('2');
  expect(await card(page, 'workers alive')).toBe('1 / 1');
  expect(await page.locator('#health .up').allTextContents()).toEqual(
    expect.arrayContaining(['postgres', 'redis', 'broker']),
  );
  const failedRow = page.locator(`#runs tr[data-run-id="${ids.failed}"]`);
  expect(await failedRow.textContent()).toMatch(/t_outputs.*failed.*missing_output: job make/);

  // Only the failed runs, then the failed job, its reason and its log.
  await page.selectOption('#f-state', 'failed');
  await page.click('#apply');
  await page.waitForFunction(
    (id) =>
      [...document.querySelectorAll('#runs tbody tr')].every(
        (tr: any) => tr.dataset.runId === String(id),
      ),
    ids.failed,
  );
  expect(await page.locator('#runs tbody tr').count()).toBe(1);
  await failedRow.click();
  const job = page.locator('#d-jobs tr[data-job="make.0"]');
  await job.waitFor();
  expect(await job.textContent()).toMatch(/failed.*missing_output.*absent\.txt/);
  expect(await page.locator('#d-events tbody tr').first().textContent()).toMatch(/failed/);
  await job.locator('button', { hasText: 'stdout' }).click();
  await page.waitForFunction(() => !document.getElementById('d-log').hidden);
  expect(await page.locator('#d-log').textContent()).toMatch(/--- make\[0\] attempt 1/);
  expect(errors).toEqual([]);
  await page.close();
});

test('text from the API is shown as text, never run as markup', async () => {
  const { page, errors } = await open(TOKENS.viewer);
  await page.locator(`#runs tr[data-run-id="${ids.odd}"]`).click();
  await page.waitForFunction(() =>
    /correlation id/.test(document.getElementById('d-fields')?.textContent ?? ''),
  );
  expect(await page.locator('#d-fields').textContent()).toContain(
    '<img src=x onerror="window.pwned=1"><b>bold</b>',
  );
  expect(await page.locator('#d-fields b, #d-fields img').count()).toBe(0);
  expect(await page.evaluate(() => window.pwned)).toBeUndefined();
  expect(errors).toEqual([]);
  await page.close();
});

test('a role is offered only the actions it may take: a viewer watches, a DA cancels', async () => {
  const viewer = await open(TOKENS.viewer);
  expect(await viewer.page.locator('#whoami').textContent()).toBe('viewer-token (viewer)');
  await viewer.page.locator(`#runs tr[data-run-id="${ids.running}"]`).click();
  await viewer.page.waitForFunction(() =>
    /t_cancel/.test(document.getElementById('d-title')?.textContent ?? ''),
  );
  expect(await viewer.page.locator('#d-cancel').isHidden()).toBe(true);
  expect(await viewer.page.locator('#d-rerun').isHidden()).toBe(true);
  expect(await viewer.page.locator('#banner').isHidden()).toBe(true);
  expect(viewer.errors).toEqual([]);
  await viewer.page.close();

  const da = await open(TOKENS.da);
  await da.page.locator(`#runs tr[data-run-id="${ids.running}"]`).click();
  await da.page.locator('#d-rerun').waitFor({ state: 'visible' });
  await da.page.locator('#d-cancel').click();
  const row = da.page.locator(`#runs tr[data-run-id="${ids.running}"]`);
  await da.page.waitForFunction(
    (id) =>
      /cancelled/.test(document.querySelector(`#runs tr[data-run-id="${id}"]`)?.textContent ?? ''),
    ids.running,
  );
  expect(await row.textContent()).toMatch(/t_cancel.*cancelled/);
  expect((await stack.call('GET', `/api/v1/runs/${ids.running}`)).body.state).toBe('cancelled');
  await da.page.locator('#d-cancel').waitFor({ state: 'hidden' }); // the detail refreshes too
  expect(da.errors).toEqual([]);
  await da.page.close();
});

test('a waiting gate shows its prompt; a DA approves it with a comment; a failed run is resumed', async () => {
  const r = await stack.call('POST', '/api/v1/workflows/t_gate/runs', { body: { submit: true } });
  const id = r.body.id as number;
  const waiting = async () =>
    (await stack.call('GET', `/api/v1/runs/${id}`)).body.waiting?.map((w: any) => w.job) ?? [];
  for (let i = 0; i < 200 && !(await waiting()).includes('review'); i++)
    await new Promise((res) => setTimeout(res, 100));
  const viewer = await open(TOKENS.viewer);
  await viewer.page.goto(`${stack.url}/#/runs/${id}`);
  const gate = viewer.page.locator('#d-gates .gate[data-gate="review"]');
  await gate.waitFor({ state: 'visible' });
  expect(await gate.textContent()).toMatch(/Gate review: Calibrator QA done\. Go on to imaging\?/);
  expect(await gate.locator('button').count()).toBe(0); // a viewer may not decide
  await viewer.page.close();

  const da = await open(TOKENS.da);
  await da.page.goto(`${stack.url}/#/runs/${id}`);
  const daGate = da.page.locator('#d-gates .gate[data-gate="review"]');
  await daGate.waitFor({ state: 'visible' });
  await daGate.locator('input').fill('looks fine');
  await daGate.locator('button', { hasText: 'Approve' }).click();
  await da.page.locator('#d-gates .gate[data-gate="signoff"]').waitFor({ state: 'visible' });
  const events = (await stack.call('GET', `/api/v1/runs/${id}/events?limit=100`)).body.items;
  expect(events.find((e: any) => e.type === 'gate-approved')).toMatchObject({
    gate: { job: 'review', comment: 'looks fine' },
    actor: { role: 'da' },
  });
  // The sign-off is ops-only: the DA is offered no button for it, and the API refuses it all the same.
  expect(await da.page.locator('#d-gates .gate[data-gate="signoff"] button').count()).toBe(0);
  const refused = await stack.call('POST', `/api/v1/runs/${id}/gates/signoff/reject`, {
    role: 'da',
    body: { comment: 'no' },
  });
  expect(refused.status).toBe(403);
  expect(refused.body.error.message).toMatch(/decided by ops/);
  // ops rejects it; the DA resumes the failed run from the page.
  await stack.call('POST', `/api/v1/runs/${id}/gates/signoff/reject`, {
    role: 'ops',
    body: { comment: 'no' },
  });
  await stack.waitForRun(id, ['failed']);
  await da.page.locator('#d-resume').waitFor({ state: 'visible', timeout: 10_000 });
  await da.page.locator('#d-resume').click();
  await da.page.locator('#d-gates .gate[data-gate="signoff"]').waitFor({ state: 'visible' });
  expect((await stack.call('GET', `/api/v1/runs/${id}`)).body.resumedCount).toBe(1);
  await da.page.close();
}, 90_000);

test('each run has its own address, /#/runs/<id>, that opens it with the token kept for the tab', async () => {
  const { page, errors } = await open(TOKENS.viewer);
  await page.locator(`#runs tr[data-run-id="${ids.failed}"]`).click();
  await page.waitForFunction(() =>
    /t_outputs/.test(document.getElementById('d-title')?.textContent ?? ''),
  );
  expect(new URL(page.url()).hash).toBe(`#/runs/${ids.failed}`);
  // The address opens that run, in this tab, without asking for the token again.
  await page.goto(`${stack.url}/#/runs/${ids.complete}`);
  await page.reload();
  await page.waitForFunction(
    (id) => new RegExp(`^Run ${id} `).test(document.getElementById('d-title')?.textContent ?? ''),
    ids.complete,
  );
  expect(await page.locator('#d-title').textContent()).toMatch(/t_scatter/);
  expect(await page.locator('#token').inputValue()).toBe(TOKENS.viewer);
  // The run id in the list is a link to that address.
  expect(await page.locator(`#runs tr[data-run-id="${ids.odd}"] a`).getAttribute('href')).toBe(
    `#/runs/${ids.odd}`,
  );
  expect(errors).toEqual([]);
  await page.close();
});

test('the latest events of a run: tail=N, oldest first; not with after', async () => {
  const all = (await stack.call('GET', `/api/v1/runs/${ids.complete}/events?limit=1000`)).body
    .items;
  const tail = await stack.call('GET', `/api/v1/runs/${ids.complete}/events?tail=3`, {
    role: 'viewer',
  });
  expect(tail.status).toBe(200);
  expect(tail.body.items.map((e: { sequence: number }) => e.sequence)).toEqual(
    all.slice(-3).map((e: { sequence: number }) => e.sequence),
  );
  expect(tail.body.items.at(-1).type).toBe('complete');
  const both = await stack.call('GET', `/api/v1/runs/${ids.complete}/events?tail=3&after=1`);
  expect(both.status).toBe(400);
  expect(both.body.error.details.fields).toHaveProperty('tail');
});
