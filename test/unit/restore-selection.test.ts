import { describe, expect, it } from 'vitest';
import { discoveryRecord, selectSnapshot, snapshotsOf, type SnapshotEntry } from '../../src/operations/select.js';

function snap(id: string, startTime: string, extra: Partial<SnapshotEntry['source']> = {}): SnapshotEntry {
  return {
    id,
    source: { host: 'ns', userName: 'app', path: '/data', ...extra },
    startTime,
    endTime: startTime,
  };
}

// Deliberately not in time order.
const S1 = snap('k1', '2024-03-01T01:00:00Z');
const S3 = snap('k3', '2024-03-03T01:00:00Z');
const S2 = snap('k2', '2024-03-02T01:00:00Z');
const S4 = snap('k4', '2024-03-04T01:00:00Z');
const ALL = [S2, S4, S1, S3];

const ids = (list: readonly SnapshotEntry[]) => list.map((s) => s.id);

describe('snapshotsOf', () => {
  it('orders newest first whatever the input order', () => {
    expect(ids(snapshotsOf(ALL, 'app', 'ns', '/data'))).toEqual(['k4', 'k3', 'k2', 'k1']);
    expect(ids(snapshotsOf([...ALL].reverse(), 'app', 'ns', '/data'))).toEqual(['k4', 'k3', 'k2', 'k1']);
  });

  it('keeps only the requested user, host and path', () => {
    const others = [
      snap('other-user', '2024-03-05T00:00:00Z', { userName: 'bob' }),
      snap('other-host', '2024-03-05T00:00:00Z', { host: 'elsewhere' }),
      snap('other-path', '2024-03-05T00:00:00Z', { path: '/data/sub' }),
    ];
    expect(ids(snapshotsOf([...others, ...ALL], 'app', 'ns', '/data'))).toEqual(['k4', 'k3', 'k2', 'k1']);
  });

  it('orders by instant, not by text, across zone offsets', () => {
    // 12:30+05:00 is 07:30Z: textually after 10:00Z, in time before it.
    const zulu = snap('zulu', '2024-03-01T10:00:00Z');
    const plus5 = snap('plus5', '2024-03-01T12:30:00+05:00');
    expect(ids(snapshotsOf([plus5, zulu], 'app', 'ns', '/data'))).toEqual(['zulu', 'plus5']);
  });

  it('breaks a same-millisecond tie on the nanosecond digits', () => {
    const early = snap('early', '2024-03-01T10:00:00.123456001Z');
    const late = snap('late', '2024-03-01T10:00:00.123456789Z');
    expect(ids(snapshotsOf([early, late], 'app', 'ns', '/data'))).toEqual(['late', 'early']);
    expect(ids(snapshotsOf([late, early], 'app', 'ns', '/data'))).toEqual(['late', 'early']);
  });

  it('snapshots whose fractions have different lengths order by the real nanoseconds', () => {
    const older = { id: 'older', source: { host: 'h', userName: 'u', path: '/d' }, startTime: '2024-01-01T00:00:00.1234567Z' };
    const newer = { id: 'newer', source: { host: 'h', userName: 'u', path: '/d' }, startTime: '2024-01-01T00:00:00.12345679Z' };
    expect(snapshotsOf([older, newer], 'u', 'h', '/d').map((s) => s.id)).toEqual(['newer', 'older']);
  });
});

