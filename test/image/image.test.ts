/**
 * What the built image holds and how its entry shim starts the program, checked by running it.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IMAGE, podman, podmanSync, requireImage, scratch } from './support.js';

/** One command in the image, as the pod runs it: read-only root, UID 1000, no network. */
function inImage(script: string, extra: string[] = []) {
  return podman([
    'run', '--rm', '--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=8192:8192', '--network', 'none',
    '--read-only', '--read-only-tmpfs=false', '--user', '1000:1000', '--cap-drop', 'ALL',
    '--tmpfs', '/tmp:rw,exec,mode=1777', ...extra, '--entrypoint', '/bin/bash', IMAGE, '-c', script,
  ]);
}

const work = scratch('km-image-');
beforeAll(() => requireImage());
afterAll(() => work.remove());

describe('the image', () => {
  it('runs as UID/GID 1000, named kopia-mover in passwd and group (ssh needs the entry)', async () => {
    const r = await inImage('id; getent passwd 1000; getent group 1000; echo "USER=$USER HOME=$HOME TMPDIR=$TMPDIR"');
    expect(r.stderr).toBe('');
    const [id, passwd, group, env] = r.stdout.trim().split('\n');
    expect(id).toBe('uid=1000(kopia-mover) gid=1000(kopia-mover) groups=1000(kopia-mover)');
    expect(passwd).toMatch(/^kopia-mover:x:1000:1000:[^:]*:\/tmp:/);
    expect(group).toMatch(/^kopia-mover:x:1000:/);
    expect(env).toBe('USER=kopia-mover HOME=/tmp TMPDIR=/tmp');
    const config = podmanSync(['image', 'inspect', IMAGE, '--format', '{{.Config.User}} {{json .Config.Entrypoint}}']);
    expect(config.stdout.trim()).toBe('1000:1000 ["/mover-kopia/entry.sh"]');
  });

  it('has kopia 0.22.3 stamped with its release commit, and Node 20', async () => {
    const r = await inImage('kopia --version; node --version');
    const [kopia, node] = r.stdout.trim().split('\n');
    expect(kopia).toMatch(/^0\.22\.3 build: [0-9a-f]{40} from: kopia\/kopia$/);
    expect(node).toMatch(/^v20\./);
  });

  it('has what kopia runs for the rclone and sftp backends, and the CA store', async () => {
    const r = await inImage('rclone version | head -1; ssh -V 2>&1; test -s /etc/ssl/certs/ca-certificates.crt && echo ca');
    expect(r.stdout).toMatch(/^rclone v\d/m);
    expect(r.stdout).toMatch(/^OpenSSH_/m);
    expect(r.stdout).toMatch(/^ca$/m);
  });

  it('keeps the program out of reach of the user it runs as', async () => {
    const r = await inImage(
      'stat -c "%U %a %n" /mover-kopia /mover-kopia/entry.sh /mover-kopia/app /mover-kopia/app/dist/kopia-mover.mjs; ' +
        'ls /mover-kopia/app; touch /mover-kopia/app/x 2>/dev/null && echo writable || echo read-only',
    );
    const lines = r.stdout.trim().split('\n');
    expect(lines.slice(0, 4)).toEqual([
      'root 755 /mover-kopia',
      'root 755 /mover-kopia/entry.sh',
      'root 755 /mover-kopia/app',
      'root 644 /mover-kopia/app/dist/kopia-mover.mjs',
    ]);
    // One bundle, no dependency tree.
    expect(lines.slice(4, -1)).toEqual(['bin', 'dist', 'package.json']);
    expect(lines.at(-1)).toBe('read-only');
  });
});

