/** Credentials in URLs (`amqp://user:secret@host`), bearer tokens, and terminal colour codes. */
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^\s:@/]*):[^\s@/]+@/gi;
const BEARER = /\b(Bearer)\s+[^\s"',;]+/gi;
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]/g;

/**
 * What a log line may say of a text: passwords in URLs and bearer tokens
 * masked, ANSI escapes dropped. The cheap tests first: most lines have none.
 */
export function scrub(text: string): string {
  let out = text;
  if (out.includes('@')) out = out.replace(URL_PASSWORD, '$1:***@');
  if (/bearer/i.test(out)) out = out.replace(BEARER, '$1 [redacted]');
  if (out.includes('\x1b')) out = out.replace(ANSI, '');
  return out;
}
