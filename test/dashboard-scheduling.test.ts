import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { INestApplicationContext } from '@nestjs/common';
import { Browser, Page } from 'playwright-core';
import { startStack, Stack, TOKENS, until } from '@wfs/testing';
import { launchChromium, openDashboard, screenshot } from './support/browser';

/**
 * The dashboard's scheduling part (CONTRACT 5.3, 5.5, 5.10) in Chromium
 * against a real stack with one 4-cpu, 8G worker: what each worker has and
 * uses, paused workflows and limits, why a job waits or is held, and an
 * operator pausing a workflow and holding a job from the page; a viewer sees
 * all of it and is offered none of the buttons. Set WFS_SCREENSHOTS=<dir>
 * to keep a picture of each page.
 */
// The page's globals, for the functions that run in the browser (no DOM typings in this project).
declare const document: any;

const REPO = path.resolve(__dirname, '..');
const FIXTURES = path.join(__dirname, 'fixtures');

let stack: Stack;
let browser: Browser;
let worker: INestApplicationContext;
let workflowsDir: string;
/** t_cpu2, three 2-cpu instances of 5 minutes: two run, one waits for room. t_big: held, too big. */
const ids = { busy: 0, big: 0 };
/** The index of busy's instance that waits. */
let idle = -1;

async function submit(workflow: string, parameters: Record<string, unknown>): Promise<number> {
  const res = await stack.call('POST', `/api/v1/workflows/${workflow}/runs`, {
    role: 'da',
    body: { parameters, submit: true },
  });
  if (res.status !== 201) throw new Error(`POST ${workflow}: ${res.status} ${res.text}`);
  return res.body.id as number;
}

async function jobs(runId: number): Promise<any[]> {
  return (await stack.call('GET', `/api/v1/runs/${runId}/jobs?limit=100`, { role: 'viewer' })).body
    .items;
}

const job = async (runId: number, name: string, index: number) =>
  (await jobs(runId)).find((j) => j.name === name && j.index === index);

beforeAll(async () => {
  workflowsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-dash-sched-workflows-'));
  // The shipped workflows with their template libraries (workflows/lib).
  fs.cpSync(path.join(REPO, 'workflows'), workflowsDir, { recursive: true });
  for (const f of ['t_cpu2', 't_big'])
    fs.copyFileSync(
      path.join(FIXTURES, 'workflows', `${f}.yaml`),
      path.join(workflowsDir, `${f}.yaml`),
    );
  stack = await startStack({ workers: 0, env: { WFS_WORKFLOWS_DIR: workflowsDir } });
  worker = await stack.startWorker({
    WFS_WORKER_CPUS: '4',
    WFS_WORKER_MEMORY: '8G',
    WFS_WORKER_LABELS: 'casa,lustre',
    WFS_WORKER_CONCURRENCY: '8',
    WFS_HOSTNAME: 'casa-host',
  });
  const limit = await stack.call('PUT', '/api/v1/limits/casa_licences', {
    role: 'ops',
    body: { max: 4 },
  });
  expect(limit.status).toBe(200);
  ids.busy = await submit('t_cpu2', { n: 3, seconds: 300 });
  ids.big = await submit('t_big', { n: 1, seconds: 0 });
  const waiting = await until('two instances running and one waiting for room', async () => {
    const work = (await jobs(ids.busy)).filter((j) => j.name === 'work');
    const running = work.filter((j) => j.state === 'running');
    const rest = work.filter((j) => j.state === 'idle' && j.waitingFor === 'resources');
    return running.length === 2 && rest.length === 1 ? rest[0] : null;
  });
  idle = waiting.index;
  await until('t_big to be held', async () => (await job(ids.big, 'work', 0))?.state === 'held');
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  // Cancelled, the long instances stop now and the worker closes at once.
  for (const id of Object.values(ids))
    if (id) await stack.call('POST', `/api/v1/runs/${id}/cancel`, { role: 'da' });
  if (worker) await stack.stopWorker(worker);
  await stack?.stop();
  if (workflowsDir) fs.rmSync(workflowsDir, { recursive: true, force: true });
});

/** The dashboard, logged in with a role's token; at a run's address when given one. */
function open(role: keyof typeof TOKENS, runId?: number) {
  const url = stack.url + '/' + (runId ? `#/runs/${runId}` : '');
  const ready = runId ? '#d-jobs tr[data-job="work.0"]' : '#workers tr[data-host="casa-host"]';
  return openDashboard(browser, url, TOKENS[role], ready);
}

