/**
 * Splits a byte stream into lines, telling lines ended by a carriage return
 * (kopia's in-place progress updates) from ordinary ones. Holds at most one
 * partial line, so memory stays flat however much kopia prints.
 */
export class LineSplitter {
  private partial = '';
  constructor(private readonly onLine: (line: string, isProgress: boolean) => void) {}

  push(chunk: string): void {
    let text = this.partial + chunk;
    let start = 0;
    // A trailing CR may be the first half of a CRLF split across chunks.
    const end = text.endsWith('\r') ? text.length - 1 : text.length;
    for (let i = 0; i < end; i++) {
      const c = text[i];
      if (c !== '\n' && c !== '\r') continue;
      // A CRLF pair ends one ordinary line.
      if (c === '\r' && text[i + 1] === '\n') continue;
      const line = text.slice(start, c === '\n' && text[i - 1] === '\r' ? i - 1 : i);
      start = i + 1;
      if (line.trim().length > 0) this.onLine(line, c === '\r');
    }
    text = text.slice(start);
    // Guard against a producer that never ends a line.
    this.partial = text.length > 1_000_000 ? text.slice(-1_000_000) : text;
  }

  end(): void {
    const progress = this.partial.endsWith('\r');
    const line = progress ? this.partial.slice(0, -1) : this.partial;
    if (line.trim().length > 0) this.onLine(line, progress);
    this.partial = '';
  }
}
