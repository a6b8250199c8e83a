import fc from 'fast-check';
import {
  checkExpression,
  evaluate,
  Expression,
  ExpressionError,
  ExpressionScope,
  formatExpression,
  parseExpression,
  references,
} from './expressions';

const scope: ExpressionScope = {
  parameters: { recipe: 'hifv', spws: [1, 2, 3], n: 3, flag: true, zero: 0, empty: '', none: [] },
  subject: 'uid://A001/X1/X2',
  jobs: {
    heur: { state: 'succeeded', result: { mode: 'selfcal', snr: 12.5, fields: [{ name: 'J1' }] } },
    'img.clean': { state: 'skipped', result: null },
    flagging: { state: 'failed', result: { spws: [[0, 1], [2]] } },
  },
  result: { converged: false, rms: 0.004 },
  round: 2,
};

const holds = (text: string, s: ExpressionScope = scope) => evaluate(parseExpression(text), s);

const errorOf = (text: string): string => {
  try {
    parseExpression(text);
  } catch (e) {
    expect(e).toBeInstanceOf(ExpressionError);
    return (e as Error).message;
  }
  throw new Error(`parsed: ${text}`);
};

test("the spec's example", () => {
  expect(holds("jobs.heur.result.mode == 'selfcal'")).toBe(true);
  expect(holds("jobs.heur.result.mode != 'selfcal'")).toBe(false);
  expect(parseExpression("jobs.heur.result.mode == 'selfcal'")).toEqual({
    kind: 'compare',
    op: '==',
    left: { kind: 'jobResult', job: 'heur', path: ['mode'] },
    right: { kind: 'literal', value: 'selfcal' },
  });
});

test('precedence: not binds tighter than and, and than or; not is looser than comparisons', () => {
  const a = { kind: 'parameter', path: ['a'] };
  const b = { kind: 'parameter', path: ['b'] };
  const c = { kind: 'parameter', path: ['c'] };
  expect(parseExpression('not parameters.a and parameters.b or parameters.c')).toEqual({
    kind: 'or',
    operands: [{ kind: 'and', operands: [{ kind: 'not', operand: a }, b] }, c],
  });
  expect(parseExpression('not parameters.a == 1')).toEqual({
    kind: 'not',
    operand: { kind: 'compare', op: '==', left: a, right: { kind: 'literal', value: 1 } },
  });
  const p = (o: Record<string, boolean>) => ({ ...scope, parameters: o });
  expect(
    holds('not parameters.a and parameters.b or parameters.c', p({ a: false, b: true, c: false })),
  ).toBe(true);
  expect(
    holds('not parameters.a and parameters.b or parameters.c', p({ a: true, b: true, c: false })),
  ).toBe(false);
  expect(
    holds('not parameters.a and parameters.b or parameters.c', p({ a: true, b: false, c: true })),
  ).toBe(true);
  expect(holds('not (parameters.a and parameters.b)', p({ a: true, b: false }))).toBe(true);
  expect(holds('not not parameters.a', p({ a: true }))).toBe(true);
});

test('in and not in, with lists and strings', () => {
  expect(holds('2 in parameters.spws')).toBe(true);
  expect(holds('7 in parameters.spws')).toBe(false);
  expect(holds('7 not in parameters.spws')).toBe(true);
  expect(holds("parameters.recipe in ['hifa', 'hifv']")).toBe(true);
  expect(holds("parameters.recipe not in ['hifa', 'hifv']")).toBe(false);
  expect(holds("'A001' in subject")).toBe(true);
  expect(holds("'X9' in subject")).toBe(false);
  expect(holds("'X9' not in subject")).toBe(true);
  expect(holds("'1' in [1, 2]")).toBe(false);
  expect(holds('1 in subject')).toBe(false);
  expect(holds('[0, 1] in jobs.flagging.result.spws')).toBe(true);
  expect(holds('1 in 5')).toBe(false);
  expect(holds('1 in parameters.missing')).toBe(false);
  expect(holds('1 not in parameters.missing')).toBe(true);
  expect(holds('null in [1, null]')).toBe(true);
});

