import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SHIM = join(ROOT, 'docker', 'entry.sh');

// No Docker engine is needed: the Dockerfile is read as text and checked for what
// the controller and the security rules depend on.

interface Instruction {
  keyword: string;
  /** Leading --name[=value] options, e.g. COPY --from=stage. */
  flags: Record<string, string>;
  /** The rest of the instruction after keyword and flags, continuations joined. */
  args: string;
  line: number;
}

interface Stage {
  image: string;
  name?: string;
  instructions: Instruction[];
}

interface ParsedDockerfile {
  globalArgs: Instruction[];
  stages: Stage[];
}

/** Joins continuation lines and drops comments and blanks, as the Docker frontend does. */
function logicalLines(text: string): Array<{ text: string; line: number }> {
  const out: Array<{ text: string; line: number }> = [];
  let pending: { text: string; line: number } | undefined;
  text.split('\n').forEach((raw, i) => {
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const continues = trimmed.endsWith('\\');
    const body = continues ? trimmed.slice(0, -1).trim() : trimmed;
    pending = pending ? { text: `${pending.text} ${body}`, line: pending.line } : { text: body, line: i + 1 };
    if (!continues) {
      out.push(pending);
      pending = undefined;
    }
  });
  if (pending) throw new Error(`line ${pending.line}: continuation runs past the end of the file`);
  return out;
}

function parseInstruction(text: string, line: number): Instruction {
  const match = /^(\S+)\s*(.*)$/.exec(text);
  if (!match) throw new Error(`line ${line}: cannot parse "${text}"`);
  const keyword = match[1]!.toUpperCase();
  let rest = match[2]!;
  const flags: Record<string, string> = {};
  for (;;) {
    const flag = /^--([\w-]+)(?:=(\S*))?\s*/.exec(rest);
    if (!flag) break;
    flags[flag[1]!] = flag[2] ?? '';
    rest = rest.slice(flag[0].length);
  }
  return { keyword, flags, args: rest.trim(), line };
}

function parseDockerfile(text: string): ParsedDockerfile {
  const parsed: ParsedDockerfile = { globalArgs: [], stages: [] };
  for (const { text: lineText, line } of logicalLines(text)) {
    const ins = parseInstruction(lineText, line);
    if (ins.keyword === 'FROM') {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!from) throw new Error(`line ${line}: bad FROM "${ins.args}"`);
      parsed.stages.push({ image: from[1]!, name: from[2]?.toLowerCase(), instructions: [] });
      continue;
    }
    const stage = parsed.stages.at(-1);
    if (stage) stage.instructions.push(ins);
    else if (ins.keyword === 'ARG') parsed.globalArgs.push(ins);
    else throw new Error(`line ${line}: ${ins.keyword} before the first FROM`);
  }
  return parsed;
}

function of(stage: Stage, keyword: string): Instruction[] {
  return stage.instructions.filter((i) => i.keyword === keyword);
}

