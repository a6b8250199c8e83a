import { CandidateGroup, schedule, SchedulingState, waitingForOf } from './placement';
import { noMatchingWorker, parseMemory, Requests, WorkerCapacity } from './resources';

const worker = (
  id: string,
  cpus: number,
  memory: string,
  over: Partial<WorkerCapacity> = {},
): WorkerCapacity => ({
  id,
  executor: 'local',
  cpus,
  memoryMb: parseMemory(memory) as number,
  gpus: 0,
  labels: [],
  slots: 100,
  ...over,
});
const req = (cpus: number, memory: string, over: Partial<Requests> = {}): Requests => ({
  cpus,
  memoryMb: parseMemory(memory) as number,
  gpus: 0,
  labels: [],
  ...over,
});
const group = (
  runId: number,
  n: number,
  requests: Requests,
  over: Partial<CandidateGroup> = {},
): CandidateGroup => ({
  runId,
  name: 'casa',
  workflow: 'std_calibration',
  priority: 50,
  requests,
  limits: [],
  maxConcurrentJobs: null,
  instances: Array.from({ length: n }, (_, index) => ({ index, attempt: 1 })),
  ...over,
});
const state = (
  workers: WorkerCapacity[],
  over: Partial<SchedulingState> = {},
): SchedulingState => ({
  workers,
  usage: new Map(),
  limits: new Map(),
  limitUse: new Map(),
  workflowUse: new Map(),
  paused: new Set(),
  lastServed: new Map(),
  ...over,
});

describe('sizes', () => {
  test('memory in the 16G form, a bare number in MiB', () => {
    expect(parseMemory('16G')).toBe(16384);
    expect(parseMemory('512M')).toBe(512);
    expect(parseMemory('2T')).toBe(2 * 1024 * 1024);
    expect(parseMemory('1024K')).toBe(1);
    expect(parseMemory('100')).toBe(100);
    expect(parseMemory('0')).toBe(0);
    for (const bad of ['', '1.5G', '-1G', '16GB', 'lots']) expect(parseMemory(bad)).toBeNull();
  });

  test('no_matching_worker says what the job needs and what the largest live worker has', () => {
    expect(noMatchingWorker(req(32, '64G'), [worker('a', 16, '24G'), worker('b', 4, '8G')])).toBe(
      'no_matching_worker: needs 32 cpus, 64G; the largest live worker has 16 cpus, 24G',
    );
    expect(noMatchingWorker(req(1, '1G', { labels: ['casa'] }), [worker('a', 16, '24G')])).toMatch(
      /needs 1 cpu, 1G, labels casa; .*no live worker has the labels casa/,
    );
  });
});

describe('schedule: partitionable slots', () => {
  test('a 4-cpu worker starts two 2-cpu jobs and not a third', () => {
    const d = schedule([group(1, 3, req(2, '1G'))], state([worker('w', 4, '64G')]));
    expect(d.placements.map((p) => p.index)).toEqual([0, 1]);
    expect(d.waiting).toEqual([{ runId: 1, name: 'casa', waitingFor: 'resources' }]);
    expect(d.holds).toEqual([]);
  });

  test('memory is never over-committed, counting what is already in use', () => {
    const usage = new Map([['w', { cpus: 1, memoryMb: 10 * 1024, gpus: 0, jobs: 1 }]]);
    const d = schedule([group(1, 3, req(1, '6G'))], state([worker('w', 16, '24G')], { usage }));
    expect(d.placements).toHaveLength(2); // 10G + 2 x 6G = 22G <= 24G; a third would be 28G
  });

  test('slots bound the jobs at once even when they reserve nothing (builtin steps)', () => {
    const d = schedule([group(1, 10, req(0, '0'))], state([worker('w', 2, '1G', { slots: 3 })]));
    expect(d.placements).toHaveLength(3);
  });

  test('a worker is given as many again as its slots, queued (prefetch), never beyond its resources', () => {
    const d = schedule(
      [group(1, 10, req(0, '0'))],
      state([worker('w', 2, '1G', { slots: 3, prefetch: 3 })]),
    );
    expect(d.placements).toHaveLength(6);
    const sized = schedule(
      [group(1, 10, req(2, '1G'))],
      state([worker('w', 4, '64G', { slots: 3, prefetch: 3 })]),
    );
    expect(sized.placements).toHaveLength(2);
  });

  test('labels route jobs; a job no live worker could ever fit is held with the reason', () => {
    const casa = group(1, 2, req(1, '1G', { labels: ['casa'] }));
    const huge = group(2, 1, req(32, '64G'), { name: 'big' });
    const d = schedule(
      [casa, huge],
      state([worker('plain', 16, '24G'), worker('c', 4, '8G', { labels: ['casa', 'lustre'] })]),
    );
    expect(d.placements.map((p) => p.workerId)).toEqual(['c', 'c']);
    expect(d.holds).toEqual([
      {
        runId: 2,
        name: 'big',
        index: 0,
        reason: 'no_matching_worker: needs 32 cpus, 64G; the largest live worker has 16 cpus, 24G',
      },
    ]);
  });

  test('placements spread over workers', () => {
    const d = schedule(
      [group(1, 4, req(1, '1G'))],
      state([worker('a', 8, '8G'), worker('b', 8, '8G')]),
    );
    expect(d.placements.map((p) => p.workerId).sort()).toEqual(['a', 'a', 'b', 'b']);
  });
});

