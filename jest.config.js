/** Unit tests (test/unit) run in milliseconds; the others drive the real engine and sandbox hosts. */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  testMatch: ['**/test/**/*.test.ts'],
};
