import { classifyProducts, matchesGlob, matchesPatterns } from './products';

describe('matchesGlob', () => {
  it.each([
    ['weblog.tgz', 'weblog.tgz', true],
    ['weblog.tgz', '*.tgz', true],
    ['a/weblog.tgz', '*.tgz', false], // * stays within one level
    ['a/weblog.tgz', '**/*.tgz', true],
    ['weblog.tgz', '**/*.tgz', true], // ** may be zero levels
    ['a/b/c/x.fits', '**/*.fits', true],
    ['pipeline-20261121T111004/html/index.html', 'pipeline-*/**', true],
    ['pipeline-20261121T111004', 'pipeline-*/**', false],
    ['anything/at/all', '**', true],
    ['a/x/y/b.txt', 'a/**/b.txt', true],
    ['a/b.txt', 'a/**/b.txt', true],
    ['ab.txt', 'a/**/b.txt', false],
    ['x1.fits', 'x?.fits', true],
    ['x12.fits', 'x?.fits', false],
    ['x/.fits', 'x?.fits', false],
    ['aXfits', 'a.fits', false], // . is literal
    ['a+b(1).txt', 'a+b(1).txt', true],
    ['[ab].txt', '[ab].txt', true],
    ['a.txt', '[ab].txt', false],
  ])('%s ~ %s -> %s', (path, pattern, expected) => {
    expect(matchesGlob(path, pattern)).toBe(expected);
  });
});

describe('matchesPatterns', () => {
  const calibration = ['**', '!**/*.fits', '!**/*.fits.gz', '!pipeline-*/**'];

  it('applies negations after positives', () => {
    expect(matchesPatterns('weblog.tgz', calibration)).toBe(true);
    expect(matchesPatterns('sub/flux.csv', calibration)).toBe(true);
    expect(matchesPatterns('img.pbcor.fits', calibration)).toBe(false);
    expect(matchesPatterns('deep/img.fits.gz', calibration)).toBe(false);
    expect(matchesPatterns('pipeline-20261121T111004/html/index.html', calibration)).toBe(false);
  });

  it('lets a later positive take back a negation, and an empty list select nothing', () => {
    expect(matchesPatterns('keep.fits', ['**', '!*.fits', 'keep.fits'])).toBe(true);
    expect(matchesPatterns('x', [])).toBe(false);
    expect(matchesPatterns('x', ['!x'])).toBe(false);
  });
});

describe('classifyProducts', () => {
  const patterns = {
    calibration: ['**', '!**/*.fits', '!pipeline-*/**'],
    weblog: ['weblog.tgz'],
    flags: ['flagtemplate.txt', 'flagtargetstemplate.txt'],
    qa_report: ['qa_report.txt'],
  };

  it('gives a file every role it matches, and drops files with none', () => {
    const files = [
      'weblog.tgz',
      'PPR.xml',
      'x.sci.cont.I.pbcor.fits',
      'pipeline-20261121T111004/html/index.html',
      'flagtemplate.txt',
      'da_extra/notes.txt',
    ];
    expect(classifyProducts(files, patterns)).toEqual([
      { path: 'PPR.xml', roles: ['calibration'] },
      { path: 'da_extra/notes.txt', roles: ['calibration'] },
      { path: 'flagtemplate.txt', roles: ['calibration', 'flags'] },
      { path: 'weblog.tgz', roles: ['calibration', 'weblog'] },
    ]);
  });

  it('classifies ALMA imaging products as primary and ancillary', () => {
    const alma = {
      primary: ['**/*.pbcor.fits', '**/*.pb.fits'],
      ancillary: ['**', '!**/*.pbcor.fits', '!**/*.pb.fits', '!pipeline-*/**'],
    };
    expect(
      classifyProducts(
        [
          'm.sci.cont.I.pbcor.fits',
          'm.sci.cont.I.pb.fits',
          'weblog.tgz',
          'pipeline-1/html/index.html',
        ],
        alma,
      ),
    ).toEqual([
      { path: 'm.sci.cont.I.pb.fits', roles: ['primary'] },
      { path: 'm.sci.cont.I.pbcor.fits', roles: ['primary'] },
      { path: 'weblog.tgz', roles: ['ancillary'] },
    ]);
  });

  it('ignores role names it does not know', () => {
    expect(classifyProducts(['a'], { bogus: ['**'] })).toEqual([]);
  });
});
