/**
 * The entry of the V8 startup snapshot that the image starts from (see docker/entry.sh).
 *
 * Building the snapshot runs this file once: every module is loaded, compiled and initialised,
 * and the resulting heap is saved to a blob. A process started with `--snapshot-blob` begins
 * from that heap and calls the function below, so the libraries' start-up cost is paid at build
 * time instead of in every pod. Nothing here or in any module may read the environment, the
 * clock or the file system at load time: that would be frozen at build time.
 *
 * The launcher passes the program's bin/kopia-mover.js as the first argument, as node would
 * for a script: it names the installed program's root, and is not run.
 */
import { dirname, resolve } from 'node:path';
import { startupSnapshot } from 'node:v8';
import { runAndExit } from './cli.js';

if (!startupSnapshot.isBuildingSnapshot()) {
  throw new Error('this file builds a startup snapshot: node --snapshot-blob <blob> --build-snapshot <this file>');
}

startupSnapshot.setDeserializeMainFunction(() => {
  const [, entry, ...argv] = process.argv;
  const blob = snapshotBlob(process.execArgv);
  runAndExit(argv, {
    env: process.env,
    appDir: entry === undefined ? undefined : resolve(dirname(entry), '..'),
    startup: blob === undefined ? 'startup snapshot' : `startup snapshot ${blob}`,
  });
});

function snapshotBlob(execArgv: string[]): string | undefined {
  const at = execArgv.indexOf('--snapshot-blob');
  if (at >= 0) return execArgv[at + 1];
  return execArgv.find((a) => a.startsWith('--snapshot-blob='))?.slice('--snapshot-blob='.length);
}
