/** Unit tests (test/unit) run in milliseconds; the others drive the real engine and sandbox hosts. */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  testMatch: ['**/test/**/*.test.ts'],
  // No test reaches an address outside the sandbox and this machine.
  setupFiles: ['<rootDir>/test/support/netGuard.ts'],
};
