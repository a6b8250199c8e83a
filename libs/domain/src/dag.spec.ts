import { JobDefinition } from './definition';
import {
  dagProblems,
  expandScatter,
  planRun,
  readyGroups,
  scatterCount,
  scatterProduct,
  topologicalOrder,
} from './dag';

const job = (
  name: string,
  needs: string[] = [],
  scatter: JobDefinition['scatter'] = null,
): JobDefinition => ({
  name,
  stage: '',
  executable: 'builtin:noop',
  arguments: [],
  needs,
  scatter,
  requestCpus: 1,
  requestMemory: '1G',
  requestGpus: 0,
  requirements: { labels: [] },
  concurrencyLimits: [],
  timeout: 60,
  retries: 0,
  retryBackoff: 1,
  retryUnlessExit: null,
  success: 'exit_code',
  outputs: [],
  env: {},
});

describe('DAG checks', () => {
  test('a sound DAG has no problems and a topological order', () => {
    const jobs = [job('c', ['a', 'b']), job('a'), job('b', ['a'])];
    expect(dagProblems(jobs)).toEqual([]);
    expect(topologicalOrder(jobs)?.map((j) => j.name)).toEqual(['a', 'b', 'c']);
  });

  test('cycles, unknown needs, self needs and duplicates are named', () => {
    expect(dagProblems([job('a', ['b']), job('b', ['a'])])).toEqual([
      'the jobs form a cycle through their "needs"',
    ]);
    expect(dagProblems([job('a', ['zz'])])).toEqual(['job "a" needs unknown job "zz"']);
    expect(dagProblems([job('a', ['a'])])).toContain('job "a" needs itself');
    expect(dagProblems([job('a'), job('a')])).toContain('job "a" is defined twice');
  });
});

describe('scatter', () => {
  test('a plan computes its items by index: the same items, in the same order, none held', () => {
    const scatter = { field: 'nField', spw: 'nSpw', scan: 'nScan' };
    const parameters = { nField: 10, nSpw: 100, nScan: 500 };
    const product = scatterProduct(scatter, parameters);
    expect(product).toHaveLength(500_000);
    expect(product.at(0)).toEqual({ field: 0, spw: 0, scan: 0 });
    expect(product.at(501)).toEqual({ field: 0, spw: 1, scan: 1 });
    expect(JSON.stringify(product.at(499_999))).toBe('{"field":9,"spw":99,"scan":499}');
    expect(product.at(500_000)).toBeUndefined();
    expect(product.at(-1)).toBeUndefined();
    const small = { field: 'nField', pol: ['RR', 'LL'] };
    expect([...scatterProduct(small, { nField: 2 })]).toEqual(expandScatter(small, { nField: 2 }));
    expect(scatterProduct(small, { nField: 2 }).slice(1, 3)).toEqual([
      { field: 0, pol: 'LL' },
      { field: 1, pol: 'RR' },
    ]);
  });

  test('integer parameters give ranges; arrays give their items; literals stay; product is row-major', () => {
    const items = expandScatter(
      { field: 'nField', spw: 'spws', pol: ['RR', 'LL'] },
      { nField: 2, spws: [5, 7] },
    );
    expect(items).toHaveLength(8);
    expect(items[0]).toEqual({ field: 0, spw: 5, pol: 'RR' });
    expect(items[1]).toEqual({ field: 0, spw: 5, pol: 'LL' });
    expect(items[7]).toEqual({ field: 1, spw: 7, pol: 'LL' });
    expect(
      scatterCount(
        { field: 'nField', spw: 'spws', pol: ['RR', 'LL'] },
        { nField: 2, spws: [5, 7] },
      ),
    ).toBe(8);
  });

  test('a dimension over a parameter that is not a count or list is refused', () => {
    expect(() => expandScatter({ spw: 'nSpw' }, { nSpw: 'many' })).toThrow(/nSpw/);
    expect(() => expandScatter({ spw: 'nSpw' }, {})).toThrow(/nSpw/);
  });
});

describe('planRun', () => {
  const jobs = [
    job('fetch'),
    job('image', ['fetch'], { spw: 'nSpw', scan: 'nScan' }),
    job('gather', ['image']),
  ];

  test('plans groups in order with their instances', () => {
    const plan = planRun(jobs, { nSpw: 3, nScan: 4 }, 1000);
    expect(plan.map((g) => [g.name, g.position, g.items?.length ?? 1])).toEqual([
      ['fetch', 0, 1],
      ['image', 1, 12],
      ['gather', 2, 1],
    ]);
  });

  test('refuses more instances than the limit, naming both numbers', () => {
    expect(() => planRun(jobs, { nSpw: 30, nScan: 40 }, 1000)).toThrow(
      expect.objectContaining({ code: 'TOO_MANY_JOBS', details: { instances: 1202, limit: 1000 } }),
    );
  });

  test('refuses a scatter over nothing', () => {
    expect(() => planRun(jobs, { nSpw: 0, nScan: 4 }, 1000)).toThrow(
      expect.objectContaining({ code: 'EMPTY_SCATTER' }),
    );
  });

  test('gather waits for every need; released groups are not released again', () => {
    const groups = planRun(jobs, { nSpw: 1, nScan: 1 }, 10);
    expect(readyGroups(groups, new Set(), new Set())).toEqual(['fetch']);
    expect(readyGroups(groups, new Set(['fetch']), new Set(['fetch']))).toEqual(['image']);
    expect(readyGroups(groups, new Set(['fetch', 'image']), new Set(['fetch', 'image']))).toEqual([
      'gather',
    ]);
  });
});
