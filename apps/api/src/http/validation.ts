import { ArgumentMetadata, PipeTransform, ValidationError, ValidationPipe } from '@nestjs/common';
import { invalid } from '@wfs/domain';

function flatten(errors: ValidationError[], prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of errors) {
    const field = prefix ? `${prefix}.${e.property}` : e.property;
    if (e.constraints) {
      out[field] = e.constraints.whitelistValidation
        ? 'is not a known field'
        : Object.values(e.constraints).join('; ');
    }
    Object.assign(out, flatten(e.children ?? [], field));
  }
  return out;
}

/** DTO validation: unknown fields and wrong types are 400s naming each field. */
const dtoPipe = new ValidationPipe({
  whitelist: true,
  forbidNonWhitelisted: true,
  transform: true,
  transformOptions: { enableImplicitConversion: false },
  exceptionFactory: (errors) =>
    invalid('INVALID_REQUEST', 'The request has invalid fields.', { fields: flatten(errors) }),
});

/** A positive integer path or query parameter; 400 naming it otherwise. */
export class PositiveInt implements PipeTransform<string, number> {
  constructor(private readonly field: string) {}
  transform(value: string): number {
    if (!/^[1-9][0-9]{0,15}$/.test(value ?? '')) {
      throw invalid('INVALID_REQUEST', `${this.field} must be a positive integer.`, {
        fields: { [this.field]: 'must be a positive integer' },
      });
    }
    return Number(value);
  }
}

/** Optional bounded integer query parameter with a default. */
export function boundedInt(
  field: string,
  min: number,
  max: number,
  fallback: number,
): PipeTransform<string | undefined, number> {
  return {
    transform(value: string | undefined): number {
      if (value === undefined || value === '') return fallback;
      const n = Number(value);
      if (!/^-?[0-9]+$/.test(value) || n < min || n > max) {
        throw invalid('INVALID_REQUEST', `${field} must be an integer from ${min} to ${max}.`, {
          fields: { [field]: `must be an integer from ${min} to ${max}` },
        });
      }
      return n;
    },
  };
}

/** Keys that would reach an object's prototype, refused wherever they appear. */
const PROTO_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Deeper JSON than this is refused before the (recursive) DTO transform could exhaust the stack. */
export const MAX_JSON_DEPTH = 32;

/**
 * The first string or key in a body, query or path value that no store can
 * hold (Postgres text and file names refuse NUL), that names a prototype key,
 * or that is nested too deeply; iterative, so the walk itself cannot exhaust
 * the stack.
 */
function firstUnsafe(value: unknown, root: string): { field: string; problem: string } | null {
  const stack: Array<[unknown, string, number]> = [[value, root, 0]];
  while (stack.length > 0) {
    const [v, at, depth] = stack.pop() as [unknown, string, number];
    if (typeof v === 'string') {
      if (v.includes('\u0000'))
        return { field: at || 'body', problem: 'may not contain NUL characters' };
    } else if (v !== null && typeof v === 'object') {
      if (depth >= MAX_JSON_DEPTH)
        return {
          field: at || 'body',
          problem: `is nested more than ${MAX_JSON_DEPTH} levels deep`,
        };
      for (const key of Object.keys(v)) {
        const field = at ? `${at}.${key}` : key;
        if (key.includes('\u0000')) return { field, problem: 'may not contain NUL characters' };
        if (PROTO_KEYS.has(key) && !Array.isArray(v))
          return { field, problem: 'is not a known field' };
        stack.push([(v as Record<string, unknown>)[key], field, depth + 1]);
      }
    }
  }
  return null;
}

/** 400 for a value (a multipart field parsed as JSON) that no body could carry: NUL, prototype keys, deep nesting. */
export function assertSafeJson(value: unknown, field: string): void {
  const bad = firstUnsafe(value, field);
  if (bad)
    throw invalid('INVALID_REQUEST', `${bad.field} ${bad.problem}.`, {
      fields: { [bad.field]: bad.problem },
    });
}

/**
 * A JSON body must be an object; then its DTO rules apply. Bodies, queries
 * and path values never carry NUL, prototype keys or absurd nesting.
 */
export const validationPipe: PipeTransform = {
  transform(value: unknown, meta: ArgumentMetadata) {
    if (
      meta.type === 'body' &&
      (value === null || typeof value !== 'object' || Array.isArray(value))
    ) {
      throw invalid('INVALID_REQUEST', 'The request body must be a JSON object.');
    }
    if (meta.type === 'body' || meta.type === 'query' || meta.type === 'param') {
      assertSafeJson(value, meta.type === 'body' ? '' : (meta.data ?? ''));
    }
    // Numeric path and query values reach their own strict pipes (PositiveInt, boundedInt) as sent:
    // ValidationPipe's `+value` would first turn "1e3" into 1000, "0x10" into 16 and "" into 0.
    if ((meta.type === 'param' || meta.type === 'query') && meta.metatype === Number) return value;
    // A body typed as a plain record (JSON or multipart fields) is checked field by field by its route.
    if (meta.type === 'body' && (meta.metatype === Object || meta.metatype === undefined))
      return value;
    return dtoPipe.transform(value, meta);
  },
};
