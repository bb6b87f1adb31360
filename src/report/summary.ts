import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import type { Operation } from '../config/types.js';
import { ConfigError, exitCodeOf, MoverError, unexpectedFailure } from '../errors.js';
import type { Failure } from '../kopia/failures.js';
import type { Output } from './output.js';

export interface SnapshotStats {
  id: string;
  files: number;
  directories: number;
  bytes: number;
  errors: number;
  ignoredErrors: number;
  /** Files no earlier snapshot had, and files whose content changed. */
  newFiles?: number;
  changedFiles?: number;
  /** Files kopia read again, when it is not known which of them are new and which changed. */
  newOrChangedFiles?: number;
  unchangedFiles?: number;
  /** Bytes kopia stored in the repository for this snapshot. */
  uploadedBytes?: number;
  /** When kopia started the snapshot (RFC 3339), as its manifest records it. */
  startTime?: string;
  /** Older snapshots of the path that retention expired after this one was saved. */
  expiredSnapshots?: number;
}

/** What a snapshot verify read back: every file it read whole, and the errors it found. */
export interface VerifiedFigures {
  /** One new snapshot (after a backup), or every snapshot in the repository (after maintenance). */
  scope: 'snapshot' | 'repository';
  files: number;
  bytes: number;
  errors: number;
}

export interface PolicyOutcome {
  /** Settings sent to kopia in this run. */
  applied: number;
  failed: number;
  /** Settings not sent because they are as this cache applied them last. */
  unchanged?: number;
  failures: string[];
}

/** Everything a run reports at its end. Built up by the operation, printed once. */
export interface RunSummary {
  operation: Operation | 'validate' | 'unknown';
  result: 'SUCCESS' | 'FAILURE';
  exitCode: number;
  reason?: string;
  warnings: string[];
  /** Facts the reader should know that are not problems, e.g. that owners were not restored. */
  notes: string[];
  snapshot?: SnapshotStats;
  restoredSnapshot?: { id: string; startTime: string; source: string };
  skipped?: string;
  durationSeconds: number;
  maintenance?: { status: 'SUCCESS' | 'FAILURE' | 'SKIPPED'; owner?: string };
  policy?: PolicyOutcome;
  /** KOPIA_VERIFY_PERCENT, KOPIA_MAINTENANCE_VERIFY_PERCENT: what the verify read back. */
  verified?: VerifiedFigures;
  kopiaErrorOutput?: string;
  /** What kind of failure this was, whether a retry can help, and what to fix. */
  failure?: Failure;
  kopiaProcesses: number;
  /** When the run started and ended (milliseconds since the epoch), for the metrics. */
  startedAtMs?: number;
  endedAtMs?: number;
  /** The mover process's peak resident memory, in bytes. */
  peakMemoryBytes?: number;
}

/** The part of a summary that says how a run failed. */
export type FailureSummary = Required<Pick<RunSummary, 'result' | 'exitCode' | 'reason' | 'failure'>> & Pick<RunSummary, 'kopiaErrorOutput'>;

/**
 * How a run that ended with this error reports it: the reason line, the failure's class and fix,
 * the exit code and kopia's words. An error the program did not expect is never reported in
 * JavaScript's words: they mean nothing to an operator.
 */
export function summaryOf(error: unknown): FailureSummary {
  if (!(error instanceof MoverError)) {
    const { reason, failure } = unexpectedFailure(error);
    return { result: 'FAILURE', exitCode: exitCodeOf(error), reason, failure };
  }
  return { result: 'FAILURE', exitCode: exitCodeOf(error), reason: error.reason, failure: error.failure, kopiaErrorOutput: error.kopiaOutput };
}

/**
 * Logs why a run failed: each input a configuration error names on a line of its own (the variable
 * as a field), anything else as one line with the class, the verdict and the fix. The details of an
 * unexpected error go to the debug log only.
 */
export function logFailure(output: Output, error: unknown): void {
  if (error instanceof ConfigError) {
    for (const issue of error.issues) output.log.error({ variable: issue.source }, `configuration error: ${issue.source}: ${issue.message}`);
    return;
  }
  if (!(error instanceof MoverError)) output.log.debug({ error: error instanceof Error ? error.stack : String(error) }, 'unexpected error');
  const { exitCode, failure, reason } = summaryOf(error);
  output.log.error({ exitCode, failureClass: failure.class, retryable: failure.retryable, fix: failure.fix }, reason);
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
  return { ...withFreeText(input, redact), kopiaErrorOutput: input.kopiaErrorOutput && redact(input.kopiaErrorOutput) };
}

/** The summary with each free-text field but kopia's output (which keeps its lines) passed through `f`. */
function withFreeText(input: RunSummary, f: (text: string) => string): RunSummary {
  return {
    ...input,
    reason: input.reason && f(input.reason),
    skipped: input.skipped && f(input.skipped),
    warnings: input.warnings.map(f),
    notes: input.notes.map(f),
    policy: input.policy && { ...input.policy, failures: input.policy.failures.map(f) },
  };
}

