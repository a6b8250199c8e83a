/**
 * The small safe expression language of `when` and `repeat.until`
 * (WORKFLOWS v1.1, "Data-driven steps"). Parsed into a plain AST and
 * evaluated by walking it: no code is ever evaluated, and names are looked up
 * as own properties only, so no path reaches an object's prototype.
 *
 *   expr       = or ;
 *   or         = and { "or" and } ;
 *   and        = not { "and" not } ;
 *   not        = "not" not | comparison ;
 *   comparison = operand [ compop operand ] ;        (does not chain)
 *   compop     = "==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not" "in" ;
 *   operand    = literal | list | name | "(" expr ")" ;
 *   list       = "[" [ expr { "," expr } [ "," ] ] "]" ;
 *   literal    = number | string | "true" | "false" | "null" ;
 *   number     = [ "-" ] digits [ "." digits ] ;
 *   string     = "'" { char | "\'" | "\\" } "'" ;
 *   name       = "parameters" "." ident { seg }
 *              | "subject" | "round"
 *              | "result" { seg }
 *              | "jobs" "." ident { "." ident } "." ( "state" | "result" { seg } ) ;
 *   seg        = "." ident | "." digits | "[" digits "]" ;
 *   ident      = [A-Za-z_] { [A-Za-z0-9_-] } ;
 *
 * A job name runs up to its first `state` or `result` segment, so the
 * expanded sub-workflow jobs (`img.clean`) can be named too.
 */
import { WfsError } from './errors';

export const EXPRESSION_MAX_CHARS = 2000;
export const EXPRESSION_MAX_DEPTH = 50;

export type PathSegment = string | number;

export type CompareOp = '==' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'not in';

export type Expression =
  | { kind: 'literal'; value: null | boolean | number | string }
  | { kind: 'list'; items: Expression[] }
  | { kind: 'parameter'; path: PathSegment[] }
  | { kind: 'subject' }
  | { kind: 'round' }
  | { kind: 'result'; path: PathSegment[] }
  | { kind: 'jobState'; job: string }
  | { kind: 'jobResult'; job: string; path: PathSegment[] }
  | { kind: 'not'; operand: Expression }
  | { kind: 'and' | 'or'; operands: Expression[] }
  | { kind: 'compare'; op: CompareOp; left: Expression; right: Expression };

export interface ExpressionScope {
  parameters: Record<string, unknown>;
  subject: string | null;
  jobs: Record<string, { state: string; result: unknown }>;
  /** This job's own latest result (repeat.until). */
  result?: unknown;
  /** The current round, from 1 (repeat.until). */
  round?: number;
}

export class ExpressionError extends WfsError {
  constructor(
    message: string,
    /** 1-based column the problem is at, when there is one. */
    readonly column: number | null = null,
  ) {
    super('invalid', 'INVALID_EXPRESSION', message, column === null ? {} : { column });
    this.name = 'ExpressionError';
  }
}

// ---------------------------------------------------------------- lexer

type TokenKind = 'number' | 'string' | 'ident' | 'op' | 'end';
interface Token {
  kind: TokenKind;
  /** The source text (for strings and numbers, their value is in `value`). */
  text: string;
  value?: string | number;
  col: number;
  /** Whitespace came right before this token. */
  spaced: boolean;
}

const IDENT_START = /[A-Za-z_]/;
const IDENT_PART = /[A-Za-z0-9_-]/;
const DIGIT = /[0-9]/;
const SPACE = /[ \t\r\n]/;

