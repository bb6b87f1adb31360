import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyLogRetention, publishLogs } from '../../src/kopia/logs.js';
import { claimRunDir, removeStaleRunDirs, RUN_DIR_PREFIX } from '../../src/kopia/run-dir.js';
import { hookEnvironment } from '../../src/operations/hooks.js';
import { Redactor, secretForms } from '../../src/report/redact.js';
import { escapeControl } from '../../src/text.js';

let base: string;
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'safety-unit-'));
});
afterEach(() => {
  rmSync(base, { recursive: true, force: true });
});

describe('redaction of secrets in the forms kopia prints them', () => {
  const sas = '?sv=2022-11-02&ss=b&srt=sco&sp=rwdlacx&se=2030-01-01T00:00:00Z&spr=https&sig=Ab%2BCd%3D';

  it('redacts each SAS parameter value, raw, URL-encoded and decoded, in whatever order kopia prints them', () => {
    const r = new Redactor([sas]);
    const printed = 'Get "https://a.blob.x/c?comp=list&se=2030-01-01T00%3A00%3A00Z&sig=Ab%2BCd%3D&sp=rwdlacx&spr=https&sv=2022-11-02"';
    const out = r.redact(printed);
    expect(out).not.toContain('Ab%2BCd%3D');
    expect(out).not.toContain('2030-01-01T00%3A00%3A00Z');
    expect(out).not.toContain('rwdlacx');
    expect(out).toContain('spr=https');
    expect(r.redact('decoded: Ab+Cd=')).toBe('decoded: [redacted]');
  });

  it('knows the base64 and JSON-escaped forms of a secret', () => {
    const forms = secretForms('p"ss wörd');
    expect(forms).toContain(Buffer.from('p"ss wörd').toString('base64'));
    expect(forms).toContain('p\\"ss wörd');
    expect(forms).toContain(encodeURIComponent('p"ss wörd'));
  });

  it('redacts the values of a log record, never its keys', () => {
    const r = new Redactor(['level', 'SUCCESS']);
    expect(r.redactValues({ level: 30, msg: 'SUCCESS at level 3', nested: ['SUCCESS'] })).toEqual({
      level: 30,
      msg: '[redacted] at [redacted] 3',
      nested: ['[redacted]'],
    });
  });
});

describe('escapeControl', () => {
  it('keeps quoted text on its own line and strips terminal controls', () => {
    expect(escapeControl('a\n=== OPERATION SUMMARY ===\r\tb\u001b[31m\u009b')).toBe('a\\n=== OPERATION SUMMARY ===\\r\\tb\\x1b[31m\\x9b');
    expect(escapeControl('plain ünïcødé')).toBe('plain ünïcødé');
  });
});

describe('hookEnvironment', () => {
  it('passes the basics and proxies without credentials, and nothing else', () => {
    const env = hookEnvironment(
      {
        PATH: '/bin',
        HOME: '/tmp',
        LC_ALL: 'C',
        DATA_DIR: '/data',
        KOPIA_PASSWORD: 'pw',
        RCLONE_CONFIG_PASS: 'x',
        AWS_SECRET_ACCESS_KEY: 'y',
        HTTP_PROXY: 'http://proxy:3128',
        HTTPS_PROXY: 'http://u:p@proxy:3128',
        KOPIA_CONFIG_PATH: '/kopia-config',
      },
      { KOPIA_MOVER_OPERATION: 'backup' },
    );
    expect(env).toEqual({ PATH: '/bin', HOME: '/tmp', LC_ALL: 'C', DATA_DIR: '/data', HTTP_PROXY: 'http://proxy:3128', KOPIA_MOVER_OPERATION: 'backup' });
  });
});