describe('schedule: limits, pause, priority, fairness', () => {
  test('a named limit and maxConcurrentJobs are never exceeded, counting what runs', () => {
    const limited = group(1, 5, req(0, '0'), { limits: ['archive'] });
    const d = schedule(
      [limited],
      state([worker('w', 8, '8G')], {
        limits: new Map([['archive', 3]]),
        limitUse: new Map([['archive', 1]]),
      }),
    );
    expect(d.placements).toHaveLength(2);
    expect(d.waiting[0]?.waitingFor).toBe('limit:archive');
    const capped = group(2, 5, req(0, '0'), { maxConcurrentJobs: 2 });
    const e = schedule([capped], state([worker('w', 8, '8G')]));
    expect(e.placements).toHaveLength(2);
    expect(e.waiting[0]?.waitingFor).toBe('limit:maxConcurrentJobs');
    // A limit that is not set is unlimited; a limit of 0 starts nothing.
    expect(
      schedule([group(3, 4, req(0, '0'), { limits: ['x'] })], state([worker('w', 8, '8G')]))
        .placements,
    ).toHaveLength(4);
    expect(
      schedule([limited], state([worker('w', 8, '8G')], { limits: new Map([['archive', 0]]) }))
        .placements,
    ).toHaveLength(0);
  });

  test('a paused workflow starts nothing and says so', () => {
    const d = schedule(
      [group(1, 2, req(1, '1G'))],
      state([worker('w', 8, '8G')], { paused: new Set(['std_calibration']) }),
    );
    expect(d.placements).toEqual([]);
    expect(d.waiting[0]?.waitingFor).toBe('workflow_paused');
  });

  test('higher priority first; what is left waiting for the slots it took says priority', () => {
    const low = group(1, 3, req(1, '1G'), { priority: 10 });
    const high = group(2, 3, req(1, '1G'), { priority: 90 });
    const d = schedule([low, high], state([worker('w', 4, '64G')]));
    expect(d.placements.map((p) => p.runId)).toEqual([2, 2, 2, 1]);
    expect(d.waiting.find((w) => w.runId === 1)?.waitingFor).toBe('priority');
  });

  test('runs of equal priority take turns, the one served longest ago first', () => {
    const big = group(1, 1000, req(1, '1G'));
    const small = group(2, 3, req(1, '1G'));
    const d = schedule(
      [big, small],
      state([worker('w', 4, '64G')], { lastServed: new Map([[1, 5]]) }),
    );
    expect(d.placements.map((p) => p.runId)).toEqual([2, 1, 2, 1]);
    // The next pass starts with whoever waited longest.
    const next = schedule(
      [big, small],
      state([worker('w', 1, '64G')], { lastServed: d.lastServed }),
    );
    expect(next.placements.map((p) => p.runId)).toEqual([2]);
  });
});

describe('waitingFor', () => {
  const base = {
    state: 'idle',
    readySince: new Date(),
    placed: false,
    backoff: false,
    workflowPaused: false,
    groupWaiting: null,
  };
  test('says why an idle instance has not started', () => {
    expect(waitingForOf({ ...base, readySince: null })).toBe('dependencies');
    expect(waitingForOf({ ...base, backoff: true })).toBe('retry_backoff');
    expect(waitingForOf({ ...base, workflowPaused: true })).toBe('workflow_paused');
    expect(waitingForOf({ ...base, groupWaiting: 'limit:archive' })).toBe('limit:archive');
    expect(waitingForOf(base)).toBe('resources');
    expect(waitingForOf({ ...base, placed: true })).toBeNull();
    expect(waitingForOf({ ...base, state: 'running' })).toBeNull();
  });
});