/**
 * The whole block fits in this many bytes: the controller keeps only the last 1024 bytes of a pod's
 * log, so the block (the result and the exit code above all) must survive that cut whole, however
 * long kopia's error output or the list of warnings. Everything left out here was logged in full above.
 */
export const SUMMARY_BUDGET_BYTES = 1000;
/** kopia's output gets at most this much of the block, so the warnings have room too. */
const ERROR_OUTPUT_BYTES = 400;

/** Notes the block shows; the rest are counted (all are in the log and the termination message). */
const MOST_NOTES = 4;

const bytes = (lines: readonly string[]) => lines.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);

/**
 * kopia's output between its markers, in at most `left` bytes and ERROR_OUTPUT_BYTES for the lines:
 * its last words matter most, so the end is kept. Nothing when there is too little room.
 */
function errorOutputLines(output: string, left: number): string[] {
  const markers = ['KOPIA_ERROR_OUTPUT_START:', 'KOPIA_ERROR_OUTPUT_END'];
  if (left < bytes(markers) + 60) return [];
  const kept: string[] = [];
  let room = Math.min(left - bytes(markers), ERROR_OUTPUT_BYTES);
  for (const line of output.split('\n').reverse()) {
    if (room <= 20) break;
    const clipped = clip(line, Math.min(240, room - 1))!;
    if (Buffer.byteLength(clipped) + 1 > room) break;
    kept.unshift(clipped);
    room -= Buffer.byteLength(clipped) + 1;
  }
  return [markers[0]!, ...kept, markers[1]!];
}

/** The settings' outcome: what was sent to kopia, and what needed no kopia call. */
function policyOutcomeLine(policy: PolicyOutcome | undefined): string | undefined {
  if (!policy) return undefined;
  const unchanged = policy.unchanged ?? 0;
  if (policy.applied === 0 && policy.failed === 0) return unchanged > 0 ? 'POLICY: unchanged since the last run' : undefined;
  return `POLICY: ${policy.applied} applied, ${policy.failed} failed${unchanged > 0 ? `, ${unchanged} unchanged since the last run` : ''}`;
}

/** What the backup changed: each figure only when it is known. */
function changeLines(snapshot: SnapshotStats): string[] {
  const figures: [string, number | undefined][] = [
    ['SNAPSHOT_FILES_NEW', snapshot.newFiles],
    ['SNAPSHOT_FILES_CHANGED', snapshot.changedFiles],
    ['SNAPSHOT_FILES_NEW_OR_CHANGED', snapshot.newOrChangedFiles],
    ['SNAPSHOT_FILES_UNCHANGED', snapshot.unchangedFiles],
    ['SNAPSHOT_BYTES_UPLOADED', snapshot.uploadedBytes],
  ];
  return figures.filter(([, value]) => value !== undefined).map(([key, value]) => `${key}: ${value}`);
}

/** The verify's figures as read back; the key says whether one snapshot or all of them were verified. */
function verifiedLine(v: VerifiedFigures): string {
  const key = v.scope === 'snapshot' ? 'SNAPSHOT_VERIFIED' : 'SNAPSHOTS_VERIFIED';
  return `${key}: ${v.files} files, ${v.bytes} bytes, ${v.errors} errors`;
}

