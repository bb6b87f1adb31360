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

/** One summary line per field: a newline inside a value would break the block for the controller. */
function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ');
}

/**
 * The summary with its free text (reasons, warnings, kopia's output) passed through `redact`; the
 * structured values (result, ids, counts, exit code) are left exactly as they are.
 */
export function redactedSummary(input: RunSummary, redact: (text: string) => string): RunSummary {
  return {
    ...input,
    reason: input.reason && redact(input.reason),
    skipped: input.skipped && redact(input.skipped),
    warnings: input.warnings.map(redact),
    policy: input.policy && { ...input.policy, failures: input.policy.failures.map(redact) },
    kopiaErrorOutput: input.kopiaErrorOutput && redact(input.kopiaErrorOutput),
  };
}

/** The controller-facing block, line for line as the contract fixes it. */
export function summaryLines(input: RunSummary): string[] {
  const s: RunSummary = {
    ...input,
    reason: input.reason && oneLine(input.reason),
    skipped: input.skipped && oneLine(input.skipped),
    warnings: input.warnings.map(oneLine),
    policy: input.policy && { ...input.policy, failures: input.policy.failures.map(oneLine) },
  };
  const lines = ['=== OPERATION SUMMARY ===', `OPERATION_TYPE: ${s.operation.toUpperCase()}`, `OPERATION_RESULT: ${s.result}`];
  if (s.skipped) lines.push(`OPERATION_NOTE: ${s.skipped}`);
  if (s.snapshot) {
    lines.push(
      `SNAPSHOT_ID: ${s.snapshot.id}`,
      `SNAPSHOT_FILES: ${s.snapshot.files}`,
      `SNAPSHOT_BYTES: ${s.snapshot.bytes}`,
      `SNAPSHOT_ERRORS: ${s.snapshot.errors}`,
      `SNAPSHOT_IGNORED_ERRORS: ${s.snapshot.ignoredErrors}`,
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

const TERMINATION_LIMIT_BYTES = 4000;

/** Cuts a string to at most `bytes` UTF-8 bytes without splitting a character. */
function clip(text: string | undefined, bytes: number): string | undefined {
  if (text === undefined || Buffer.byteLength(text) <= bytes) return text;
  let out = text.slice(0, bytes);
  while (Buffer.byteLength(out) > bytes - 3) out = out.slice(0, -1);
  return `${out}...`;
}

/**
 * The Kubernetes termination message: compact JSON within the kubelet's 4 KiB.
 * Long fields are shortened before serialising, so the result always parses.
 */
export function terminationMessage(s: RunSummary): string {
  const build = (textBudget: number, listLength: number) =>
    JSON.stringify({
      operation: s.operation,
      result: s.result,
      exitCode: s.exitCode,
      reason: clip(s.reason, textBudget),
      snapshot: s.snapshot,
      restoredSnapshot: s.restoredSnapshot,
      skipped: clip(s.skipped, textBudget),
      durationSeconds: Math.round(s.durationSeconds * 10) / 10,
      maintenance: s.maintenance,
      policy: s.policy && { ...s.policy, failures: s.policy.failures.slice(0, listLength).map((f) => clip(f, textBudget)) },
      warnings: s.warnings.slice(0, listLength).map((w) => clip(w, textBudget)),
      kopiaProcesses: s.kopiaProcesses,
    });
  for (const [budget, list] of [[1000, 10], [400, 5], [200, 2], [100, 0]] as const) {
    const text = build(budget, list);
    if (Buffer.byteLength(text) <= TERMINATION_LIMIT_BYTES) return text;
  }
  return JSON.stringify({ operation: s.operation, result: s.result, exitCode: s.exitCode });
}

/** Prints the block and writes the termination message; only the free text is redacted. */
export function printSummary(output: Output, summary: RunSummary, terminationLog: string): void {
  const s = redactedSummary(summary, (text) => output.redact(text));
  for (const line of summaryLines(s)) output.line(line);
  try {
    // 'r+' never creates the file: outside Kubernetes there is nothing to write to.
    const fd = openSync(terminationLog, 'r+');
    try {
      ftruncateSync(fd, 0);
      writeSync(fd, terminationMessage(s));
    } finally {
      closeSync(fd);
    }
  } catch {
    // Outside Kubernetes the termination log usually does not exist; the printed summary is enough.
  }
}
