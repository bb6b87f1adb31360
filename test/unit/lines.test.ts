import { describe, expect, it } from 'vitest';
import { LineSplitter } from '../../src/kopia/lines.js';

type Seen = Array<[string, boolean]>;

function feed(chunks: string[], end = true): Seen {
  const seen: Seen = [];
  const splitter = new LineSplitter((line, isProgress) => seen.push([line, isProgress]));
  for (const chunk of chunks) splitter.push(chunk);
  if (end) splitter.end();
  return seen;
}

describe('LineSplitter', () => {
  it('flags carriage-return-terminated lines as progress', () => {
    expect(feed(['3 files hashed\r4 files hashed\r'])).toEqual([
      ['3 files hashed', true],
      ['4 files hashed', true],
    ]);
  });

  it('LF-terminated lines are ordinary', () => {
    expect(feed(['one\ntwo\n'])).toEqual([
      ['one', false],
      ['two', false],
    ]);
  });

  it('CRLF-terminated lines are ordinary and lose the CR', () => {
    expect(feed(['one\r\ntwo\r\n'])).toEqual([
      ['one', false],
      ['two', false],
    ]);
  });

  it('mixes progress updates and a final ordinary line', () => {
    expect(feed([' * 0 hashing\r * 1 hashing\rCreated snapshot with root k123\n'])).toEqual([
      [' * 0 hashing', true],
      [' * 1 hashing', true],
      ['Created snapshot with root k123', false],
    ]);
  });

  it('joins a line split across chunks', () => {
    expect(feed(['Crea', 'ted snap', 'shot\nnext', ' line\r'])).toEqual([
      ['Created snapshot', false],
      ['next line', true],
    ]);
  });

  it('handles one character per chunk', () => {
    expect(feed([...'ab\ncd\r'])).toEqual([
      ['ab', false],
      ['cd', true],
    ]);
  });

  it('a CRLF split across chunks ends an ordinary line, not a progress update', () => {
    const seen: [string, boolean][] = [];
    const splitter = new LineSplitter((line, progress) => seen.push([line, progress]));
    splitter.push('abc\r');
    splitter.push('\nxyz\n');
    splitter.end();
    expect(seen).toEqual([
      ['abc', false],
      ['xyz', false],
    ]);
  });

  it('drops empty and blank lines', () => {
    expect(feed(['\n\n  \n\r\r\nreal\n\t\n'])).toEqual([['real', false]]);
  });

  it('holds an unterminated line until end()', () => {
    const seen: Seen = [];
    const splitter = new LineSplitter((line, isProgress) => seen.push([line, isProgress]));
    splitter.push('done\npartial');
    expect(seen).toEqual([['done', false]]);
    splitter.end();
    expect(seen).toEqual([
      ['done', false],
      ['partial', false],
    ]);
  });

  it('end() with nothing pending emits nothing, and twice emits once', () => {
    expect(feed(['whole\n'])).toEqual([['whole', false]]);
    const seen: Seen = [];
    const splitter = new LineSplitter((line, isProgress) => seen.push([line, isProgress]));
    splitter.push('tail');
    splitter.end();
    splitter.end();
    expect(seen).toEqual([['tail', false]]);
  });

  it('keeps leading spaces of a line', () => {
    expect(feed(['  indented\n'])).toEqual([['  indented', false]]);
  });
});
