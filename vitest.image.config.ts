import { defineConfig } from 'vitest/config';

// The image tests: they run the image built by `npm run image` with podman, as VolSync's pods run it.
export default defineConfig({
  test: {
    include: ['test/image/**/*.test.ts'],
    // One temporary folder per run, removed at its end (test/support/global-setup.ts).
    globalSetup: ['test/support/global-setup.ts'],
    pool: 'forks',
    // Two cores: the long backup of the SIGTERM test runs beside the other files, one at a time.
    maxWorkers: 2,
    testTimeout: 300_000,
    hookTimeout: 300_000,
  },
});
