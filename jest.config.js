/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  rootDir: '.',
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: { warnOnly: false } }] },
  testTimeout: 60000,
  globalSetup: '<rootDir>/test/global-setup.js',
  // A failing test can leave a child process (a mistbridge, a broker) behind; CI must still end.
  forceExit: true,
};
