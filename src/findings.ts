/**
 * One thing found about one input, from parsing to `validate` to the summary: the variable, file
 * or flag it concerns, what is wrong, and whether it stops the run (an error) or is reported
 * (a warning). A leaf module.
 */
export interface Finding {
  source: string;
  message: string;
  severity: 'error' | 'warning';
}

export function formatFinding(f: Pick<Finding, 'source' | 'message'>): string {
  return f.source === '' ? f.message : `${f.source}: ${f.message}`;
}
