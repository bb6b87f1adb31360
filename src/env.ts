/**
 * Read access to the environment the controller gave us. A variable that is set
 * but empty counts as unset, as the contract says.
 */
export type EnvMap = Readonly<Record<string, string | undefined>>;

export class EnvSource {
  constructor(private readonly env: EnvMap) {}

  get(name: string): string | undefined {
    const value = this.env[name];
    if (value === undefined || value.trim() === '') return undefined;
    return value;
  }

  /** The first of several alternative names that is set, with the name it came from. */
  first(...names: string[]): { name: string; value: string } | undefined {
    for (const name of names) {
      const value = this.get(name);
      if (value !== undefined) return { name, value };
    }
    return undefined;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** A copy of the raw map, for passing a filtered environment to hooks. */
  entries(): [string, string][] {
    return Object.entries(this.env).filter((e): e is [string, string] => e[1] !== undefined);
  }
}
/** Environment variables whose values are secrets: never logged, never passed to hooks. */
export const SECRET_VARIABLES = [
  'KOPIA_PASSWORD',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'KOPIA_AZURE_STORAGE_KEY',
  'AZURE_STORAGE_KEY',
  'AZURE_ACCOUNT_KEY',
  'AZURE_STORAGE_SAS_TOKEN',
  'AZURE_ACCOUNT_SAS',
  'GOOGLE_APPLICATION_CREDENTIALS',
  'GOOGLE_DRIVE_CREDENTIALS',
  'B2_APPLICATION_KEY',
  'WEBDAV_PASSWORD',
  'SFTP_PASSWORD',
  'KOPIA_STRUCTURED_REPOSITORY_CONFIG',
] as const;
