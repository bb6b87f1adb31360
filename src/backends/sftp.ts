import { Secret } from '../secret.js';
import type { BackendDefinition, SecretFile, StorageTarget } from './types.js';
import { hasDotDotSegment } from './paths.js';
import { absolutePathValue, connectionToken, requiredValue, storageMatches } from './shared.js';

/** SFTP_HOST / SFTP_PATH: kopia's built-in SFTP client, key file or password. */
export const sftpBackend: BackendDefinition = {
  name: 'sftp',
  schemes: [],
  selectingVariables: ['SFTP_HOST', 'SFTP_PATH'],
  resolve(ctx): StorageTarget | undefined {
    const { env, issues } = ctx;
    const warnings: string[] = [];
    const before = issues.length;
    const host = requiredValue(ctx, 'SFTP_HOST', 'the SFTP server host name');
    if (host !== undefined && /[\s/@]/.test(host)) {
      issues.push({ source: 'SFTP_HOST', message: 'must be a bare host name or address, without user, port or path' });
    }
    const username = requiredValue(ctx, 'SFTP_USERNAME', 'the SFTP login name');
    const path = requiredValue(ctx, 'SFTP_PATH', 'the repository directory on the SFTP server');
    if (path !== undefined && hasDotDotSegment(path)) {
      issues.push({ source: 'SFTP_PATH', message: 'must not contain ".." segments' });
    }
    const portText = env.get('SFTP_PORT')?.trim() ?? '22';
    const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (!(port >= 1 && port <= 65535)) issues.push({ source: 'SFTP_PORT', message: 'must be a port number from 1 to 65535' });

    const keyFile = absolutePathValue(ctx, 'SFTP_KEY_FILE');
    const password = env.get('SFTP_PASSWORD');
    if (keyFile === undefined && password === undefined && !issues.some((i) => i.source === 'SFTP_KEY_FILE')) {
      issues.push({ source: 'SFTP_KEY_FILE', message: 'SFTP_KEY_FILE or SFTP_PASSWORD is required to log in' });
    }
    if (keyFile !== undefined && password !== undefined) {
      warnings.push('both SFTP_KEY_FILE and SFTP_PASSWORD are set: logging in with the key file, the password is not used');
    }
    const knownHostsFile = absolutePathValue(ctx, 'SFTP_KNOWN_HOSTS');
    const knownHostsData = env.get('SFTP_KNOWN_HOSTS_DATA')?.trim();
    if (knownHostsFile === undefined && knownHostsData === undefined && !issues.some((i) => i.source === 'SFTP_KNOWN_HOSTS')) {
      issues.push({
        source: 'SFTP_KNOWN_HOSTS',
        message: 'SFTP_KNOWN_HOSTS (a file) or SFTP_KNOWN_HOSTS_DATA is required: kopia verifies the server host key',
      });
    }
    if (knownHostsFile !== undefined && knownHostsData !== undefined) {
      warnings.push('both SFTP_KNOWN_HOSTS and SFTP_KNOWN_HOSTS_DATA are set: using SFTP_KNOWN_HOSTS_DATA');
    }
    if (knownHostsData !== undefined && host !== undefined && port !== 22 && !knownHostsData.includes(`[${host}]:${port}`)) {
      warnings.push(`SFTP_KNOWN_HOSTS_DATA has no entry for "[${host}]:${port}"; for a port other than 22 the host key must be listed that way`);
    }
    if (issues.length > before || host === undefined || username === undefined || path === undefined) return undefined;
    if (keyFile === undefined && password === undefined) return undefined;

    const hostKeys: Record<string, string> =
      knownHostsData !== undefined ? { knownHostsData } : { knownHostsFile: knownHostsFile ?? '' };
    const identifying = { host, port, username, path, keyfile: keyFile, ...hostKeys };
    const description = `SFTP repository ${username}@${host}:${port}${path.startsWith('/') ? '' : ':'}${path}`;
    const matchesStorage: StorageTarget['matchesStorage'] = (storage) =>
      storageMatches(storage, 'sftp', {
        host,
        port,
        username,
        path,
        keyfile: keyFile,
        knownHostsFile: knownHostsData !== undefined ? undefined : knownHostsFile,
        knownHostsData,
        externalSSH: false,
      });

    if (keyFile !== undefined) {
      const args = ['sftp', `--path=${path}`, `--host=${host}`, `--port=${port}`, `--username=${username}`, `--keyfile=${keyFile}`];
      args.push(knownHostsData !== undefined ? `--known-hosts-data=${knownHostsData}` : `--known-hosts=${knownHostsFile}`);
      return { backend: 'sftp', args, env: {}, secretFiles: [], description, matchesStorage, warnings };
    }

    // kopia takes the SFTP password only as --sftp-password (no environment
    // variable, no @file), which would put it in the process table. It goes
    // into a 0600 connection-token file instead, and is scrubbed from
    // kopia.config when the run ends.
    const token: SecretFile = {
      flag: '--token-file',
      content: new Secret(connectionToken('sftp', { ...identifying, keyfile: undefined, password: password ?? '' })),
      purpose: 'SFTP connection settings with the password',
    };
    return {
      backend: 'sftp',
      args: ['from-config'],
      env: {},
      secretFiles: [token],
      secretConfigKeys: ['password'],
      description,
      matchesStorage,
      warnings,
    };
  },
};
