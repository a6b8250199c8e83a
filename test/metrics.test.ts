/**
 * GET /metrics (CONTRACT 5.10): the service's metrics after real runs, what
 * the worker observed (job durations, events published) included; and the
 * dashboard and alert rules in docs/ use only metrics it serves.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { faultEnv, Stack, startStack, uniqueName, until } from '@wfs/testing';

const REPO = path.resolve(__dirname, '..');
let s: Stack;
let spanLog: string;

beforeAll(async () => {
  const workflowsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-metrics-workflows-'));
  s = await startStack({ env: faultEnv(workflowsDir, `${uniqueName('metrics')}.wfs-status`) });
  spanLog = path.join(s.dataRoot, 'spans.log');
}, 120_000);

afterAll(async () => {
  await s?.stop();
});

/** Sample lines of the exposition: `name{labels} value`. */
const samples = (text: string) =>
  text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(l);
      if (!m) throw new Error(`not a sample line: ${l}`);
      return { name: m[1] as string, labels: m[2] ?? '', value: Number(m[3]) };
    });
const value = (text: string, name: string, labels = '') =>
  samples(text).find((x) => x.name === name && x.labels.includes(labels))?.value;
/** Metric families named in `# TYPE` lines. */
const families = (text: string) =>
  new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1] as string));

async function scrape(): Promise<string> {
  const res = await s.call('GET', '/metrics', { role: null });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain;.*version=0\.0\.4/);
  return res.text;
}

test('the service metrics, with what the worker observed, on GET /metrics', async () => {
  const ids: number[] = [];
  for (let i = 0; i < 3; i++) {
    const res = await s.call('POST', '/api/v1/workflows/t_fault/runs', {
      body: { parameters: { seconds: 0, after: 0, spanLog }, submit: true },
      role: 'da',
    });
    expect(res.status).toBe(201);
    ids.push(res.body.id as number);
  }
  for (const id of ids) await s.waitForRun(id, ['complete']);
  // The worker adds its observations every few seconds.
  const text = await until(
    'the job durations and published events to reach /metrics',
    async () => {
      const t = await scrape();
      const n = value(t, 'wfs_job_duration_seconds_count', 'job="after"') ?? 0;
      return n >= 3 && (value(t, 'wfs_events_published_total') ?? 0) >= 3 * 4 ? t : null;
    },
    30_000,
  );
  for (const name of [
    'wfs_runs',
    'wfs_jobs',
    'wfs_job_duration_seconds',
    'wfs_jobs_ready',
    'wfs_jobs_ready_oldest_seconds',
    'wfs_outbox_unpublished_events',
    'wfs_outbox_oldest_unpublished_seconds',
    'wfs_events_published_total',
    'wfs_workers_alive',
    'wfs_worker_cpus',
    'wfs_worker_cpus_in_use',
    'wfs_http_request_duration_seconds',
    // Kept from before 5.10.
    'wfs_queue_jobs',
    'wfs_events_unpublished',
    'wfs_api_process_cpu_seconds_total',
  ])
    expect(families(text)).toContain(name);
  expect(value(text, 'wfs_runs', 'state="complete"')).toBe(3);
  expect(value(text, 'wfs_workers_alive')).toBe(1);
  expect(value(text, 'wfs_worker_cpus')).toBe(64);
  expect(value(text, 'wfs_outbox_unpublished_events')).toBe(0);
  expect(value(text, 'wfs_outbox_oldest_unpublished_seconds')).toBe(0);
  // Every attempt took under 5 s: all in that bucket and above, none in +Inf alone.
  const work = 'workflow="t_fault",job="work"';
  expect(value(text, 'wfs_job_duration_seconds_count', work)).toBe(3);
  expect(value(text, 'wfs_job_duration_seconds_bucket', `${work},le="5"`)).toBe(3);
  expect(value(text, 'wfs_job_duration_seconds_bucket', `${work},le="+Inf"`)).toBe(3);
  expect(value(text, 'wfs_job_duration_seconds_sum', work)).toBeGreaterThan(0);
  // HTTP: by route pattern, never the raw URL.
  const http = samples(text).filter((x) => x.name === 'wfs_http_request_duration_seconds_count');
  expect(http.find((x) => x.labels.includes('route="/api/v1/workflows/:name/runs"'))).toMatchObject(
    { value: 3 },
  );
  expect(http.find((x) => x.labels.includes('route="/api/v1/runs/:id"'))).toBeTruthy();
  for (const x of http) expect(x.labels).not.toMatch(/route="[^"]*\/[0-9]+/);
  // Monotonic across scrapes: counters only grow.
  const again = await scrape();
  expect(value(again, 'wfs_events_published_total')).toBeGreaterThanOrEqual(
    value(text, 'wfs_events_published_total') as number,
  );
}, 120_000);

/** The wfs_ metric names an expression uses, histogram suffixes taken off where the family is one. */
const metricNames = (expr: string, served: Set<string>) =>
  [...expr.matchAll(/\bwfs_[a-z0-9_]+/g)].map((m) => {
    const name = m[0];
    const base = name.replace(/_(bucket|sum|count)$/, '');
    return served.has(name) ? name : base;
  });

test('docs/grafana/wfs.json and docs/prometheus/alerts.yml use only metrics /metrics serves', async () => {
  const served = families(await scrape());
  const dashboard = JSON.parse(fs.readFileSync(path.join(REPO, 'docs/grafana/wfs.json'), 'utf8'));
  expect(dashboard.title).toBe('wfs');
  const exprs: string[] = dashboard.panels.flatMap((p: any) =>
    (p.targets ?? []).map((t: any) => t.expr as string),
  );
  expect(exprs.length).toBeGreaterThanOrEqual(10);
  const rules = parse(fs.readFileSync(path.join(REPO, 'docs/prometheus/alerts.yml'), 'utf8'));
  const alerts = rules.groups.flatMap((g: any) => g.rules);
  for (const a of alerts) {
    expect(typeof a.alert).toBe('string');
    expect(typeof a.expr).toBe('string');
    expect(a.labels?.severity).toBeTruthy();
    expect(a.annotations?.summary).toBeTruthy();
  }
  expect(alerts.map((a: any) => a.alert)).toEqual(
    expect.arrayContaining([
      'WfsOutboxLagGrowing',
      'WfsNoLiveWorker',
      'WfsJobFailureRate',
      'WfsJobsHeld',
      'WfsQueueAge',
    ]),
  );
  const used = new Set(
    [...exprs, ...alerts.map((a: any) => a.expr as string)].flatMap((e) => metricNames(e, served)),
  );
  expect(used.size).toBeGreaterThanOrEqual(10);
  for (const name of used)
    expect({ name, served: served.has(name) }).toEqual({ name, served: true });
});
