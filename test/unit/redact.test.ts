import { describe, expect, it } from 'vitest';
import { Redactor } from '../../src/report/redact.js';

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
