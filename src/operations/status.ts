import { statfsSync } from 'node:fs';
import { inputName, maxAgeMs, type MoverConfig } from '../config/parse.js';
import { ExitCode, OperationError, RepositoryError } from '../errors.js';
import type { Facts } from '../facts.js';
import type { KopiaCommand } from '../kopia/command.js';
import { classifyKopiaOutput } from '../kopia/failures.js';
import { parseEffectivePolicies, type EffectivePolicy } from '../kopia/models/effective-policy.js';
import { parseMaintenanceSchedule } from '../kopia/models/maintenance-schedule.js';
import { parseRepositoryStatus } from '../kopia/models/repository-status.js';
import type { KopiaResult } from '../kopia/runner.js';
import { runKopia } from '../plan/context.js';
import type { Plan, RunState } from '../plan/step.js';
import type { Output } from '../report/output.js';
import { readRepository, type ReadingOptions } from './reading.js';
import type { SnapshotEntry } from './select.js';
import { listingPlan, listingScope, type ListingScope } from './snapshots.js';
import { identityGroups, reportedIdentity, reportedRepository, staleProblem, type StatusReport } from './status-report.js';
import { statusJson, statusText } from './status-text.js';

export interface StatusOptions extends ReadingOptions {
  all: boolean;
  json: boolean;
}

/** The maximum age asked for, and the name it was given by (`--max-age`, or the variable). */
interface MaxAge {
  ms: number;
  name: string;
  text: string;
}

const MAINTENANCE_INFO: KopiaCommand = { args: ['maintenance', 'info', '--json'], purpose: 'read the maintenance schedule', captureStdout: true };
const REPOSITORY_STATUS: KopiaCommand = { args: ['repository', 'status', '--json'], purpose: 'read the repository format', captureStdout: true };

/** One of the report's reads; a failure is the repository's when kopia could not open it, else the operation's. */
async function read(state: RunState, command: KopiaCommand): Promise<KopiaResult> {
  const result = await runKopia(state.ctx, command);
  if (result.exitCode === 0) return result;
  const verdict = classifyKopiaOutput(result.rawTail, result.exitCode);
  const output = result.tail.join('\n');
  const known = verdict.class !== 'Unknown';
  if (verdict.opening) throw new RepositoryError(`${command.purpose} failed: ${known ? verdict.what : 'the repository could not be opened'}`, output, verdict);
  throw new OperationError(`${command.purpose} failed (kopia exit code ${result.exitCode})${known ? `: ${verdict.what}` : ''}`, output, verdict);
}

/** The free space of a filesystem repository's folder, when kopia did not say; undefined for any other storage. */
function localSpace(config: MoverConfig): { availableBytes: number; capacityBytes: number } | undefined {
  const path = config.storage?.localPath;
  if (path === undefined) return undefined;
  try {
    const fs = statfsSync(path);
    return { availableBytes: fs.bavail * fs.bsize, capacityBytes: fs.blocks * fs.bsize };
  } catch {
    return undefined;
  }
}

/**
 * The three reads that need only the connection and the listing, at once: the maintenance
 * schedule, the repository's format and space, and the effective policy of every identity listed
 * (one `policy show` for all of them; none when there is no identity).
 */
async function readReport(state: RunState, config: MoverConfig, scope: ListingScope, kept: readonly SnapshotEntry[], maxAge: MaxAge | undefined): Promise<StatusReport> {
  const groups = identityGroups(scope, kept);
  const targets = groups.map((g) => g.target);
  const policyShow: KopiaCommand = { args: ['policy', 'show', '--json', ...targets], purpose: 'read the retention in force', captureStdout: true };
  const settled = await Promise.allSettled([read(state, MAINTENANCE_INFO), read(state, REPOSITORY_STATUS), targets.length === 0 ? undefined : read(state, policyShow)]);
  const failure = settled.find((s) => s.status === 'rejected');
  if (failure !== undefined) throw failure.reason;
  const [maintenance, status, policies] = settled.map((s) => (s as PromiseFulfilledResult<KopiaResult | undefined>).value);
  const effective: EffectivePolicy[] = policies === undefined ? [] : parseEffectivePolicies(policies.stdout, targets, policies.tail.join('\n'));
  const now = Date.now();
  const identities = groups.map((g, i) => reportedIdentity(g, effective[i], now, maxAge?.ms));
  const problems = identities.map((identity) => staleProblem(identity, maxAge)).filter((p): p is string => p !== undefined);
  if (scope.all && identities.length === 0) problems.push('the repository holds no snapshot');
  return {
    healthy: problems.length === 0,
    checkedAt: new Date(now).toISOString(),
    maxAgeSeconds: maxAge === undefined ? null : Math.floor(maxAge.ms / 1000),
    problems,
    identities,
    repository: reportedRepository(parseRepositoryStatus(status!.stdout, status!.tail.join('\n')), parseMaintenanceSchedule(maintenance!.stdout, maintenance!.tail.join('\n')), localSpace(config)),
  };
}

/** Connect, list the snapshots, then read the rest of the report at once. */
export function statusPlan(config: MoverConfig, facts: Facts, scope: ListingScope, maxAge: MaxAge | undefined, found: { kept: SnapshotEntry[]; report?: StatusReport }): Plan {
  const listing = listingPlan(config, facts, scope, found.kept);
  return {
    title: `report on the repository and ${scope.all ? 'every source' : 'this identity'}`,
    steps: [
      ...listing.steps,
      {
        id: 'report',
        kind: 'internal',
        describe: `at once: ${[MAINTENANCE_INFO, REPOSITORY_STATUS].map((c) => `kopia ${c.args.join(' ')}`).join('; ')}; kopia policy show --json <each identity listed>`,
        run: async (state) => {
          found.report = await readReport(state, config, scope, found.kept, maxAge);
        },
      },
    ],
  };
}

/** Prints the report on stdout, the table or the JSON document, stale identities named in it. */
function printReport(out: Output, report: StatusReport, description: string, json: boolean): number {
  for (const line of json ? statusJson(report) : statusText(report, description)) out.text(line);
  return report.healthy ? ExitCode.Success : ExitCode.SnapshotTooOld;
}

/**
 * `kopia-mover status` (and DIRECTION=status): the repository report. It connects as `snapshots`
 * does and writes nothing; exit 7 when an identity's newest complete snapshot is older than the
 * maximum age, or there is none, so that it serves as a monitoring probe.
 */
export function reportStatus(options: StatusOptions): Promise<number> {
  return readRepository(options, (config, facts, env) => {
    const scope = listingScope(config, env, options.all);
    // Checked by the configuration already: a value here is a valid one.
    const text = env['KOPIA_MOVER_MAX_AGE']?.trim();
    const ms = text === undefined ? undefined : maxAgeMs(text);
    const maxAge = text === undefined || ms === undefined ? undefined : { ms, text, name: inputName(config.inputs, 'KOPIA_MOVER_MAX_AGE') };
    const found: { kept: SnapshotEntry[]; report?: StatusReport } = { kept: [] };
    return {
      plan: statusPlan(config, facts, scope, maxAge, found),
      print: (out) => {
        if (found.report === undefined) throw new Error('the report was not read');
        return printReport(out, found.report, config.storage?.description ?? 'the repository', options.json);
      },
    };
  });
}
