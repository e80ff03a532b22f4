/** Unit tests (test/unit) run in milliseconds; integration tests (test/integration, test/sandbox) drive real hosts. */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  testMatch: ['**/test/**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { isolatedModules: true }] },
};
