import type { ConfigIssue } from '../errors.js';

/** The exact separator VolSync joins additional arguments with. */
export const ADDITIONAL_ARGS_SEPARATOR = '|VOLSYNC_ARG_SEP|';

/**
 * Flags VolSync manages itself or that carry credentials. Accepting them would
 * either fight the program's own settings or put a secret in argv.
 */
export const FORBIDDEN_FLAGS = [
  '--password',
  '--config-file',
  '--config',
  '--repository',
  '--cache-directory',
  '--log-dir',
  '--override-username',
  '--override-hostname',
  '--access-key',
  '--secret-access-key',
  '--session-token',
  '--storage-account',
  '--storage-key',
  '--sas-token',
  '--key-id',
  '--key',
  '--credentials-file',
  '--webdav-password',
  '--sftp-password',
  '--keyfile',
] as const;

/** kopia's one-letter aliases of forbidden flags. */
const FORBIDDEN_SHORT = new Map([['-p', '--password']]);

export function splitAdditionalArgs(raw: string | undefined): string[] {
  if (raw === undefined) return [];
  return raw
    .split(ADDITIONAL_ARGS_SEPARATOR)
    .map((a) => a.trim())
    .filter((a) => a.length > 0);
}

/** Pushes one issue per forbidden flag; the value after the flag is never quoted back. */
export function checkAdditionalArgs(args: string[], issues: ConfigIssue[]): void {
  for (const arg of args) {
    if (/[\u0000-\u001f\u007f]/.test(arg)) {
      issues.push({ source: 'KOPIA_ADDITIONAL_ARGS', message: 'an argument contains control characters or newlines' });
      continue;
    }
    // Both `--flag=value` and `--flag value` (one element holding a space) name the flag first.
    const flag = arg.split(/[=\s]/, 1)[0] ?? arg;
    const short = flag.startsWith('--') ? undefined : FORBIDDEN_SHORT.get(flag.slice(0, 2));
    const forbidden = (FORBIDDEN_FLAGS as readonly string[]).includes(flag) ? flag : short;
    if (forbidden) {
      issues.push({
        source: 'KOPIA_ADDITIONAL_ARGS',
        message: `${forbidden} is not allowed: VolSync manages it or it carries credentials`,
      });
    }
  }
}
