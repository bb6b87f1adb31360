/**
 * One thing found about one input, from parsing to `validate` to the summary: the variable, file
 * or flag it concerns, what is wrong, and whether it stops the run (an error) or is reported
 * (a warning). Config, policy files and additional args all speak in findings, and return them
 * beside what they read (`Found`) rather than pushing into a list they were handed. A leaf module.
 */
export interface Finding {
  /** The variable, file or flag the finding is about. */
  source: string;
  message: string;
  severity: 'error' | 'warning';
  /**
   * The input is not a file at all (a FIFO, a device, a directory): a broken mount, not an input
   * with a mistake in it, so the run stops before the repository is touched.
   */
  blocksRun?: boolean;
  /** The field of the input (a kopia policy path, a repository config field) whose value could not be used. */
  field?: string;
}

/** What a reader made of an input, and what it found to say about it. */
export interface Found<T> {
  value: T;
  findings: Finding[];
}

export function errorFinding(source: string, message: string): Finding {
  return { source, message, severity: 'error' };
}

export function warningFinding(source: string, message: string): Finding {
  return { source, message, severity: 'warning' };
}

/** The findings that stop the run. */
export function errorsOf(findings: readonly Finding[]): Finding[] {
  return findings.filter((f) => f.severity === 'error');
}

export function formatFinding(f: Pick<Finding, 'source' | 'message'>): string {
  return f.source === '' ? f.message : `${f.source}: ${f.message}`;
}
