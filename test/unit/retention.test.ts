// kopia's retention rules on hand-made snapshot lists: the cases a generated test against real
// kopia cannot make on demand (incomplete snapshots, pins, equal start times, nanoseconds).
import { describe, expect, it } from 'vitest';
import { applyRetention, expiredByRetention, type RetainedSnapshot } from '../../src/policy/retention.js';

const snap = (id: string, startTime: string, extra: Partial<RetainedSnapshot> = {}): RetainedSnapshot => ({ id, startTime, ...extra });
const none = { keepLatest: 0, keepHourly: 0, keepDaily: 0, keepWeekly: 0, keepMonthly: 0, keepAnnual: 0 };

describe('retention', () => {
  it('keeps the newest keepLatest and expires the rest, newest first', () => {
    const list = [snap('a', '2024-01-01T00:00:00Z'), snap('c', '2024-01-03T00:00:00Z'), snap('b', '2024-01-02T00:00:00Z')];
    expect(expiredByRetention(list, { ...none, keepLatest: 1 }).map((s) => s.id)).toEqual(['b', 'a']);
    expect(applyRetention(list, { ...none, keepLatest: 1 })[0]).toMatchObject({ reasons: ['latest-1'], expires: false });
  });

  it('keeps everything when every field is 0', () => {
    expect(expiredByRetention([snap('a', '2024-01-01T00:00:00Z'), snap('b', '2020-01-01T00:00:00Z')], none)).toEqual([]);
  });

  it('takes each period once, the newest snapshot in it', () => {
    const list = [snap('a', '2024-03-05T10:00:00Z'), snap('b', '2024-03-05T11:00:00Z'), snap('c', '2024-03-06T09:00:00Z')];
    const verdicts = applyRetention(list, { ...none, keepDaily: 5 });
    expect(verdicts.map((v) => [v.snapshot.id, v.reasons])).toEqual([
      ['c', ['daily-1']],
      ['b', ['daily-2']],
      ['a', []],
    ]);
  });

  it('counts periods only from the cutoff back from the newest complete snapshot', () => {
    const list = [snap('new', '2024-03-10T00:00:00Z'), snap('old', '2024-03-01T00:00:00Z')];
    expect(expiredByRetention(list, { ...none, keepDaily: 7 }).map((s) => s.id)).toEqual(['old']);
    expect(expiredByRetention(list, { ...none, keepDaily: 9 })).toEqual([]);
  });

  it('shares one table of period names: a month taken is the ISO week of the same spelling taken', () => {
    // 2024-05-01 is in ISO week 18; the snapshot of 2024-02-01 (week 05) finds "2024-05" taken by May.
    const list = [snap('may', '2024-05-01T12:00:00Z'), snap('feb', '2024-02-01T12:00:00Z')];
    const verdicts = applyRetention(list, { ...none, keepMonthly: 1, keepWeekly: 10 });
    expect(verdicts.find((v) => v.snapshot.id === 'feb')?.reasons).toEqual([]);
  });

  it('keeps the newest incomplete snapshots until the first complete one: younger than 4 hours, or among the newest three', () => {
    const list = [
      snap('i1', '2024-01-10T12:00:00Z', { incomplete: 'checkpoint' }),
      snap('i2', '2024-01-10T11:00:00Z', { incomplete: 'checkpoint' }),
      snap('i3', '2024-01-09T11:00:00Z', { incomplete: 'canceled' }),
      snap('i4', '2024-01-08T11:00:00Z', { incomplete: 'canceled' }),
      snap('done', '2024-01-07T00:00:00Z'),
      snap('i5', '2024-01-06T00:00:00Z', { incomplete: 'canceled' }),
    ];
    const verdicts = applyRetention(list, { ...none, keepLatest: 10 });
    expect(verdicts.map((v) => [v.snapshot.id, v.reasons])).toEqual([
      ['i1', ['incomplete']],
      ['i2', ['incomplete']],
      ['i3', ['incomplete']],
      ['i4', []],
      ['done', ['latest-1']],
      ['i5', []],
    ]);
  });

  it('never expires a pinned snapshot', () => {
    const list = [snap('a', '2024-01-02T00:00:00Z'), snap('b', '2024-01-01T00:00:00Z', { pins: ['keep'] })];
    expect(expiredByRetention(list, { ...none, keepLatest: 1 })).toEqual([]);
  });

  it('orders by nanoseconds, and keeps the given order for equal start times', () => {
    const list = [snap('a', '2024-01-01T00:00:00.000000001Z'), snap('b', '2024-01-01T00:00:00.000000002Z'), snap('c', '2024-01-01T00:00:00.000000002Z')];
    expect(applyRetention(list, { ...none, keepLatest: 1 }).map((v) => v.snapshot.id)).toEqual(['b', 'c', 'a']);
    expect(expiredByRetention(list, { ...none, keepLatest: 1 })).toHaveLength(2);
  });

  it('steps months back as Go does: 31 March less one month is 2 March in a leap year', () => {
    const list = [snap('new', '2024-03-31T00:00:00Z'), snap('in', '2024-03-02T00:00:00Z'), snap('out', '2024-03-01T23:59:59Z')];
    const verdicts = applyRetention(list, { ...none, keepDaily: 100, keepMonthly: 1 });
    expect(verdicts.find((v) => v.snapshot.id === 'out')?.reasons).toEqual(['daily-3']);
    expect(applyRetention(list, { ...none, keepMonthly: 2 }).map((v) => v.reasons)).toEqual([['monthly-1'], [], []]);
  });
});