test('numbers and comparisons', () => {
  expect(holds('parameters.n == 3')).toBe(true);
  expect(holds('parameters.n == 3.0')).toBe(true);
  expect(holds('jobs.heur.result.snr > 10')).toBe(true);
  expect(holds('jobs.heur.result.snr >= 12.5')).toBe(true);
  expect(holds('jobs.heur.result.snr < 12.5')).toBe(false);
  expect(holds('jobs.heur.result.snr <= 12.5')).toBe(true);
  expect(holds('-1 < 0')).toBe(true);
  expect(holds('-1.5 < -1')).toBe(true);
  expect(holds('result.rms < 0.01 and round >= 2')).toBe(true);
  expect(holds("'abc' < 'abd'")).toBe(true);
  expect(holds('parameters.spws == [1, 2, 3]')).toBe(true);
  expect(holds('parameters.spws == [1, 2]')).toBe(false);
  expect(holds('jobs.heur.result.fields == [1]')).toBe(false);
  expect(holds("jobs.heur.state == 'succeeded' and jobs.img.clean.state == 'skipped'")).toBe(true);
  expect(holds('true == true and false != true and null == null')).toBe(true);
  expect(parseExpression('-0')).toEqual({ kind: 'literal', value: 0 });
});

test('nested result paths and list indexes, by .0 and [0]', () => {
  expect(holds("jobs.heur.result.fields.0.name == 'J1'")).toBe(true);
  expect(holds("jobs.heur.result.fields[0].name == 'J1'")).toBe(true);
  expect(holds('jobs.flagging.result.spws[0][1] == 1')).toBe(true);
  expect(holds('jobs.flagging.result.spws.1.0 == 2')).toBe(true);
  expect(holds('parameters.spws.2 == 3')).toBe(true);
  expect(parseExpression('jobs.a.result.x.0.1')).toEqual(parseExpression('jobs.a.result.x[0][1]'));
  expect(parseExpression('jobs.a.result.x.0.1')).toEqual({
    kind: 'jobResult',
    job: 'a',
    path: ['x', 0, 1],
  });
});

test('a path that does not exist is null, never an error', () => {
  expect(holds('parameters.missing == null')).toBe(true);
  expect(holds('parameters.missing.deeper.still == null')).toBe(true);
  expect(holds('parameters.spws.9 == null')).toBe(true);
  expect(holds('parameters.spws.x == null')).toBe(true);
  expect(holds('parameters.recipe.0 == null')).toBe(true);
  expect(holds('jobs.nope.state == null')).toBe(true);
  expect(holds('jobs.nope.result.x == null')).toBe(true);
  expect(holds('jobs.img.clean.result.x == null')).toBe(true);
  expect(holds('parameters.missing')).toBe(false);
  const bare: ExpressionScope = { parameters: {}, subject: null, jobs: {} };
  expect(holds('result == null and round == null and subject == null', bare)).toBe(true);
  expect(holds('result.x', bare)).toBe(false);
});

test('truthiness: false, null, missing, 0, empty string and empty list are false', () => {
  for (const f of ['zero', 'empty', 'none', 'missing'])
    expect(holds(`parameters.${f}`)).toBe(false);
  expect(holds('parameters.flag')).toBe(true);
  expect(holds('jobs.heur.result')).toBe(true);
  expect(holds('[]')).toBe(false);
  expect(holds('[0]')).toBe(true);
  expect(holds("''")).toBe(false);
  expect(holds('0.0')).toBe(false);
  expect(holds('null')).toBe(false);
});

