import { execa } from 'execa';
import { PROXY_VARIABLES } from '../kopia/environment.js';
import { LineSplitter } from '../kopia/lines.js';
import type { RunContext } from '../plan/context.js';

/** Process groups of hooks now running, so a stop can end them too. */
const running = new Set<number>();

/** Ends every running hook with its children (they run detached, in their own group). */
export function stopHooks(signal: NodeJS.Signals = 'SIGTERM'): void {
  for (const pid of running) {
    try {
      process.kill(-pid, signal);
    } catch {
      // already gone
    }
  }
}

export interface HookResult {
  ok: boolean;
  reason?: string;
}

/** What a hook may see of the mover's environment: the basics a shell script needs, nothing of the repository. */
const HOOK_VARIABLES = new Set([
  'PATH', 'HOME', 'TMPDIR', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LANGUAGE', 'TZ', 'HOSTNAME', 'TERM',
  'DATA_DIR', 'DIRECTION', 'KOPIA_SOURCE_PATH_OVERRIDE', 'KOPIA_OVERRIDE_USERNAME', 'KOPIA_OVERRIDE_HOSTNAME',
]);

/**
 * A hook's environment, built from an allowlist: credentials (the repository password, storage
 * keys, rclone's config secrets, a proxy URL with a password in it) never reach it, whatever names
 * they come under. The program adds what a hook may want to know about the run.
 */
export function hookEnvironment(parent: Readonly<Record<string, string | undefined>>, extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(parent)) {
    if (value === undefined) continue;
    const proxyWithoutCredentials = PROXY_VARIABLES.includes(name) && !/:\/\/[^/]*@/.test(value);
    if (HOOK_VARIABLES.has(name) || name.startsWith('LC_') || proxyWithoutCredentials) env[name] = value;
  }
  return { ...env, ...extra };
}

/**
 * Runs a before/after snapshot command. The hook string is the only thing the
 * shell sees; nothing else is spliced into it.
 */
export async function runHook(
  ctx: RunContext,
  name: string,
  command: string,
  cwd: string,
  timeoutMs: number,
  extra: Record<string, string> = {},
): Promise<HookResult> {
  const { config, output } = ctx;
  const env = hookEnvironment(ctx.parentEnv, { KOPIA_MOVER_OPERATION: config.operation, ...extra });
  output.log.info({ hook: name, timeoutSeconds: timeoutMs / 1000 }, `running ${name}`);
  const child = execa('/bin/sh', ['-c', command], {
    cwd,
    env,
    extendEnv: false,
    stdin: 'ignore',
    buffer: false,
    reject: false,
    detached: true,
    cleanup: true,
  });
  if (child.pid) running.add(child.pid);
  const lines = new LineSplitter((line) => output.log.info({ hook: name }, line));
  child.stdout?.setEncoding('utf8').on('data', (c: string) => lines.push(c));
  child.stderr?.setEncoding('utf8').on('data', (c: string) => lines.push(c));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    // The hook's own children go too: it runs in its own process group.
    if (child.pid) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }, timeoutMs);
  const result = await child;
  clearTimeout(timer);
  if (child.pid) running.delete(child.pid);
  lines.end();
  if (timedOut) return { ok: false, reason: `${name} timed out after ${timeoutMs / 1000}s` };
  if (result.exitCode !== 0) {
    return { ok: false, reason: `${name} exited with code ${result.exitCode ?? result.signal}` };
  }
  return { ok: true };
}
