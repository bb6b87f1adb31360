/**
 * SFTP (OpenSSH sshd as root, its own config, on a high port) with a login user, a key pair and
 * a known_hosts entry.
 *
 * What kopia 0.22.3 did against it:
 *   Internal client (default; --external not needed):
 *   kopia repository create sftp --host=127.0.0.1 --port=PORT --username=kmtest --path=/abs/dir
 *     key:      --keyfile=/path/key or --key-data="<private key PEM text>"
 *     password: --sftp-password=PASS (no env var exists for it)
 *     host key: --known-hosts=/path or --known-hosts-data="<line>"; one is mandatory ("must provide
 *               either --known-hosts or --known-hosts-data"); the entry must be for "[127.0.0.1]:PORT",
 *               otherwise "knownhosts: key is unknown".
 *   --embed-credentials works (stores key and known_hosts in the kopia config).
 *   --external also works: kopia runs `ssh <ssh-args split on spaces> user@host -s sftp` and does not
 *   pass --port, so e.g. --ssh-args="-i KEY -p PORT -o UserKnownHostsFile=FILE -o BatchMode=yes".
 *   Files are stored with a ".f" suffix (kopia.repository.f, sharded p/q dirs).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { LOOPBACK, makeTempDir, pollUntil, removeTempDir, requireBinary, runSync, spawnServer, startOnFreePort } from './common.js';

export interface SftpServer {
  host: string;
  port: number;
  user: string;
  password: string;
  keyFile: string;
  publicKey: string;
  knownHostsFile: string;
  knownHostsData: string;
  root: string;
  stop(): Promise<void>;
}

const SFTP_USER = 'kmtest';
const SFTP_PASSWORD = 'kmtest-Sftp-Pass-1';

function userIds(user: string): { uid: number; gid: number } | undefined {
  const uid = spawnSync('id', ['-u', user], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', user], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) return undefined;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/**
 * Creates the login user once. Parallel test files may race here: a useradd that loses (the
 * passwd file is locked, or the user appeared meanwhile) is tried again until the user exists.
 */
async function ensureSftpUser(): Promise<{ uid: number; gid: number }> {
  const useradd = requireBinary('useradd');
  const chpasswd = requireBinary('chpasswd');
  let ids: { uid: number; gid: number } | undefined;
  await pollUntil(`could not create user ${SFTP_USER} with useradd`, async () => {
    ids = userIds(SFTP_USER);
    if (ids !== undefined) return true;
    const added = spawnSync(useradd, ['--create-home', '--shell', '/bin/sh', SFTP_USER], { encoding: 'utf8' });
    ids = userIds(SFTP_USER);
    if (ids === undefined) throw new Error(added.stderr.trim() || `useradd exited ${added.status}`);
    return true;
  }, { timeoutMs: 10_000, intervalMs: 200 });
  runSync(chpasswd, [], `${SFTP_USER}:${SFTP_PASSWORD}\n`);
  return ids!;
}

/** Needs root: it creates the user kmtest and runs sshd. */
export async function startSftpServer(): Promise<SftpServer> {
  if (process.getuid?.() !== 0) {
    throw new Error('startSftpServer needs root: it creates the user kmtest and runs sshd');
  }
  const sshd = requireBinary('sshd');
  const sshKeygen = requireBinary('ssh-keygen');
  const ids = await ensureSftpUser();

  const dir = makeTempDir('sftp');
  try {
    // sshd reads authorized_keys as the login user, so it must be able to reach it.
    chmodSync(dir, 0o755);
    const hostKey = path.join(dir, 'ssh_host_ed25519_key');
    const keyFile = path.join(dir, 'client_ed25519');
    const authorizedKeys = path.join(dir, 'authorized_keys');
    const root = path.join(dir, 'root');
    runSync(sshKeygen, ['-q', '-t', 'ed25519', '-N', '', '-C', 'kopia-mover-test-host', '-f', hostKey]);
    runSync(sshKeygen, ['-q', '-t', 'ed25519', '-N', '', '-C', 'kopia-mover-test-client', '-f', keyFile]);
    chmodSync(keyFile, 0o600);
    const publicKey = readFileSync(`${keyFile}.pub`, 'utf8').trim();
    writeFileSync(authorizedKeys, `${publicKey}\n`, { mode: 0o644 });
    mkdirSync(root, { mode: 0o755 });
    chownSync(root, ids.uid, ids.gid);
    // Debian's sshd refuses to start without its privilege separation directory.
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });

    const hostPub = readFileSync(`${hostKey}.pub`, 'utf8').trim().split(/\s+/);
    const { port, running } = await startOnFreePort(async (port) => {
      const config = path.join(dir, 'sshd_config');
      writeFileSync(
        config,
        [
          `Port ${port}`,
          `ListenAddress ${LOOPBACK}`,
          `HostKey ${hostKey}`,
          `PidFile ${path.join(dir, 'sshd.pid')}`,
          `AuthorizedKeysFile ${authorizedKeys}`,
          // The temp dir lives under world-writable /tmp, which StrictModes would reject.
          'StrictModes no',
          'PubkeyAuthentication yes',
          'PasswordAuthentication yes',
          'KbdInteractiveAuthentication no',
          // Without PAM, sshd checks passwords against /etc/shadow itself.
          'UsePAM no',
          'PermitRootLogin no',
          `AllowUsers ${SFTP_USER}`,
          'Subsystem sftp internal-sftp',
          'LogLevel VERBOSE',
          '',
        ].join('\n'),
      );
      // sshd re-executes itself, so it needs an absolute path; -e sends its log to stderr.
      return { port, running: await spawnServer('sshd', sshd, ['-D', '-e', '-f', config], port) };
    });

    const knownHostsData = `[${LOOPBACK}]:${port} ${hostPub[0]} ${hostPub[1]}`;
    const knownHostsFile = path.join(dir, 'known_hosts');
    writeFileSync(knownHostsFile, `${knownHostsData}\n`);
    let stopped: Promise<void> | undefined;
    return {
      host: LOOPBACK,
      port,
      user: SFTP_USER,
      password: SFTP_PASSWORD,
      keyFile,
      publicKey,
      knownHostsFile,
      knownHostsData,
      root,
      stop: () => (stopped ??= running.stop().then(() => removeTempDir(dir))),
    };
  } catch (err) {
    await removeTempDir(dir);
    throw err;
  }
}
