import { inputName, type MoverConfig } from './config/parse.js';
import { SECRET_VARIABLES, type EnvMap } from './env.js';
import { ConfigError } from './errors.js';
import { MIN_LENGTH } from './report/redact.js';
import { Secret } from './secret.js';
import { errorFinding, warningFinding, type Finding } from './findings.js';

// Checks of secret inputs: what cannot be redacted, and password files that are not plain text.

/**
 * A summary warning for each secret too short to redact (naming its variable, never its value):
 * output cannot be kept free of it, since blanking every "abc" would garble the log.
 */
export function shortSecretWarnings(config: Pick<MoverConfig, 'password' | 'storage' | 'inputs'>, env: EnvMap): Finding[] {
  const named = new Map<string, string>();
  for (const name of SECRET_VARIABLES) {
    const value = env[name];
    if (value !== undefined) named.set(name, value);
  }
  named.delete('KOPIA_PASSWORD');
  // The password may come from --password-file: named by the file, as the person gave it.
  named.set(inputName(config.inputs, 'KOPIA_PASSWORD'), config.password.reveal());
  for (const [name, value] of Object.entries(config.storage?.env ?? {})) {
    if (value instanceof Secret) named.set(name, value.reveal());
  }
  return [...named]
    .filter(([, value]) => value.trim() !== '' && value.length < MIN_LENGTH)
    .map(([name]) =>
      warningFinding(name, `is shorter than ${MIN_LENGTH} characters: it cannot be kept out of logs (so short a value is never redacted); use a longer secret`),
    );
}

/**
 * The password a password file holds: its text without the one line ending an editor adds.
 * A NUL byte, a byte-order mark or bytes that are not UTF-8 are refused naming the file: each
 * means the file is not what was meant (a binary, a UTF-16 save), and reading it anyway would use
 * a password other than the one typed. A UTF-8 BOM is refused rather than stripped: the file
 * would then be used as something other than what it holds, and a repository created from the
 * same file by another tool would hold the BOM in its password; the message says how to fix it.
 */
export function passwordFromFile(source: string, path: string, data: Buffer): string {
  const refuse = (why: string) => new ConfigError(errorFinding(source, `${path} cannot be used: ${why}`));
  if (data.subarray(0, 3).equals(Buffer.from([0xef, 0xbb, 0xbf]))) {
    throw refuse('it starts with a UTF-8 byte-order mark (an editor added it); save the file as UTF-8 without BOM');
  }
  if (data[0] === 0xff && data[1] === 0xfe) throw refuse('it is saved as UTF-16 (it starts with a byte-order mark); save it as UTF-8');
  if (data[0] === 0xfe && data[1] === 0xff) throw refuse('it is saved as UTF-16 (it starts with a byte-order mark); save it as UTF-8');
  if (data.includes(0)) throw refuse(`it holds a NUL byte (at byte ${data.indexOf(0)}); a password is text`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(data);
  } catch {
    throw refuse('it is not UTF-8 text');
  }
  const password = text.replace(/\r?\n$/, '');
  // Blank would read as "no password given": say what is wrong with the file instead.
  if (password.trim() === '') throw refuse(password === '' ? 'it is empty; write the repository password into it' : 'it holds only blanks; write the repository password into it');
  return password;
}
