import * as z from 'zod';
import { Secret } from '../secret.js';
import type { SecretFile, StorageTarget } from './types.js';
import {
  absolutePath,
  backendVariables,
  connectionToken,
  defineBackend,
  hasDotDotSegment,
  line,
  required,
  secret,
  storageMatches,
} from './shared.js';

function port() {
  const message = 'must be a port number from 1 to 65535';
  return z
    .string()
    .trim()
    .regex(/^\d{1,5}$/, message)
    .transform(Number)
    .pipe(z.number().min(1, message).max(65535, message));
}

function variables() {
  return backendVariables(
    {
      SFTP_HOST: required(
        line().refine((v) => !/[\s/@]/.test(v), 'must be a bare host name or address, without user, port or path'),
        'the SFTP server host name',
      ),
      SFTP_PORT: port().default(22),
      SFTP_USERNAME: required(line(), 'the SFTP login name'),
      SFTP_PATH: required(
        line().refine((v) => !hasDotDotSegment(v), 'must not contain ".." segments'),
        'the repository directory on the SFTP server',
      ),
      SFTP_KEY_FILE: absolutePath().optional(),
      SFTP_PASSWORD: secret().optional(),
      SFTP_KNOWN_HOSTS: absolutePath().optional(),
      // One host key per line, so it may hold newlines.
      SFTP_KNOWN_HOSTS_DATA: z.string().trim().optional(),
    },
    {
      rules: (given, report) => {
        if (given.SFTP_KEY_FILE === undefined && given.SFTP_PASSWORD === undefined) {
          report('SFTP_KEY_FILE', 'SFTP_KEY_FILE or SFTP_PASSWORD is required to log in');
        }
        if (given.SFTP_KNOWN_HOSTS === undefined && given.SFTP_KNOWN_HOSTS_DATA === undefined) {
          report('SFTP_KNOWN_HOSTS', 'SFTP_KNOWN_HOSTS (a file) or SFTP_KNOWN_HOSTS_DATA is required: kopia verifies the server host key');
        }
      },
    },
  );
}

type Values = z.output<ReturnType<typeof variables>>;

function target(values: Values): StorageTarget {
  const { SFTP_HOST: host, SFTP_PORT: port, SFTP_USERNAME: username, SFTP_PATH: path } = values;
  const { SFTP_KEY_FILE: keyFile, SFTP_PASSWORD: password, SFTP_KNOWN_HOSTS: knownHostsFile, SFTP_KNOWN_HOSTS_DATA: knownHostsData } = values;
  const warnings: string[] = [];
  if (keyFile !== undefined && password !== undefined) {
    warnings.push('both SFTP_KEY_FILE and SFTP_PASSWORD are set: logging in with the key file, the password is not used');
  }
  if (knownHostsFile !== undefined && knownHostsData !== undefined) {
    warnings.push('both SFTP_KNOWN_HOSTS and SFTP_KNOWN_HOSTS_DATA are set: using SFTP_KNOWN_HOSTS_DATA');
  }
  if (knownHostsData !== undefined && port !== 22 && !knownHostsData.includes(`[${host}]:${port}`)) {
    warnings.push(`SFTP_KNOWN_HOSTS_DATA has no entry for "[${host}]:${port}"; for a port other than 22 the host key must be listed that way`);
  }

  const hostKeys: Record<string, string> =
    knownHostsData !== undefined ? { knownHostsData } : { knownHostsFile: knownHostsFile ?? '' };
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
    content: new Secret(connectionToken('sftp', { host, port, username, path, ...hostKeys, password: password?.reveal() ?? '' })),
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
}

/** SFTP_HOST / SFTP_PATH: kopia's built-in SFTP client, key file or password. */
export const sftpBackend = defineBackend({
  name: 'sftp',
  schemes: [],
  selectingVariables: ['SFTP_HOST', 'SFTP_PATH'],
  variables,
  target,
});
