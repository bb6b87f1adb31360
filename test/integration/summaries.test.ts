// What a summary says a run did, against a real repository: files new, changed and unchanged and
// the bytes stored, settings left as they were, fields dropped or translated on purpose, a failing
// essential policy action, and the memory the run took.
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kopiaJson, kopiaText, policyScenario, runMover, scenario, summaryValue, type MoverResult } from '../support/mover.js';

const FILES = 20;
const FILE_BYTES = 50_000;

/** DATA_DIR with FILES files of random (incompressible) bytes. */
function randomTree(name: string) {
  const s = scenario(name);
  mkdirSync(s.data);
  for (let i = 0; i < FILES; i++) writeFileSync(join(s.data, `file-${i}.bin`), randomBytes(FILE_BYTES));
  return { ...s, env: { ...s.env, DATA_DIR: s.data } };
}

function figures(result: MoverResult) {
  const value = (key: string) => {
    const text = summaryValue(result, key);
    return text === undefined ? undefined : Number(text);
  };
  return {
    new: value('SNAPSHOT_FILES_NEW'),
    changed: value('SNAPSHOT_FILES_CHANGED'),
    newOrChanged: value('SNAPSHOT_FILES_NEW_OR_CHANGED'),
    unchanged: value('SNAPSHOT_FILES_UNCHANGED'),
    uploaded: value('SNAPSHOT_BYTES_UPLOADED'),
  };
}

const diffCalls = (result: MoverResult) => result.kopiaCalls.filter((argv) => argv[0] === 'diff');

describe('a backup says what changed and what it uploaded', () => {
  it('first backup: every file new; a repeat with one file changed and one added: 1 new, 1 changed, the rest unchanged, a small upload', async () => {
    const s = randomTree('changes');
    const first = await runMover(['backup'], s.env);
    expect(first.exitCode, first.stdout.slice(-2000)).toBe(0);
    expect(figures(first)).toMatchObject({ new: FILES, changed: 0, unchanged: 0, newOrChanged: undefined });
    // Random bytes do not compress: kopia stored at least the data.
    expect(figures(first).uploaded).toBeGreaterThanOrEqual(FILES * FILE_BYTES);
    expect(diffCalls(first)).toHaveLength(0);

    writeFileSync(join(s.data, 'file-3.bin'), randomBytes(FILE_BYTES));
    writeFileSync(join(s.data, 'added.bin'), randomBytes(1000));
    const repeat = await runMover(['backup'], s.env);
    expect(repeat.exitCode, repeat.stdout.slice(-2000)).toBe(0);
    expect(figures(repeat)).toMatchObject({ new: 1, changed: 1, unchanged: FILES - 1, newOrChanged: undefined });
    const uploaded = figures(repeat).uploaded ?? 0;
    expect(uploaded).toBeGreaterThanOrEqual(FILE_BYTES + 1000);
    expect(uploaded).toBeLessThan((FILES * FILE_BYTES) / 4);
    // New and changed were told apart by one kopia diff of the two snapshots.
    expect(diffCalls(repeat)).toHaveLength(1);
    expect(repeat.terminationMessage?.['snapshot']).toMatchObject({ files: FILES + 1, newFiles: 1, changedFiles: 1, unchangedFiles: FILES - 1, uploadedBytes: uploaded });

    // The repository agrees: two snapshots, the second holding the added file too.
    const snapshots = kopiaJson<{ rootEntry: { summ: { files: number } } }[]>(s.cache, s.password, ['snapshot', 'list', '--all']);
    expect(snapshots.map((m) => m.rootEntry.summ.files)).toEqual([FILES, FILES + 1]);
  }, 120_000);

  it('a repeat backup with nothing changed: 0 new, 0 changed, all unchanged; with files only added: all of them new; neither needs a kopia diff', async () => {
    const s = randomTree('unchanged');
    expect((await runMover(['backup'], s.env)).exitCode).toBe(0);
    const repeat = await runMover(['backup'], s.env);
    expect(repeat.exitCode, repeat.stdout.slice(-2000)).toBe(0);
    expect(figures(repeat)).toMatchObject({ new: 0, changed: 0, unchanged: FILES });
    expect(figures(repeat).uploaded).toBeLessThan(FILE_BYTES);
    expect(diffCalls(repeat)).toHaveLength(0);

    writeFileSync(join(s.data, 'added-1.bin'), randomBytes(1000));
    writeFileSync(join(s.data, 'added-2.bin'), randomBytes(1000));
    const added = await runMover(['backup'], s.env);
    expect(added.exitCode, added.stdout.slice(-2000)).toBe(0);
    expect(figures(added)).toMatchObject({ new: 2, changed: 0, unchanged: FILES });
    expect(diffCalls(added)).toHaveLength(0);
  }, 120_000);

  it('a cache that did not take the previous snapshot: new and changed files counted together, as kopia counts them', async () => {
    const s = randomTree('freshcache');
    expect((await runMover(['backup'], s.env)).exitCode).toBe(0);
    rmSync(s.cache, { recursive: true, force: true });
    writeFileSync(join(s.data, 'file-0.bin'), randomBytes(FILE_BYTES));
    const repeat = await runMover(['backup'], s.env);
    expect(repeat.exitCode, repeat.stdout.slice(-2000)).toBe(0);
    expect(figures(repeat)).toMatchObject({ newOrChanged: 1, unchanged: FILES - 1, new: undefined, changed: undefined });
    expect(diffCalls(repeat)).toHaveLength(0);
  }, 120_000);
});