function lex(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let spaced = false;
  const push = (t: Omit<Token, 'spaced'>) => {
    tokens.push({ ...t, spaced });
    spaced = false;
  };
  while (i < text.length) {
    const c = text[i];
    const col = i + 1;
    if (SPACE.test(c)) {
      i++;
      spaced = true;
      continue;
    }
    const prev = tokens[tokens.length - 1];
    const afterDot = prev !== undefined && prev.kind === 'op' && prev.text === '.' && !spaced;
    if (afterDot && DIGIT.test(c)) {
      // An index segment: digits only, `a.0.1` is two indexes, never 0.1.
      let j = i;
      while (j < text.length && DIGIT.test(text[j])) j++;
      const index = Number(text.slice(i, j));
      if (!Number.isSafeInteger(index))
        throw new ExpressionError(`index too large at column ${col}`, col);
      push({ kind: 'number', text: text.slice(i, j), value: index, col });
      i = j;
      continue;
    }
    if (DIGIT.test(c) || (c === '-' && DIGIT.test(text[i + 1] ?? ''))) {
      let j = c === '-' ? i + 1 : i;
      while (j < text.length && DIGIT.test(text[j])) j++;
      if (text[j] === '.') {
        if (!DIGIT.test(text[j + 1] ?? ''))
          throw new ExpressionError(`a number needs digits after '.' at column ${j + 1}`, j + 1);
        j++;
        while (j < text.length && DIGIT.test(text[j])) j++;
      }
      if (j < text.length && (IDENT_START.test(text[j]) || text[j] === '.'))
        throw new ExpressionError(`unexpected '${text[j]}' at column ${j + 1}`, j + 1);
      const raw = text.slice(i, j);
      const value = Number(raw);
      if (!Number.isFinite(value))
        throw new ExpressionError(`number too large at column ${col}`, col);
      push({ kind: 'number', text: raw, value: Object.is(value, -0) ? 0 : value, col });
      i = j;
      continue;
    }
    if (IDENT_START.test(c)) {
      let j = i + 1;
      while (j < text.length && IDENT_PART.test(text[j])) j++;
      push({ kind: 'ident', text: text.slice(i, j), col });
      i = j;
      continue;
    }
    if (c === "'") {
      let j = i + 1;
      let value = '';
      for (;;) {
        if (j >= text.length)
          throw new ExpressionError(`unterminated string starting at column ${col}`, col);
        const d = text[j];
        if (d === "'") break;
        if (d === '\\') {
          const e = text[j + 1];
          if (e === "'" || e === '\\') {
            value += e;
            j += 2;
            continue;
          }
          if (e === undefined)
            throw new ExpressionError(`unterminated string starting at column ${col}`, col);
          throw new ExpressionError(
            `unknown escape '\\${e}' at column ${j + 1} (only \\' and \\\\)`,
            j + 1,
          );
        }
        value += d;
        j++;
      }
      push({ kind: 'string', text: text.slice(i, j + 1), value, col });
      i = j + 1;
      continue;
    }
    const two = text.slice(i, i + 2);
    if (two === '==' || two === '!=' || two === '<=' || two === '>=') {
      push({ kind: 'op', text: two, col });
      i += 2;
      continue;
    }
    if ('<>()[],.'.includes(c)) {
      push({ kind: 'op', text: c, col });
      i++;
      continue;
    }
    if (c === '=') throw new ExpressionError(`unexpected '=' at column ${col} (use '==')`, col);
    if (c === '"')
      throw new ExpressionError(`unexpected '"' at column ${col} (strings use single quotes)`, col);
    const ch = String.fromCodePoint(text.codePointAt(i) ?? 0);
    throw new ExpressionError(`unexpected '${ch}' at column ${col}`, col);
  }
  tokens.push({ kind: 'end', text: '', col: text.length + 1, spaced });
  return tokens;
}

// ---------------------------------------------------------------- parser

const KEYWORDS = new Set(['and', 'or', 'not', 'in', 'true', 'false', 'null']);
const COMPARE_OPS = new Set(['==', '!=', '<', '<=', '>', '>=']);

class Parser {
  private pos = 0;
  private depth = 0;

  constructor(private readonly tokens: Token[]) {}

