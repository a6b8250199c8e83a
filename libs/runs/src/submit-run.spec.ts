import { instancePages, Submission } from './submit-run';

const group = (
  name: string,
  position: number,
  items: Array<Record<string, number>> | null,
  over: Partial<Submission['groups'][number]> = {},
): Submission['groups'][number] => ({
  name,
  position,
  needs: [],
  items,
  completed: 0,
  released: position === 0,
  state: 'idle',
  statusReason: null,
  ...over,
});

describe('instancePages', () => {
  const plan: Submission = {
    groups: [
      group('prep', 0, null),
      group('work', 1, [{ i: 0 }, { i: 1 }, { i: 2 }, { i: 3 }]),
      group('old', 2, [{ i: 0 }], {
        released: true,
        state: 'skipped',
        statusReason: 'reused from run 1',
      }),
      group('gather', 3, null),
    ],
    total: 7,
  };

  it('gives every instance once, in plan order, a page at a time', () => {
    const pages = [...instancePages(plan, 3)];
    expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
    expect(pages.flat().map((i) => `${i.position}.${i.index}`)).toEqual([
      '0.0',
      '1.0',
      '1.1',
      '1.2',
      '1.3',
      '2.0',
      '3.0',
    ]);
    expect(pages.flat().length).toBe(plan.total);
  });

  it('keeps each group’s start: released roots, items as JSON, reused instances not ready', () => {
    const all = [...instancePages(plan, 100)].flat();
    expect(all[0]).toMatchObject({ name: 'prep', item: null, released: true, state: 'idle' });
    expect(all[1]).toMatchObject({ name: 'work', item: '{"i":0}', released: false });
    expect(all[5]).toMatchObject({
      name: 'old',
      released: false,
      state: 'skipped',
      statusReason: 'reused from run 1',
    });
  });
});
