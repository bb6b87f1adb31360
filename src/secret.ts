import { inspect } from 'node:util';

/**
 * A secret value. It cannot be turned into a string by accident: template
 * literals, JSON and util.inspect all print a placeholder. The only way out is
 * `reveal()`, which is called where the value goes into the kopia child's env
 * or a 0600 temp file.
 */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '[redacted]';
  }
  toJSON(): string {
    return '[redacted]';
  }
  [inspect.custom](): string {
    return '[redacted]';
  }
}