  parse(): Expression {
    const expr = this.parseOr();
    const t = this.peek();
    if (t.kind !== 'end') throw this.unexpected(t);
    return expr;
  }

  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.pos + offset, this.tokens.length - 1)];
  }

  private next(): Token {
    const t = this.peek();
    if (t.kind !== 'end') this.pos++;
    return t;
  }

  private isWord(t: Token, word: string): boolean {
    return t.kind === 'ident' && t.text === word;
  }

  private isOp(t: Token, op: string): boolean {
    return t.kind === 'op' && t.text === op;
  }

  private unexpected(t: Token, expected?: string): ExpressionError {
    const what = t.kind === 'end' ? 'end of expression' : `'${t.text}'`;
    const hint = expected ? ` (expected ${expected})` : '';
    return new ExpressionError(`unexpected ${what} at column ${t.col}${hint}`, t.col);
  }

  private enter(t: Token): void {
    if (++this.depth > EXPRESSION_MAX_DEPTH)
      throw new ExpressionError(
        `expression nests too deeply (more than ${EXPRESSION_MAX_DEPTH} levels) at column ${t.col}`,
        t.col,
      );
  }

  private parseOr(): Expression {
    const operands = [this.parseAnd()];
    while (this.isWord(this.peek(), 'or')) {
      this.next();
      operands.push(this.parseAnd());
    }
    return operands.length === 1 ? operands[0] : { kind: 'or', operands };
  }

  private parseAnd(): Expression {
    const operands = [this.parseNot()];
    while (this.isWord(this.peek(), 'and')) {
      this.next();
      operands.push(this.parseNot());
    }
    return operands.length === 1 ? operands[0] : { kind: 'and', operands };
  }

  private parseNot(): Expression {
    const t = this.peek();
    if (this.isWord(t, 'not')) {
      this.next();
      this.enter(t);
      const operand = this.parseNot();
      this.depth--;
      return { kind: 'not', operand };
    }
    return this.parseComparison();
  }

  private compareOp(): CompareOp | null {
    const t = this.peek();
    if (t.kind === 'op' && COMPARE_OPS.has(t.text)) return t.text as CompareOp;
    if (this.isWord(t, 'in')) return 'in';
    if (this.isWord(t, 'not') && this.isWord(this.peek(1), 'in')) return 'not in';
    return null;
  }

  private parseComparison(): Expression {
    const left = this.parseOperand();
    const op = this.compareOp();
    if (op === null) return left;
    this.next();
    if (op === 'not in') this.next();
    const right = this.parseOperand();
    const after = this.peek();
    if (this.compareOp() !== null)
      throw new ExpressionError(
        `unexpected '${after.text}' at column ${after.col} (comparisons do not chain: use 'and')`,
        after.col,
      );
    return { kind: 'compare', op, left, right };
  }

  private parseOperand(): Expression {
    const t = this.peek();
    if (t.kind === 'number') {
      this.next();
      return { kind: 'literal', value: t.value as number };
    }
    if (t.kind === 'string') {
      this.next();
      return { kind: 'literal', value: t.value as string };
    }
    if (this.isOp(t, '(')) {
      this.next();
      this.enter(t);
      const inner = this.parseOr();
      this.depth--;
      const close = this.peek();
      if (!this.isOp(close, ')'))
        throw this.unexpected(close, `')' to close '(' at column ${t.col}`);
      this.next();
      return inner;
    }
    if (this.isOp(t, '[')) {
      this.next();
      this.enter(t);
      const items: Expression[] = [];
      while (!this.isOp(this.peek(), ']')) {
        items.push(this.parseOr());
        const sep = this.peek();
        if (this.isOp(sep, ',')) this.next();
        else if (!this.isOp(sep, ']'))
          throw this.unexpected(sep, `',' or ']' to close '[' at column ${t.col}`);
      }
      this.next();
      this.depth--;
      return { kind: 'list', items };
    }
    if (t.kind === 'ident') {
      if (t.text === 'true' || t.text === 'false') {
        this.next();
        return { kind: 'literal', value: t.text === 'true' };
      }
      if (t.text === 'null') {
        this.next();
        return { kind: 'literal', value: null };
      }
      if (!KEYWORDS.has(t.text)) return this.parseName();
    }
    throw this.unexpected(t, 'a value');
  }

  /** `.ident` (or `.digits` / `[digits]` when indexes are allowed) segments after a name. */
  private parseSegments(): PathSegment[] {
    const path: PathSegment[] = [];
    for (;;) {
      const t = this.peek();
      if (this.isOp(t, '.') && !t.spaced && !this.peek(1).spaced) {
        const seg = this.peek(1);
        if (seg.kind === 'ident') path.push(seg.text);
        else if (seg.kind === 'number') path.push(seg.value as number);
        else throw this.unexpected(seg, "a name or index after '.'");
        this.pos += 2;
      } else if (this.isOp(t, '[') && !t.spaced) {
        const idx = this.peek(1);
        if (idx.kind !== 'number' || !/^[0-9]+$/.test(idx.text) || !Number.isSafeInteger(idx.value))
          throw this.unexpected(idx, 'an index like [0]');
        const close = this.peek(2);
        if (!this.isOp(close, ']')) throw this.unexpected(close, "']'");
        path.push(idx.value as number);
        this.pos += 3;
      } else if (this.isOp(t, '.')) {
        throw this.unexpected(t);
      } else {
        return path;
      }
    }
  }

  private parseName(): Expression {
    const root = this.next();
    const path = this.parseSegments();
    const none = (what: string): Expression => {
      if (path.length > 0)
        throw new ExpressionError(`'${root.text}' has no fields at column ${root.col}`, root.col);
      return what === 'subject' ? { kind: 'subject' } : { kind: 'round' };
    };
    switch (root.text) {
      case 'subject':
      case 'round':
        return none(root.text);
      case 'result':
        return { kind: 'result', path };
      case 'parameters':
        if (typeof path[0] !== 'string')
          throw new ExpressionError(
            `'parameters' needs a parameter name (parameters.x) at column ${root.col}`,
            root.col,
          );
        return { kind: 'parameter', path };
      case 'jobs': {
        const field = path.findIndex((s, i) => i > 0 && (s === 'state' || s === 'result'));
        const nameParts = field < 0 ? path : path.slice(0, field);
        if (field < 0 || nameParts.some((s) => typeof s !== 'string'))
          throw new ExpressionError(
            `'jobs' needs a job name and .state or .result (jobs.<name>.result.x) at column ${root.col}`,
            root.col,
          );
        const job = nameParts.join('.');
        const rest = path.slice(field + 1);
        if (path[field] === 'result') return { kind: 'jobResult', job, path: rest };
        if (rest.length > 0)
          throw new ExpressionError(
            `'jobs.${job}.state' has no fields at column ${root.col}`,
            root.col,
          );
        return { kind: 'jobState', job };
      }
      default:
        throw new ExpressionError(
          `unknown name '${root.text}' at column ${root.col} (names are parameters.x, subject, jobs.<name>.result.x, jobs.<name>.state, result.x and round; strings are in single quotes)`,
          root.col,
        );
    }
  }
}

