// The README's commands, run exactly as printed, top to bottom, by an ordinary user with a fresh
// HOME holding ~/photos and kopia-mover on PATH (as the README's install lines put it), the way a
// person reads and types them.
// A line with a placeholder (`[flags]`, `<command>`) is a synopsis and is not run; every other
// kopia-mover or echo line is, and must end with exit 0 unless its comment says `exit N`.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/fixtures.js';
import { ensureTestUser, tempDir } from '../support/mover.js';
import { contents, differences } from '../support/trees.js';

const USER = 'kmreadme';

interface Command {
  line: string;
  exit: number;
}

/** The README's `sh` blocks that hold a runnable kopia-mover line, each as its commands in order. */
function readmeSessions(): { at: number; commands: Command[] }[] {
  const lines = readFileSync(join(repoRoot, 'README.md'), 'utf8').split('\n');
  const sessions: { at: number; commands: Command[] }[] = [];
  let current: { at: number; commands: Command[] } | undefined;
  lines.forEach((text, index) => {
    if (/^```sh\s*$/.test(text)) current = { at: index + 1, commands: [] };
    else if (/^```\s*$/.test(text) && current) {
      if (current.commands.some((c) => c.line.startsWith('kopia-mover'))) sessions.push(current);
      current = undefined;
    } else if (current && /^(kopia-mover|echo)\b/.test(text)) {
      const comment = /\s#\s(.*)$/.exec(text)?.[1] ?? '';
      const line = text.replace(/\s+#\s.*$/, '').trim();
      if (/[[<]/.test(line)) return;
      current.commands.push({ line, exit: Number(/\bexit (\d+)\b/.exec(comment)?.[1] ?? 0) });
    }
  });
  return sessions;
}

/** A fresh HOME for the README's user, holding a few photos, with kopia-mover on its PATH. */
function freshHome(uid: number, gid: number): string {
  const home = tempDir('km-readme-home-');
  chmodSync(join(home, '..'), 0o755);
  mkdirSync(join(home, '.local', 'bin'), { recursive: true });
  symlinkSync(join(repoRoot, 'bin', 'kopia-mover.js'), join(home, '.local', 'bin', 'kopia-mover'));
  mkdirSync(join(home, 'photos', '2026'), { recursive: true });
  writeFileSync(join(home, 'photos', 'cat.jpg'), Buffer.alloc(50_000, 7));
  writeFileSync(join(home, 'photos', '2026', 'dog.jpg'), 'woof\n');
  execFileSync('chown', ['-R', `${uid}:${gid}`, home]);
  chownSync(home, uid, gid);
  return home;
}

function runAs(home: string, line: string): { status: number; output: string } {
  const env = {
    HOME: home,
    USER,
    PATH: `${join(home, '.local', 'bin')}:/usr/local/bin:/usr/bin:/bin`,
    KOPIA_CHECK_FOR_UPDATES: 'false',
  };
  const result = spawnSync('runuser', ['-u', USER, '--', 'env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), 'bash', '-c', line], {
    cwd: home,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: result.status ?? 128, output: `${result.stdout}${result.stderr}` };
}

/** The folder a restore line writes into: its path argument, else its --data-dir. */
function restoreTarget(line: string, home: string): string | undefined {
  const words = line.split(/\s+/);
  const last = words.at(-1) ?? '';
  const target = words.length > 2 && !last.startsWith('-') && !words.at(-2)?.startsWith('--') ? last : /--data-dir\s+(\S+)/.exec(line)?.[1];
  return target?.replace(/^~/, home);
}

describe("the README's commands, as printed, for an ordinary user with a fresh HOME", () => {
  const sessions = readmeSessions();
  let home = '';
  let photos = new Map<string, string>();

  it('the README has runnable commands (a backup and a restore among them)', () => {
    const all = sessions.flatMap((s) => s.commands.map((c) => c.line));
    expect(all.some((l) => l.startsWith('kopia-mover backup '))).toBe(true);
    expect(all.some((l) => l.startsWith('kopia-mover restore '))).toBe(true);
  });

  for (const session of sessions) {
    it(`the block at README.md line ${session.at} runs: ${session.commands.map((c) => c.line.split(' ').slice(0, 2).join(' ')).join(', ')}`, () => {
      if (home === '') {
        const { uid, gid } = ensureTestUser(USER);
        home = freshHome(uid, gid);
        photos = contents(join(home, 'photos'));
      }
      for (const command of session.commands) {
        const { status, output } = runAs(home, command.line);
        expect(status, `${command.line}\n${output}`).toBe(command.exit);
        expect(output, command.line).not.toMatch(/see kopia's output above/);
        // A restore holds exactly the photos backed up.
        const target = command.line.startsWith('kopia-mover restore ') ? restoreTarget(command.line, home) : undefined;
        if (target) expect(differences(photos, contents(target)), command.line).toEqual([]);
      }
    });
  }
});