describe('the image layers', () => {
  // Every file and whiteout of every layer, as a registry would ship them: removing a file in a
  // later layer does not take it out of the one that added it.
  let layers: string[][] = [];
  beforeAll(() => {
    const archive = join(work.dir, 'image.tar');
    const saved = podmanSync(['save', '--format', 'docker-archive', '-o', archive, IMAGE]);
    expect(saved.code, saved.stderr).toBe(0);
    const dir = join(work.dir, 'image');
    mkdirSync(dir);
    expect(spawnSync('tar', ['-xf', archive, '-C', dir]).status).toBe(0);
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Array<{ Layers: string[] }>;
    layers = manifest[0]!.Layers.map((layer) => {
      const list = spawnSync('tar', ['-tf', join(dir, layer)], { encoding: 'utf8', maxBuffer: 64 << 20 });
      expect(list.status).toBe(0);
      return list.stdout.split('\n').filter(Boolean).map((p) => p.replace(/^\.?\//, ''));
    });
  }, 300_000);

  const inAnyLayer = (re: RegExp) => layers.flatMap((files, i) => files.filter((f) => re.test(f)).map((f) => `layer ${i}: ${f}`));

  it('carry no npm, npx, corepack or yarn, not even removed again', () => {
    expect(layers.length).toBeGreaterThan(1);
    expect(inAnyLayer(/(^|\/)(\.wh\.)?(npm|npx|corepack|yarn|yarnpkg|yarn-v[\d.]+)(\/|$)/)).toEqual([]);
    expect(inAnyLayer(/(^|\/)node_modules(\/|$)/)).toEqual([]);
  });

  it('carry no apt package lists, archives or caches', () => {
    // The folder itself, apt's lock and empty partial/ are no cache; a whiteout shows a removal,
    // and what it removed would show in the layer below.
    expect(inAnyLayer(/^var\/lib\/apt\/lists\/(?!$|lock$|partial\/?$|auxfiles\/?$|\.wh\.)/)).toEqual([]);
    expect(inAnyLayer(/^var\/cache\/apt\/(.*\.deb|[^/]+\.bin)$/)).toEqual([]);
  });

  it('hold node, kopia and the program each once', () => {
    for (const path of ['usr/local/bin/node', 'usr/local/bin/kopia', 'mover-kopia/app/dist/kopia-mover.mjs', 'mover-kopia/entry.sh']) {
      expect(inAnyLayer(new RegExp(`^${path}$`)), path).toHaveLength(1);
    }
  });
});

describe('/mover-kopia/entry.sh', () => {
  it('prints the usage for --help run through /bin/bash -c, as the controller starts it', async () => {
    const r = await inImage('/mover-kopia/entry.sh --help');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: kopia-mover \[options\] \[command\]/);
    for (const cmd of ['backup', 'restore', 'maintenance']) expect(r.stdout).toContain(cmd);
  });

  it('prints both versions, kopia with its revision', async () => {
    const r = await inImage('/mover-kopia/entry.sh --version');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^kopia-mover \d+\.\d+\.\d+$/m);
    expect(r.stdout).toMatch(/^kopia 0\.22\.3 build: [0-9a-f]{40} from: kopia\/kopia$/m);
  });

  it('without DIRECTION or a command ends in a usage error with the summary', async () => {
    const r = await inImage('/mover-kopia/entry.sh');
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('OPERATION_RESULT: FAILURE');
    expect(r.stdout).toContain('DIRECTION');
    expect(r.stdout).toContain('EXIT_CODE: 2');
  });

  it('becomes node (PID 1, so signals reach the program) and keeps every argument intact', async () => {
    // A stand-in program in place of the bundle reports its pid and argv.
    const app = join(work.dir, 'stand-in');
    mkdirSync(join(app, 'bin'), { recursive: true });
    writeFileSync(
      join(app, 'bin', 'kopia-mover.js'),
      'process.stdout.write(JSON.stringify({ pid: process.pid, args: process.argv.slice(2) }));\n',
    );
    const args = ['a b', '', '$HOME', '--flag=x y', "it's", '*'];
    const r = await podman([
      'run', '--rm', '--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=8192:8192', '--network', 'none',
      '--read-only', '--user', '1000:1000', '-v', `${app}:/stand-in:ro`, '-e', 'KOPIA_MOVER_HOME=/stand-in',
      IMAGE, ...args,
    ]);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ pid: 1, args });
  });
});