export function parseExpression(text: string): Expression {
  if (typeof text !== 'string') throw new ExpressionError('an expression must be a string');
  if (text.length > EXPRESSION_MAX_CHARS)
    throw new ExpressionError(
      `expression is too long (${text.length} characters, at most ${EXPRESSION_MAX_CHARS})`,
    );
  if (text.trim() === '') throw new ExpressionError('empty expression');
  return new Parser(lex(text)).parse();
}

// ---------------------------------------------------------------- evaluation

const own = (o: object, key: string): boolean => Object.prototype.hasOwnProperty.call(o, key);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Follow a path with own-property lookups only; anything missing is null. */
function follow(value: unknown, path: PathSegment[]): unknown {
  let v = value;
  for (const seg of path) {
    if (Array.isArray(v)) {
      v = typeof seg === 'number' && seg < v.length ? v[seg] : null;
    } else if (isRecord(v)) {
      const key = String(seg);
      v = own(v, key) ? v[key] : null;
    } else {
      return null;
    }
  }
  return v === undefined ? null : v;
}

function job(scope: ExpressionScope, name: string): { state: string; result: unknown } | null {
  return isRecord(scope.jobs) && own(scope.jobs, name) && isRecord(scope.jobs[name])
    ? scope.jobs[name]
    : null;
}

