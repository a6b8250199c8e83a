import { closestWords, didYouMean, fileSafeSubject, isValidSubject, subjectProblem } from './names';

describe('subjects (CONTRACT 5.2)', () => {
  test.each([
    ['uid://A001/X1284/X2c1', 'uid://A001/X1284/X2c1'],
    [
      'VLASS2.1.ql.T10t12.J101700+433000.10.2048.v1',
      'VLASS2.1.ql.T10t12.J101700+433000.10.2048.v1',
    ],
    ['19A-120.sb3742.eb3801', '19A-120.sb3742.eb3801'],
    ['../../x', '../../x'],
    ['a b', 'a b'],
    ['é', 'é'],
    ['200 x', 'x'.repeat(200)],
    ['200 astral characters', '🔭'.repeat(200)],
  ])('%s is a subject', (_label, s) => expect(isValidSubject(s)).toBe(true));

  test.each([
    ['', 'may not be empty'],
    ['x'.repeat(201), 'has more than 200 characters'],
    ['a\u0000b', 'control'],
    ['a\nb', 'control'],
    ['a\u007f', 'control'],
    ['a\u0085', 'control'],
    ['a\u202eb', 'unprintable'],
    ['a\u2028b', 'unprintable'],
  ])('%# is refused: %s', (s, why) => expect(subjectProblem(s)).toContain(why));
});

describe('fileSafeSubject', () => {
  test('the ALMA pipeline form of a MOUS UID', () =>
    expect(fileSafeSubject('uid://A001/X1284/X2c1')).toBe('uid___A001_X1284_X2c1'));
  test('names that stay as they are', () => {
    expect(fileSafeSubject('19A-120.sb3742.eb3801')).toBe('19A-120.sb3742.eb3801');
    expect(fileSafeSubject('VLASS2.1.ql.T10t12.J101700+433000.10.2048.v1')).toBe(
      'VLASS2.1.ql.T10t12.J101700+433000.10.2048.v1',
    );
  });
  test.each(['../../x', '..', '.', '.hidden', '/etc/passwd', 'a\\..\\b', 'C:\\x'])(
    '%j is one segment that is not hidden and climbs nowhere',
    (s) => {
      const name = fileSafeSubject(s);
      expect(name).not.toMatch(/[/\\:]/);
      expect(name.startsWith('.')).toBe(false);
      expect(['.', '..', '']).not.toContain(name);
    },
  );
  test('long names are cut at a character boundary under 200 bytes', () => {
    const name = fileSafeSubject('é'.repeat(200));
    expect(Buffer.byteLength(name)).toBeLessThanOrEqual(200);
    expect(name).toBe('é'.repeat(100));
  });
});

describe('did you mean', () => {
  const commands = ['workflows', 'submit', 'status', 'list', 'watch', 'rerun', 'ingest', 'cleanup'];
  test('a typo finds the word', () => {
    expect(closestWords('stauts', commands)).toEqual(['status']);
    expect(didYouMean('injest', commands)).toBe(' Did you mean ingest?');
    expect(didYouMean('std_calibraton', ['std_calibration', 'std_imaging'])).toBe(
      ' Did you mean std_calibration?',
    );
  });
  test('a prefix finds the word', () =>
    expect(closestWords('work', commands)).toEqual(['workflows']));
  test('nothing close, no hint', () => expect(didYouMean('frobnicate', commands)).toBe(''));
});
