import { planRun } from './dag';
import { JobDefinition } from './definition';
import { ancestorsOf, groupStarts, reusedJobs } from './reuse';

const jobs = [
  { name: 'fetch', needs: [], outputs: ['rawdata/x'] },
  { name: 'flux', needs: [], outputs: [] },
  { name: 'casa', needs: ['fetch'], outputs: ['products/w'] },
  { name: 'deliver', needs: ['casa', 'flux'], outputs: [] },
];

describe('re-run from a job', () => {
  test('the ancestors are what the job transitively needs', () => {
    expect(ancestorsOf(jobs, 'deliver')).toEqual(['fetch', 'flux', 'casa']);
    expect(ancestorsOf(jobs, 'fetch')).toEqual([]);
  });

  test('an unknown job and a reused job without outputs are refused, naming them', () => {
    expect(() => reusedJobs(jobs, 'image', 'w')).toThrow(/fetch, flux, casa, deliver/);
    expect(() => reusedJobs(jobs, 'deliver', 'w')).toThrow(/flux declares no outputs/);
    expect(reusedJobs(jobs, 'casa', 'w')).toEqual(['fetch']);
  });

  test('reused groups are skipped and done; the groups needing only them are released', () => {
    const plan = planRun(
      jobs.map((j) => ({ ...j, scatter: null }) as unknown as JobDefinition),
      {},
      10,
    );
    const starts = groupStarts(9, plan, { fromRunId: 4, jobs: ['fetch'] });
    expect(starts.get('fetch')).toEqual({
      state: 'skipped',
      statusReason: 'reused from run 4',
      completed: 1,
      released: true,
    });
    expect(starts.get('casa')).toMatchObject({ state: 'idle', released: true, completed: 0 });
    expect(starts.get('flux')).toMatchObject({ state: 'idle', released: true });
    expect(starts.get('deliver')).toMatchObject({ state: 'idle', released: false });
  });
});
