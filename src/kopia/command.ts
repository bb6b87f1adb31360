import type { Secret } from '../secret.js';

/** A secret written to a 0600 temp file whose path is passed to kopia as `flag`. */
export interface SecretFile {
  flag: string;
  content: Secret;
  /** What the file holds, for the plan (never the content). */
  purpose: string;
}

/** One kopia invocation, as a plain value: the plan is a list of these. */
export interface KopiaCommand {
  /** Arguments after the global flags, e.g. ['snapshot', 'create', '/data']. Never a secret. */
  args: string[];
  /** What the step is for, shown in the plan and in logs. */
  purpose: string;
  /** Collect stdout whole (for --json output) instead of logging it line by line. */
  captureStdout?: boolean;
  /** Secrets written to 0600 temp files for this command; their paths are appended as flags. */
  secretFiles?: SecretFile[];
  /** Variables this one command adds to kopia's environment (never a secret: those are the runner's). */
  env?: Readonly<Record<string, string>>;
  /** This command's stall limit when it differs from the run's (a kopia that runs policy actions is silent while they run). */
  stallMs?: number;
}

/** Renders argv for humans; every value is already secret-free, quoting keeps it copy-pasteable. */
export function formatArgv(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
