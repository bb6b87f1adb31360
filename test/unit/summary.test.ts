import { describe, expect, it } from 'vitest';
import { summaryLines, terminationMessage, type RunSummary } from '../../src/report/summary.js';

function summary(overrides: Partial<RunSummary>): RunSummary {
  return {
    operation: 'backup',
    result: 'SUCCESS',
    exitCode: 0,
    warnings: [],
    notes: [],
    durationSeconds: 0,
    kopiaProcesses: 0,
    ...overrides,
  };
}

const backupSuccess = summary({
  snapshot: { id: 'k0123abcd', files: 10, directories: 2, bytes: 2048, errors: 0, ignoredErrors: 0 },
  durationSeconds: 3.6,
  kopiaProcesses: 4,
});

const restoreSkipped = summary({
  operation: 'restore',
  skipped: 'No eligible snapshots found',
  durationSeconds: 1.2,
});

const maintenanceFailure = summary({
  operation: 'maintenance',
  result: 'FAILURE',
  exitCode: 6,
  reason: 'full maintenance failed',
  maintenance: { status: 'FAILURE', owner: 'maintenance@volsync' },
  durationSeconds: 12.4,
  kopiaErrorOutput: 'ERROR error running full maintenance\nunable to rewrite contents',
});

describe('summaryLines', () => {
  it('backup success prints the snapshot and exit code, line for line', () => {
    expect(summaryLines(backupSuccess)).toEqual([
      '=== OPERATION SUMMARY ===',
      'OPERATION_TYPE: BACKUP',
      'OPERATION_RESULT: SUCCESS',
      'SNAPSHOT_ID: k0123abcd',
      'SNAPSHOT_FILES: 10',
      'SNAPSHOT_BYTES: 2048',
      'SNAPSHOT_ERRORS: 0',
      'SNAPSHOT_IGNORED_ERRORS: 0',
      'DURATION_SECONDS: 4',
      'EXIT_CODE: 0',
      '=== Done ===',
    ]);
  });

  it('a skipped restore is a success with a note and no restored snapshot', () => {
    const lines = summaryLines(restoreSkipped);
    expect(lines).toContain('OPERATION_TYPE: RESTORE');
    expect(lines).toContain('OPERATION_RESULT: SUCCESS');
    expect(lines).toContain('OPERATION_NOTE: No eligible snapshots found');
    expect(lines.some((l) => l.startsWith('RESTORED_SNAPSHOT_ID'))).toBe(false);
    expect(lines.at(-2)).toBe('EXIT_CODE: 0');
  });

  it('a restore names the snapshot it restored', () => {
    const lines = summaryLines(
      summary({ operation: 'restore', restoredSnapshot: { id: 'k77', startTime: '2024-03-01T01:00:00Z', source: 'app@ns:/data' } }),
    );
    expect(lines).toContain('RESTORED_SNAPSHOT_ID: k77');
    expect(lines).toContain('RESTORED_SNAPSHOT_TIME: 2024-03-01T01:00:00Z');
  });

  it('maintenance failure carries status, duration, reason and kopia output', () => {
    expect(summaryLines(maintenanceFailure)).toEqual([
      '=== OPERATION SUMMARY ===',
      'OPERATION_TYPE: MAINTENANCE',
      'OPERATION_RESULT: FAILURE',
      'MAINTENANCE_STATUS: FAILURE',
      'MAINTENANCE_DURATION: 12',
      'MAINTENANCE_FAILURE_REASON: full maintenance failed',
      'KOPIA_ERROR_OUTPUT_START:',
      'ERROR error running full maintenance',
      'unable to rewrite contents',
      'KOPIA_ERROR_OUTPUT_END',
      'EXIT_CODE: 6',
      '=== Done ===',
    ]);
  });

  it('maintenance success has no failure reason and no DURATION_SECONDS', () => {
    const lines = summaryLines(
      summary({ operation: 'maintenance', maintenance: { status: 'SUCCESS' }, durationSeconds: 30, reason: 'stale' }),
    );
    expect(lines).toContain('MAINTENANCE_STATUS: SUCCESS');
    expect(lines).toContain('MAINTENANCE_DURATION: 30');
    expect(lines.some((l) => l.startsWith('MAINTENANCE_FAILURE_REASON'))).toBe(false);
    expect(lines.some((l) => l.startsWith('DURATION_SECONDS'))).toBe(false);
  });

  it('a backup failure gives FAILURE_REASON and the kopia output block', () => {
    const lines = summaryLines(
      summary({ result: 'FAILURE', exitCode: 1, reason: 'snapshot create failed', kopiaErrorOutput: 'boom' }),
    );
    expect(lines).toContain('FAILURE_REASON: snapshot create failed');
    const start = lines.indexOf('KOPIA_ERROR_OUTPUT_START:');
    expect(lines.slice(start, start + 3)).toEqual(['KOPIA_ERROR_OUTPUT_START:', 'boom', 'KOPIA_ERROR_OUTPUT_END']);
  });

  it('kopia output is not printed for a success', () => {
    const lines = summaryLines(summary({ kopiaErrorOutput: 'noise from a retried call' }));
    expect(lines).not.toContain('KOPIA_ERROR_OUTPUT_START:');
    expect(lines.join('\n')).not.toContain('noise');
  });

  it('warnings and the policy outcome are listed', () => {
    const lines = summaryLines(
      summary({
        warnings: ['after-snapshot action failed'],
        policy: { applied: 1, failed: 1, failures: ['global-policy.json: invalid JSON'] },
      }),
    );
    expect(lines).toContain('WARNING: after-snapshot action failed');
    expect(lines).toContain('POLICY: 1 applied, 1 failed');
    expect(lines).toContain('POLICY_FAILURE: global-policy.json: invalid JSON');
  });

  it('a backup says how many files were new, changed and unchanged and how many bytes it stored, after the totals', () => {
    const lines = summaryLines(
      summary({ snapshot: { ...backupSuccess.snapshot!, newFiles: 1, changedFiles: 2, unchangedFiles: 7, uploadedBytes: 9100 } }),
    );
    const at = lines.indexOf('SNAPSHOT_IGNORED_ERRORS: 0');
    expect(lines.slice(at + 1, at + 5)).toEqual(['SNAPSHOT_FILES_NEW: 1', 'SNAPSHOT_FILES_CHANGED: 2', 'SNAPSHOT_FILES_UNCHANGED: 7', 'SNAPSHOT_BYTES_UPLOADED: 9100']);
  });

  it('when new and changed files cannot be told apart, one line counts them together, and an unknown figure is left out', () => {
    const lines = summaryLines(summary({ snapshot: { ...backupSuccess.snapshot!, newOrChangedFiles: 3, unchangedFiles: 7 } }));
    expect(lines).toContain('SNAPSHOT_FILES_NEW_OR_CHANGED: 3');
    expect(lines.some((l) => /^SNAPSHOT_FILES_(NEW|CHANGED):/.test(l))).toBe(false);
    expect(lines.some((l) => l.startsWith('SNAPSHOT_BYTES_UPLOADED'))).toBe(false);
  });

  it('settings that needed no kopia call are unchanged since the last run, not applied', () => {
    expect(summaryLines(summary({ policy: { applied: 0, failed: 0, unchanged: 2, failures: [] } }))).toContain('POLICY: unchanged since the last run');
    const mixed = summaryLines(summary({ policy: { applied: 1, failed: 0, unchanged: 1, failures: [] } }));
    expect(mixed).toContain('POLICY: 1 applied, 0 failed, 1 unchanged since the last run');
    expect(summaryLines(summary({ policy: { applied: 0, failed: 0, unchanged: 0, failures: [] } })).some((l) => l.startsWith('POLICY'))).toBe(false);
  });

  it('shows at most four notes, counts the rest, and still shows the warnings', () => {
    const notes = Array.from({ length: 9 }, (_, i) => `/kopia-config/global-policy.json: field${i} not applied: kopia has no such setting`);
    const lines = summaryLines(summary({ notes, warnings: ['after-snapshot action failed'] }));
    expect(lines.filter((l) => l.startsWith('NOTE: /kopia-config'))).toHaveLength(4);
    expect(lines).toContain('NOTE: 5 more in the log above');
    expect(lines).toContain('WARNING: after-snapshot action failed');
  });

  it('always starts with the header and ends with EXIT_CODE then Done', () => {
    for (const s of [backupSuccess, restoreSkipped, maintenanceFailure, summary({ operation: 'unknown', result: 'FAILURE', exitCode: 2 })]) {
      const lines = summaryLines(s);
      expect(lines[0]).toBe('=== OPERATION SUMMARY ===');
      expect(lines.slice(-2)).toEqual([`EXIT_CODE: ${s.exitCode}`, '=== Done ===']);
      expect(lines.filter((l) => l.startsWith('EXIT_CODE:'))).toHaveLength(1);
    }
  });

  it('fits the whole block in the bytes the controller keeps, however long the error output and warnings', () => {
    const huge = summary({
      result: 'FAILURE',
      exitCode: 1,
      reason: `snapshot failed: ${'r'.repeat(2000)}`,
      warnings: Array.from({ length: 30 }, (_, i) => `warning ${i} ${'w'.repeat(300)}`),
      notes: ['owners not restored: unprivileged mover'],
      policy: { applied: 1, failed: 12, failures: Array.from({ length: 12 }, (_, i) => `failure ${i} ${'p'.repeat(200)}`) },
      kopiaErrorOutput: Array.from({ length: 200 }, (_, i) => `error line ${i} ${'e'.repeat(150)}`).join('\n'),
    });
    const lines = summaryLines(huge);
    const size = lines.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
    expect(size).toBeLessThanOrEqual(1000);
    expect(lines.slice(0, 3)).toEqual(['=== OPERATION SUMMARY ===', 'OPERATION_TYPE: BACKUP', 'OPERATION_RESULT: FAILURE']);
    expect(lines.slice(-2)).toEqual(['EXIT_CODE: 1', '=== Done ===']);
    expect(lines.some((l) => l.startsWith('FAILURE_REASON: snapshot failed: rrr'))).toBe(true);
    expect(lines).toContain('NOTE: owners not restored: unprivileged mover');
    // kopia's last line is kept, the first is not.
    expect(lines.some((l) => l.startsWith('error line 199 '))).toBe(true);
    expect(lines.some((l) => l.startsWith('error line 0 '))).toBe(false);
    expect(lines.some((l) => / more in the log above$/.test(l))).toBe(true);
  });

  it('a tiny budget left for kopia output still ends the block (no endless clipping)', () => {
    const s = summary({ result: 'FAILURE', exitCode: 1, reason: 'x'.repeat(5000), warnings: ['w'.repeat(5000)], kopiaErrorOutput: 'y'.repeat(5000) });
    const lines = summaryLines(s);
    expect(lines.at(-1)).toBe('=== Done ===');
    expect(lines.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0)).toBeLessThanOrEqual(1000);
  });
});