/** The controller-facing block, line for line as the contract fixes it, within SUMMARY_BUDGET_BYTES. */
export function summaryLines(input: RunSummary): string[] {
  const s = withFreeText(input, oneLine);
  const facts: string[] = [];
  if (s.skipped) facts.push(`OPERATION_NOTE: ${clip(s.skipped, 200)}`);
  if (s.snapshot) {
    facts.push(
      `SNAPSHOT_ID: ${s.snapshot.id}`,
      `SNAPSHOT_FILES: ${s.snapshot.files}`,
      `SNAPSHOT_BYTES: ${s.snapshot.bytes}`,
      `SNAPSHOT_ERRORS: ${s.snapshot.errors}`,
      `SNAPSHOT_IGNORED_ERRORS: ${s.snapshot.ignoredErrors}`,
      ...changeLines(s.snapshot),
    );
  }
  if (s.verified) facts.push(verifiedLine(s.verified));
  if (s.restoredSnapshot) {
    facts.push(`RESTORED_SNAPSHOT_ID: ${s.restoredSnapshot.id}`, `RESTORED_SNAPSHOT_TIME: ${s.restoredSnapshot.startTime}`);
  }
  const policyLine = policyOutcomeLine(s.policy);
  const timing = s.maintenance
    ? [`MAINTENANCE_STATUS: ${s.maintenance.status}`, `MAINTENANCE_DURATION: ${Math.round(s.durationSeconds)}`]
    : [`DURATION_SECONDS: ${Math.round(s.durationSeconds)}`];
  const head = ['=== OPERATION SUMMARY ===', `OPERATION_TYPE: ${s.operation.toUpperCase()}`, `OPERATION_RESULT: ${s.result}`];
  const end = [`EXIT_CODE: ${s.exitCode}`, '=== Done ==='];
  let left = SUMMARY_BUDGET_BYTES - bytes([...head, ...facts, ...(policyLine ? [policyLine] : []), ...timing, ...end]);

  /** Takes as many of the lines as fit (at most `most`), each clipped, and says how many did not. */
  const fit = (label: string, texts: readonly string[], each: number, most = Infinity): string[] => {
    const out: string[] = [];
    for (const [i, text] of texts.entries()) {
      const line = `${label}: ${clip(text, Math.min(each, Math.max(left - label.length - 40, 20)))}`;
      const rest = texts.length - i - 1;
      const reserve = rest > 0 ? label.length + 40 : 0;
      if (i >= most || Buffer.byteLength(line) + 1 + reserve > left) {
        const more = `${label}: ${texts.length - i} more in the log above`;
        if (Buffer.byteLength(more) + 1 <= left) {
          out.push(more);
          left -= Buffer.byteLength(more) + 1;
        }
        break;
      }
      out.push(line);
      left -= Buffer.byteLength(line) + 1;
    }
    return out;
  };

  const failed = s.result === 'FAILURE' && s.reason !== undefined;
  const reason = failed ? fit(s.maintenance ? 'MAINTENANCE_FAILURE_REASON' : 'FAILURE_REASON', [s.reason!], 300) : [];
  if (s.result === 'FAILURE' && s.failure) {
    reason.push(`FAILURE_CLASS: ${s.failure.class} (retryable: ${s.failure.retryable ? 'yes' : 'no'})`);
    left -= Buffer.byteLength(reason.at(-1)!) + 1;
    reason.push(...fit('FAILURE_FIX', [s.failure.fix], 240));
  }
  const errorOutput = s.result === 'FAILURE' && s.kopiaErrorOutput ? errorOutputLines(s.kopiaErrorOutput, left) : [];
  left -= bytes(errorOutput);
  // At most a few notes: many of them (a policy file with many fields kopia lacks) must not crowd out the warnings.
  const notes = fit('NOTE', s.notes, 200, MOST_NOTES);
  const warnings = fit('WARNING', s.warnings, 200);
  // Room for a mounted file's path, what was kept and where the file went wrong.
  const policyFailures = fit('POLICY_FAILURE', s.policy?.failures ?? [], 240);

  const lines = [...head, ...facts];
  if (policyLine) lines.push(policyLine, ...policyFailures);
  lines.push(...timing);
  if (s.maintenance) lines.push(...reason);
  lines.push(...notes, ...warnings);
  if (!s.maintenance) lines.push(...reason);
  lines.push(...errorOutput, ...end);
  return lines;
}

const TERMINATION_LIMIT_BYTES = 4000;

/** Cuts a string to at most `bytes` UTF-8 bytes without splitting a character. */
function clip(text: string | undefined, bytes: number): string | undefined {
  if (text === undefined || Buffer.byteLength(text) <= bytes) return text;
  if (bytes < 4) return '';
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
      verified: s.verified,
      failure: s.result === 'FAILURE' ? s.failure : undefined,
      policy: s.policy && { ...s.policy, failures: s.policy.failures.slice(0, listLength).map((f) => clip(f, textBudget)) },
      warnings: s.warnings.slice(0, listLength).map((w) => clip(w, textBudget)),
      notes: s.notes.slice(0, listLength).map((w) => clip(w, textBudget)),
      kopiaProcesses: s.kopiaProcesses,
    });
  for (const [budget, list] of [[1000, 10], [400, 5], [200, 2], [100, 0]] as const) {
    const text = build(budget, list);
    if (Buffer.byteLength(text) <= TERMINATION_LIMIT_BYTES) return text;
  }
  return JSON.stringify({ operation: s.operation, result: s.result, exitCode: s.exitCode });
}

/** Replaces the termination message with this summary's; only the free text is redacted. */
export function writeTerminationMessage(output: Output, summary: RunSummary, terminationLog: string): void {
  replaceTerminationMessage(terminationLog, redactedSummary(summary, (text) => output.redact(text)));
}

function replaceTerminationMessage(terminationLog: string, s: RunSummary): void {
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

/** Prints the block and writes the termination message; only the free text is redacted. */
export function printSummary(output: Output, summary: RunSummary, terminationLog: string): void {
  const s = redactedSummary(summary, (text) => output.redact(text));
  for (const line of summaryLines(s)) output.line(line);
  replaceTerminationMessage(terminationLog, s);
}
