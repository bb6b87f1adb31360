/** Checks shared by backends that take paths from the user. */
export function hasDotDotSegment(path: string): boolean {
  return path.split('/').some((segment) => segment === '..');
}

