/**
 * kopia's retention rules (v0.22.3), as a pure function: which of one source's snapshots a
 * retention policy keeps, and why, and which it expires. The plan uses it to say what a backup's
 * retention would remove before the backup runs; `retention-rules-property.test.ts` holds it to
 * what `kopia snapshot expire` says of the same snapshots.
 *
 * kopia's rules, as it applies them:
 * - Snapshots are taken newest first. A complete snapshot at position i (counting incomplete ones
 *   too) is "latest" while fewer than keepLatest were; then, in the order annual, monthly, weekly,
 *   daily, hourly, it takes its period (year, month, ISO week, day, hour, in UTC) when no newer
 *   snapshot took that period and fewer than keepX periods of that kind were taken.
 * - A period counts only from a cutoff back from the newest complete snapshot: keepDaily 7 keeps
 *   days no older than 7 days before it. An unset field's cutoff is a year after it: none.
 * - All period names share one table, and a week is named `YYYY-WW`, the spelling of a month: a
 *   month taken by one snapshot is week WW taken for another (kopia's own quirk, kept here).
 * - With every field 0, keepLatest keeps everything.
 * - Incomplete snapshots keep nothing by period; the newest of them, until the first complete
 *   one, are kept while younger than 4 hours than the newest snapshot or among the newest three.
 * - A pinned snapshot never expires.
 */

/** A retention policy's fields; undefined is kopia's unset. */
export interface RetentionRules {
  keepLatest?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepAnnual?: number;
}

/** What retention reads of a snapshot. */
export interface RetainedSnapshot {
  id: string;
  /** RFC 3339, as kopia prints it (nanoseconds, any offset). */
  startTime: string;
  /** kopia's reason when the snapshot is a checkpoint or partial; empty or undefined when complete. */
  incomplete?: string;
  pins?: readonly string[];
}

export interface RetentionVerdict<S extends RetainedSnapshot = RetainedSnapshot> {
  snapshot: S;
  /** kopia's retention reasons, e.g. `latest-1`, `daily-3`, `incomplete`; none means it expires unless pinned. */
  reasons: string[];
  expires: boolean;
}

const INCOMPLETE_KEPT_YOUNGER_THAN_NS = 4n * 3600n * 1_000_000_000n;
const INCOMPLETE_KEPT_AT_LEAST = 3;
const NS_PER_MS = 1_000_000n;

/** A start time as nanoseconds since the epoch, and its whole-millisecond Date for the calendar. */
interface Instant {
  ns: bigint;
  date: Date;
}

function instantOf(time: string): Instant {
  const fraction = /\.(\d+)/.exec(time)?.[1] ?? '';
  const seconds = Date.parse(time.replace(/\.\d+/, ''));
  if (Number.isNaN(seconds)) throw new Error(`not a timestamp: ${time}`);
  const ns = BigInt(seconds) * NS_PER_MS + BigInt(fraction.slice(0, 9).padEnd(9, '0'));
  return { ns, date: new Date(seconds) };
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** The ISO 8601 year and week of a UTC day (the week holding its Thursday). */
function isoWeek(date: Date): { year: number; week: number } {
  const day = new Date(0);
  day.setUTCFullYear(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate());
  const weekday = day.getUTCDay() === 0 ? 7 : day.getUTCDay();
  day.setUTCDate(day.getUTCDate() + 4 - weekday);
  const year = day.getUTCFullYear();
  const january1 = new Date(0);
  january1.setUTCFullYear(year, 0, 1);
  return { year, week: Math.floor((day.getTime() - january1.getTime()) / 86_400_000 / 7) + 1 };
}

/**
 * A calendar step back from `from`, as Go's AddDate and Add do it: fields out of range roll over
 * (31 March less one month is 3 March). setUTCFullYear, unlike Date.UTC, takes years below 100 as they are.
 */
function stepBack(from: Instant, unit: 'year' | 'month' | 'week' | 'day' | 'hour', n: number): bigint {
  const d = from.date;
  const subSecond = from.ns % 1_000_000_000n;
  if (unit === 'hour') return from.ns - BigInt(n) * 3600n * 1_000_000_000n;
  const back = new Date(0);
  const years = unit === 'year' ? n : 0;
  const months = unit === 'month' ? n : 0;
  const days = unit === 'day' ? n : unit === 'week' ? n * 7 : 0;
  back.setUTCFullYear(d.getUTCFullYear() - years, d.getUTCMonth() - months, d.getUTCDate() - days);
  back.setUTCHours(d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), 0);
  // Beyond what Date can hold (keepAnnual of a billion): no snapshot is that old.
  if (Number.isNaN(back.getTime())) return -(2n ** 80n);
  return BigInt(back.getTime()) * NS_PER_MS + subSecond;
}

type Kind = 'latest' | 'annual' | 'monthly' | 'weekly' | 'daily' | 'hourly';

/** kopia's tag order: latest, hourly, daily, weekly, monthly, annual. */
const TAG_ORDER: Record<string, number> = { latest: 1, hourly: 2, daily: 3, weekly: 4, monthly: 5, annual: 6 };