/** Waits until the element's text matches (the page refreshes every 3 s and after each action). */
async function text(page: Page, selector: string, re: RegExp): Promise<string> {
  try {
    await page.waitForFunction(
      ([s, source, flags]) =>
        new RegExp(source, flags).test(document.querySelector(s)?.textContent ?? ''),
      [selector, re.source, re.flags] as const,
      { timeout: 15_000 },
    );
  } catch {
    const now = await page
      .locator(selector)
      .textContent({ timeout: 1000 })
      .catch(() => null);
    throw new Error(`${selector} never matched ${re}; it reads: ${now}`);
  }
  return (await page.locator(selector).textContent()) ?? '';
}

const cells = (page: Page, selector: string) => page.locator(`${selector} td`).allTextContents();

/** Gives the reason in the page's dialog and confirms. */
async function giveReason(page: Page, reason: string, ok: string) {
  await page.locator('#ask').waitFor({ state: 'visible' });
  expect(await page.locator('#ask-ok').textContent()).toBe(ok);
  await page.fill('#ask-reason', reason);
  await page.click('#ask-ok');
  await page.locator('#ask').waitFor({ state: 'hidden' });
}

test('an ops user sees what each worker has and uses, and the named limits', async () => {
  const { page, errors } = await open('ops');
  const row = '#workers tr[data-host="casa-host"]';
  await text(page, row, /2 \/ 8/); // jobs / slots
  expect((await cells(page, row)).slice(0, 8)).toEqual([
    'casa-host',
    'local',
    'alive',
    '4 / 4',
    '2G / 8G',
    'none',
    '2 / 8',
    'casa, lustre',
  ]);
  // What it runs, each a link to its run.
  const running = await page.locator(`${row} a`).allTextContents();
  expect(running.sort()).toEqual(
    [0, 1, 2].filter((i) => i !== idle).map((i) => `run ${ids.busy} work[${i}]`),
  );
  expect(await page.locator(`${row} a`).first().getAttribute('href')).toBe(`#/runs/${ids.busy}`);
  expect(await page.locator('#w-count').textContent()).toBe('1 alive of 1');
  expect(await cells(page, '#s-limits tr[data-limit="casa_licences"]')).toEqual([
    'casa_licences',
    '0 / 4',
  ]);
  expect(await page.locator('#s-count').textContent()).toBe('no workflow paused');
  expect(await page.locator('#whoami').textContent()).toBe('ops-token (ops)');
  await screenshot(page, 'scheduling-overview');
  expect(errors).toEqual([]);
  await page.close();
});

test('an ops user pauses a workflow from the page with a reason, and unpauses it', async () => {
  const { page, errors } = await open('ops');
  const row = '#s-workflows tr[data-workflow="t_cpu2"]';
  const paused = async () =>
    (await stack.call('GET', '/api/v1/workflows/t_cpu2', { role: 'viewer' })).body.paused;

  // Asked for a reason; cancelled, nothing changes.
  await page.locator(`${row} button`, { hasText: 'Pause' }).click();
  await page.locator('#ask').waitFor({ state: 'visible' });
  expect(await page.locator('#ask-title').textContent()).toMatch(/^Pause t_cpu2: /);
  await page.click('#ask-cancel');
  await page.locator('#ask').waitFor({ state: 'hidden' });
  expect(await paused()).toBeNull();

  // No reason, no pause: the dialog stays.
  await page.locator(`${row} button`, { hasText: 'Pause' }).click();
  await page.click('#ask-ok');
  expect(await page.locator('#ask').isVisible()).toBe(true);
  await screenshot(page, 'scheduling-pause-dialog');
  await giveReason(page, 'lustre maintenance', 'Pause');
  await text(page, row, /paused/);
  expect(await paused()).toEqual({
    by: 'ops-token',
    reason: 'lustre maintenance',
    at: expect.any(String),
  });
  const shown = await cells(page, row);
  expect(shown.slice(0, 4)).toEqual(['t_cpu2', 'paused', 'ops-token', 'lustre maintenance']);
  expect(shown[4]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);
  expect(shown[7]).toBe('Unpause');
  // Paused ones come first.
  expect(await page.locator('#s-workflows tbody tr').first().getAttribute('data-workflow')).toBe(
    't_cpu2',
  );
  expect(await page.locator('#s-count').textContent()).toBe('1 workflow paused');

  // The instance that waits says why, on its run's page.
  await page.locator(`#workers a[href="#/runs/${ids.busy}"]`).first().click();
  await text(page, `#d-jobs tr[data-job="work.${idle}"]`, /workflow_paused/);
  await screenshot(page, 'scheduling-paused');

  await page.locator(`${row} button`, { hasText: 'Unpause' }).click();
  await text(page, row, /active/);
  expect(await paused()).toBeNull();
  expect(await page.locator(`${row} button`).textContent()).toBe('Pause');
  expect(await page.locator('#s-count').textContent()).toBe('no workflow paused');
  expect(errors).toEqual([]);
  await page.close();
});

