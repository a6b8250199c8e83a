import type { ErrorObject } from 'ajv';

/** A definition file that cannot be used: names the file and the field. */
export class DefinitionError extends Error {
  constructor(
    readonly file: string,
    readonly field: string,
    problem: string,
  ) {
    super(`Workflow definition ${file}: ${field}: ${problem}`);
    this.name = 'DefinitionError';
  }
}

/** The field a schema error is about, `jobs.1.retires` style, under `prefix` if given. */
export function fieldOf(error: ErrorObject, prefix = ''): string {
  const base = [prefix, error.instancePath.replace(/^\//, '').replace(/\//g, '.')]
    .filter(Boolean)
    .join('.');
  const extra =
    error.keyword === 'additionalProperties'
      ? String(error.params.additionalProperty)
      : error.keyword === 'required'
        ? String(error.params.missingProperty)
        : '';
  return [base, extra].filter(Boolean).join('.') || '(top level)';
}

export function messageOf(error: ErrorObject): string {
  if (error.keyword === 'additionalProperties') return 'is not a known field';
  if (error.keyword === 'required') return 'is required';
  return error.message ?? 'is invalid';
}
