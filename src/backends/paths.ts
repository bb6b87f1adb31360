/** Checks shared by backends that take paths from the user. */
export function hasDotDotSegment(path: string): boolean {
  return path.split('/').some((segment) => segment === '..');
}

export function hasControlCharacter(value: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f]/.test(value);
}
