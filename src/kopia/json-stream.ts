/**
 * Splits kopia's `--json` array output (`[ {...}, {...} ]`) into its elements as they arrive, so a
 * list of thousands of snapshots is never held as one string nor parsed as one value: each element
 * is handed over as text, to be parsed and kept or dropped on its own.
 */
export class JsonArrayElements {
  private depth = 0;
  private inString = false;
  private escaped = false;
  private element: string[] = [];
  private inElement = false;
  private closed = false;
  private count = 0;

  constructor(private readonly onElement: (text: string) => void) {}

  push(text: string): void {
    let start = this.inElement ? 0 : -1;
    for (let i = 0; i < text.length; i++) {
      const c = text[i]!;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === '\\') this.escaped = true;
        else if (c === '"') this.inString = false;
        continue;
      }
      if (this.depth === 0) {
        if (c === '[') this.depth = 1;
        else if (!/\s/.test(c)) throw new Error('kopia printed something other than a JSON array');
        continue;
      }
      if (this.depth === 1 && !this.inElement) {
        if (/\s/.test(c) || c === ',') continue;
        if (c === ']') {
          this.depth = 0;
          this.closed = true;
          continue;
        }
        if (c !== '{') throw new Error('kopia printed a JSON list of something other than objects');
        this.inElement = true;
        start = i;
      }
      if (c === '"') this.inString = true;
      else if (c === '{' || c === '[') this.depth++;
      else if (c === '}' || c === ']') {
        this.depth--;
        if (this.depth === 1) {
          this.element.push(text.slice(start, i + 1));
          this.finish();
          start = -1;
        }
      }
    }
    if (this.inElement && start >= 0) this.element.push(text.slice(start));
  }

  private finish(): void {
    const text = this.element.join('');
    this.element = [];
    this.inElement = false;
    this.count++;
    this.onElement(text);
  }

  /** The number of elements seen; throws when the array never closed (kopia was cut short). */
  end(): number {
    if (!this.closed) throw new Error('kopia\'s JSON list ended before its closing bracket');
    return this.count;
  }
}