test('comparisons between different types: == false, != true, ordering false', () => {
  expect(holds("parameters.n == '3'")).toBe(false);
  expect(holds("parameters.n != '3'")).toBe(true);
  expect(holds('parameters.flag == 1')).toBe(false);
  expect(holds('null == 0')).toBe(false);
  expect(holds("null == ''")).toBe(false);
  expect(holds("parameters.n < '4'")).toBe(false);
  expect(holds("parameters.n >= '1'")).toBe(false);
  expect(holds('null < 1')).toBe(false);
  expect(holds('[1] < [2]')).toBe(false);
  expect(holds('true > false')).toBe(false);
  expect(holds('parameters.missing < 1 or parameters.missing >= 1')).toBe(false);
});

test("strings: single quotes with \\' and \\\\ escapes", () => {
  expect(parseExpression("'it\\'s'")).toEqual({ kind: 'literal', value: "it's" });
  expect(parseExpression("'a\\\\b'")).toEqual({ kind: 'literal', value: 'a\\b' });
  expect(parseExpression("'and or not ( ]'")).toEqual({ kind: 'literal', value: 'and or not ( ]' });
});

test('every syntax error says what and at which column', () => {
  const cases: [string, string][] = [
    ["parameters.x == 'a')", "unexpected ')' at column 20"],
    ['(parameters.x == 1', 'unexpected end of expression at column 19'],
    ['parameters.x ==', 'unexpected end of expression at column 16'],
    ['parameters.x = 1', "unexpected '=' at column 14 (use '==')"],
    ['parameters.x == "a"', "unexpected '\"' at column 17 (strings use single quotes)"],
    ["parameters.x == 'abc", 'unterminated string starting at column 17'],
    ["'a\\nb'", "unknown escape '\\n' at column 3"],
    ['parameters.x & 1', "unexpected '&' at column 14"],
    ['parameters.x + 1', "unexpected '+' at column 14"],
    ['1 < 2 < 3', "unexpected '<' at column 7 (comparisons do not chain"],
    ['parameters.x and', 'unexpected end of expression at column 17'],
    ['and parameters.x', "unexpected 'and' at column 1"],
    ['[1, 2', "unexpected end of expression at column 6 (expected ',' or ']'"],
    ['[1 2]', "unexpected '2' at column 4"],
    ['1.', "a number needs digits after '.' at column 2"],
    ['1.2.3', "unexpected '.' at column 4"],
    ['12abc', "unexpected 'a' at column 3"],
    ['foo == 1', "unknown name 'foo' at column 1"],
    ['True', "unknown name 'True' at column 1"],
    ['len(parameters.x)', "unknown name 'len' at column 1"],
    ['parameters', "'parameters' needs a parameter name"],
    ['parameters.0', "'parameters' needs a parameter name"],
    ['jobs.heur', "'jobs' needs a job name and .state or .result"],
    ['jobs.result', "'jobs' needs a job name and .state or .result"],
    ['jobs.heur.state.x', "'jobs.heur.state' has no fields"],
    ['subject.length', "'subject' has no fields at column 1"],
    ['round.x', "'round' has no fields at column 1"],
    [
      'parameters.x.',
      "unexpected end of expression at column 14 (expected a name or index after '.')",
    ],
    ['parameters.x[a]', "unexpected 'a' at column 14 (expected an index like [0])"],
    ['parameters.x[-1]', "unexpected '-1' at column 14"],
    ['parameters.x[1.5]', "unexpected '1.5' at column 14"],
    ['parameters.x[0', "unexpected end of expression at column 15 (expected ']')"],
    ['parameters . x', "unexpected '.' at column 12"],
    ['-parameters.x', "unexpected '-' at column 1"],
    ['1 not 2', "unexpected 'not' at column 3"],
    ['', 'empty expression'],
    ['   ', 'empty expression'],
  ];
  for (const [text, message] of cases) {
    expect([text, errorOf(text)]).toEqual([text, expect.stringContaining(message)]);
  }
  try {
    parseExpression("jobs.heur.result.mode == 'a')");
  } catch (e) {
    expect((e as ExpressionError).column).toBe(29);
    expect((e as ExpressionError).kind).toBe('invalid');
  }
});

