// The run's result pushed to a real Prometheus Pushgateway, read back from the gateway's /metrics.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRIC_SETS } from '../../src/report/metrics.js';
import { freePort, repoRoot } from '../support/servers/common.js';
import { startPushgateway, type Pushgateway, type Sample } from '../support/servers/pushgateway.js';
import { runMover, seededScenario, startMover, summaryValue, waitForKopia, waitForKopiaProgress, type MoverResult } from '../support/mover.js';

/** The one sample named `name` in the group of this operation and snapshot owner (and, when given, with these labels). */
function sampleOf(samples: Sample[], name: string, group: Record<string, string>, labels: Record<string, string> = {}): Sample | undefined {
  const wanted = { job: 'kopia_mover', ...group, ...labels };
  const found = samples.filter((s) => s.name === name && Object.entries(wanted).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${name}: ${found.length} samples match ${JSON.stringify(wanted)}`);
  return found[0];
}

function valueOf(samples: Sample[], name: string, group: Record<string, string>, labels: Record<string, string> = {}): number | undefined {
  return sampleOf(samples, name, group, labels)?.value;
}

const backupGroup = (user: string, sourcePath: string) => ({ operation: 'backup', username: user, hostname: 'ns1', source_path: sourcePath });

function expectNoText(result: MoverResult, texts: string[]): void {
  const haystack = [result.stdout, result.stderr, JSON.stringify(result.terminationMessage ?? {})].join('\n');
  for (const text of texts) expect(haystack.includes(text), `"${text}" printed`).toBe(false);
}

describe('metrics pushed to a Pushgateway', () => {
  let gateway: Pushgateway;
  beforeAll(async () => {
    gateway = await startPushgateway();
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it("a successful backup pushes the summary's files, bytes and snapshot ID; a failing one its class and exit code and keeps the last success", async () => {
    const s = seededScenario('metrics-ok', 'a.txt', 'first\n');
    writeFileSync(join(s.data, 'b.txt'), 'second file\n');
    const env = { ...s.env, DATA_DIR: s.data, KOPIA_SOURCE_PATH_OVERRIDE: '/data', KOPIA_MOVER_METRICS_PUSHGATEWAY: gateway.url };
    const group = backupGroup('metrics-ok', '/data');

    const ok = await runMover(['backup'], env);
    expect(ok.exitCode, ok.stdout).toBe(0);
    const first = await gateway.samples('kopia_mover_');
    const id = summaryValue(ok, 'SNAPSHOT_ID')!;
    expect(sampleOf(first, 'kopia_mover_last_snapshot_info', group)?.labels['snapshot_id']).toBe(id);
    expect(valueOf(first, 'kopia_mover_last_snapshot_files', group, { kind: 'total' })).toBe(Number(summaryValue(ok, 'SNAPSHOT_FILES')));
    expect(valueOf(first, 'kopia_mover_last_snapshot_files', group, { kind: 'total' })).toBe(2);
    expect(valueOf(first, 'kopia_mover_last_snapshot_bytes', group, { kind: 'total' })).toBe(Number(summaryValue(ok, 'SNAPSHOT_BYTES')));
    expect(valueOf(first, 'kopia_mover_last_snapshot_bytes', group, { kind: 'uploaded' })).toBe(Number(summaryValue(ok, 'SNAPSHOT_BYTES_UPLOADED')));
    expect(valueOf(first, 'kopia_mover_last_snapshot_files', group, { kind: 'new' })).toBe(Number(summaryValue(ok, 'SNAPSHOT_FILES_NEW')));
    expect(valueOf(first, 'kopia_mover_last_run_success', group)).toBe(1);
    expect(valueOf(first, 'kopia_mover_last_run_exit_code', group)).toBe(0);
    expect(sampleOf(first, 'kopia_mover_last_run_failure_info', group)?.labels['class']).toBe('none');
    expect(valueOf(first, 'kopia_mover_last_run_peak_memory_bytes', group)).toBeGreaterThan(1024 * 1024);
    expect(valueOf(first, 'kopia_mover_last_snapshot_expired_snapshots', group)).toBe(0);
    const snapshotTime = valueOf(first, 'kopia_mover_last_snapshot_timestamp_seconds', group)!;
    const lastSuccess = valueOf(first, 'kopia_mover_last_success_timestamp_seconds', group)!;
    const started = valueOf(first, 'kopia_mover_last_run_start_timestamp_seconds', group)!;
    expect(started).toBeLessThanOrEqual(snapshotTime);
    expect(snapshotTime).toBeLessThanOrEqual(lastSuccess);
    expect(valueOf(first, 'kopia_mover_last_run_end_timestamp_seconds', group)).toBe(lastSuccess);
    expect(ok.records.some((r) => r['msg'] === 'metrics pushed')).toBe(true);

    const failed = await runMover(['backup'], { ...env, KOPIA_BEFORE_SNAPSHOT: 'exit 7' });
    expect(failed.exitCode).toBe(4);
    const after = await gateway.samples('kopia_mover_');
    const failure = failed.terminationMessage?.['failure'] as { class: string };
    expect(sampleOf(after, 'kopia_mover_last_run_failure_info', group)?.labels['class']).toBe(failure.class);
    expect(valueOf(after, 'kopia_mover_last_run_exit_code', group)).toBe(4);
    expect(valueOf(after, 'kopia_mover_last_run_success', group)).toBe(0);
    expect(valueOf(after, 'kopia_mover_last_run_start_timestamp_seconds', group)).toBeGreaterThan(started);
    // What an alert on snapshot age reads is the last good run's, through the failure.
    expect(valueOf(after, 'kopia_mover_last_success_timestamp_seconds', group)).toBe(lastSuccess);
    expect(valueOf(after, 'kopia_mover_last_snapshot_timestamp_seconds', group)).toBe(snapshotTime);
    expect(sampleOf(after, 'kopia_mover_last_snapshot_info', group)?.labels['snapshot_id']).toBe(id);
  });

  it('a run refused for its configuration pushes exit 2 and class Configuration under the identity it would have used, with no kopia process', async () => {
    const s = seededScenario('metrics-config');
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_COMPRESSION: 'no-such-compressor', KOPIA_MOVER_METRICS_PUSHGATEWAY: gateway.url });
    expect(result.exitCode).toBe(2);
    expect(result.kopiaCalls).toEqual([]);
    const samples = await gateway.samples('kopia_mover_');
    const group = backupGroup('metrics-config', s.data);
    expect(valueOf(samples, 'kopia_mover_last_run_exit_code', group)).toBe(2);
    expect(sampleOf(samples, 'kopia_mover_last_run_failure_info', group)?.labels['class']).toBe('Configuration');
    expect(sampleOf(samples, 'kopia_mover_last_success_timestamp_seconds', group)).toBeUndefined();
  });

  it('a restore and a maintenance run push to groups of their own: the restored snapshot, and the maintenance owner with its duration', async () => {
    const s = seededScenario('metrics-ops');
    const env = { ...s.env, KOPIA_MOVER_METRICS_PUSHGATEWAY: gateway.url };
    const backup = await runMover(['backup'], { ...env, DATA_DIR: s.data });
    expect(backup.exitCode, backup.stdout).toBe(0);
    const target = join(s.root, 'restored');
    const restore = await runMover(['restore'], { ...env, DATA_DIR: target, KOPIA_SOURCE_PATH_OVERRIDE: s.data });
    expect(restore.exitCode, restore.stdout).toBe(0);
    const maintenance = await runMover(['maintenance'], env);
    expect(maintenance.exitCode, maintenance.stdout).toBe(0);
    const samples = await gateway.samples('kopia_mover_');
    const restoreGroup = { operation: 'restore', username: 'metrics-ops', hostname: 'ns1', source_path: s.data };
    expect(sampleOf(samples, 'kopia_mover_last_restored_snapshot_info', restoreGroup)?.labels['snapshot_id']).toBe(summaryValue(restore, 'RESTORED_SNAPSHOT_ID'));
    expect(valueOf(samples, 'kopia_mover_last_run_success', restoreGroup)).toBe(1);
    const maintenanceGroup = { operation: 'maintenance', username: 'maintenance', hostname: 'volsync', source_path: '' };
    expect(valueOf(samples, 'kopia_mover_last_run_success', maintenanceGroup)).toBe(1);
    expect(valueOf(samples, 'kopia_mover_last_maintenance_duration_seconds', maintenanceGroup, { kind: 'full' })).toBeGreaterThan(0);
  });

  it('SIGTERM mid-backup: the result (exit 143, class Interrupted) is pushed before the program ends, within the grace period', async () => {
    const s = seededScenario('metrics-sigterm');
    for (let i = 0; i < 3; i++) writeFileSync(join(s.data, `part-${i}.bin`), randomBytes(100 * 1024 * 1024));
    const graceSeconds = 10;
    const handle = startMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_MOVER_SIGNAL_GRACE_SECONDS: String(graceSeconds), KOPIA_MOVER_METRICS_PUSHGATEWAY: gateway.url });
    await waitForKopia(handle, 'snapshot', 'create');
    await waitForKopiaProgress(handle);
    const stoppedAt = Date.now() / 1000;
    handle.kill('SIGTERM');
    const result = await handle.result;
    expect(result.exitCode).toBe(143);
    const samples = await gateway.samples('kopia_mover_');
    const group = backupGroup('metrics-sigterm', s.data);
    expect(valueOf(samples, 'kopia_mover_last_run_exit_code', group)).toBe(143);
    expect((result.terminationMessage?.['failure'] as { class: string }).class).toBe('Interrupted');
    expect(sampleOf(samples, 'kopia_mover_last_run_failure_info', group)?.labels['class']).toBe('Interrupted');
    expect(valueOf(samples, 'kopia_mover_last_run_end_timestamp_seconds', group)).toBeLessThan(stoppedAt + graceSeconds);
  });
});

describe('a push that cannot be made', () => {
  it('a gateway that is down is a warning in the summary; the backup still succeeds with exit 0', async () => {
    const s = seededScenario('metrics-down');
    const port = await freePort();
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_MOVER_METRICS_PUSHGATEWAY: `http://metrics-user:down-pw-4821@127.0.0.1:${port}` });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(summaryValue(result, 'OPERATION_RESULT')).toBe('SUCCESS');
    const warning = result.plainLines.find((l) => l.startsWith('WARNING: metrics not pushed'));
    expect(warning).toContain(`http://127.0.0.1:${port}/`);
    expect(warning).toContain('ECONNREFUSED');
    expectNoText(result, ['down-pw-4821', 'metrics-user:']);
  });

  it('a gateway that accepts the connection and never answers is a warning once the push gives up; exit 0', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as net.AddressInfo).port;
      const s = seededScenario('metrics-silent');
      const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_MOVER_METRICS_PUSHGATEWAY: `http://127.0.0.1:${port}/prefix` });
      expect(result.exitCode, result.stdout).toBe(0);
      expect(result.plainLines).toContain(`WARNING: metrics not pushed to http://127.0.0.1:${port}/prefix (job kopia_mover): no answer within 5 s`);
      expect(sockets.size).toBeGreaterThan(0);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('a URL that is not http(s) is exit 2 naming the variable (or the flag), before any kopia process, and never printed', async () => {
    const s = seededScenario('metrics-bad');
    const bad = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_MOVER_METRICS_PUSHGATEWAY: 'ftp://someone:bad-url-pw-93@gateway:9091' });
    expect(bad.exitCode).toBe(2);
    expect(bad.kopiaCalls).toEqual([]);
    expect(bad.stdout).toContain('KOPIA_MOVER_METRICS_PUSHGATEWAY: must be an http:// or https:// URL');
    expectNoText(bad, ['bad-url-pw-93']);
    const flag = await runMover(['backup', '--metrics-pushgateway', 'pushgateway:9091'], { ...s.env, DATA_DIR: s.data });
    expect(flag.exitCode).toBe(2);
    expect(flag.kopiaCalls).toEqual([]);
    expect(flag.stdout).toContain('--metrics-pushgateway: must be an http:// or https:// URL');
  });
});

