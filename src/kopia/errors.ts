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

/** A create that found the repository made by someone else in the meantime: it lost the race. */
export function createLost(tail: readonly string[]): boolean {
  return tail.some((l) => /found existing data in storage location|repository already initialized|blobcfg blob exists, but format blob is not found/i.test(l));
}

/**
 * What a connect sees while another mover's create is half-written: the format blob not there
 * yet, or the blob config of one creator beside the format blob of another (until the last
 * creator's second write lands). Both pass within the creator's next second or two.
 */
export function creationInFlight(tail: readonly string[]): boolean {
  return repositoryMissing(tail) || tail.some((l) => /unable to decrypt repository blobcfg blob/i.test(l));
}