describe('run folders in TMPDIR, claimed by a lock', () => {
  const hoursAgo = (path: string, hours: number) => {
    const t = new Date(Date.now() - hours * 3_600_000);
    utimesSync(path, t, t);
  };

  /**
   * A run folder whose owner was SIGKILLed: another process makes one as a run does (its lock
   * listening inside) and kills itself, leaving the socket file behind with nobody listening.
   */
  function killedOwnersFolder(tmp: string): string {
    const script = `
      const { mkdtempSync, openSync } = require('node:fs'); const { join } = require('node:path');
      const dir = mkdtempSync(join(process.argv[1], '${RUN_DIR_PREFIX}'));
      // Through the folder's descriptor: a long TMPDIR's socket path would be cut short.
      require('node:net').createServer().listen('/proc/self/fd/' + openSync(dir, 'r') + '/lock', () => { console.log(dir); process.kill(process.pid, 'SIGKILL'); });`;
    const child = spawnSync(process.execPath, ['-e', script, tmp], { encoding: 'utf8' });
    expect(child.signal).toBe('SIGKILL');
    return child.stdout.trim();
  }

  it("removes the folder of a SIGKILLed run at once, and keeps this live run's folder", async () => {
    const mine = await claimRunDir(base);
    const dead = killedOwnersFolder(base);
    expect(dead.startsWith(join(base, RUN_DIR_PREFIX))).toBe(true);
    expect(existsSync(join(dead, 'lock'))).toBe(true);
    writeFileSync(join(base, 'unrelated-file'), 'x');
    expect(await removeStaleRunDirs(base)).toBe(1);
    expect(readdirSync(base).sort()).toEqual([mine.path.slice(base.length + 1), 'unrelated-file'].sort());
    mine.release();
    expect(readdirSync(base)).toEqual(['unrelated-file']);
  });

  it('keeps a live folder even when it is old, and one that belongs to another user', async () => {
    const mine = await claimRunDir(base);
    hoursAgo(mine.path, 48);
    const foreign = join(base, `${RUN_DIR_PREFIX}other`);
    mkdirSync(foreign);
    hoursAgo(foreign, 48);
    expect(await removeStaleRunDirs(base, 12345)).toBe(0);
    expect(await removeStaleRunDirs(base)).toBe(1);
    expect(existsSync(mine.path)).toBe(true);
    mine.release();
  });

  it('removes folders without a lock (an older version, a half-made claim) only when they are over an hour old', async () => {
    const young = ['kopia-mover-claim-young', `${RUN_DIR_PREFIX}4194305-123-abc`];
    const old = ['kopia-mover-claim-old', `${RUN_DIR_PREFIX}1-1-old`];
    for (const name of [...young, ...old]) mkdirSync(join(base, name));
    for (const name of old) hoursAgo(join(base, name), 2);
    expect(await removeStaleRunDirs(base)).toBe(2);
    expect(readdirSync(base).sort()).toEqual(young.sort());
  });

  it('a claim folder whose owner died is left until it is old: its lock refuses for a moment while being made', async () => {
    const dead = killedOwnersFolder(base);
    const claim = join(base, 'kopia-mover-claim-dead');
    renameSync(dead, claim);
    expect(await removeStaleRunDirs(base)).toBe(0);
    hoursAgo(claim, 2);
    expect(await removeStaleRunDirs(base)).toBe(1);
  });

  it('works in a TMPDIR whose path is longer than a Unix socket path may be', async () => {
    const long = join(base, 'd'.repeat(100), 'e'.repeat(100));
    mkdirSync(long, { recursive: true });
    const mine = await claimRunDir(long);
    const dead = killedOwnersFolder(long);
    expect(await removeStaleRunDirs(long)).toBe(1);
    expect(readdirSync(long)).toEqual([mine.path.slice(long.length + 1)]);
    expect(readdirSync(mine.path)).toEqual(['lock']);
    expect(existsSync(dead)).toBe(false);
    mine.release();
    expect(readdirSync(long)).toEqual([]);
  });

  it('a TMPDIR that cannot take the folder is a configuration error naming TMPDIR', async () => {
    await expect(claimRunDir(join(base, 'missing'))).rejects.toThrow(/TMPDIR/);
  });
});

describe("kopia's log files", () => {
  it('reach the cache redacted, line by line, and leave the run folder', async () => {
    const from = join(base, 'run-logs');
    mkdirSync(join(from, 'cli-logs'), { recursive: true });
    writeFileSync(join(from, 'cli-logs', 'kopia-1.log'), 'line with sekrit-value\nclean line\n');
    const to = join(base, 'cache-logs');
    const r = new Redactor(['sekrit-value']);
    await publishLogs(from, to, (l) => r.redact(l));
    expect(readFileSync(join(to, 'cli-logs', 'kopia-1.log'), 'utf8')).toBe('line with [redacted]\nclean line\n');
    expect(readdirSync(join(from, 'cli-logs'))).toEqual([]);
  });

  it('keep at most the newest N per folder and nothing older than the age', () => {
    const dir = join(base, 'logs', 'cli-logs');
    mkdirSync(dir, { recursive: true });
    const now = Date.now();
    for (let i = 0; i < 5; i++) {
      const path = join(dir, `kopia-${i}.log`);
      writeFileSync(path, String(i));
      const t = new Date(now - i * 60_000);
      utimesSync(path, t, t);
    }
    const old = join(dir, 'kopia-old.log');
    writeFileSync(old, 'old');
    utimesSync(old, new Date(now - 10 * 3_600_000), new Date(now - 10 * 3_600_000));
    applyLogRetention(join(base, 'logs'), { cli: { maxFiles: 3, maxAgeMs: 4 * 3_600_000 }, content: { maxFiles: 3, maxAgeMs: 0 } }, now);
    expect(readdirSync(dir).sort()).toEqual(['kopia-0.log', 'kopia-1.log', 'kopia-2.log']);
  });
});
