import { closest } from '../text.js';
import type { EnvMap } from '../env.js';
import { warningFinding, type Finding } from '../findings.js';

/** The namespaces whose variables are meant for the mover, kopia or the storage SDKs kopia uses. */
const NAMESPACE = /^(KOPIA|AWS|AZURE|B2|GCS|SFTP|WEBDAV|RCLONE)_/;

/** Variables the mover reads outside its value schema (backends, secrets, its own tooling). */
const READ_ELSEWHERE = [
  'KOPIA_PASSWORD', 'KOPIA_REPOSITORY', 'KOPIA_ADDITIONAL_ARGS', 'KOPIA_MANUAL_CONFIG', 'KOPIA_STRUCTURED_REPOSITORY_CONFIG',
  'KOPIA_BIN', 'KOPIA_MOVER_HOME', 'KOPIA_S3_BUCKET', 'KOPIA_S3_ENDPOINT', 'KOPIA_S3_DISABLE_TLS', 'AWS_S3_ENDPOINT',
  'AWS_S3_DISABLE_TLS', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_REGION', 'AWS_DEFAULT_REGION',
  'KOPIA_AZURE_CONTAINER', 'KOPIA_AZURE_STORAGE_ACCOUNT', 'AZURE_STORAGE_ACCOUNT', 'AZURE_ACCOUNT_NAME', 'KOPIA_AZURE_STORAGE_KEY',
  'AZURE_STORAGE_KEY', 'AZURE_ACCOUNT_KEY', 'AZURE_STORAGE_SAS_TOKEN', 'AZURE_ACCOUNT_SAS', 'AZURE_ENDPOINT_SUFFIX',
  'KOPIA_GCS_BUCKET', 'GCS_BUCKET', 'KOPIA_B2_BUCKET', 'B2_ACCOUNT_ID', 'B2_APPLICATION_KEY', 'WEBDAV_URL', 'WEBDAV_USERNAME',
  'WEBDAV_PASSWORD', 'SFTP_HOST', 'SFTP_PORT', 'SFTP_USERNAME', 'SFTP_PASSWORD', 'SFTP_PATH', 'SFTP_KEY_FILE', 'SFTP_KNOWN_HOSTS',
  'SFTP_KNOWN_HOSTS_DATA', 'RCLONE_REMOTE_PATH', 'RCLONE_EXE', 'RCLONE_CONFIG',
];

/** Read by kopia itself or by the storage SDKs it is built with (set by the image, the cluster or a user of kopia). */
const KOPIA_READS = [
  'KOPIA_CONFIG_PATH', 'KOPIA_LOG_DIR', 'KOPIA_CACHE_DIRECTORY', 'KOPIA_CHECK_FOR_UPDATES', 'KOPIA_PERSIST_CREDENTIALS_ON_CONNECT',
  'KOPIA_USE_KEYRING', 'KOPIA_WEBDAV_USERNAME', 'KOPIA_WEBDAV_PASSWORD', 'KOPIA_NEW_PASSWORD', 'KOPIA_UPGRADE_LOCK_ENABLED',
  'KOPIA_SERVER_USERNAME', 'KOPIA_SERVER_PASSWORD', 'KOPIA_SERVER_CONTROL_USER', 'KOPIA_SERVER_CONTROL_PASSWORD',
  'KOPIA_CONTENT_CACHE_SIZE_MB', 'KOPIA_METADATA_CACHE_SIZE_MB', 'KOPIA_BYTES_STRING_BASE2',
  'AWS_PROFILE', 'AWS_SHARED_CREDENTIALS_FILE', 'AWS_CONFIG_FILE', 'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_ROLE_ARN',
  'AWS_ROLE_SESSION_NAME', 'AWS_CA_BUNDLE', 'AWS_STS_REGIONAL_ENDPOINTS', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_CONTAINER_AUTHORIZATION_TOKEN', 'AWS_EC2_METADATA_DISABLED', 'AWS_ACCESS_KEY',
  'AWS_SECRET_KEY', 'AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET', 'AZURE_TENANT_ID', 'AZURE_CLIENT_CERTIFICATE_PATH',
  'AZURE_CLIENT_CERTIFICATE_PASSWORD', 'AZURE_FEDERATED_TOKEN_FILE', 'AZURE_AUTHORITY_HOST', 'AZURE_REGIONAL_AUTHORITY_NAME',
  'B2_KEY_ID', 'B2_KEY',
];

/**
 * One warning for each variable in the mover's namespaces that neither the mover nor kopia reads:
 * a misspelled KOPIA_RETAIN_DAYLY would otherwise be ignored without a word, and the retention
 * the user asked for silently missing. The closest name the mover reads is suggested.
 */
export function unknownVariableWarnings(env: EnvMap, schemaNames: readonly string[]): Finding[] {
  const mine = [...new Set([...schemaNames, ...READ_ELSEWHERE])];
  const known = new Set([...mine, ...KOPIA_READS]);
  const warnings: Finding[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!NAMESPACE.test(name) || known.has(name) || env[name] === undefined) continue;
    const near = closest(name, mine);
    // rclone reads RCLONE_CONFIG_<REMOTE>_* and RCLONE_<FLAG> itself: only a near miss of the mover's own is worth a word.
    if (name.startsWith('RCLONE_') && near === undefined) continue;
    warnings.push(warningFinding(name, `is not a variable kopia-mover or kopia reads, so it has no effect${near ? `; did you mean ${near}?` : ''}`));
  }
  return warnings;
}
