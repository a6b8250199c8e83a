import { ArgumentMetadata, PipeTransform, ValidationError, ValidationPipe } from '@nestjs/common';
import { invalid } from '@wfs/domain';

function flatten(errors: ValidationError[], prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of errors) {
    const field = prefix ? `${prefix}.${e.property}` : e.property;
    if (e.constraints) {
      out[field] = e.constraints.whitelistValidation ? 'is not a known field' : Object.values(e.constraints).join('; ');
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
  exceptionFactory: (errors) => invalid('INVALID_REQUEST', 'The request has invalid fields.', { fields: flatten(errors) }),
});

/** A positive integer path or query parameter; 400 naming it otherwise. */
export class PositiveInt implements PipeTransform<string, number> {
  constructor(private readonly field: string) {}
  transform(value: string): number {
    if (!/^[1-9][0-9]{0,15}$/.test(value ?? '')) {
      throw invalid('INVALID_REQUEST', `${this.field} must be a positive integer.`, { fields: { [this.field]: 'must be a positive integer' } });
    }
    return Number(value);
  }
}

/** Optional bounded integer query parameter with a default. */
export function boundedInt(field: string, min: number, max: number, fallback: number): PipeTransform<string | undefined, number> {
  return {
    transform(value: string | undefined): number {
      if (value === undefined || value === '') return fallback;
      const n = Number(value);
      if (!/^-?[0-9]+$/.test(value) || n < min || n > max) {
        throw invalid('INVALID_REQUEST', `${field} must be an integer from ${min} to ${max}.`, { fields: { [field]: `must be an integer from ${min} to ${max}` } });
      }
      return n;
    },
  };
}


/** A JSON body must be an object; then its DTO rules apply. */
export const validationPipe: PipeTransform = {
  transform(value: unknown, meta: ArgumentMetadata) {
    if (meta.type === 'body' && (value === null || typeof value !== 'object' || Array.isArray(value))) {
      throw invalid('INVALID_REQUEST', 'The request body must be a JSON object.');
    }
    return dtoPipe.transform(value, meta);
  },
};
