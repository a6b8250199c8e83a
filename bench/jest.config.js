/** `npm run bench` (scripts/bench.mjs): the benchmarks, through jest so TypeScript, decorators and @wfs/* aliases work. */
const root = require('../jest.config.js');

module.exports = {
  ...root,
  rootDir: require('node:path').resolve(__dirname, '..'),
  testMatch: ['<rootDir>/bench/**/*.bench.ts'],
  testTimeout: 15 * 60_000,
  maxWorkers: 1,
  forceExit: true,
};
