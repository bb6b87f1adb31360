import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The image tests need the built image: `npm run test:image` (vitest.image.config.ts).
    exclude: ['test/image/**', 'node_modules/**'],
    // One temporary folder per run, removed at its end (test/support/global-setup.ts).
    globalSetup: ['test/support/global-setup.ts'],
    // Integration tests run real kopia processes; two cores, so two files at a time.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
