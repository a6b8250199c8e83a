/** Rules for names users and programs give: one place, used by every door. */
export const UPLOAD_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isSafeUploadName(name: string): boolean {
  return UPLOAD_NAME.test(name) && !name.includes('..');
}

/** The most characters (Unicode code points) a subject may have (CONTRACT 5.2). */
export const SUBJECT_MAX_CHARS = 200;

/**
 * Characters a subject may not hold: control characters (C0, DEL, C1), and
 * what is not printable either: format characters (bidi overrides,
 * zero-width), lone surrogates, line and paragraph separators.
 */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;

/**
 * Why a subject is refused, or null when it is one (CONTRACT 5.2): 1-200
 * printable characters. Anything printable is allowed (`uid://A001/X1284/X2c1`,
 * `../x`, spaces): a subject is data, never a path; see fileSafeSubject.
 */
export function subjectProblem(subject: string): string | null {
  if (subject.length === 0) return 'may not be empty';
  if ([...subject].length > SUBJECT_MAX_CHARS)
    return `has more than ${SUBJECT_MAX_CHARS} characters`;
  if (UNPRINTABLE.test(subject)) return 'holds a control or other unprintable character';
  return null;
}

export const isValidSubject = (subject: string): boolean => subjectProblem(subject) === null;

const utf8 = new TextEncoder();

/** At most this many UTF-8 bytes, so `<name>.cal.r<id>` and the like stay under NAME_MAX (255). */
const FILE_SAFE_MAX_BYTES = 200;

/**
 * The one form of a subject used in directory and file names (CONTRACT 5.2):
 * `/` and `:` become `_`, as the ALMA pipeline writes `uid___A001_X1284_X2c1`
 * for `uid://A001/X1284/X2c1`; so does `\`. The result is always one path
 * segment that is not hidden: a leading `.` gets a `_` before it (`../../x`
 * is `_.._.._x`), so it can never be `.`, `..` or climb out of a directory.
 * Cut to 200 UTF-8 bytes at a character boundary; names made from it carry
 * the run id, which keeps them unique.
 */
export function fileSafeSubject(subject: string): string {
  let name = subject.replace(/[/:\\]/g, '_');
  if (name.startsWith('.') || name.length === 0) name = `_${name}`;
  if (utf8.encode(name).length <= FILE_SAFE_MAX_BYTES) return name;
  let out = '';
  let bytes = 0;
  for (const ch of name) {
    const n = utf8.encode(ch).length;
    if (bytes + n > FILE_SAFE_MAX_BYTES) break;
    out += ch;
    bytes += n;
  }
  return out;
}

/** Levenshtein distance, for "did you mean" hints (short words only). */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j] as number;
      row[j] = Math.min(
        above + 1,
        (row[j - 1] as number) + 1,
        diagonal + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      diagonal = above;
    }
  }
  return row[b.length] as number;
}

/**
 * The known words closest to what was typed (at most 3, nearest first): a
 * word within a third of its length in edits, or one that starts with what
 * was typed. Empty when nothing is close.
 */
export function closestWords(typed: string, known: readonly string[]): string[] {
  const t = typed.toLowerCase();
  if (t.length === 0 || t.length > 100) return [];
  return known
    .map((word) => ({ word, d: distance(t, word.toLowerCase()) }))
    .filter(
      ({ word, d }) =>
        d <= Math.max(1, Math.floor(word.length / 3)) ||
        (t.length >= 3 && word.toLowerCase().startsWith(t)),
    )
    .sort((a, b) => a.d - b.d || a.word.localeCompare(b.word))
    .slice(0, 3)
    .map(({ word }) => word);
}

/** " Did you mean a or b?" (with the leading space), or "" when nothing is close. */
export function didYouMean(typed: string, known: readonly string[]): string {
  const close = closestWords(typed, known);
  if (close.length === 0) return '';
  return ` Did you mean ${close.length === 1 ? close[0] : `${close.slice(0, -1).join(', ')} or ${close.at(-1)}`}?`;
}

/**
 * A job name in a loaded definition: what a definition's author writes
 * (`[a-z][a-z0-9_]{0,63}`, no dots), or the name a sub-workflow's job gets
 * when it is expanded, `<outer job>.<inner job>` (WORKFLOWS v1.1
 * "Composition"), nested as deep as sub-workflows go, at most 200
 * characters in all (its log file, `<name>.<index>.stdout.log`, stays under
 * NAME_MAX). Every segment starts with a letter, so `<name>.<index>` is
 * never ambiguous.
 */
export const JOB_NAME = /^(?=.{1,200}$)[a-z][a-z0-9_]{0,63}(\.[a-z][a-z0-9_]{0,63})*$/;
