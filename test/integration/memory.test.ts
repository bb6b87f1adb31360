// When the mover runs out of memory or is killed without a word: the operator still learns why
// from the summary or the pod's termination message, and nothing in the repository is lost.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { processAlive } from '../../src/processes.js';
import { heldOutputLimit, oldGenerationLimit } from '../../src/memory.js';
import { kopiaJson, runMover, seededScenario, startMover, tempDir, waitForLine } from '../support/mover.js';

const MIB = 1024 * 1024;


describe('running out of memory', () => {
  it(
    'with a fake kopia (a real one never floods the mover with output): output past what the heap can hold stops kopia, ' +
      'and the summary and termination message say out of memory',
    async () => {
      const s = seededScenario('oom');
      const work = tempDir('km-run-');
      const pidFile = join(work, 'flooding-kopia.pid');
      // Every command goes to the real kopia except snapshot create, which prints JSON that never ends.
      const fake = join(work, 'kopia-flooding.sh');
      writeFileSync(
        fake,
        [
          '#!/bin/sh',
          'if [ "$1" = snapshot ] && [ "$2" = create ]; then',
          `  echo $$ > '${pidFile}'`,
          `  printf '{"id":"'`,
          `  exec tr '\\000' a < /dev/zero`,
          'fi',
          `exec '${join(work, 'kopia-recorder.sh')}' "$@"`,
          '',
        ].join('\n'),
      );
      chmodSync(fake, 0o755);
      const result = await runMover(
        ['backup'],
        { ...s.env, DATA_DIR: s.data, KOPIA_BIN: fake, NODE_OPTIONS: '--max-old-space-size=32' },
        { recorderDir: work },
      );
      const tail = result.stdout.slice(-3000) + result.stderr.slice(-3000);
      expect(result.exitCode, tail).toBe(1);
      // Node's own abort would have printed this and no summary.
      expect(result.stderr).not.toContain('JavaScript heap out of memory');
      expect(result.plainLines).toContain('OPERATION_RESULT: FAILURE');
      expect(result.plainLines.find((l) => l.startsWith('FAILURE_REASON:')), tail).toMatch(/out of memory/);
      expect(result.plainLines).toContain('FAILURE_CLASS: OutOfMemory (retryable: no)');
      expect(result.terminationMessage?.['exitCode']).toBe(1);
      expect(result.terminationMessage?.['failure']).toMatchObject({ class: 'OutOfMemory', retryable: false });
      expect(String((result.terminationMessage?.['failure'] as { fix: string }).fix)).toContain('moverResources.limits.memory');
      // The flooding kopia was stopped, not left running.
      const floodPid = Number(readFileSync(pidFile, 'utf8'));
      expect(processAlive(floodPid)).toBe(false);
      // The repository is as it was: connected, no snapshot claimed, and the next backup works.
      const snapshots = kopiaJson<unknown[]>(s.cache, s.password, ['snapshot', 'list', '--all']);
      expect(snapshots).toEqual([]);
      const again = await runMover(['backup'], { ...s.env, DATA_DIR: s.data });
      expect(again.exitCode, again.stdout.slice(-2000)).toBe(0);
    },
    120_000,
  );

  it(
    'with a fake kopia (a real one never prints a path without end): a restore with deletion whose listing never ends a line ' +
      'stops out of memory, writes and deletes nothing',
    async () => {
      const s = seededScenario('endless');
      const backup = await runMover(['backup'], { ...s.env, DATA_DIR: s.data });
      expect(backup.exitCode, backup.stdout.slice(-2000)).toBe(0);
      const target = join(s.root, 'target');
      mkdirSync(target);
      writeFileSync(join(target, 'file.txt'), 'older\n');
      writeFileSync(join(target, 'extra.txt'), 'not in the snapshot, and the listing never said so\n');
      const work = tempDir('km-run-');
      // Every command goes to the real kopia except the listing, which starts a path and never ends it.
      const fake = join(work, 'kopia-endless-listing.sh');
      writeFileSync(
        fake,
        ['#!/bin/sh', 'if [ "$1" = ls ]; then', "  printf 'file.txt\\nnot-ending-'", "  exec tr '\\000' a < /dev/zero", 'fi', `exec '${join(work, 'kopia-recorder.sh')}' "$@"`, ''].join('\n'),
      );
      chmodSync(fake, 0o755);
      const result = await runMover(
        ['restore'],
        {
          ...s.env,
          DATA_DIR: target,
          KOPIA_SOURCE_PATH_OVERRIDE: s.data,
          KOPIA_ENABLE_FILE_DELETION: 'true',
          KOPIA_BIN: fake,
          NODE_OPTIONS: '--max-old-space-size=32',
        },
        { recorderDir: work },
      );
      const tail = result.stdout.slice(-3000) + result.stderr.slice(-3000);
      expect(result.exitCode, tail).toBe(1);
      expect(result.plainLines).toContain('FAILURE_CLASS: OutOfMemory (retryable: no)');
      expect(result.terminationMessage?.['failure']).toMatchObject({ class: 'OutOfMemory' });
      // The listing comes before the restore (DATA_DIR is checked along it first): nothing was written, nothing deleted.
      expect(result.kopiaCalls.map((a) => a.slice(0, 2).join(' '))).not.toContain('snapshot restore');
      expect(readFileSync(join(target, 'file.txt'), 'utf8')).toBe('older\n');
      expect(readFileSync(join(target, 'extra.txt'), 'utf8')).toContain('not in the snapshot');
    },
    120_000,
  );

  it('a mover killed without a word (SIGKILL, as the kernel OOM killer does) leaves a termination message that says it did not finish', async () => {
    const s = seededScenario('killed');
    const handle = startMover(['backup'], { ...s.env, DATA_DIR: s.data, DEBUG_MOVER: '1' });
    await waitForLine(handle, /to continue: rm /, 20_000);
    handle.kill('SIGKILL');
    const result = await handle.result;
    expect(result.exitCode).toBe(137);
    expect(result.plainLines.some((l) => l.startsWith('OPERATION_RESULT:'))).toBe(false);
    expect(result.terminationMessage).toMatchObject({ operation: 'backup', result: 'FAILURE', failure: { class: 'Interrupted' } });
    expect(String(result.terminationMessage?.['reason'])).toMatch(/did not finish: the mover was killed or crashed/);
    expect(String((result.terminationMessage?.['failure'] as { fix: string }).fix)).toMatch(/OOMKilled/);
    // A run that does finish replaces it with its own.
    mkdirSync(s.data, { recursive: true });
    const finished = await runMover(['backup'], { ...s.env, DATA_DIR: s.data });
    expect(finished.exitCode).toBe(0);
    expect(finished.terminationMessage).toMatchObject({ result: 'SUCCESS' });
    expect(existsSync(s.repo)).toBe(true);
  });
});

