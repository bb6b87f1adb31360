// Every test's temporary files go below one folder per test run, removed when the run ends: a
// suite that writes gigabytes (the 200,000-file restore, the large backups) must not fill the
// machine over repeated runs. Folders of runs that were killed are removed at the next start.
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processAlive } from '../../src/processes.js';

const PREFIX = 'kopia-mover-tests-';

export default function setup(): () => void {
  const parent = tmpdir();
  for (const name of readdirSync(parent)) {
    const pid = Number(name.slice(PREFIX.length).split('-')[0]);
    if (name.startsWith(PREFIX) && Number.isInteger(pid) && pid > 0 && !processAlive(pid)) {
      rmSync(join(parent, name), { recursive: true, force: true });
    }
  }
  const root = mkdtempSync(join(parent, `${PREFIX}${process.pid}-`));
  // Tests that run the program as an ordinary user reach their folders through this one.
  chmodSync(root, 0o755);
  // The test workers start after this and inherit it: os.tmpdir() is the run's folder for them.
  process.env['TMPDIR'] = root;
  return () => {
    if (process.env['KOPIA_MOVER_KEEP_TEST_FILES'] === 'true') {
      process.stderr.write(`test files kept in ${root}\n`);
      return;
    }
    rmSync(root, { recursive: true, force: true });
  };
}
