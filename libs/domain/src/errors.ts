/**
 * The kinds of refusal the service knows. Each capability throws a WfsError
 * with a stable string code; the HTTP layer maps `kind` to a status in one
 * place, so no use case ever thinks in HTTP.
 */
export type ErrorKind =
  | 'invalid' // 400
  | 'unauthenticated' // 401
  | 'forbidden' // 403
  | 'not_found' // 404
  | 'conflict' // 409
  | 'too_large' // 413
  | 'unsupported_media' // 415
  | 'unavailable'; // 503

export class WfsError extends Error {
  constructor(
    readonly kind: ErrorKind,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'WfsError';
  }
}

export const invalid = (code: string, message: string, details: Record<string, unknown> = {}) =>
  new WfsError('invalid', code, message, details);

export const notFound = (what: string, id: string | number) =>
  new WfsError('not_found', `${what.toUpperCase()}_NOT_FOUND`, `No ${what} ${String(id)}.`, {
    [what]: id,
  });

export const conflict = (code: string, message: string, details: Record<string, unknown> = {}) =>
  new WfsError('conflict', code, message, details);
