import { render, TemplateContext, templateProblems } from './template';

const ctx: TemplateContext = {
  runId: 42,
  version: 2,
  workflow: 'std_calibration',
  subject: 'uid://A001/X1/X2',
  fileSafeSubject: 'uid___A001_X1_X2',
  parameters: { recipe: 'hifv', spws: [1, 2], evil: '; rm -rf / $(whoami) `id`' },
  dirs: {
    root: '/p/r',
    rawdata: '/p/r/rawdata',
    working: '/p/r/working',
    products: '/p/r/products',
    inputs: '/p/r/inputs',
  },
  item: { spw: 3 },
  index: 5,
};

test('renders placeholders into one literal argument', () => {
  expect(render('--eb={{subject}}', ctx)).toBe('--eb=uid://A001/X1/X2');
  expect(render('{{dirs.products}}/x_{{item.spw}}_{{index}}', ctx)).toBe('/p/r/products/x_3_5');
  expect(render('{{parameters.spws}}', ctx)).toBe('1,2');
  expect(render('{{ parameters.missing }}', ctx)).toBe('');
  expect(render('{{parameters.evil}}', ctx)).toBe('; rm -rf / $(whoami) `id`');
});

test('names placeholders a definition may not use', () => {
  expect(templateProblems('{{secret}}', [])).toEqual(['unknown placeholder {{secret}}']);
  expect(templateProblems('{{dirs.home}}', [])).toEqual(['unknown directory {{dirs.home}}']);
  expect(templateProblems('{{item.spw}}', ['scan'])).toEqual([
    '{{item.spw}} is not a scatter dimension of this job',
  ]);
  expect(templateProblems('{{item.spw}} {{runId}}', ['spw'])).toEqual([]);
});

test('outputs name the file-safe subject, never the subject', () => {
  expect(render('rawdata/{{fileSafeSubject}}', ctx)).toBe('rawdata/uid___A001_X1_X2');
  expect(templateProblems('rawdata/{{fileSafeSubject}}', [], true)).toEqual([]);
  expect(templateProblems('rawdata/{{subject}}', [], true)).toEqual([
    '{{subject}} is not a file name: use {{fileSafeSubject}} in paths',
  ]);
  expect(templateProblems('--subject={{subject}}', [])).toEqual([]);
});
