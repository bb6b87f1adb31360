import { mkdirSync, readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { assertNoSecrets, kopiaJson, runMover, scenario, tempDir } from '../support/mover.js';

interface Snapshot {
  id: string;
  startTime: string;
}

/** The same instant written with a +05:30 offset. */
function withOffset(instant: Date): string {
  const shifted = new Date(instant.getTime() + 330 * 60_000);
  return `${shifted.toISOString().slice(0, 23)}+05:30`;
}

/**
 * Distinct start times an hour apart, with room between them for an as-of instant, given to
 * kopia (`snapshot create --start-time`) instead of waited for. kopia 0.22.3 reads this flag as
 * "2006-01-02 15:04:05 MST", not RFC 3339.
 */
const START_TIMES = [
  ['v1', '2024-03-01 10:00:00 UTC', '2024-03-01T10:00:00Z'],
  ['v2', '2024-03-01 11:00:00 UTC', '2024-03-01T11:00:00Z'],
  ['v3', '2024-03-01 12:00:00 UTC', '2024-03-01T12:00:00Z'],
] as const;

describe('restore selection over three backups', () => {
  const s = scenario('select');
  let snapshots: Snapshot[] = [];

  beforeAll(async () => {
    mkdirSync(s.data);
    for (const [version, startTime] of START_TIMES) {
      writeFileSync(join(s.data, 'version.txt'), `${version}\n`);
      writeFileSync(join(s.data, `only-${version}.txt`), version);
      const result = await runMover(['backup'], {
        ...s.env,
        DATA_DIR: s.data,
        KOPIA_SOURCE_PATH_OVERRIDE: '/data',
        KOPIA_ADDITIONAL_ARGS: `--start-time=${startTime}`,
      });
      expect(result.exitCode, result.stdout).toBe(0);
    }
    snapshots = kopiaJson<Snapshot[]>(s.cache, s.password, ['snapshot', 'list', '--all']);
    snapshots.sort((a, b) => Date.parse(a.startTime) - Date.parse(b.startTime));
    expect(snapshots.map((x) => x.startTime)).toEqual(START_TIMES.map(([, , rfc3339]) => rfc3339));
  });

  async function restore(extra: Record<string, string>) {
    const target = tempDir('km-target-');
    const result = await runMover(['restore'], { ...s.env, DATA_DIR: target, KOPIA_SOURCE_PATH_OVERRIDE: '/data', ...extra });
    assertNoSecrets(result, [s.password]);
    return { result, target };
  }

  it('KOPIA_PREVIOUS=1 restores the second newest', async () => {
    const { result, target } = await restore({ KOPIA_PREVIOUS: '1' });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(readFileSync(join(target, 'version.txt'), 'utf8')).toBe('v2\n');
    expect(result.plainLines).toContain(`RESTORED_SNAPSHOT_ID: ${snapshots[1]!.id}`);
  });

  it('KOPIA_RESTORE_AS_OF between the first and second backup restores the first', async () => {
    const between = new Date((Date.parse(snapshots[0]!.startTime) + Date.parse(snapshots[1]!.startTime)) / 2);
    const { result, target } = await restore({ KOPIA_RESTORE_AS_OF: between.toISOString() });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(readFileSync(join(target, 'version.txt'), 'utf8')).toBe('v1\n');
  });

  it('KOPIA_RESTORE_AS_OF written with a non-UTC offset is compared as an instant', async () => {
    const between = new Date((Date.parse(snapshots[0]!.startTime) + Date.parse(snapshots[1]!.startTime)) / 2);
    const asOf = withOffset(between);
    // Textually this sorts after every snapshot's UTC time; as an instant it falls before the second.
    expect(asOf > snapshots[2]!.startTime).toBe(true);
    const { result, target } = await restore({ KOPIA_RESTORE_AS_OF: asOf });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(readFileSync(join(target, 'version.txt'), 'utf8')).toBe('v1\n');
  });

  it('KOPIA_SHALLOW=1 with KOPIA_PREVIOUS=1 finds nothing, says so and restores nothing', async () => {
    const { result, target } = await restore({ KOPIA_SHALLOW: '1', KOPIA_PREVIOUS: '1' });
    expect(result.exitCode).toBe(0);
    expect(result.plainLines).toContain('No eligible snapshots found');
    expect(readdirSync(target)).toEqual([]);
    expect(result.kopiaCalls.some((argv) => argv[1] === 'restore')).toBe(false);
  });

  it('KOPIA_ENABLE_FILE_DELETION removes files absent from the snapshot and keeps lost+found', async () => {
    const target = tempDir('km-target-');
    mkdirSync(join(target, 'lost+found'));
    writeFileSync(join(target, 'lost+found', '#1234'), 'fsck found this');
    writeFileSync(join(target, 'stale.txt'), 'not in any snapshot');
    mkdirSync(join(target, 'stale-dir', 'inner'), { recursive: true });
    writeFileSync(join(target, 'only-v3.txt'), 'old content');
    const result = await runMover(['restore'], {
      ...s.env,
      DATA_DIR: target,
      KOPIA_SOURCE_PATH_OVERRIDE: '/data',
      KOPIA_PREVIOUS: '1',
      KOPIA_ENABLE_FILE_DELETION: 'true',
    });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(readdirSync(target).sort()).toEqual(['lost+found', 'only-v1.txt', 'only-v2.txt', 'version.txt']);
    expect(readFileSync(join(target, 'lost+found', '#1234'), 'utf8')).toBe('fsck found this');
    expect(readFileSync(join(target, 'version.txt'), 'utf8')).toBe('v2\n');
  });

  it('with no snapshot for the identity, DATA_DIR is byte-for-byte unchanged and discovery lists the identities that exist', async () => {
    const target = tempDir('km-target-');
    writeFileSync(join(target, 'keep.txt'), 'precious');
    mkdirSync(join(target, 'lost+found'));
    const result = await runMover(['restore'], {
      ...s.env,
      DATA_DIR: target,
      KOPIA_OVERRIDE_USERNAME: 'someone-else',
      KOPIA_SOURCE_PATH_OVERRIDE: '/data',
      KOPIA_ENABLE_FILE_DELETION: 'true',
      KOPIA_DISCOVER_SNAPSHOTS: 'true',
    });
    expect(result.exitCode).toBe(0);
    expect(readdirSync(target).sort()).toEqual(['keep.txt', 'lost+found']);
    expect(readFileSync(join(target, 'keep.txt'), 'utf8')).toBe('precious');
    expect(result.plainLines).toContain('No snapshots found for someone-else@ns1:/data');
    expect(result.plainLines).toContain('No eligible snapshots found');
    const start = result.plainLines.indexOf('=== Discovery Mode: Available Snapshots ===');
    const end = result.plainLines.indexOf('=== End Discovery Mode ===');
    expect(start).toBeGreaterThanOrEqual(0);
    const listed = result.plainLines.slice(start + 1, end).map((l) => JSON.parse(l) as Record<string, string>);
    expect(listed).toHaveLength(3);
    for (const entry of listed) {
      expect(Object.keys(entry).sort()).toEqual(['endTime', 'hostName', 'id', 'path', 'startTime', 'userName']);
      expect(entry).toMatchObject({ userName: 'select', hostName: 'ns1', path: '/data' });
    }
    expect(existsSync(join(target, 'version.txt'))).toBe(false);
  });
});
