import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import type { Operation } from '../config/types.js';
import type { Output } from './output.js';

export interface SnapshotStats {
  id: string;
  files: number;
  directories: number;
  bytes: number;
  errors: number;
  ignoredErrors: number;
}

export interface PolicyOutcome {
  applied: number;
  failed: number;
  failures: string[];
}

/** Everything a run reports at its end. Built up by the operation, printed once. */
export interface RunSummary {
  operation: Operation | 'validate' | 'unknown';
  result: 'SUCCESS' | 'FAILURE';
  exitCode: number;
  reason?: string;
  warnings: string[];
  snapshot?: SnapshotStats;
  restoredSnapshot?: { id: string; startTime: string; source: string };
  skipped?: string;
  durationSeconds: number;
  maintenance?: { status: 'SUCCESS' | 'FAILURE' | 'SKIPPED'; owner?: string };
  policy?: PolicyOutcome;
  kopiaErrorOutput?: string;
  kopiaProcesses: number;
}

/** The controller-facing block, line for line as the contract fixes it. */
export function summaryLines(s: RunSummary): string[] {
  const lines = ['=== OPERATION SUMMARY ===', `OPERATION_TYPE: ${s.operation.toUpperCase()}`, `OPERATION_RESULT: ${s.result}`];
  if (s.skipped) lines.push(`OPERATION_NOTE: ${s.skipped}`);
  if (s.snapshot) {
    lines.push(
      `SNAPSHOT_ID: ${s.snapshot.id}`,
      `SNAPSHOT_FILES: ${s.snapshot.files}`,
      `SNAPSHOT_BYTES: ${s.snapshot.bytes}`,
      `SNAPSHOT_ERRORS: ${s.snapshot.errors}`,
    );
  }
  if (s.restoredSnapshot) {
    lines.push(`RESTORED_SNAPSHOT_ID: ${s.restoredSnapshot.id}`, `RESTORED_SNAPSHOT_TIME: ${s.restoredSnapshot.startTime}`);
  }
  if (s.policy && (s.policy.applied > 0 || s.policy.failed > 0)) {
    lines.push(`POLICY: ${s.policy.applied} applied, ${s.policy.failed} failed`);
    for (const f of s.policy.failures) lines.push(`POLICY_FAILURE: ${f}`);
  }
  if (s.maintenance) {
    lines.push(`MAINTENANCE_STATUS: ${s.maintenance.status}`, `MAINTENANCE_DURATION: ${Math.round(s.durationSeconds)}`);
    if (s.maintenance.status === 'FAILURE' && s.reason) lines.push(`MAINTENANCE_FAILURE_REASON: ${s.reason}`);
  } else {
    lines.push(`DURATION_SECONDS: ${Math.round(s.durationSeconds)}`);
  }
  for (const w of s.warnings) lines.push(`WARNING: ${w}`);
  if (s.result === 'FAILURE' && s.reason && !s.maintenance) lines.push(`FAILURE_REASON: ${s.reason}`);
  if (s.kopiaErrorOutput && s.result === 'FAILURE') {
    lines.push('KOPIA_ERROR_OUTPUT_START:', ...s.kopiaErrorOutput.split('\n'), 'KOPIA_ERROR_OUTPUT_END');
  }
  lines.push(`EXIT_CODE: ${s.exitCode}`, '=== Done ===');
  return lines;
}

/** The Kubernetes termination message: compact JSON, within the kubelet's 4 KiB limit. */
export function terminationMessage(s: RunSummary): string {
  const message = {
    operation: s.operation,
    result: s.result,
    exitCode: s.exitCode,
    reason: s.reason,
    snapshot: s.snapshot,
    restoredSnapshot: s.restoredSnapshot,
    skipped: s.skipped,
    durationSeconds: Math.round(s.durationSeconds * 10) / 10,
    maintenance: s.maintenance,
    policy: s.policy,
    warnings: s.warnings.slice(0, 10),
    kopiaProcesses: s.kopiaProcesses,
  };
  let text = JSON.stringify(message);
  if (text.length > 4000) text = JSON.stringify({ ...message, warnings: [], policy: s.policy && { ...s.policy, failures: [] } });
  return text.slice(0, 4000);
}

export function printSummary(output: Output, s: RunSummary, terminationLog: string): void {
  for (const line of summaryLines(s)) output.line(line);
  try {
    // 'r+' never creates the file: outside Kubernetes there is nothing to write to.
    const fd = openSync(terminationLog, 'r+');
    try {
      ftruncateSync(fd, 0);
      writeSync(fd, output.redact(terminationMessage(s)));
    } finally {
      closeSync(fd);
    }
  } catch {
    // Outside Kubernetes the termination log usually does not exist; the printed summary is enough.
  }
}