test('a held job shows why, an idle one what it waits for; an ops user holds an instance from its run page and releases it', async () => {
  // Too big for any live worker: held by the scheduler, with its reason.
  const big = await open('ops', ids.big);
  const held = await cells(big.page, '#d-jobs tr[data-job="work.0"]');
  expect(held.slice(0, 4)).toEqual(['work[0]', 'held', '', '8 cpus, 1G']);
  expect(held[6]).toBe(
    'no_matching_worker: needs 8 cpus, 1G; the largest live worker has 4 cpus, 8G, labels casa,lustre',
  );
  expect(held.at(-1)).toBe('Release');
  expect(await big.page.locator('#d-ctl').isVisible()).toBe(true);
  // Its gather waits for it.
  expect((await cells(big.page, '#d-jobs tr[data-job="after.0"]')).slice(1, 4)).toEqual([
    'idle',
    'dependencies',
    'none',
  ]);
  expect(big.errors).toEqual([]);
  await big.page.close();

  const { page, errors } = await open('ops', ids.busy);
  const row = `#d-jobs tr[data-job="work.${idle}"]`;
  await text(page, row, /resources/);
  expect((await cells(page, row)).slice(1, 4)).toEqual(['idle', 'resources', '2 cpus, 1G']);
  expect(await page.locator(`${row} [title]`).first().getAttribute('title')).toMatch(/cpus/);
  // Running instances may be held too.
  for (const i of [0, 1, 2])
    expect(await page.locator(`#d-jobs tr[data-job="work.${i}"] button`).last().textContent()).toBe(
      'Hold',
    );

  await page.locator(`${row} button`, { hasText: 'Hold' }).click();
  expect(await page.locator('#ask-title').textContent()).toBe(
    `Hold work[${idle}] of run ${ids.busy}: it does not start until released.`,
  );
  await giveReason(page, 'checking the disk', 'Hold');
  await text(page, row, /held_by_operator: checking the disk/);
  expect(await job(ids.busy, 'work', idle)).toMatchObject({
    state: 'held',
    statusReason: 'held_by_operator: checking the disk',
    waitingFor: null,
  });
  const shown = await cells(page, row);
  expect(shown.slice(1, 3)).toEqual(['held', '']);
  expect(shown.at(-1)).toBe('Release');
  await screenshot(page, 'scheduling-held');

  await page.locator(`${row} button`, { hasText: 'Release' }).click();
  await text(page, row, /idle.*resources/);
  expect(await job(ids.busy, 'work', idle)).toMatchObject({ state: 'idle', statusReason: null });
  expect(await page.locator(`${row} button`).last().textContent()).toBe('Hold');
  expect(errors).toEqual([]);
  await page.close();
});

test('a viewer sees the workers, the schedule and the reasons, and is offered no button to change them', async () => {
  const { page, errors } = await open('viewer', ids.big);
  await text(page, '#d-jobs tr[data-job="work.0"]', /no_matching_worker: needs 8 cpus/);
  await text(page, '#workers tr[data-host="casa-host"]', /4 \/ 4/);
  await text(page, '#s-workflows tr[data-workflow="t_cpu2"]', /active/);
  expect(await page.locator('#s-limits tr[data-limit="casa_licences"]').count()).toBe(1);
  expect(await page.locator('#s-workflows button').count()).toBe(0);
  expect(await page.locator('#d-jobs button', { hasText: /Hold|Release/ }).count()).toBe(0);
  expect(await page.locator('#s-ctl').isHidden()).toBe(true);
  expect(await page.locator('#d-ctl').isHidden()).toBe(true);
  // The waiting reason is there for a viewer too.
  await page.goto(`${stack.url}/#/runs/${ids.busy}`);
  await text(page, `#d-jobs tr[data-job="work.${idle}"]`, /idle.*resources.*2 cpus, 1G/);
  expect(await page.locator('#d-jobs button', { hasText: /Hold|Release/ }).count()).toBe(0);
  expect(errors).toEqual([]);
  await page.close();
});
