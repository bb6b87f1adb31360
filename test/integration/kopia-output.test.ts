// A kopia whose output does not have the shape the program's models declare: the run stops at that
// command, naming it and the field, and decides nothing on a guess. kopia 0.22.3 prints the shapes
// the models declare, so these tests put a fake kopia in front of the real one.
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runMover, seededScenario, summaryValue, tempDir } from '../support/mover.js';

/** A kopia that is the real one (through the run's recorder) except that `maintenance info` prints its JSON without the owner. */
function ownerlessMaintenanceInfo(work: string): string {
  const fake = join(work, 'kopia-ownerless-maintenance-info.sh');
  const recorder = join(work, 'kopia-recorder.sh');
  writeFileSync(
    fake,
    [
      '#!/bin/sh',
      'if [ "$1" = maintenance ] && [ "$2" = info ]; then',
      `  '${recorder}' "$@" | sed 's/"owner":"[^"]*",//'`,
      '  exit 0',
      'fi',
      `exec '${recorder}' "$@"`,
      '',
    ].join('\n'),
  );
  chmodSync(fake, 0o755);
  return fake;
}

describe("kopia's output read through its models", () => {
  it('with a fake kopia (a real one always prints the owner): maintenance info without an owner fails naming the command and the field, and nothing is claimed or run', async () => {
    const s = seededScenario('ownerless');
    const backup = await runMover(['backup'], { ...s.env, DATA_DIR: s.data });
    expect(backup.exitCode, backup.stdout.slice(-2000)).toBe(0);
    const work = tempDir('km-run-');
    const result = await runMover(['maintenance'], { ...s.env, KOPIA_BIN: ownerlessMaintenanceInfo(work) }, { recorderDir: work });
    expect(result.exitCode, result.stdout.slice(-2000)).toBe(1);
    expect(summaryValue(result, 'MAINTENANCE_FAILURE_REASON')).toMatch(/^could not read kopia maintenance info --json: owner: /);
    const commands = result.kopiaCalls.map((argv) => argv.slice(0, 2).join(' '));
    expect(commands).toContain('maintenance info');
    expect(commands).not.toContain('maintenance set');
    expect(commands).not.toContain('maintenance run');
  });

  it('with a fake kopia (a real one prints its version line): --version says which line of kopia --version it could not read', async () => {
    const work = tempDir('km-version-');
    const fake = join(work, 'kopia');
    writeFileSync(fake, "#!/bin/sh\necho 'kopia, some version'\n");
    chmodSync(fake, 0o755);
    const result = await runMover(['--version'], { KOPIA_BIN: fake });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/^kopia could not read kopia --version: the first line: /m);
  });
});
