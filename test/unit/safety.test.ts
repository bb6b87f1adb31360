import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyLogRetention, publishLogs } from '../../src/kopia/logs.js';
import { createRunDir, removeStaleRunDirs, RUN_DIR_PREFIX } from '../../src/kopia/run-dir.js';
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

describe('run folders in TMPDIR', () => {
  it('removes the folders of runs that are gone and keeps the one of this live process', () => {
    const mine = createRunDir(base);
    // pid 2^22 + 1 is above Linux's pid_max: no such process can exist.
    mkdirSync(join(base, `${RUN_DIR_PREFIX}4194305-123-abc`));
    // This process's pid with another start time: a restarted container reusing the pid.
    mkdirSync(join(base, `${RUN_DIR_PREFIX}${process.pid}-1-def`));
    writeFileSync(join(base, 'unrelated-file'), 'x');
    expect(removeStaleRunDirs(base)).toBe(2);
    expect(readdirSync(base).sort()).toEqual([mine.slice(base.length + 1), 'unrelated-file'].sort());
  });

  it('a TMPDIR that cannot take the folder is a configuration error naming TMPDIR', () => {
    expect(() => createRunDir(join(base, 'missing'))).toThrow(/TMPDIR/);
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
