// Runs one benchmark process and measures it: wall time, kopia processes (through a
// counting shim), and for the Node program its peak RSS and time to the first kopia spawn.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/**
 * A bash script in front of kopia that appends "<EPOCHREALTIME>\t<argv>" to `log` and
 * execs kopia. EPOCHREALTIME is a bash builtin, so the shim forks nothing before kopia.
 * The log path is baked in because kopia-mover gives kopia a filtered environment.
 */
export function writeShim(path, log, kopia) {
  const quote = (s) => `'${s.replaceAll("'", `'\\''`)}'`;
  writeFileSync(
    path,
    `#!/bin/bash\nprintf '%s\\t%s\\n' "$EPOCHREALTIME" "$*" >> ${quote(log)}\nexec ${quote(kopia)} "$@"\n`,
  );
  chmodSync(path, 0o755);
}

export function readShimLog(log) {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [time, argv = ''] = line.split('\t');
      // EPOCHREALTIME uses the locale's decimal separator.
      return { timeMs: Number(time.replace(',', '.')) * 1000, argv };
    });
}

const TAIL = 16 * 1024;

// Process groups of runs in progress, so an interrupted benchmark leaves no kopia behind.
const active = new Set();

/** On SIGINT or SIGTERM: stop the runs in progress, say so, exit 130 or 143. */
export function stopOnSignals(name) {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
    process.once(signal, () => {
      killActiveRuns();
      process.stderr.write(`${name}: stopped by ${signal}\n`);
      process.exit(code);
    });
  }
}

export function killActiveRuns() {
  for (const pid of active) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * Spawns `command args` and resolves when it has exited. Output is discarded except for
 * a tail kept for error messages, so the benchmark itself stays small.
 */
export function runMeasured({ command, args, env, cwd, shimLog, pollRss, timeoutMs = 0 }) {
  writeFileSync(shimLog, '');
  return new Promise((resolve, reject) => {
    const startWall = performance.timeOrigin + performance.now();
    const start = performance.now();
    // Its own process group: a timeout can then stop the scripts' kopia children too.
    const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    if (child.pid !== undefined) active.add(child.pid);
    let timedOut = false;
    const timeout =
      timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            try {
              process.kill(-child.pid, 'SIGKILL');
            } catch {
              // exited meanwhile
            }
          }, timeoutMs)
        : undefined;
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c) => (stdout = (stdout + c).slice(-TAIL)));
    child.stderr.setEncoding('utf8').on('data', (c) => (stderr = (stderr + c).slice(-TAIL)));

    // VmHWM is the kernel's high-water mark of the process's RSS, so the last value
    // read before exit is its peak (to within one poll interval).
    let peakRssKb = null;
    let timer;
    if (pollRss) {
      const statusFile = `/proc/${child.pid}/status`;
      const poll = () => {
        try {
          const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(statusFile, 'utf8'));
          if (m) peakRssKb = Number(m[1]);
        } catch {
          // exited between polls
        }
      };
      poll();
      timer = setInterval(poll, 20);
    }

    let wallMs;
    let exitCode;
    child.once('error', (err) => {
      clearInterval(timer);
      clearTimeout(timeout);
      active.delete(child.pid);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      wallMs = performance.now() - start;
      exitCode = code ?? 128;
      clearInterval(timer);
      clearTimeout(timeout);
      if (timedOut) stderr += `\n(stopped after ${timeoutMs / 1000} s)`;
      else if (signal) stderr += `\n(killed by ${signal})`;
    });
    child.once('close', () => {
      active.delete(child.pid);
      const calls = readShimLog(shimLog);
      resolve({
        wallMs,
        exitCode,
        kopiaProcesses: calls.length,
        kopiaCommands: calls.map((c) => c.argv),
        firstSpawnMs: calls.length > 0 ? calls[0].timeMs - startWall : null,
        peakRssKb,
        timedOut,
        stdout,
        stderr,
      });
    });
  });
}

export function median(values) {
  const v = values.filter((x) => x !== null && x !== undefined).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

export function spread(values) {
  const v = values.filter((x) => x !== null && x !== undefined);
  if (v.length === 0) return { median: null, min: null, max: null };
  return { median: median(v), min: Math.min(...v), max: Math.max(...v) };
}
