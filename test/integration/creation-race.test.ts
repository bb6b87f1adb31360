// Many tenants, one empty repository: eight backups start at the same moment against an empty
// MinIO prefix (VolSync users apply many ReplicationSources together, all pointing at one
// repository). However the creation race between them goes, exactly one repository must result,
// every mover must end its own run with its snapshot in it, and a fresh connect must open it.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { realKopia, runMover, tempDir, type Env, type MoverResult } from '../support/mover.js';
import { minioWithBucket } from '../support/servers.js';

const MOVERS = 8;
const ROUNDS = 5;
const BUCKET = 'creation-race';
const PASSWORD = `race-${Math.random().toString(36).slice(2)}-Secret!`;

const s3 = minioWithBucket(BUCKET);

function tenantData(dir: string, tenant: number, round: number): void {
  mkdirSync(join(dir, 'app'), { recursive: true });
  writeFileSync(join(dir, 'app', 'config.yaml'), `tenant: ${tenant}\nround: ${round}\n`);
  writeFileSync(join(dir, 'app', 'data.bin'), Buffer.alloc(64 * 1024, tenant + round * 16));
}

/** Bare kopia with its own, new config file and cache dir: what storage holds, not what a mover cached. */
function freshConnection(prefix: string): { connected: boolean; connectOutput: string; kopia: (args: string[]) => { status: number | null; stdout: string; stderr: string } } {
  const dir = tempDir('km-race-fresh-');
  const kopia = (args: string[]) =>
    spawnSync(realKopia, [...args, `--config-file=${join(dir, 'kopia.config')}`, `--log-dir=${join(dir, 'logs')}`], {
      env: {
        PATH: process.env['PATH'],
        HOME: dir,
        KOPIA_PASSWORD: PASSWORD,
        KOPIA_CHECK_FOR_UPDATES: 'false',
        AWS_ACCESS_KEY_ID: s3().accessKey,
        AWS_SECRET_ACCESS_KEY: s3().secretKey,
      },
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
  const connect = kopia([
    'repository', 'connect', 's3', `--bucket=${BUCKET}`, `--prefix=${prefix}/`, `--endpoint=${s3().endpoint}`, '--disable-tls',
    `--cache-directory=${join(dir, 'cache')}`, '--no-persist-credentials', '--override-username=race-check', '--override-hostname=test',
  ]);
  return { connected: connect.status === 0, connectOutput: connect.stderr.trim(), kopia };
}

/** The lines a person reads first when a mover failed: its failure lines and kopia's last words. */
function failureText(r: MoverResult): string {
  const lines = r.plainLines.filter((l) => /^(FAILURE_REASON|FAILURE_CLASS|EXIT_CODE)|^KOPIA_ERROR_OUTPUT|ERROR|error/.test(l));
  return lines.slice(-8).join('\n');
}

describe('concurrent first creation', () => {
  it(
    `${MOVERS} movers at once against an empty prefix, ${ROUNDS} rounds: one repository, every snapshot in it`,
    async () => {
      const problems: string[] = [];
      for (let round = 1; round <= ROUNDS; round++) {
        const prefix = `round-${round}-${Date.now().toString(36)}`;
        const tenants = Array.from({ length: MOVERS }, (_, i) => {
          const root = tempDir(`km-race-${round}-${i}-`);
          const data = join(root, 'data');
          tenantData(data, i, round);
          const env: Env = {
            KOPIA_PASSWORD: PASSWORD,
            KOPIA_REPOSITORY: `s3://${BUCKET}/${prefix}`,
            KOPIA_S3_ENDPOINT: s3().url,
            AWS_ACCESS_KEY_ID: s3().accessKey,
            AWS_SECRET_ACCESS_KEY: s3().secretKey,
            KOPIA_CACHE_DIR: join(root, 'cache'),
            DATA_DIR: data,
            KOPIA_SOURCE_PATH_OVERRIDE: '/data',
            KOPIA_OVERRIDE_USERNAME: `tenant${i}`,
            KOPIA_OVERRIDE_HOSTNAME: `ns${i}`,
            // The mover's own waits for other creators, as in production.
            KOPIA_MOVER_CREATE_JITTER_SECONDS: undefined,
            KOPIA_MOVER_CREATE_SETTLE_SECONDS: undefined,
          };
          return { user: `tenant${i}@ns${i}`, env };
        });

        const results = await Promise.all(tenants.map((t) => runMover(['backup'], t.env)));

        // Every mover, in its own run: exit 0 and a snapshot id.
        const reported = new Map<string, string>();
        results.forEach((r, i) => {
          const id = (r.terminationMessage?.['snapshot'] as { id?: string } | undefined)?.id;
          if (r.exitCode !== 0 || !id) {
            problems.push(`round ${round}: ${tenants[i]!.user} exited ${r.exitCode}${id ? '' : ' without a snapshot'}\n${failureText(r)}`);
          } else {
            reported.set(tenants[i]!.user, id);
          }
        });

        // A fresh connect opens the repository, and it holds every reported snapshot, one per tenant.
        const fresh = freshConnection(prefix);
        if (!fresh.connected) {
          problems.push(`round ${round}: a fresh connect cannot open the repository (${reported.size} movers reported success into it):\n${fresh.connectOutput.split('\n').slice(-2).join('\n')}`);
          continue;
        }
        const list = fresh.kopia(['snapshot', 'list', '--all', '--json']);
        if (list.status !== 0) {
          problems.push(`round ${round}: snapshot list failed: ${list.stderr.trim().split('\n').at(-1)}`);
          continue;
        }
        const snapshots = JSON.parse(list.stdout) as { id: string; source: { userName: string; host: string; path: string } }[];
        const owners = new Set(snapshots.map((s) => `${s.source.userName}@${s.source.host}`));
        for (const t of tenants) {
          if (!owners.has(t.user)) problems.push(`round ${round}: no snapshot of ${t.user} in the repository`);
        }
        const listed = new Set(snapshots.map((s) => s.id));
        for (const [user, id] of reported) {
          if (!listed.has(id)) problems.push(`round ${round}: ${user} reported snapshot ${id}, which the repository does not list (lost)`);
        }
        const verify = fresh.kopia(['snapshot', 'verify', '--verify-files-percent=100']);
        if (verify.status !== 0) problems.push(`round ${round}: snapshot verify exited ${verify.status}: ${verify.stderr.trim().split('\n').at(-1)}`);
      }
      expect(problems, problems.join('\n\n')).toEqual([]);
    },
    360_000,
  );
});