describe('selectSnapshot', () => {
  it('previous=0 is the newest, whatever the input order', () => {
    expect(selectSnapshot(ALL, { previous: 0 })?.id).toBe('k4');
  });

  it('previous=1 is the second newest', () => {
    expect(selectSnapshot(ALL, { previous: 1 })?.id).toBe('k3');
  });

  it('previous beyond the list selects nothing', () => {
    expect(selectSnapshot(ALL, { previous: 4 })).toBeUndefined();
  });

  it('no snapshots selects nothing', () => {
    expect(selectSnapshot([], { previous: 0 })).toBeUndefined();
  });

  it('as-of keeps snapshots at or before the instant', () => {
    expect(selectSnapshot(ALL, { asOf: new Date('2024-03-02T01:00:00Z'), previous: 0 })?.id).toBe('k2');
    expect(selectSnapshot(ALL, { asOf: new Date('2024-03-02T00:59:59Z'), previous: 0 })?.id).toBe('k1');
  });

  it('as-of compares instants: a +05:00 time that reads later but is earlier qualifies', () => {
    const plus5 = snap('plus5', '2024-03-01T12:30:00+05:00'); // 07:30Z
    const zulu = snap('zulu', '2024-03-01T10:00:00Z');
    const asOf = new Date('2024-03-01T09:00:00Z');
    expect(selectSnapshot([zulu, plus5], { asOf, previous: 0 })?.id).toBe('plus5');
  });

  it('as-of with a +02:00 limit excludes a snapshot that is textually earlier but later in time', () => {
    const zulu = snap('zulu', '2024-03-01T00:30:00Z');
    const asOf = new Date('2024-03-01T01:00:00+02:00'); // 2024-02-29T23:00Z
    const old = snap('old', '2024-02-29T22:00:00Z');
    expect(selectSnapshot([zulu, old], { asOf, previous: 0 })?.id).toBe('old');
  });

  it('as-of before every snapshot selects nothing', () => {
    expect(selectSnapshot(ALL, { asOf: new Date('2024-01-01T00:00:00Z'), previous: 0 })).toBeUndefined();
  });

  it('shallow keeps the newest N, then previous skips within them', () => {
    expect(selectSnapshot(ALL, { shallow: 2, previous: 1 })?.id).toBe('k3');
    expect(selectSnapshot(ALL, { shallow: 2, previous: 2 })).toBeUndefined();
  });

  it('shallow=1 with previous=1 selects nothing', () => {
    expect(selectSnapshot(ALL, { shallow: 1, previous: 1 })).toBeUndefined();
  });

  it('applies as-of before shallow and previous', () => {
    const rules = { asOf: new Date('2024-03-03T12:00:00Z'), shallow: 2, previous: 1 };
    // as-of leaves k3,k2,k1; shallow keeps k3,k2; previous=1 gives k2.
    expect(selectSnapshot(ALL, rules)?.id).toBe('k2');
  });

  it('picks the later of two same-millisecond snapshots', () => {
    const early = snap('early', '2024-03-01T10:00:00.123456001Z');
    const late = snap('late', '2024-03-01T10:00:00.123456789Z');
    expect(selectSnapshot([early, late], { previous: 0 })?.id).toBe('late');
    expect(selectSnapshot([late, early], { previous: 1 })?.id).toBe('early');
  });

  it('does not reorder the caller\'s array', () => {
    const input = [...ALL];
    selectSnapshot(input, { previous: 0 });
    expect(ids(input)).toEqual(ids(ALL));
  });
});

describe('discoveryRecord', () => {
  it('has exactly id, userName, hostName, path, startTime, endTime', () => {
    const record = JSON.parse(discoveryRecord({ ...S1, endTime: '2024-03-01T01:05:00Z' })) as Record<string, unknown>;
    expect(Object.keys(record)).toEqual(['id', 'userName', 'hostName', 'path', 'startTime', 'endTime']);
    expect(record).toEqual({
      id: 'k1',
      userName: 'app',
      hostName: 'ns',
      path: '/data',
      startTime: '2024-03-01T01:00:00Z',
      endTime: '2024-03-01T01:05:00Z',
    });
  });

  it('is one line and keeps endTime as null when kopia gave none', () => {
    const text = discoveryRecord({ id: 'k9', source: S1.source, startTime: S1.startTime });
    expect(text).not.toContain('\n');
    expect(JSON.parse(text)).toHaveProperty('endTime', null);
  });
});
