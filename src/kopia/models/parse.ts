import type * as z from 'zod';
import { OperationError } from '../../errors.js';

/**
 * Output of kopia's that does not have the shape its model declares: names the command (or kopia's
 * file) it came from and the field, so that a kopia that changed its output is seen at once and
 * nothing is decided on a value that was guessed.
 */
export class KopiaOutputError extends OperationError {
  constructor(
    /** The kopia command as typed, `kopia maintenance info --json`, or kopia's file, `kopia.config`. */
    readonly command: string,
    /** The path of the field, `rootEntry.summ.files`, or what was unreadable as a whole. */
    readonly field: string,
    /** What is wrong with the field, without the command and field. */
    readonly problem: string,
    kopiaOutput?: string,
  ) {
    super(`could not read ${command}: ${field}: ${problem}`, kopiaOutput);
  }
}

/** Where `within` locates a value inside the output (`snapshot 2`), its field paths are read below it. */
export interface ParseOptions {
  within?: string;
  /** kopia's own words (its last lines), kept with the error for the summary. */
  kopiaOutput?: string;
}

/** The field path of the first problem, `stats.errorCount`, or the value as a whole. */
function fieldOf(issue: z.core.$ZodIssue | undefined, within: string | undefined): string {
  const path = issue?.path.map(String).join('.') ?? '';
  if (within === undefined) return path || 'the output as a whole';
  return path ? `${within} ${path}` : within;
}

/**
 * A value kopia printed, checked against its model: the model's output (fields the program does not
 * read are dropped or passed through, as the model says), or a KopiaOutputError for a missing or
 * wrong field.
 */
export function parseKopiaOutput<M extends z.ZodType>(command: string, model: M, value: unknown, options: ParseOptions = {}): z.output<M> {
  const parsed = model.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new KopiaOutputError(command, fieldOf(issue, options.within), issue?.message ?? 'is not valid', options.kopiaOutput);
}

/** JSON text kopia printed (or wrote), parsed and then checked against its model. */
export function parseKopiaJson<M extends z.ZodType>(command: string, model: M, text: string, options: ParseOptions = {}): z.output<M> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    const what = text.trim() === '' ? 'empty' : 'text that is not JSON';
    throw new KopiaOutputError(command, options.within ?? 'the output as a whole', `${what} where JSON was expected`, options.kopiaOutput);
  }
  return parseKopiaOutput(command, model, value, options);
}