describe("the heap limit the watchdog measures against: V8's old generation", () => {
  it("bounds the kopia output the runner holds at once to a quarter of it, and to what one string can hold", () => {
    expect(heldOutputLimit(32 * MIB)).toBe(8 * MIB);
    expect(heldOutputLimit(4096 * MIB)).toBe(256 * MIB);
  });

  it('is --max-old-space-size when node was given it, on its command line or in NODE_OPTIONS', () => {
    expect(oldGenerationLimit(80 * MIB, ['--max-old-space-size=32'], undefined)).toBe(32 * MIB);
    expect(oldGenerationLimit(80 * MIB, [], '--enable-source-maps --max-old-space-size=32')).toBe(32 * MIB);
    expect(oldGenerationLimit(80 * MIB, [], '--max_old_space_size=32')).toBe(32 * MIB);
  });

  it("is V8's whole limit less the young generation's reserve otherwise, never under a quarter of it", () => {
    expect(oldGenerationLimit(4144 * MIB, [], undefined)).toBe(4096 * MIB);
    expect(oldGenerationLimit(64 * MIB, [], undefined)).toBe(16 * MIB);
    expect(oldGenerationLimit(40 * MIB, [], undefined)).toBe(10 * MIB);
  });

  it("matches the young generation this node really reserves, so a limit set some other way is measured right", () => {
    for (const megabytes of [32, 200]) {
      const heapSizeLimit = Number(
        execFileSync(process.execPath, [`--max-old-space-size=${megabytes}`, '-p', "require('node:v8').getHeapStatistics().heap_size_limit"], { encoding: 'utf8' }),
      );
      expect(oldGenerationLimit(heapSizeLimit, [], undefined)).toBe(megabytes * MIB);
    }
  });
});
