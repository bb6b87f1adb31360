import { shortTime } from './select.js';
import { jsonLines, sizeText } from './snapshots.js';
import { ageText, RETENTION_KEYS, type ReportedCycle, type ReportedIdentity, type StatusReport } from './status-report.js';

/** A time as the snapshot table shows it: UTC, to the second. */
const when = (time: string) => shortTime(time).replace('T', ' ').replace('Z', ' UTC');

const RETENTION_WORDS: Readonly<Record<(typeof RETENTION_KEYS)[number], string>> = {
  keepLatest: 'latest',
  keepHourly: 'hourly',
  keepDaily: 'daily',
  keepWeekly: 'weekly',
  keepMonthly: 'monthly',
  keepAnnual: 'annual',
};

function cycleLine(name: string, cycle: ReportedCycle): string {
  if (!cycle.enabled) return `  ${name}: off`;
  const run = cycle.lastRun;
  const last = run === null ? 'never run' : `last ${when(run.start)} ${run.success ? 'succeeded' : `FAILED (${run.task}: ${run.error ?? 'no reason given'})`}`;
  const next = cycle.nextDue === null ? 'due at the next maintenance run' : `next due ${when(cycle.nextDue)}`;
  return `  ${name}: every ${ageText(cycle.intervalSeconds * 1000)}, ${last}, ${next}`;
}

function repositoryLines(repository: StatusReport['repository'], description: string): string[] {
  const space = repository.freeSpace;
  const m = repository.maintenance;
  return [
    `Repository: ${description}`,
    `  Format: version ${repository.formatVersion}${repository.indexVersion === null ? '' : `, index version ${repository.indexVersion}`}, ${repository.encryption}, ${repository.hash}`,
    `  Free space: ${space === null ? 'unknown (the storage does not tell)' : `${sizeText(space.availableBytes)} of ${sizeText(space.capacityBytes)}`}`,
    `  Maintenance owner: ${m.owner ?? 'nobody'}`,
    cycleLine('Quick maintenance', m.quick),
    cycleLine('Full maintenance', m.full),
  ];
}

function identityLines(identity: ReportedIdentity): string[] {
  const counts = `${identity.snapshots} complete${identity.incomplete > 0 ? `, ${identity.incomplete} incomplete` : ''}`;
  const lines = [identity.source, `  Snapshots: ${counts}`];
  const newest = identity.newest;
  if (newest !== null) {
    lines.push(`  Newest: ${when(newest.startTime)} (${ageText((identity.ageSeconds ?? 0) * 1000)} ago)  ${newest.id}  ${sizeText(newest.size)}`);
  }
  if (identity.oldest !== null) lines.push(`  Oldest: ${when(identity.oldest.startTime)}  ${identity.oldest.id}`);
  const kept = RETENTION_KEYS.filter((key) => identity.retention[key] !== null).map((key) => `${RETENTION_WORDS[key]} ${identity.retention[key]}`);
  lines.push(`  Retention: ${kept.length > 0 ? kept.join(', ') : 'none set (every snapshot is kept)'}`);
  return lines;
}

/** The report as a person reads it on a terminal: the repository, each identity, then the verdict. */
export function statusText(report: StatusReport, description: string): string[] {
  const lines = repositoryLines(report.repository, description);
  if (report.identities.length === 0) lines.push('', 'No snapshots in the repository.');
  for (const identity of report.identities) lines.push('', ...identityLines(identity));
  lines.push('');
  if (report.healthy) lines.push(`Healthy${report.maxAgeSeconds === null ? '' : `: every newest snapshot is younger than ${ageText(report.maxAgeSeconds * 1000)}`}.`);
  else for (const problem of report.problems) lines.push(`STALE: ${problem}`);
  return lines;
}

/** The report as one JSON document, its fields as the README documents them. */
export function statusJson(report: StatusReport): string[] {
  return jsonLines(report);
}