describe('the policy outcome', () => {
  it('a repeat backup whose settings are as the last run applied them says "unchanged since the last run", not "applied"', async () => {
    const s = policyScenario('policyagain');
    const env = { ...s.env, DATA_DIR: s.data, KOPIA_RETAIN_DAILY: '9' };
    const first = await runMover(['backup'], env);
    expect(first.exitCode, first.stdout.slice(-2000)).toBe(0);
    expect(first.plainLines).toContain('POLICY: 1 applied, 0 failed');
    const again = await runMover(['backup'], env);
    expect(again.exitCode, again.stdout.slice(-2000)).toBe(0);
    expect(again.kopiaCalls.some((argv) => argv[0] === 'policy')).toBe(false);
    expect(again.plainLines).toContain('POLICY: unchanged since the last run');
    expect(again.plainLines.some((l) => /^POLICY: \d+ applied/.test(l))).toBe(false);
    expect(again.terminationMessage?.['policy']).toMatchObject({ applied: 0, failed: 0, unchanged: 1 });
  }, 120_000);
});

describe('fields dropped or translated on purpose', () => {
  it('compressionLevel dropped and "s2" translated to "s2-default" are summary notes naming the file and the field', async () => {
    const s = policyScenario('notes');
    const file = join(s.policyDir, 'global-policy.json');
    writeFileSync(file, JSON.stringify({ compression: { compressor: 's2', compressionLevel: 3 } }));
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_CONFIG_PATH: s.policyDir });
    expect(result.exitCode, result.stdout.slice(-2000)).toBe(0);
    const notes = result.plainLines.filter((l) => l.startsWith('NOTE: '));
    expect(notes.some((n) => n.startsWith(`NOTE: ${file}: compression.compressionLevel not applied: kopia has no compression level`))).toBe(true);
    expect(notes).toContain(`NOTE: ${file}: compression.compressor: "s2" is not a kopia compressor name, using "s2-default"`);
    // What the note says was done is what kopia holds.
    const global = JSON.parse(kopiaText(s.cache, s.password, ['policy', 'export', '(global)'])) as Record<string, { compression?: Record<string, unknown> }>;
    expect(global['(global)']?.compression?.['compressorName']).toBe('s2-default');
    expect(global['(global)']?.compression?.['compressionLevel']).toBeUndefined();
  }, 120_000);
});

describe('a failing essential policy action', () => {
  it('is ActionFailed with exit 4, like a failing hook, and no snapshot is taken', async () => {
    const s = policyScenario('essential');
    const env = { ...s.env, DATA_DIR: s.data, KOPIA_CONFIG_PATH: s.policyDir };
    expect((await runMover(['backup'], env)).exitCode).toBe(0);
    writeFileSync(
      join(s.policyDir, 'global-policy.json'),
      JSON.stringify({ actions: { beforeSnapshotRoot: { script: '#!/bin/sh\necho the database refused to freeze >&2\nexit 3\n', timeout: 60, mode: 'essential' } } }),
    );
    writeFileSync(join(s.policyDir, 'repository.config'), JSON.stringify({ enableActions: true }));
    const result = await runMover(['backup'], env);
    expect(result.exitCode, result.stdout.slice(-2000)).toBe(4);
    expect(result.plainLines).toContain('FAILURE_CLASS: ActionFailed (retryable: yes)');
    expect(summaryValue(result, 'FAILURE_REASON')).toMatch(/an essential policy action failed/);
    expect(summaryValue(result, 'FAILURE_FIX')).toMatch(/"mode": "essential"/);
    expect(result.plainLines).toContain('the database refused to freeze');
    expect(result.terminationMessage).toMatchObject({ exitCode: 4, failure: { class: 'ActionFailed' } });
    expect(kopiaJson<unknown[]>(s.cache, s.password, ['snapshot', 'list', '--all'])).toHaveLength(1);
  }, 120_000);
});

describe('the memory line', () => {
  it('gives the peak resident memory of the run, and no heap figure of 0', async () => {
    const s = randomTree('memory');
    const result = await runMover(['backup'], s.env);
    expect(result.exitCode, result.stdout.slice(-2000)).toBe(0);
    const memory = result.records.find((r) => r['msg'] === 'memory');
    // Node alone takes tens of MiB resident.
    expect(Number(memory?.['rssPeakMiB'])).toBeGreaterThan(20);
    expect(Number(memory?.['heapLimitMiB'])).toBeGreaterThan(0);
    if ('heapPeakMiB' in (memory ?? {})) expect(Number(memory?.['heapPeakMiB'])).toBeGreaterThan(0);
  }, 120_000);
});