function value(expr: Expression, scope: ExpressionScope): unknown {
  switch (expr.kind) {
    case 'literal':
      return expr.value;
    case 'list':
      return expr.items.map((item) => value(item, scope));
    case 'parameter':
      return follow(scope.parameters, expr.path);
    case 'subject':
      return typeof scope.subject === 'string' ? scope.subject : null;
    case 'round':
      return typeof scope.round === 'number' ? scope.round : null;
    case 'result':
      return follow(scope.result, expr.path);
    case 'jobState': {
      const j = job(scope, expr.job);
      return j !== null && typeof j.state === 'string' ? j.state : null;
    }
    case 'jobResult': {
      const j = job(scope, expr.job);
      return j === null || !own(j, 'result') ? null : follow(j.result, expr.path);
    }
    case 'not':
      return !truthy(value(expr.operand, scope));
    case 'and':
      return expr.operands.every((o) => truthy(value(o, scope)));
    case 'or':
      return expr.operands.some((o) => truthy(value(o, scope)));
    case 'compare':
      return compare(expr.op, value(expr.left, scope), value(expr.right, scope));
  }
}

/** false, null, missing, 0, '' and [] are false; everything else (even {}) is true. */
export function truthy(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  return true;
}

/** Structural equality of JSON values; values of different types are never equal. */
function equal(a: unknown, b: unknown): boolean {
  if (a === undefined) a = null;
  if (b === undefined) b = null;
  if (a === null || b === null) return a === b;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => equal(x, b[i]));
  }
  if (isRecord(a) && isRecord(b)) {
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => own(b, k) && equal(a[k], b[k]));
  }
  return typeof a === typeof b && a === b;
}

function contains(haystack: unknown, needle: unknown): boolean {
  if (Array.isArray(haystack)) return haystack.some((x) => equal(x, needle));
  if (typeof haystack === 'string') return typeof needle === 'string' && haystack.includes(needle);
  return false;
}

function ordered(a: unknown, b: unknown): a is number | string {
  return (
    (typeof a === 'number' && typeof b === 'number') ||
    (typeof a === 'string' && typeof b === 'string')
  );
}

/** Never throws: values of different types are unequal and not ordered. */
function compare(op: CompareOp, a: unknown, b: unknown): boolean {
  switch (op) {
    case '==':
      return equal(a, b);
    case '!=':
      return !equal(a, b);
    case 'in':
      return contains(b, a);
    case 'not in':
      return !contains(b, a);
    case '<':
      return ordered(a, b) && a < (b as typeof a);
    case '<=':
      return ordered(a, b) && a <= (b as typeof a);
    case '>':
      return ordered(a, b) && a > (b as typeof a);
    case '>=':
      return ordered(a, b) && a >= (b as typeof a);
  }
}

/** Whether the expression holds in this scope. Never throws on data. */
export function evaluate(expr: Expression, scope: ExpressionScope): boolean {
  return truthy(value(expr, scope));
}

// ---------------------------------------------------------------- analysis

export interface ExpressionReferences {
  jobs: Set<string>;
  /** Top-level parameter names. */
  parameters: Set<string>;
  usesResult: boolean;
  usesRound: boolean;
}

export function references(expr: Expression): ExpressionReferences {
  const refs: ExpressionReferences = {
    jobs: new Set(),
    parameters: new Set(),
    usesResult: false,
    usesRound: false,
  };
  const walk = (e: Expression): void => {
    switch (e.kind) {
      case 'list':
        return e.items.forEach(walk);
      case 'parameter':
        refs.parameters.add(String(e.path[0]));
        return;
      case 'result':
        refs.usesResult = true;
        return;
      case 'round':
        refs.usesRound = true;
        return;
      case 'jobState':
      case 'jobResult':
        refs.jobs.add(e.job);
        return;
      case 'not':
        return walk(e.operand);
      case 'and':
      case 'or':
        return e.operands.forEach(walk);
      case 'compare':
        walk(e.left);
        walk(e.right);
        return;
      case 'literal':
      case 'subject':
        return;
    }
  };
  walk(expr);
  return refs;
}

