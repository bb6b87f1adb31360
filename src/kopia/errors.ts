/** Recognises kinds of kopia failure from its output, so each maps to the right exit code. */
export function repositoryMissing(tail: readonly string[]): boolean {
  return tail.some(
    (l) =>
      /repository not initialized in the provided storage/i.test(l) ||
      // A filesystem repository whose directory does not exist yet.
      /cannot access storage path: stat .*: no such file or directory/i.test(l),
  );
}

export function wrongPassword(tail: readonly string[]): boolean {
  return tail.some((l) => /invalid repository password/i.test(l));
}

/** Failures opening the repository at all (as opposed to the operation on it failing). */
export function repositoryUnavailable(tail: readonly string[]): boolean {
  return tail.some((l) =>
    /invalid repository password|repository not initialized|not connected to a repository|unable to open repository|error connecting to repository|failed to open repository|unable to connect to storage/i.test(
      l,
    ),
  );
}