test('length and nesting depth are limited', () => {
  const long = Array.from({ length: 400 }, () => 'round').join(' or ');
  expect(long.length).toBeGreaterThan(2000);
  expect(errorOf(long)).toBe(`expression is too long (${long.length} characters, at most 2000)`);
  const ok = Array.from({ length: 200 }, () => 'round').join(' or ');
  expect(holds(ok)).toBe(true);
  expect(holds(`${'('.repeat(50)}round${')'.repeat(50)}`)).toBe(true);
  expect(errorOf(`${'('.repeat(51)}round${')'.repeat(51)}`)).toBe(
    'expression nests too deeply (more than 50 levels) at column 51',
  );
  expect(errorOf(`${'['.repeat(51)}${']'.repeat(51)}`)).toContain('nests too deeply');
  expect(errorOf(`${'not '.repeat(51)}round`)).toContain('nests too deeply');
  expect(holds(`${'not '.repeat(50)}round`)).toBe(true);
  expect(errorOf('1'.repeat(400))).toBe('number too large at column 1');
});

test('references lists the jobs, parameters, result and round named', () => {
  const refs = references(
    parseExpression(
      "jobs.heur.state == 'succeeded' and (parameters.spws.0 in [parameters.x, jobs.img.clean.result.n] or not result.ok) and round < 3",
    ),
  );
  expect(refs).toEqual({
    jobs: new Set(['heur', 'img.clean']),
    parameters: new Set(['spws', 'x']),
    usesResult: true,
    usesRound: true,
  });
  expect(references(parseExpression("subject == 'x'"))).toEqual({
    jobs: new Set(),
    parameters: new Set(),
    usesResult: false,
    usesRound: false,
  });
});

test('checkExpression gives the definition loader its message', () => {
  const ctx = {
    knownJobs: new Set(['heur', 'flag', 'image', 'other']),
    ancestors: new Set(['heur', 'flag']),
  };
  expect(checkExpression("jobs.heur.result.mode == 'selfcal'", ctx)).toBeNull();
  expect(checkExpression("jobs.heur.result.mode == 'selfcal')", ctx)).toBe(
    "unexpected ')' at column 35",
  );
  expect(checkExpression("jobs.nope.state == 'succeeded'", ctx)).toBe('names unknown job "nope"');
  expect(checkExpression("jobs.other.state == 'succeeded'", ctx)).toBe(
    'job "other" is not a dependency of this job (add it to needs)',
  );
  expect(checkExpression('result.converged', ctx)).toContain(
    "'result' is only allowed in repeat.until",
  );
  expect(checkExpression('round > 3', ctx)).toContain("'round' is only allowed in repeat.until");
  const until = { ...ctx, allowSelf: 'image' };
  expect(checkExpression('result.converged or round >= 5', until)).toBeNull();
  expect(
    checkExpression('jobs.image.result.rms < 0.01 and jobs.heur.result.snr > 3', until),
  ).toBeNull();
  expect(checkExpression('jobs.other.result.x', until)).toBe(
    'job "other" is not a dependency of this job (add it to needs)',
  );
});

test('no path reaches an object prototype', () => {
  const s: ExpressionScope = { ...scope, parameters: { obj: {}, list: [1], text: 'abc' } };
  for (const name of [
    'constructor',
    '__proto__',
    'toString',
    'hasOwnProperty',
    'valueOf',
    'length',
  ]) {
    expect(holds(`parameters.${name}`, s)).toBe(false);
    expect(holds(`parameters.${name} == null`, s)).toBe(true);
    expect(holds(`parameters.obj.${name} == null`, s)).toBe(true);
    expect(holds(`parameters.list.${name} == null`, s)).toBe(true);
    expect(holds(`parameters.text.${name} == null`, s)).toBe(true);
    expect(holds(`jobs.${name}.state == null`, s)).toBe(true);
    expect(holds(`jobs.${name}.result == null`, s)).toBe(true);
    expect(holds(`jobs.heur.result.${name} == null`, s)).toBe(true);
    expect(holds(`result.${name} == null`, s)).toBe(true);
  }
  expect(holds('parameters.constructor.name == null', s)).toBe(true);
  expect(holds('parameters.obj.constructor.prototype == null', s)).toBe(true);
  // An own property of that name is data like any other.
  const own = JSON.parse('{"__proto__": {"x": 1}, "constructor": 2}') as Record<string, unknown>;
  expect(
    holds('parameters.__proto__.x == 1 and parameters.constructor == 2', { ...s, parameters: own }),
  ).toBe(true);
});

