/**
 * A cluster-wide proxy: the controller copies HTTP_PROXY, HTTPS_PROXY and NO_PROXY (or their
 * lowercase forms) from its own environment into every mover pod, and storage traffic must then
 * go through the proxy. A real CONNECT proxy on 127.0.0.1 logs every tunnel it opens.
 *
 * Go (and so kopia) never proxies `localhost` or a loopback IP literal, so here the pods reach
 * MinIO as `minio.test`, a name only their own /etc/hosts knows (127.0.0.1), with a certificate
 * valid for it. The proxy resolves the name itself, as a real one would.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPod, runPod, startCluster, type Cluster, type PodResult, type PodSpec } from '../support/pod.js';
import { startConnectProxy, type ConnectProxy } from '../support/proxy.js';
import { checkEveryRun, checkSuccess, chownTree, KOPIA_ENV_ALLOWED, summaryField } from './checks.js';

const S3_NAME = 'minio.test';

describe('storage traffic through a cluster-wide proxy', () => {
  let cluster: Cluster;
  let proxy: ConnectProxy;
  const minio = () => `${S3_NAME}:${new URL(cluster.s3!.url).port}`;

  beforeAll(async () => {
    cluster = await startCluster({ s3Hostnames: [S3_NAME], s3Host: S3_NAME });
    proxy = await startConnectProxy({ hosts: { [S3_NAME]: '127.0.0.1' } });
    const data = cluster.pvc('app-data');
    mkdirSync(path.join(data, 'docs'), { recursive: true });
    writeFileSync(path.join(data, 'docs', 'a.txt'), 'proxied backup\n');
    writeFileSync(path.join(data, 'b.bin'), Buffer.alloc(200_000, 7));
    chownTree(data);
  });
  afterAll(async () => {
    await proxy?.stop();
    await cluster?.stop();
  });

  /** src-args (the pod with the most env of its own) with proxy variables added as the controller adds them. */
  const backup = async (name: string, env: Record<string, string>): Promise<PodResult> => {
    proxy.clear();
    const result = await runPod(cluster, loadPod('src-args'), { name, env });
    checkEveryRun(result);
    return result;
  };

  it('without proxy variables, a backup reaches MinIO directly: the proxy sees nothing', async () => {
    const result = await backup('no-proxy', {});
    expect(result.env['AWS_S3_ENDPOINT']).toBe(`https://${minio()}`);
    checkSuccess(result);
    expect(proxy.requests()).toEqual([]);
  });

  it('harness control: kopia itself, given HTTPS_PROXY in a pod, tunnels to minio.test through the proxy', async () => {
    // Proves the name, the certificate and the proxy work, so the tests below judge the program only.
    const spec: PodSpec = {
      ...loadPod('src-args'),
      command: ['/bin/sh', '-c'],
      args: [
        `exec /usr/local/bin/kopia repository connect s3 --bucket=volsync-bucket --prefix=team-a/app/ --endpoint=${minio()} ` +
          '--root-ca-pem-path=/customCA/ca.crt --config-file=/tmp/kopia.config --cache-directory=/tmp/cache --log-dir=/tmp/logs --no-persist-credentials',
      ],
    };
    proxy.clear();
    const result = await runPod(cluster, spec, { name: 'control', env: { HTTPS_PROXY: proxy.url, KOPIA_CHECK_FOR_UPDATES: 'false' } });
    expect(result.exitCode, result.log).toBe(0);
    expect(proxy.connects().length).toBeGreaterThan(0);
    expect(new Set(proxy.connects())).toEqual(new Set([minio()]));
  });

  it('HTTPS_PROXY (with HTTP_PROXY and a NO_PROXY for other hosts): the backup succeeds through the proxy', async () => {
    const result = await backup('https-proxy', { HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url, NO_PROXY: '.svc,.cluster.local,10.0.0.0/8' });
    checkSuccess(result);
    expect(proxy.connects().length, 'CONNECTs in the proxy log').toBeGreaterThan(0);
    expect(new Set(proxy.connects())).toEqual(new Set([minio()]));
  });

  it('lowercase https_proxy (with http_proxy and no_proxy): the backup succeeds through the proxy', async () => {
    const result = await backup('https-proxy-lowercase', { https_proxy: proxy.url, http_proxy: proxy.url, no_proxy: '.svc,.cluster.local' });
    checkSuccess(result);
    expect(proxy.connects().length, 'CONNECTs in the proxy log').toBeGreaterThan(0);
    expect(new Set(proxy.connects())).toEqual(new Set([minio()]));
  });

  it('NO_PROXY=minio.test next to HTTPS_PROXY: no CONNECT, and the backup succeeds', async () => {
    const result = await backup('no-proxy-for-minio', { HTTPS_PROXY: proxy.url, NO_PROXY: S3_NAME });
    checkSuccess(result);
    expect(proxy.requests()).toEqual([]);
  });

  it("kopia's environment holds the proxy variables and what kopia needs, nothing else of the pod's", async () => {
    const result = await backup('kopia-environment', { HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url, NO_PROXY: '.svc', https_proxy: proxy.url });
    expect(summaryField(result, 'OPERATION_RESULT'), result.log).toBe('SUCCESS');
    expect(result.kopiaCalls.length).toBeGreaterThan(1);
    const podOnly = Object.keys(result.env).filter((n) => !KOPIA_ENV_ALLOWED.has(n));
    // The pod has plenty kopia must not see: VolSync's KOPIA_* settings, DATA_DIR, the image's and the runtime's own.
    expect(podOnly).toEqual(expect.arrayContaining(['KOPIA_CONFIG_PATH', 'KOPIA_ADDITIONAL_ARGS', 'DATA_DIR', 'KOPIA_CACHE_DIR', 'KOPIA_BIN', 'HOSTNAME', 'KUBERNETES_SERVICE_HOST', 'AWS_S3_ENDPOINT']));
    for (const call of result.kopiaCalls) {
      const label = `kopia ${call.argv.slice(0, 2).join(' ')}`;
      const names = Object.keys(call.env);
      expect(names.filter((n) => podOnly.includes(n)), `${label}: pod variables kopia should not see`).toEqual([]);
      expect(call.env, label).toMatchObject({
        HTTPS_PROXY: proxy.url,
        HTTP_PROXY: proxy.url,
        NO_PROXY: '.svc',
        https_proxy: proxy.url,
        KOPIA_PASSWORD: result.env['KOPIA_PASSWORD'],
        KOPIA_CHECK_FOR_UPDATES: 'false',
        AWS_ACCESS_KEY_ID: result.env['AWS_ACCESS_KEY_ID'],
        AWS_SECRET_ACCESS_KEY: result.env['AWS_SECRET_ACCESS_KEY'],
      });
    }
  });
});
