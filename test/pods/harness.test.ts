/**
 * The pod harness itself (test/support/pod.ts): what a pod's command finds around it. If one of
 * these fails, the pod suite's verdicts about the program mean nothing.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IMAGE_ENV, loadPod, runPod, startCluster, type Cluster, type PodSpec } from '../support/pod.js';

/** The pod spec with its command replaced by a shell script that reports what it sees. */
function probe(name: string, script: string): PodSpec {
  return { ...loadPod(name), command: ['/bin/sh', '-c', script], args: null };
}

/** `key=value` lines the probe printed, as a map. */
function reported(stdout: string): Record<string, string> {
  return Object.fromEntries(
    stdout
      .split('\n')
      .filter((l) => l.startsWith('@'))
      .map((l) => [l.slice(1, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

const PROBE = `
r() { printf '@%s=%s\\n' "$1" "$2"; }
r id "$(id -u):$(id -g):$(id -G | tr ' ' ',')"
r capeff "$(sed -n 's/^CapEff:\\t//p' /proc/self/status)"
r nnp "$(sed -n 's/^NoNewPrivs:\\t//p' /proc/self/status)"
r pid "$$"
r hostname "$(hostname)"
r whoami "$(whoami)"
r root_write "$(touch /probe 2>&1)"
r etc_write "$(touch /etc/probe 2>/dev/null && echo yes || echo no)"
r usrlocal_write "$(touch /usr/local/probe 2>/dev/null && echo yes || echo no)"
r tmp_write "$(touch /tmp/probe 2>/dev/null && echo yes || echo no)"
r cache_write "$(touch /cache/probe 2>/dev/null && echo yes || echo no)"
r data_write "$(touch /data/probe 2>/dev/null && echo yes && rm /data/probe || echo no)"
r ca_write "$(touch /customCA/probe 2>/dev/null && echo yes || echo no)"
r termination_write "$(echo probe > /dev/termination-log && echo yes || echo no)"
r ca_link "$(readlink /customCA/ca.crt)"
r ca_data "$(readlink /customCA/..data)"
r ca_mode "$(stat -L -c %a /customCA/ca.crt)"
r ca_sha "$(sha256sum < /customCA/ca.crt | cut -d' ' -f1)"
r policy_link "$(readlink /kopia-config/global-policy.json)"
r entry "$(stat -c '%a %u' /mover-kopia/entry.sh)"
r app "$(ls /mover-kopia/app | tr '\\n' ',')"
r kopia "$(/usr/local/bin/kopia --version | head -1 | cut -d' ' -f1)"
r node "$(command -v node)"
r hosts "$(grep -c 'minio.test' /etc/hosts)"
r usrlocal "$(ls /usr/local/bin | tr '\\n' ',')"
r tmp_mode "$(stat -c %a /tmp)"
r proc_count "$(ls -d /proc/[0-9]* | wc -l)"
env -0 > /tmp/env0; r env_names "$(tr '\\0' '\\n' < /tmp/env0 | sed 's/=.*//' | sort | tr '\\n' ',')"
`;

describe('pod harness', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster();
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('runs the command as UID 1000 with no capability, on a read-only root, with exactly the image and pod env', async () => {
    process.env['KM_POD_LEAK_MARKER'] = 'from-the-test-process';
    const spec = probe('src-full', PROBE);
    const result = await runPod(cluster, spec, { name: 'probe' });
    delete process.env['KM_POD_LEAK_MARKER'];
    expect(result.exitCode, result.log).toBe(0);
    const r = reported(result.stdout);
    expect(r['id']).toBe('1000:1000:1000');
    expect(r['capeff']).toBe('0000000000000000');
    expect(r['nnp']).toBe('1');
    expect(r['pid']).toBe('1');
    expect(r['hostname']).toBe('probe');
    expect(r['whoami']).toBe('node');
    expect(r['root_write']).toContain('Read-only file system');
    expect(r).toMatchObject({
      etc_write: 'no',
      usrlocal_write: 'no',
      tmp_write: 'yes',
      cache_write: 'yes',
      data_write: 'yes',
      ca_write: 'no',
      termination_write: 'yes',
      ca_link: '..data/ca.crt',
      ca_mode: '644',
      policy_link: '..data/global-policy.json',
      entry: '755 0',
      kopia: '0.22.3',
      hosts: '1',
      tmp_mode: '777',
    });
    expect(r['ca_data']).toMatch(/^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+$/);
    const { createHash } = await import('node:crypto');
    expect(r['ca_sha']).toBe(createHash('sha256').update(readFileSync(cluster.caFile!)).digest('hex'));
    expect(r['app']).toBe('bin,dist,package.json,');
    expect(r['usrlocal']).toBe('kopia,node,');
    expect(Number(r['proc_count'])).toBeLessThan(10);
    expect(result.terminationMessage).toBe('probe\n');

    const expected = new Set([...Object.keys(IMAGE_ENV), ...spec.env.map(([k]) => k), 'HOSTNAME', 'PWD', 'SHLVL']);
    const names = (r['env_names'] ?? '').split(',').filter(Boolean);
    for (const n of names) {
      if (n.startsWith('KUBERNETES_')) continue;
      expect(expected, `unexpected variable ${n} in the pod`).toContain(n);
    }
    for (const [k] of spec.env) expect(names).toContain(k);
    expect(names).not.toContain('KM_POD_LEAK_MARKER');
    // The endpoint points at the test MinIO; the rest of the pod's env is as recorded.
    expect(result.env['AWS_S3_ENDPOINT']).toBe(cluster.s3!.url);
    expect(result.env['KOPIA_PASSWORD']).toBe('correct horse battery staple');
  });

  it('runs a privileged mover as root with only CHOWN, DAC_OVERRIDE and FOWNER', async () => {
    const result = await runPod(cluster, probe('dst-fs-restore', PROBE), { name: 'probe-privileged', env: { PRIVILEGED_MOVER: '1' } });
    expect(result.exitCode, result.log).toBe(0);
    const r = reported(result.stdout);
    expect(r['id']).toBe('0:0:0');
    expect(r['capeff']).toBe('000000000000000b');
    expect(r['nnp']).toBe('1');
  });

  it('gives fsGroup pods the group on their volumes and mounts read-only ConfigMaps read-only', async () => {
    const script = `
      printf '@id=%s\\n' "$(id -u):$(id -g):$(id -G | tr ' ' ',')"
      printf '@cache=%s\\n' "$(stat -c '%a %g' /cache)"
      printf '@ca=%s\\n' "$(stat -L -c '%a %g' /etc/ssl/custom-ca-from-configmap/ca-bundle.crt)"
      printf '@ca_link=%s\\n' "$(readlink /etc/ssl/custom-ca-from-configmap/ca-bundle.crt)"
      printf '@repo=%s\\n' "$(test -e /mnt/repo && echo yes || echo no)"`;
    const s3 = await runPod(cluster, probe('maint-crd-s3', script), { name: 'probe-fsgroup' });
    expect(s3.exitCode, s3.log).toBe(0);
    expect(reported(s3.stdout)).toMatchObject({ id: '1000:1000:1000', cache: '2777 1000', ca: '644 1000', ca_link: '..data/ca-bundle.crt', repo: 'no' });
    const fs = await runPod(cluster, probe('maint-crd-fs', script.replace(/.*custom-ca.*\n/g, '')), { name: 'probe-fs' });
    expect(reported(fs.stdout)['repo']).toBe('yes');
    expect(path.basename(fs.volumes['/mnt/repo']!)).toBe('repo-pvc');
  });
});