describe('terminationMessage', () => {
  it('is JSON with the operation, result, exit code and snapshot', () => {
    const message = JSON.parse(terminationMessage(backupSuccess)) as Record<string, unknown>;
    expect(message).toMatchObject({
      operation: 'backup',
      result: 'SUCCESS',
      exitCode: 0,
      snapshot: { id: 'k0123abcd', files: 10, bytes: 2048 },
      durationSeconds: 3.6,
      kopiaProcesses: 4,
    });
  });

  it('stays under the 4096-byte kubelet limit and parseable with huge warnings', () => {
    const warnings = Array.from({ length: 200 }, (_, i) => `warning ${i}: ${'x'.repeat(2000)}`);
    const failures = Array.from({ length: 50 }, () => 'p'.repeat(1000));
    const text = terminationMessage(
      summary({ ...maintenanceFailure, warnings, policy: { applied: 0, failed: 50, failures } }),
    );
    expect(Buffer.byteLength(text, 'utf8')).toBeLessThan(4096);
    const message = JSON.parse(text) as Record<string, unknown>;
    // What the controller needs survives the trimming.
    expect(message).toMatchObject({ operation: 'maintenance', result: 'FAILURE', exitCode: 6, reason: 'full maintenance failed' });
    expect(message['policy']).toMatchObject({ applied: 0, failed: 50 });
  });

  it('keeps at most 10 warnings', () => {
    const warnings = Array.from({ length: 25 }, (_, i) => `w${i}`);
    const message = JSON.parse(terminationMessage(summary({ warnings }))) as { warnings: string[] };
    expect(message.warnings).toEqual(warnings.slice(0, 10));
  });

  const base: RunSummary = { operation: 'backup', result: 'FAILURE', exitCode: 1, warnings: [], notes: [], durationSeconds: 1, kopiaProcesses: 2 };

  it('stays within 4000 bytes for multi-byte text', () => {
    const text = terminationMessage({ ...base, reason: 'é'.repeat(3000), warnings: Array(50).fill('ü'.repeat(500)) });
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(4000);
    expect(JSON.parse(text)).toMatchObject({ operation: 'backup', exitCode: 1 });
  });

  it('is valid JSON however long the reason is', () => {
    const text = terminationMessage({ ...base, reason: 'x'.repeat(10_000) });
    const parsed = JSON.parse(text) as { reason: string };
    expect(parsed.reason.endsWith('...')).toBe(true);
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(4000);
  });
});
