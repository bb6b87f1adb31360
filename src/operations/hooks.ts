import { execa } from 'execa';
import { LineSplitter } from '../kopia/lines.js';
import type { RunContext } from './context.js';

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

/**
 * Runs a before/after snapshot command. The hook string is the only thing the
 * shell sees; nothing else is spliced into it. Secrets are not in its environment.
 */
export async function runHook(ctx: RunContext, name: string, command: string, cwd: string, timeoutMs: number): Promise<HookResult> {
  const { config, output } = ctx;
  const secret = new Set<string>(config.secretVariables);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(ctx.parentEnv)) {
    if (v !== undefined && !secret.has(k)) env[k] = v;
  }
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
