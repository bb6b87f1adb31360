import { describe, expect, it } from 'vitest';
import { JsonArrayElements } from '../../src/kopia/json-stream.js';

function split(text: string, chunk: number): { elements: unknown[]; count: number } {
  const elements: unknown[] = [];
  const stream = new JsonArrayElements((t) => elements.push(JSON.parse(t)));
  for (let i = 0; i < text.length; i += chunk) stream.push(text.slice(i, i + chunk));
  return { elements, count: stream.end() };
}

describe('JsonArrayElements', () => {
  const text = '[\n {"a":"x}{\\"[","b":[1,{"c":2}]},\n {"d":"]"}\n]\n';
  const expected = [{ a: 'x}{"[', b: [1, { c: 2 }] }, { d: ']' }];

  it('hands over each element of a JSON array, however the text is cut into chunks', () => {
    for (const chunk of [1, 2, 3, 7, 1000]) expect(split(text, chunk)).toEqual({ elements: expected, count: 2 });
  });

  it('an empty list has no elements', () => {
    expect(split('[]\n', 1)).toEqual({ elements: [], count: 0 });
  });

  it('a list cut short is an error, not fewer snapshots', () => {
    const stream = new JsonArrayElements(() => {});
    stream.push('[ {"a":1}, {"b":');
    expect(() => stream.end()).toThrow(/ended before/);
  });

  it('refuses output that is not a list of objects', () => {
    expect(() => new JsonArrayElements(() => {}).push('{"a":1}')).toThrow();
    expect(() => new JsonArrayElements(() => {}).push('[1, 2]')).toThrow();
  });
});
