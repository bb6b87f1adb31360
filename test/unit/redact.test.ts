import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { containsSecret, Redactor, secretForms } from '../../src/report/redact.js';

describe('Redactor', () => {
  it('replaces every raw occurrence of a secret', () => {
    const redactor = new Redactor(['s3cr3t-pass']);
    expect(redactor.redact('a s3cr3t-pass b s3cr3t-pass')).toBe('a [redacted] b [redacted]');
  });

  it('replaces each of several secrets', () => {
    const redactor = new Redactor(['first-secret', 'second-secret']);
    expect(redactor.redact('first-secret / second-secret')).toBe('[redacted] / [redacted]');
  });

  it('leaves text without secrets unchanged', () => {
    const redactor = new Redactor(['s3cr3t-pass']);
    expect(redactor.redact('nothing to hide here')).toBe('nothing to hide here');
  });

  it('redacts the JSON-escaped form inside a JSON log line', () => {
    const secret = 'pa"ss\\wo\trd';
    const line = JSON.stringify({ level: 50, msg: `connect failed: ${secret}` });
    // The escaped form differs from the raw one, so a raw match alone would miss it.
    expect(line).not.toContain(secret);
    const out = new Redactor([secret]).redact(line);
    expect(out).not.toContain(JSON.stringify(secret).slice(1, -1));
    expect(out).not.toContain('ss\\\\wo');
    // Replacing the escaped form whole keeps the line valid JSON.
    expect(JSON.parse(out)).toEqual({ level: 50, msg: 'connect failed: [redacted]' });
  });

  it('redacts raw and escaped forms in the same text', () => {
    const secret = 'quo"ted-secret';
    const text = `raw ${secret} json ${JSON.stringify(secret)}`;
    expect(new Redactor([secret]).redact(text)).toBe('raw [redacted] json "[redacted]"');
  });

  it('redacts the longer of two overlapping secrets whole, whatever their order', () => {
    for (const secrets of [
      ['pass1234', 'pass1234-extended'],
      ['pass1234-extended', 'pass1234'],
    ]) {
      const out = new Redactor(secrets).redact('key=pass1234-extended and pass1234');
      expect(out).toBe('key=[redacted] and [redacted]');
    }
  });

  it('ignores values shorter than 4 characters, which would scrub ordinary words', () => {
    expect(new Redactor(['abc', '']).redact('abc is fine')).toBe('abc is fine');
  });
});

describe("Go's percent-encoding of a secret", () => {
  it("redacts a SAS signature as kopia printed it: Go encodes !*'() and the space, upper-case hex", () => {
    // Measured: kopia 0.22.3 `repository connect azure --sas-token=... --storage-domain=blob.invalid` printed this URL.
    // Every parameter value of a SAS token counts as secret, sv too.
    const token = "sv=2022&sig=Ab!*'()x%2By/z%20%C3%A9%3D&se=1";
    const printed = `Get "https://acct1.blob.invalid/c1?comp=list&se=1&sig=Ab%21%2A%27%28%29x%2By%2Fz%20%C3%A9%3D&sv=2022": no such host`;
    expect(new Redactor([token]).redact(printed)).toBe('Get "https://acct1.blob.invalid/c1?comp=list&se=1&sig=[redacted]&sv=[redacted]": no such host');
  });

  it('redacts every hex case and every mix of encoded and plain characters', () => {
    const r = new Redactor(["pa(ss)*wo!rd'"]);
    for (const form of ["pa%28ss%29%2Awo%21rd%27", "pa%28ss%29%2awo%21rd%27", "pa(ss%29*wo%21rd'", '%70%61%28ss%29%2Awo%21rd%27']) {
      expect(r.redact(`x=${form};`)).toBe('x=[redacted];');
    }
  });

  it("knows Go's query and path forms, upper and lower hex, among the forms the tests scan for", () => {
    const forms = secretForms("a b!*'()");
    expect(forms).toEqual(expect.arrayContaining(["a+b%21%2A%27%28%29", "a%20b%21%2A%27%28%29", "a+b%21%2a%27%28%29", "a%20b%21%2a%27%28%29"]));
  });

  it('does not redact the same letters in another case: only hex digits take either case', () => {
    expect(new Redactor(['Secret-Value']).redact('secret-value and SECRET-VALUE')).toBe('secret-value and SECRET-VALUE');
  });
});

/** A secret of at least 4 characters drawn from the characters encoders treat differently, letters and unicode. */
const secrets = fc
  .array(fc.oneof(fc.constantFrom(...`!*'()%+/ &=`.split('')), fc.constantFrom('a', 'Z', '7', '-', '_', '~'), fc.constantFrom('é', 'ß', '日', '😀', 'Ω')), {
    minLength: 4,
    maxLength: 24,
  })
  .map((chars) => chars.join(''))
  .filter((s) => s.trim().length >= 4);

/** Any percent-encoding of `text`: each character encoded or not, each hex digit in either case, a space maybe as "+". */
function mixedEncoding(text: string, choices: number[]): string {
  let i = 0;
  let out = '';
  for (const ch of text) {
    const choice = choices[i++ % choices.length]!;
    if (choice % 3 === 0) out += ch;
    else if (ch === ' ' && choice % 5 === 0) out += '+';
    else out += [...Buffer.from(ch)].map((b) => `%${b.toString(16).padStart(2, '0')}`).map((e) => (choice % 3 === 1 ? e.toUpperCase() : e)).join('');
  }
  return out;
}

describe('redaction, generated secrets', () => {
  const seed = Number(process.env['FC_SEED'] ?? 20261202);

  it("no form of a secret with !*'()%+/ &= and unicode survives redaction", () => {
    fc.assert(
      fc.property(secrets, fc.array(fc.nat(29), { minLength: 1, maxLength: 30 }), (secret, choices) => {
        const r = new Redactor([secret]);
        const printed = [...secretForms(secret), mixedEncoding(secret, choices)];
        for (const form of printed) {
          const out = r.redact(`Get "https://h/p?a=1&k=${form}&z=2": failed ${form}`);
          expect(out.includes(form), `form ${JSON.stringify(form)} survived in ${out}`).toBe(false);
          expect(containsSecret(out, [secret])).toBe(false);
        }
      }),
      { seed, numRuns: 300 },
    );
  });

  it('a redacted JSON log record stays valid JSON whatever the secret', () => {
    fc.assert(
      fc.property(secrets, (secret) => {
        const line = JSON.stringify({ level: 50, msg: `connect failed: ${secret} / ${encodeURIComponent(secret)}` });
        const out = new Redactor([secret]).redact(line);
        expect(JSON.parse(out)).toEqual({ level: 50, msg: 'connect failed: [redacted] / [redacted]' });
      }),
      { seed, numRuns: 200 },
    );
  });
});

describe('a secret of 100 KiB (a whole JSON config in a variable)', () => {
  const secret = `${'{"a":'.repeat(20_000)}"key!*'()"${'}'.repeat(20_000)}`;

  it('builds a redactor without passing the size JavaScript allows a pattern', () => {
    expect(() => new Redactor([secret, 'hunter22'])).not.toThrow();
  });

  it('is redacted as given, JSON-escaped, URL-encoded in Go\'s way and as base64, beside a short secret', () => {
    const redactor = new Redactor([secret, 'hunter22']);
    for (const form of secretForms(secret)) {
      const line = `before ${form} after hunter%32%32`;
      const out = redactor.redact(line);
      expect(out).toBe('before [redacted] after [redacted]');
      expect(containsSecret(line, [secret])).toBe(true);
    }
  });
});
