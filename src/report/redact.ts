/** Replaces every known secret value (and its JSON-escaped form) in a string. */
export class Redactor {
  private readonly needles: string[];
  constructor(secrets: readonly string[]) {
    const all = new Set<string>();
    for (const s of secrets) {
      if (s.length < 4) continue;
      all.add(s);
      all.add(JSON.stringify(s).slice(1, -1));
    }
    this.needles = [...all].sort((a, b) => b.length - a.length);
  }

  redact(text: string): string {
    let out = text;
    for (const needle of this.needles) {
      if (out.includes(needle)) out = out.split(needle).join('[redacted]');
    }
    return out;
  }
}