describe('a gateway behind basic authentication', () => {
  const auth = { user: 'mover', password: `gw-${Math.random().toString(36).slice(2)}-Pw!` };
  let gateway: Pushgateway;
  beforeAll(async () => {
    gateway = await startPushgateway({ basicAuth: auth });
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('credentials in the URL reach the gateway and are printed nowhere; wrong ones are a warning naming the gateway without them', async () => {
    const s = seededScenario('metrics-auth');
    const withCredentials = `http://${auth.user}:${encodeURIComponent(auth.password)}@127.0.0.1:${gateway.port}`;
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_MOVER_METRICS_PUSHGATEWAY: withCredentials, KOPIA_LOG_LEVEL: 'debug' });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(result.plainLines.filter((l) => l.startsWith('WARNING:'))).toEqual([]);
    const samples = await gateway.samples('kopia_mover_');
    expect(valueOf(samples, 'kopia_mover_last_run_success', backupGroup('metrics-auth', s.data))).toBe(1);
    expectNoText(result, [auth.password, encodeURIComponent(auth.password), `${auth.user}:`]);
    // What was pushed is an output too: neither the repository's password nor the gateway's is in it.
    const pushed = await gateway.text();
    for (const secret of [s.password, auth.password, encodeURIComponent(auth.password)]) expect(pushed.includes(secret)).toBe(false);

    const wrong = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_MOVER_METRICS_PUSHGATEWAY: `http://${auth.user}:wrong-pw-5531@127.0.0.1:${gateway.port}` });
    expect(wrong.exitCode).toBe(0);
    expect(wrong.plainLines.find((l) => l.startsWith('WARNING: metrics not pushed'))).toContain('HTTP 401');
    expectNoText(wrong, ['wrong-pw-5531']);
  });
});

describe("the README's metrics table", () => {
  it('names every metric a run can push, and no other', () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Metrics'), readme.indexOf('## Exit codes'));
    const documented = [...section.matchAll(/^\| `(kopia_mover_[a-z_]+)` \|/gm)].map((m) => m[1]).sort();
    expect(documented).toEqual(Object.values(METRIC_SETS).flat().sort());
  });
});
