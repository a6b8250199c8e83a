/** WORKFLOWS v1.1 "Composition": include, use, workflow/with, loaded from a directory of files. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { planRun, WorkflowDefinition } from '@wfs/domain';
import { DefinitionError, loadDefinitions } from './load-definitions';

const FIXTURES = path.resolve(__dirname, '../../../test/fixtures/workflows');

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-compose-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(files: Record<string, string[]>): void {
  for (const [rel, lines] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), lines.join('\n') + '\n');
  }
}

const head = (name: string, extra: string[] = []): string[] => [
  `name: ${name}`,
  'version: 1',
  'description: a test workflow',
  'subjectKind: none',
  ...extra,
];

const INNER = [
  ...head('inner', [
    'parameters:',
    '  type: object',
    '  additionalProperties: false',
    '  required: [n]',
    '  properties:',
    '    n: { type: integer, minimum: 1 }',
    '    label: { type: string, default: plain }',
  ]),
  'jobs:',
  '  - name: split',
  '    executable: builtin:noop',
  '  - name: left',
  '    executable: builtin:work',
  "    arguments: ['{{parameters.label}}', '{{parameters.n}}', '{{item.i}}']",
  '    needs: [split]',
  '    scatter: { i: n }',
  '  - name: right',
  '    executable: builtin:noop',
  '    needs: [split]',
  "    env: { LABEL: '{{ parameters.label }}' }",
];

const byName = (defs: WorkflowDefinition[], name: string): WorkflowDefinition => {
  const def = defs.find((d) => d.name === name);
  if (!def) throw new Error(`no ${name}`);
  return def;
};

function loadError(): DefinitionError {
  try {
    loadDefinitions(dir);
  } catch (e) {
    expect(e).toBeInstanceOf(DefinitionError);
    const error = e as DefinitionError;
    expect(error.message).toContain(error.file);
    expect(error.message).toContain(error.field);
    return error;
  }
  throw new Error('the definitions loaded');
}

describe('templates (include, use)', () => {
  const LIBS = {
    'lib/base.yaml': [
      'templates:',
      '  step:',
      '    executable: builtin:work',
      "    arguments: ['1']",
      '    timeout: 60',
      '    env: { A: a, B: b }',
    ],
    'lib/imaging.yaml': [
      'include: [lib/base.yaml]',
      'templates:',
      '  clean:',
      '    executable: builtin:noop',
      '    stage: running casa',
      '    requestCpus: 4',
    ],
  };

  it('takes the template fields, overrides field by field, merges env by name; nested includes', () => {
    write({
      ...LIBS,
      'w.yaml': [
        ...head('w', ['include: [lib/imaging.yaml]']),
        'jobs:',
        '  - name: one',
        '    use: step',
        "    arguments: ['2']",
        '    env: { B: own, C: c }',
        '  - name: two',
        '    use: clean',
        '    needs: [one]',
      ],
    });
    const defs = loadDefinitions(dir);
    expect(defs.map((d) => d.name)).toEqual(['w']);
    const [one, two] = byName(defs, 'w').jobs;
    expect(one).toMatchObject({
      name: 'one',
      executable: 'builtin:work',
      arguments: ['2'],
      timeout: 60,
      env: { A: 'a', B: 'own', C: 'c' },
    });
    expect(two).toMatchObject({
      name: 'two',
      executable: 'builtin:noop',
      stage: 'running casa',
      requestCpus: 4,
      needs: ['one'],
      timeout: 3600,
    });
  });

  it('skips a library at the top of the directory, but checks it', () => {
    write({ 'lib.yaml': ['templates:', '  t: { executable: builtin:noop }'] });
    expect(loadDefinitions(dir)).toEqual([]);
    write({ 'lib.yaml': ['templates:', '  t: { executable: builtin:noop, retires: 2 }'] });
    expect(loadError()).toMatchObject({
      file: path.join(dir, 'lib.yaml'),
      field: 'templates.t.retires',
    });
  });

  it('names jobs.<i>.use for an unknown template, with a hint', () => {
    write({
      ...LIBS,
      'w.yaml': [
        ...head('w', ['include: [lib/imaging.yaml]']),
        'jobs:',
        '  - name: one',
        '    executable: builtin:noop',
        '  - name: two',
        '    use: clen',
      ],
    });
    const error = loadError();
    expect(error).toMatchObject({ file: path.join(dir, 'w.yaml'), field: 'jobs.1.use' });
    expect(error.message).toContain('Did you mean clean?');
  });

  it('refuses include paths that leave the directory, absolute ones, and missing ones', () => {
    for (const [p, words] of [
      ['../x.yaml', 'may not climb out'],
      ['lib/../../x.yaml', 'may not climb out'],
      ['/etc/x.yaml', 'relative'],
      ['lib/none.yaml', 'no library'],
    ]) {
      write({
        'w.yaml': [
          ...head('w', [`include: ['${p}']`]),
          'jobs:',
          '  - { name: a, executable: builtin:noop }',
        ],
      });
      const error = loadError();
      expect(error).toMatchObject({ file: path.join(dir, 'w.yaml'), field: 'include.0' });
      expect(error.message).toContain(words);
    }
  });

  it('refuses a workflow included as a library', () => {
    write({
      'lib/x.yaml': head('x'),
      'w.yaml': [
        ...head('w', ['include: [lib/x.yaml]']),
        'jobs:',
        '  - { name: a, executable: builtin:noop }',
      ],
    });
    expect(loadError()).toMatchObject({ file: path.join(dir, 'lib/x.yaml'), field: '(top level)' });
  });

  it('stops at an include cycle, naming the files', () => {
    write({
      'lib/x.yaml': ['include: [lib/y.yaml]', 'templates: {}'],
      'lib/y.yaml': ['include: [lib/x.yaml]', 'templates: {}'],
      'w.yaml': [
        ...head('w', ['include: [lib/x.yaml]']),
        'jobs:',
        '  - { name: a, executable: builtin:noop }',
      ],
    });
    const error = loadError();
    expect(error).toMatchObject({ file: path.join(dir, 'lib/y.yaml'), field: 'include.0' });
    expect(error.message).toContain('include cycle: lib/x.yaml -> lib/y.yaml -> lib/x.yaml');
  });
});

describe('sub-workflows (workflow, with)', () => {
  const outer = (withLines: string[], extra: string[] = []): Record<string, string[]> => ({
    'inner.yaml': INNER,
    'outer.yaml': [
      ...head('outer', [
        'parameters:',
        '  type: object',
        '  additionalProperties: false',
        '  properties:',
        '    nSpw: { type: integer, default: 3 }',
      ]),
      'jobs:',
      '  - name: fetch',
      '    executable: builtin:noop',
      '  - name: cal',
      '    workflow: inner',
      ...withLines,
      '    needs: [fetch]',
      '  - name: done',
      '    executable: builtin:noop',
      '    needs: [cal, fetch]',
      ...extra,
    ],
  });

  it('expands into <job>.<inner> jobs: needs inside, outer needs at the roots, dependents at the sinks', () => {
    write(outer(["    with: { n: 2, label: 'x y' }"]));
    const def = byName(loadDefinitions(dir), 'outer');
    expect(def.jobs.map((j) => [j.name, j.needs])).toEqual([
      ['fetch', []],
      ['cal.split', ['fetch']],
      ['cal.left', ['cal.split']],
      ['cal.right', ['cal.split']],
      ['done', ['cal.left', 'cal.right', 'fetch']],
    ]);
    const left = def.jobs[2];
    expect(left?.arguments).toEqual(['x y', '2', '{{item.i}}']);
    expect(left?.scatter).toEqual({ i: [0, 1] });
    expect(def.jobs[3]?.env).toEqual({ LABEL: 'x y' });
    expect(planRun(def.jobs, {}, 100).find((g) => g.name === 'cal.left')?.items).toHaveLength(2);
    expect(def.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('forwards an outer parameter given as {{parameters.x}}, and fills the inner defaults', () => {
    write(outer(["    with: { n: '{{parameters.nSpw}}' }"]));
    const def = byName(loadDefinitions(dir), 'outer');
    const left = def.jobs.find((j) => j.name === 'cal.left');
    expect(left?.arguments).toEqual(['plain', '{{parameters.nSpw}}', '{{item.i}}']);
    expect(left?.scatter).toEqual({ i: 'nSpw' });
    expect(
      planRun(def.jobs, { nSpw: 3 }, 100).find((g) => g.name === 'cal.left')?.items,
    ).toHaveLength(3);
  });

  it('validates with against the inner schema, naming jobs.<i>.with.<param>', () => {
    write(outer(["    with: { n: 'two' }"]));
    expect(loadError()).toMatchObject({
      file: path.join(dir, 'outer.yaml'),
      field: 'jobs.1.with.n',
    });
    write(outer(['    with: { n: 2, labl: x }']));
    const error = loadError();
    expect(error.field).toBe('jobs.1.with.labl');
    expect(error.message).toContain('Did you mean label?');
    write(outer(['    with: { label: x }']));
    expect(loadError().field).toBe('jobs.1.with.n');
    write(outer(["    with: { n: '{{parameters.nspw}}' }"]));
    expect(loadError()).toMatchObject({ field: 'jobs.1.with.n' });
    write(outer(["    with: { n: '{{dirs.tmp}}' }"]));
    expect(loadError()).toMatchObject({ field: 'jobs.1.with.n' });
  });

  it('names an unknown workflow, and fields a workflow job does not have', () => {
    write(outer(['    with: { n: 1 }']));
    fs.writeFileSync(
      path.join(dir, 'outer.yaml'),
      fs
        .readFileSync(path.join(dir, 'outer.yaml'), 'utf8')
        .replace('workflow: inner', 'workflow: inne'),
    );
    const error = loadError();
    expect(error).toMatchObject({ file: path.join(dir, 'outer.yaml'), field: 'jobs.1.workflow' });
    expect(error.message).toContain('Did you mean inner?');
    write(outer(['    with: { n: 1 }', '    timeout: 5']));
    expect(loadError().field).toBe('jobs.1.timeout');
  });

  it('stops at a cycle of sub-workflows, naming the files', () => {
    write({
      'a.yaml': [...head('a'), 'jobs:', '  - { name: x, workflow: b }'],
      'b.yaml': [...head('b'), 'jobs:', '  - { name: y, workflow: a }'],
    });
    const error = loadError();
    expect(error).toMatchObject({ file: path.join(dir, 'b.yaml'), field: 'jobs.0.workflow' });
    expect(error.message).toContain('workflow cycle: a.yaml -> b.yaml -> a.yaml');
    write({ 'a.yaml': [...head('a'), 'jobs:', '  - { name: x, workflow: a }'], 'b.yaml': INNER });
    fs.rmSync(path.join(dir, 'b.yaml'));
    expect(loadError().message).toContain('workflow cycle: a.yaml -> a.yaml');
  });

  it('nests: a sub-workflow of a sub-workflow is named <outer>.<mid>.<inner>', () => {
    write({
      'inner.yaml': INNER,
      'mid.yaml': [...head('mid'), 'jobs:', '  - { name: m, workflow: inner, with: { n: 1 } }'],
      'top.yaml': [
        ...head('top'),
        'jobs:',
        '  - { name: t, workflow: mid }',
        '  - { name: z, executable: builtin:noop, needs: [t] }',
      ],
    });
    const top = byName(loadDefinitions(dir), 'top');
    expect(top.jobs.map((j) => j.name)).toEqual(['t.m.split', 't.m.left', 't.m.right', 'z']);
    expect(top.jobs[3]?.needs).toEqual(['t.m.left', 't.m.right']);
  });
});

describe('the t_composed fixture', () => {
  it('loads with its libraries and t_scatter', () => {
    fs.cpSync(path.join(FIXTURES, 'lib'), path.join(dir, 'lib'), { recursive: true });
    fs.copyFileSync(
      path.join(FIXTURES, 'composed', 't_composed.yaml'),
      path.join(dir, 't_composed.yaml'),
    );
    fs.copyFileSync(path.join(FIXTURES, 't_scatter.yaml'), path.join(dir, 't_scatter.yaml'));
    const def = byName(loadDefinitions(dir), 't_composed');
    expect(def.jobs.map((j) => j.name)).toEqual([
      'fetch',
      'calib.prep',
      'calib.work',
      'calib.gather',
      'image',
    ]);
  });
});
