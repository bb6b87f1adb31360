// Run folders in TMPDIR are claimed by a lock held for the run's life: runs in other PID
// namespaces sharing TMPDIR (same UID) keep a live run's folder and remove a killed run's.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runMover, seededScenario, startMover, tempDir, waitForLine, type MoverHandle, type MoverOptions } from '../support/mover.js';

/** A PID namespace of its own, with its own /proc: the other run's pids mean nothing there. */
const OTHER_PID_NAMESPACE: MoverOptions = { wrap: ['unshare', '--pid', '--fork', '--mount-proc'] };

function runFolders(tmp: string): string[] {
  return readdirSync(tmp).filter((name) => name.startsWith('kopia-mover-run-'));
}

/** Starts a backup that pauses (DEBUG_MOVER) with its run folder claimed; returns it and the folder. */
async function pausedRun(tmp: string, options: MoverOptions = {}): Promise<{ handle: MoverHandle; folder: string; marker: string }> {
  const s = seededScenario('paused');
  const handle = startMover(['backup'], { ...s.env, DATA_DIR: s.data, DEBUG_MOVER: '1', TMPDIR: tmp }, options);
  await waitForLine(handle, /to continue: rm /, 30_000);
  const folders = runFolders(tmp);
  expect(folders).toHaveLength(1);
  return { handle, folder: join(tmp, folders[0]!), marker: join(s.cache, 'debug-mover-wait') };
}

async function otherBackup(tmp: string, options: MoverOptions = {}): Promise<void> {
  const s = seededScenario('other');
  const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, TMPDIR: tmp }, options);
  expect(result.exitCode, result.stdout).toBe(0);
}

describe('run folders in a shared TMPDIR', () => {
  it('a run in another PID namespace never removes the folder of a live run, which then succeeds', async () => {
    const tmp = tempDir('km-shared-tmp-');
    const live = await pausedRun(tmp);
    await otherBackup(tmp, OTHER_PID_NAMESPACE);
    expect(existsSync(live.folder)).toBe(true);
    rmSync(live.marker);
    const result = await live.handle.result;
    expect(result.exitCode, result.stdout).toBe(0);
    expect(runFolders(tmp)).toEqual([]);
  });

  it('a folder whose owner is alive in another PID namespace is kept by a run here', async () => {
    const tmp = tempDir('km-shared-tmp-');
    const live = await pausedRun(tmp, OTHER_PID_NAMESPACE);
    await otherBackup(tmp);
    expect(existsSync(live.folder)).toBe(true);
    rmSync(live.marker);
    const result = await live.handle.result;
    expect(result.exitCode, result.stdout).toBe(0);
  });

  it("a SIGKILLed run's folder is removed by the next run, whatever its PID namespace", async () => {
    const tmp = tempDir('km-shared-tmp-');
    const killed = await pausedRun(tmp);
    killed.handle.kill('SIGKILL');
    await killed.handle.result;
    expect(existsSync(killed.folder)).toBe(true);
    await otherBackup(tmp, OTHER_PID_NAMESPACE);
    expect(existsSync(killed.folder)).toBe(false);
    expect(runFolders(tmp)).toEqual([]);
  });
});