// ---------------------------------------------------------------- round trip

const ident = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_-]{0,6}$/);
const segment = fc.oneof(ident, fc.nat({ max: 20 }));
const name: fc.Arbitrary<Expression> = fc.oneof(
  fc
    .tuple(ident, fc.array(segment, { maxLength: 3 }))
    .map(([first, rest]): Expression => ({ kind: 'parameter', path: [first, ...rest] })),
  fc.constant<Expression>({ kind: 'subject' }),
  fc.constant<Expression>({ kind: 'round' }),
  fc.array(segment, { maxLength: 3 }).map((path): Expression => ({ kind: 'result', path })),
  fc
    .array(
      ident.filter((s) => s !== 'state' && s !== 'result'),
      { minLength: 1, maxLength: 2 },
    )
    .chain((job) =>
      fc.oneof(
        fc.constant<Expression>({ kind: 'jobState', job: job.join('.') }),
        fc
          .array(segment, { maxLength: 3 })
          .map((path): Expression => ({ kind: 'jobResult', job: job.join('.'), path })),
      ),
    ),
);
const literal: fc.Arbitrary<Expression> = fc
  .oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -1e6, max: 1e6 }),
    fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => !Object.is(n, -0)),
    fc.string({ maxLength: 8 }),
  )
  .map((value): Expression => ({ kind: 'literal', value }));
const ops = ['==', '!=', '<', '<=', '>', '>=', 'in', 'not in'] as const;

const { expr } = fc.letrec<{ expr: Expression }>((tie) => ({
  expr: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    literal,
    name,
    fc.array(tie('expr'), { maxLength: 3 }).map((items): Expression => ({ kind: 'list', items })),
    tie('expr').map((operand): Expression => ({ kind: 'not', operand })),
    fc
      .tuple(
        fc.constantFrom('and' as const, 'or' as const),
        fc.array(tie('expr'), { minLength: 2, maxLength: 3 }),
      )
      .map(([kind, operands]): Expression => ({ kind, operands })),
    fc
      .tuple(fc.constantFrom(...ops), tie('expr'), tie('expr'))
      .map(([op, left, right]): Expression => ({ kind: 'compare', op, left, right })),
  ),
}));

test('random expressions round-trip through formatExpression', () => {
  let parsedCount = 0;
  fc.assert(
    fc.property(expr, (e) => {
      const text = formatExpression(e);
      fc.pre(text.length <= 2000);
      let parsed: Expression;
      try {
        parsed = parseExpression(text);
      } catch (err) {
        // Only the depth limit may refuse a generated tree.
        expect((err as Error).message).toContain('nests too deeply');
        return;
      }
      parsedCount++;
      expect(parsed).toEqual(e);
      expect(formatExpression(parsed)).toBe(text);
      // Evaluation never throws, whatever the data.
      evaluate(parsed, scope);
    }),
    { numRuns: 500, seed: 20250101 },
  );
  expect(parsedCount).toBeGreaterThan(400);
});

test('formatExpression writes numbers without exponents', () => {
  for (const n of [1e21, 1.5e-7, -2.5e25, 123.456, 0]) {
    expect(parseExpression(formatExpression({ kind: 'literal', value: n }))).toEqual({
      kind: 'literal',
      value: n,
    });
  }
  expect(formatExpression(parseExpression('1000000000000000000000'))).toBe(
    '1000000000000000000000',
  );
});