function sortTags(tags: string[]): string[] {
  const split = (t: string) => [t.slice(0, t.lastIndexOf('-')), t.slice(t.lastIndexOf('-') + 1)] as const;
  return tags.sort((a, b) => {
    const [pa, sa] = split(a);
    const [pb, sb] = split(b);
    return (TAG_ORDER[pa] ?? 0) - (TAG_ORDER[pb] ?? 0) || (pa < pb ? -1 : pa > pb ? 1 : sa < sb ? -1 : sa > sb ? 1 : 0);
  });
}

/** The periods a complete snapshot may take, in kopia's order, each with its cutoff and limit. */
function periodsOf(index: number, at: Instant, rules: RetentionRules, cutoffs: Record<Exclude<Kind, 'latest'>, bigint>, latest: number | undefined) {
  const d = at.date;
  const year = pad(d.getUTCFullYear(), 4);
  const month = `${year}-${pad(d.getUTCMonth() + 1, 2)}`;
  const day = `${month}-${pad(d.getUTCDate(), 2)}`;
  const week = isoWeek(d);
  return [
    { kind: 'latest' as const, id: String(index), cutoff: undefined, max: latest },
    { kind: 'annual' as const, id: year, cutoff: cutoffs.annual, max: rules.keepAnnual },
    { kind: 'monthly' as const, id: month, cutoff: cutoffs.monthly, max: rules.keepMonthly },
    { kind: 'weekly' as const, id: `${pad(week.year, 4)}-${pad(week.week, 2)}`, cutoff: cutoffs.weekly, max: rules.keepWeekly },
    { kind: 'daily' as const, id: day, cutoff: cutoffs.daily, max: rules.keepDaily },
    { kind: 'hourly' as const, id: `${day} ${pad(d.getUTCHours(), 2)}`, cutoff: cutoffs.hourly, max: rules.keepHourly },
  ];
}

/** keepLatest as kopia applies it: every field 0 (or unset) keeps every snapshot. */
function effectiveKeepLatest(rules: RetentionRules): number | undefined {
  const sum = [rules.keepLatest, rules.keepHourly, rules.keepDaily, rules.keepWeekly, rules.keepMonthly, rules.keepAnnual].reduce<number>((a, b) => a + (b ?? 0), 0);
  return sum === 0 ? Number.MAX_SAFE_INTEGER : rules.keepLatest;
}

/**
 * What kopia's retention does with one source's snapshots: each snapshot's reasons, newest first.
 * Snapshots with the same start time stay in the given order; kopia's order for them is not
 * fixed, so which of two such snapshots goes may differ from kopia's, never how many.
 */
export function applyRetention<S extends RetainedSnapshot>(snapshots: readonly S[], rules: RetentionRules): RetentionVerdict<S>[] {
  const timed = snapshots.map((snapshot) => ({ snapshot, at: instantOf(snapshot.startTime), complete: !snapshot.incomplete }));
  timed.sort((a, b) => (a.at.ns === b.at.ns ? 0 : a.at.ns > b.at.ns ? -1 : 1));
  const verdicts = timed.map(({ snapshot }) => ({ snapshot, reasons: [] as string[], expires: false }));
  if (timed.length === 0) return verdicts;
  const newest = timed[0]!.at.ns;
  const newestComplete = timed.find((t) => t.complete)?.at;
  if (newestComplete !== undefined) {
    const cutoff = (n: number | undefined, unit: Parameters<typeof stepBack>[1]) =>
      n === undefined ? newestComplete.ns + 365n * 24n * 3600n * 1_000_000_000n : stepBack(newestComplete, unit, n);
    const cutoffs = {
      annual: cutoff(rules.keepAnnual, 'year'),
      monthly: cutoff(rules.keepMonthly, 'month'),
      weekly: cutoff(rules.keepWeekly, 'week'),
      daily: cutoff(rules.keepDaily, 'day'),
      hourly: cutoff(rules.keepHourly, 'hour'),
    };
    const latest = effectiveKeepLatest(rules);
    const taken = new Set<string>();
    const counts: Record<Kind, number> = { latest: 0, annual: 0, monthly: 0, weekly: 0, daily: 0, hourly: 0 };
    timed.forEach(({ at, complete }, i) => {
      if (!complete) return;
      const reasons = verdicts[i]!.reasons;
      for (const p of periodsOf(i, at, rules, cutoffs, latest)) {
        if (p.max === undefined || (p.cutoff !== undefined && at.ns < p.cutoff) || taken.has(p.id)) continue;
        if (counts[p.kind] < p.max) {
          taken.add(p.id);
          counts[p.kind]++;
          reasons.push(`${p.kind}-${counts[p.kind]}`);
        }
      }
      sortTags(reasons);
    });
  }
  for (let i = 0; i < timed.length && !timed[i]!.complete; i++) {
    if (newest - timed[i]!.at.ns >= INCOMPLETE_KEPT_YOUNGER_THAN_NS && i >= INCOMPLETE_KEPT_AT_LEAST) break;
    verdicts[i]!.reasons.push('incomplete');
  }
  for (const v of verdicts) v.expires = v.reasons.length === 0 && (v.snapshot.pins?.length ?? 0) === 0;
  return verdicts;
}

/** The snapshots kopia's retention would expire, newest first. */
export function expiredByRetention<S extends RetainedSnapshot>(snapshots: readonly S[], rules: RetentionRules): S[] {
  return applyRetention(snapshots, rules)
    .filter((v) => v.expires)
    .map((v) => v.snapshot);
}
