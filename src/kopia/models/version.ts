import * as z from 'zod';
import { parseKopiaOutput } from './parse.js';

export const VERSION_COMMAND = 'kopia --version';

/** `kopia --version`'s first line, as kopia 0.22.3 prints it: `0.22.3 build: <commit> from: kopia/kopia`. */
const VERSION_LINE = /^(\d+\.\d+\.\d+\S*) build: (\S+) from: (\S+)$/;

export const kopiaVersionSchema = z
  .string()
  .regex(VERSION_LINE, 'must read "<version> build: <commit> from: <repository>"')
  .transform((line) => {
    const [, version, build, from] = VERSION_LINE.exec(line)!;
    return { line, version: version!, build: build!, from: from! };
  });

export type KopiaVersion = z.output<typeof kopiaVersionSchema>;

/** The version kopia printed, or a KopiaOutputError quoting what its first line should have been. */
export function parseKopiaVersion(stdout: string): KopiaVersion {
  return parseKopiaOutput(VERSION_COMMAND, kopiaVersionSchema, stdout.split('\n')[0]?.trim() ?? '', { within: 'the first line' });
}
