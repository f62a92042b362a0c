/**
 * The API's one error type: a status and the request field at fault, so every 4xx body says which
 * field was wrong (`{ error, field, message }`) instead of a bare status.
 */
export class ApiError extends Error {
  constructor(readonly status: 400 | 404 | 413 | 415, readonly field: string | undefined, message: string) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface ErrorBody { readonly error: string; readonly field?: string; readonly message: string }

/** Fails with a 400 naming `field` unless `value` is one of `allowed`. */
export function oneOf<T extends string>(field: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  const shown = allowed.length > 40 ? `${allowed.slice(0, 40).join(', ')}, ... (${allowed.length} in all; GET /api/specs lists them)` : allowed.join(', ');
  throw new ApiError(400, field, `unknown ${field} '${value}'; expected one of ${shown}`);
}
