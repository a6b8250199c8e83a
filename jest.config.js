/** Unit tests live beside the code (*.spec.ts); integration and end-to-end tests in test/ (*.test.ts). */
const swc = ['@swc/jest', { jsc: { parser: { syntax: 'typescript', decorators: true }, transform: { legacyDecorator: true, decoratorMetadata: true }, target: 'es2022' } }];

module.exports = {
  rootDir: __dirname,
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': swc },
  moduleNameMapper: {
    '^@wfs/migrations$': '<rootDir>/migrations',
    '^@wfs/testing$': '<rootDir>/test/support',
    '^@wfs/(.*)$': '<rootDir>/libs/$1/src',
  },
  testMatch: ['<rootDir>/libs/**/*.spec.ts', '<rootDir>/tools/**/*.spec.ts', '<rootDir>/test/**/*.test.ts'],
  testTimeout: 60_000,
  maxWorkers: 2,
};