/** ARG name[=default] and ENV k=v k2=v2 → a map; quotes around values removed. */
function assignments(instructions: Instruction[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const ins of instructions) {
    for (const m of ins.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)(?:=("[^"]*"|'[^']*'|\S*))?/g)) {
      out[m[1]!] = (m[2] ?? '').replace(/^(["'])(.*)\1$/, '$2');
    }
  }
  return out;
}

/** COPY/ADD arguments: sources then the destination. */
function copyPaths(ins: Instruction): { sources: string[]; dest: string } {
  const parts = ins.args.startsWith('[') ? (JSON.parse(ins.args) as string[]) : ins.args.split(/\s+/);
  return { sources: parts.slice(0, -1), dest: parts.at(-1)! };
}

function runText(stage: Stage): string {
  return of(stage, 'RUN')
    .map((i) => i.args)
    .join('\n');
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

const dockerfile = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const stages = dockerfile.stages;
const final = stages.at(-1)!;
const builders = stages.slice(0, -1);
const goStage = builders.find((s) => s.image.startsWith('golang:'));
const nodeStage = builders.find((s) => s.image.startsWith('node:'));

function scriptKopiaVersion(): string {
  const script = readFileSync(join(ROOT, 'scripts', 'install-kopia.sh'), 'utf8');
  const m = /^KOPIA_VERSION="\$\{KOPIA_VERSION:-([^}]+)\}"/m.exec(script);
  if (!m) throw new Error('scripts/install-kopia.sh has no KOPIA_VERSION default');
  return m[1]!;
}

describe('the parser', () => {
  it('joins continuations, skips comments inside them and reads flags', () => {
    const parsed = parseDockerfile(
      [
        '# syntax=docker/dockerfile:1',
        'ARG BASE=x',
        'FROM a:1 AS one',
        'RUN echo a \\',
        '  # a comment inside a continuation',
        '  && echo b',
        'FROM b:2',
        'COPY --from=one --chmod=0755 /x /y',
        'ENTRYPOINT ["/e.sh"]',
      ].join('\n'),
    );
    expect(parsed.globalArgs.map((i) => i.args)).toEqual(['BASE=x']);
    expect(parsed.stages.map((s) => [s.image, s.name])).toEqual([
      ['a:1', 'one'],
      ['b:2', undefined],
    ]);
    expect(parsed.stages[0]!.instructions[0]!.args).toBe('echo a && echo b');
    const copy = parsed.stages[1]!.instructions[0]!;
    expect(copy.flags).toEqual({ from: 'one', chmod: '0755' });
    expect(copyPaths(copy)).toEqual({ sources: ['/x'], dest: '/y' });
  });

  it('rejects a continuation that never ends', () => {
    expect(() => parseDockerfile('FROM a\nRUN x \\')).toThrow(/continuation/);
  });
});

describe('Dockerfile stages', () => {
  it('has a Go stage, a Node stage and a final stage', () => {
    expect(stages.length).toBeGreaterThanOrEqual(3);
    expect(goStage, 'a golang: build stage').toBeDefined();
    expect(nodeStage, 'a node: build stage').toBeDefined();
  });

  it('pins every base image to a versioned tag', () => {
    for (const s of stages) {
      expect(s.image, s.image).toMatch(/^[\w./-]+:\d[\w.-]*$/);
    }
    expect(final.image).toBe('node:20-bookworm-slim');
    expect(nodeStage!.image).toBe('node:20-bookworm-slim');
  });

  it('names stages uniquely', () => {
    const names = stages.flatMap((s) => (s.name ? [s.name] : []));
    expect(new Set(names).size).toBe(names.length);
  });

  it('takes every COPY --from from a stage defined before it', () => {
    const froms = stages.flatMap((s, index) =>
      of(s, 'COPY').flatMap((c) => (c.flags['from'] !== undefined ? [{ from: c.flags['from'], index, line: c.line }] : [])),
    );
    expect(froms.length).toBeGreaterThan(0);
    for (const { from, index, line } of froms) {
      const earlier = stages.slice(0, index).map((s) => s.name);
      expect(earlier, `line ${line}: --from=${from}`).toContain(from.toLowerCase());
    }
  });
});

describe('the kopia build stage', () => {
  const args = () => assignments([...dockerfile.globalArgs, ...of(goStage!, 'ARG')]);

  it('builds the kopia version scripts/install-kopia.sh pins', () => {
    expect(args()['KOPIA_VERSION']).toBe(scriptKopiaVersion());
  });

  it('downloads the exact module and stamps the version, without go install', () => {
    const run = runText(goStage!);
    expect(run).toContain('go mod download "github.com/kopia/kopia@v${KOPIA_VERSION}"');
    expect(run).toMatch(/go build\b/);
    expect(run).toContain('-X github.com/kopia/kopia/repo.BuildVersion=${KOPIA_VERSION}');
    expect(run).not.toMatch(/go install/);
  });

  it('builds without cgo and with the local toolchain', () => {
    const env = assignments(of(goStage!, 'ENV'));
    expect(env['CGO_ENABLED']).toBe('0');
    expect(env['GOTOOLCHAIN']).toBe('local');
  });
});

describe('the Node build stage', () => {
  it('installs from the lockfile before building the bundle', () => {
    const ins = nodeStage!.instructions;
    const lockCopy = ins.findIndex((i) => i.keyword === 'COPY' && copyPaths(i).sources.includes('package-lock.json'));
    const ci = ins.findIndex((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args));
    const build = ins.findIndex((i) => i.keyword === 'RUN' && /\bnpm run build\b/.test(i.args));
    expect(lockCopy).toBeGreaterThanOrEqual(0);
    expect(ci).toBeGreaterThan(lockCopy);
    expect(build).toBeGreaterThanOrEqual(ci);
  });
});

describe('the final stage', () => {
  const copies = () => of(final, 'COPY').map((c) => ({ ...copyPaths(c), flags: c.flags }));
  const env = () => assignments(of(final, 'ENV'));

  it('runs as UID 1000', () => {
    const users = of(final, 'USER');
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)!.args).toMatch(/^1000(:1000)?$/);
    // Nothing after USER may need root.
    const userAt = final.instructions.indexOf(users.at(-1)!);
    expect(final.instructions.slice(userAt).filter((i) => i.keyword === 'RUN')).toEqual([]);
  });

  it('starts the shim', () => {
    const entry = of(final, 'ENTRYPOINT');
    expect(entry).toHaveLength(1);
    expect(JSON.parse(entry[0]!.args)).toEqual(['/mover-kopia/entry.sh']);
  });

  it('ships the program, the shim and kopia at the expected paths', () => {
    const dests = copies().map((c) => c.dest.replace(/\/$/, ''));
    for (const path of ['dist', 'bin', 'package.json']) {
      expect(dests).toContain(`/mover-kopia/app/${path}`);
    }
    // The program is one bundle: no dependency tree ships.
    expect(dests).not.toContain('/mover-kopia/app/node_modules');
    expect(dests).toContain('/usr/local/bin/kopia');
    const shim = copies().find((c) => c.dest === '/mover-kopia/entry.sh');
    expect(shim?.sources).toEqual(['docker/entry.sh']);
    expect(shim?.flags['chmod']).toMatch(/^0?[75][75][75]$/);
    expect(env()['KOPIA_BIN']).toBe('/usr/local/bin/kopia');
  });

  it('copies the app from the Node stage and kopia from the Go stage', () => {
    const from = (dest: string) => copies().find((c) => c.dest === dest)?.flags['from'];
    expect(from('/mover-kopia/app/dist')).toBe(nodeStage!.name);
    expect(from('/mover-kopia/app/bin')).toBe(nodeStage!.name);
    expect(from('/usr/local/bin/kopia')).toBe(goStage!.name);
  });

  it('installs what kopia shells out to, and no build tools', () => {
    const run = runText(final);
    for (const pkg of ['ca-certificates', 'rclone', 'openssh-client']) expect(run).toMatch(new RegExp(`\\b${pkg}\\b`));
    expect(run).toContain('--no-install-recommends');
    expect(run).not.toMatch(/\bgo (build|install|mod)\b/);
    expect(run).not.toMatch(/\bnpm (ci|install|run)\b/);
    expect(run).not.toMatch(/\b(build-essential|gcc|make|golang)\b/);
    expect(final.image).not.toMatch(/^golang:/);
  });

  it('points HOME and TMPDIR at an absolute, conventionally mounted path', () => {
    expect(env()['HOME']).toMatch(/^\//);
    expect(env()['TMPDIR']).toMatch(/^\//);
  });
});

describe('.dockerignore', () => {
  const patterns = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.replace(/^\//, '').replace(/\/$/, ''));

  it('keeps host builds and history out of the context', () => {
    for (const p of ['node_modules', 'dist', 'tools', '.git']) expect(patterns).toContain(p);
  });

  it('does not hide anything the Dockerfile copies from the context', () => {
    const sources = stages.flatMap((s) =>
      of(s, 'COPY')
        .filter((c) => c.flags['from'] === undefined)
        .flatMap((c) => copyPaths(c).sources),
    );
    for (const src of sources) {
      const top = src.replace(/^\.\//, '').split('/')[0]!;
      expect(patterns, src).not.toContain(top);
      expect(existsSync(join(ROOT, src)), `${src} exists`).toBe(true);
    }
  });
});

describe('docker/entry.sh', () => {
  const text = readFileSync(SHIM, 'utf8');
  const scratch = mkdtempSync(join(tmpdir(), 'km-shim-'));
  // What the final stage holds in /mover-kopia/app: the bundle, no node_modules.
  const imageApp = join(scratch, 'app');
  for (const part of ['dist', 'bin', 'package.json']) cpSync(join(ROOT, part), join(imageApp, part), { recursive: true });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  const viaBash = (args: string, app: string, extra: Record<string, string> = {}) =>
    spawnSync('/bin/bash', ['-c', `${shellQuote(SHIM)} ${args}`], {
      env: { PATH: process.env['PATH'], HOME: scratch, KOPIA_MOVER_HOME: app, ...extra },
      encoding: 'utf8',
    });

  it('is a POSIX shell script that ends in exec', () => {
    const lines = text.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
    expect(text.split('\n')[0]).toBe('#!/bin/sh');
    expect(lines.at(-1)).toBe('exec node "${KOPIA_MOVER_HOME:-/mover-kopia/app}/bin/kopia-mover.js" "$@"');
    const dash = spawnSync('sh', ['-n', SHIM], { encoding: 'utf8' });
    expect(dash.status, dash.stderr).toBe(0);
  });

  it('is executable', () => {
    expect(statSync(SHIM).mode & 0o111).toBe(0o111);
  });

  it('starts the program from the image layout: --version prints both versions', () => {
    const kopia = join(ROOT, 'tools', 'bin', 'kopia');
    const r = viaBash('--version', imageApp, { KOPIA_BIN: kopia });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^kopia-mover \d+\.\d+\.\d+$/m);
    expect(r.stdout).toMatch(/^kopia 0\.22\.3/m);
  });

  for (const [name, app] of [['image layout', imageApp]] as const) {
    it(`prints kopia-mover usage for --help, run through bash against the image layout (${name})`, () => {
      const r = viaBash('--help', app);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^Usage: kopia-mover \[options\] \[command\]/);
      for (const cmd of ['backup', 'restore', 'maintenance']) expect(r.stdout).toContain(cmd);
    });

    it(`passes subcommands through (${name})`, () => {
      const r = viaBash('restore --help', app);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^Usage: kopia-mover restore/);
    });

    it(`run as the controller runs it, without DIRECTION, ends in a usage error (${name})`, () => {
      const r = spawnSync('/bin/bash', ['-c', SHIM], {
        env: {
          PATH: process.env['PATH'],
          HOME: scratch,
          KOPIA_MOVER_HOME: app,
          KOPIA_MOVER_TERMINATION_LOG: join(scratch, `termination-log-${name}`),
        },
        encoding: 'utf8',
      });
      expect(r.status).toBe(2);
      expect(r.stdout).toContain('OPERATION_RESULT: FAILURE');
      expect(r.stdout).toContain('DIRECTION');
    });
  }

  it('replaces itself with node and keeps every argument intact', async () => {
    // A stand-in program that reports its pid and argv: with exec, node has the shim's pid.
    const app = join(scratch, 'stand-in');
    mkdirSync(join(app, 'bin'), { recursive: true });
    writeFileSync(
      join(app, 'bin', 'kopia-mover.js'),
      'process.stdout.write(JSON.stringify({ pid: process.pid, args: process.argv.slice(2) }));\n',
    );
    const args = ['a b', '', '$HOME', '--flag=x y'];
    const child = spawn('/bin/bash', [SHIM, ...args], { env: { PATH: process.env['PATH'], KOPIA_MOVER_HOME: app } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual({ pid: child.pid, args });
  });
});