export interface ExpressionCheckContext {
  /** Every job of the workflow. */
  knownJobs: ReadonlySet<string>;
  /** The jobs the conditioned job needs, directly or transitively. */
  ancestors: ReadonlySet<string>;
  /** The job's own name, in `repeat.until`: allows `result`, `round` and `jobs.<self>`. */
  allowSelf?: string;
}

/** What is wrong with a `when` or `repeat.until` expression, or null when nothing is. */
export function checkExpression(text: string, ctx: ExpressionCheckContext): string | null {
  let expr: Expression;
  try {
    expr = parseExpression(text);
  } catch (e) {
    if (e instanceof ExpressionError) return e.message;
    throw e;
  }
  const refs = references(expr);
  for (const name of refs.jobs) {
    if (name === ctx.allowSelf) continue;
    if (!ctx.knownJobs.has(name)) return `names unknown job "${name}"`;
    if (!ctx.ancestors.has(name))
      return `job "${name}" is not a dependency of this job (add it to needs)`;
  }
  if (ctx.allowSelf === undefined) {
    if (refs.usesResult) return "'result' is only allowed in repeat.until (use jobs.<name>.result)";
    if (refs.usesRound) return "'round' is only allowed in repeat.until";
  }
  return null;
}

// ---------------------------------------------------------------- printing

/** A number as the grammar writes it: never in exponent form. */
function formatNumber(n: number): string {
  const s = String(n);
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (!m) return s;
  const [, sign, lead, frac = '', expText] = m;
  const exp = Number(expText);
  const digits = lead + frac;
  if (exp >= 0) {
    const whole = digits.padEnd(exp + 1, '0');
    const rest = digits.slice(exp + 1);
    return sign + whole.slice(0, exp + 1) + (rest ? `.${rest}` : '');
  }
  return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
}

function formatPath(path: PathSegment[]): string {
  return path.map((s) => (typeof s === 'number' ? `[${s}]` : `.${s}`)).join('');
}

const PRECEDENCE: Record<Expression['kind'], number> = {
  or: 1,
  and: 2,
  not: 3,
  compare: 4,
  literal: 5,
  list: 5,
  parameter: 5,
  subject: 5,
  round: 5,
  result: 5,
  jobState: 5,
  jobResult: 5,
};

/** Source text that parses back to the same expression. */
export function formatExpression(expr: Expression): string {
  // A child is wrapped when it binds no tighter than its parent, so the tree
  // comes back as it was (`(a or b) or c` stays two nested ors).
  const child = (e: Expression, parent: number): string => {
    const s = formatExpression(e);
    return PRECEDENCE[e.kind] <= parent ? `(${s})` : s;
  };
  switch (expr.kind) {
    case 'literal': {
      const v = expr.value;
      if (v === null) return 'null';
      if (typeof v === 'boolean') return String(v);
      if (typeof v === 'number') return formatNumber(v);
      return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
    }
    case 'list':
      return `[${expr.items.map(formatExpression).join(', ')}]`;
    case 'parameter':
      return `parameters${formatPath(expr.path)}`;
    case 'subject':
      return 'subject';
    case 'round':
      return 'round';
    case 'result':
      return `result${formatPath(expr.path)}`;
    case 'jobState':
      return `jobs.${expr.job}.state`;
    case 'jobResult':
      return `jobs.${expr.job}.result${formatPath(expr.path)}`;
    case 'not':
      // `not not x` needs no parentheses; a comparison under not binds tighter anyway.
      return `not ${expr.operand.kind === 'not' ? formatExpression(expr.operand) : child(expr.operand, 3)}`;
    case 'and':
    case 'or':
      return expr.operands.map((o) => child(o, PRECEDENCE[expr.kind])).join(` ${expr.kind} `);
    case 'compare':
      return `${child(expr.left, 4)} ${expr.op} ${child(expr.right, 4)}`;
  }
}
