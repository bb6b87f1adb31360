import * as z from 'zod';
import type { BackupConfig, RestoreConfig } from '../config/parse.js';
import { ConfigError } from '../errors.js';
import { snapshotManifestSchema } from '../kopia/models/snapshot.js';
import { realPath } from '../operations/deletion-guard.js';
import { chosenByTime, namedChoice, RESTORE_LIST_ARGS, snapshotReader } from '../operations/restore.js';
import { shortTime, sourceName, type SnapshotEntry } from '../operations/select.js';
import { KOPIA_DEFAULT_RETENTION } from '../operations/settings.js';
import type { AppliedRecord } from '../operations/state.js';
import { flattenFields } from '../policy/fields.js';
import { GLOBAL_POLICY_KEY } from '../policy/kopia-policy.js';
import { expiredByRetention, type RetentionRules } from '../policy/retention.js';
import type { Output } from '../report/output.js';
import { RepositoryReader, type ReadSettings } from './changes-read.js';
import { RestoreComparison, SHOWN_PATHS, type PathCount } from './changes-restore.js';
import type { Plan } from './step.js';

/** What the change report knows before it reads anything. */
export interface ChangeInputs extends ReadSettings {
  plan: Plan;
  /** What this cache last applied (the state file), by setting. */
  applied: { policies?: AppliedRecord; throttle?: AppliedRecord };
  /** Why the repository is not read, when it is not: the report says so instead of guessing. */
  offline?: string;
}

type Policies = Record<string, Record<string, unknown>>;

/** The settings the plan's steps would apply: the imported policy document and the throttle, each unless unchanged. */
function planned(plan: Plan): { policies?: Policies; policiesUnchanged: boolean; throttle?: Record<string, string>; throttleUnchanged: boolean } {
  const step = (id: string) => plan.steps.find((s) => s.id === id && s.kind === 'kopia');
  const policiesStep = step('policies');
  const throttleStep = step('throttle');
  const document = policiesStep?.kind === 'kopia' ? policiesStep.command.secretFiles?.[0]?.content.reveal() : undefined;
  const throttleArgs = throttleStep?.kind === 'kopia' ? throttleStep.command.args.map(String) : [];
  const value = (flag: string) => throttleArgs.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1);
  return {
    policies: document === undefined ? undefined : (JSON.parse(document) as Policies),
    policiesUnchanged: policiesStep?.when !== undefined,
    throttle: throttleStep === undefined ? undefined : { 'throttle upload': value('--upload-bytes-per-second') ?? '', 'throttle download': value('--download-bytes-per-second') ?? '' },
    throttleUnchanged: throttleStep?.when !== undefined,
  };
}

/** kopia exports a section nothing sets as `{}`: that is no field, so it is no difference either. */
function withoutEmpty(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const kept = Object.entries(value)
    .map(([k, v]) => [k, withoutEmpty(v)] as const)
    .filter(([, v]) => !(v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0));
  return Object.fromEntries(kept);
}

/** Every field the policies set, as `target field.path` -> JSON. */
function fieldsOf(policies: Policies): Record<string, string> {
  return flattenFields(withoutEmpty(policies) as Policies);
}

/** Fields that differ, `target field: old → new`; a field the new document drops goes back to what kopia inherits. */
function differences(before: Record<string, string>, after: Record<string, string>): string[] {
  return [...new Set([...Object.keys(before), ...Object.keys(after)])]
    .filter((key) => before[key] !== after[key])
    .sort()
    .map((key) => `${key}: ${before[key] ?? 'not set'} → ${after[key] ?? 'not set (inherited or kopia default)'}`);
}

function fieldsOfTargets(fields: Record<string, string>, targets: readonly string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(fields).filter(([key]) => targets.some((t) => key.startsWith(`${t} `))));
}

/** Prints what the run would change; reads the repository (read-only) unless `offline` says why not. */
export async function printChanges(output: Output, inputs: ChangeInputs): Promise<void> {
  const lines: string[] = [];
  const unknown: string[] = [];
  let reader: RepositoryReader | undefined;
  let offline = inputs.offline;
  if (offline === undefined) {
    try {
      reader = await RepositoryReader.open(inputs);
    } catch (error) {
      offline = `the repository could not be read (${(error as Error).message})`;
    }
  }
  try {
    await settingsChanges(inputs, reader, lines, unknown);
    if (inputs.config.operation === 'backup') await retentionChanges(inputs.config, inputs.plan, reader, lines, unknown);
    if (inputs.config.operation === 'restore') await restoreChanges(inputs.config, reader, lines, unknown);
  } catch (error) {
    unknown.push(`the rest of the change report: reading the repository failed (${(error as Error).message})`);
  } finally {
    reader?.close();
  }
  output.line(`# what this run would change${reader ? ' (read from the repository just now, read-only)' : ''}:`);
  for (const line of lines.length > 0 ? lines : [unknown.length > 0 ? 'nothing it can tell without the parts below' : 'nothing']) output.text(`#   ${line}`);
  if (unknown.length > 0) {
    output.text(`# not known${offline ? `, as ${offline}` : ''}:`);
    for (const line of unknown) output.text(`#   ${line}`);
  }
}

/** Policies and the throttle, old → new: old from the repository when read, else from what this cache last applied. */
async function settingsChanges(inputs: ChangeInputs, reader: RepositoryReader | undefined, lines: string[], unknown: string[]): Promise<void> {
  const wanted = planned(inputs.plan);
  const recorded = `as this cache last applied them (${inputs.config.cacheDir}/kopia-mover-state.json)`;
  if (wanted.policies !== undefined) {
    const targets = Object.keys(wanted.policies);
    if (wanted.policiesUnchanged) lines.push(`policies of ${targets.join(', ')}: unchanged since this cache applied them, so not imported (unless the repository is new)`);
    else {
      const after = fieldsOf(wanted.policies);
      const before = reader
        ? { fields: fieldsOfTargets(fieldsOf((await reader.json(['policy', 'export'], 'read the policies')) as Policies), targets), from: 'the repository' }
        : inputs.applied.policies && { fields: fieldsOfTargets(inputs.applied.policies.fields, targets), from: recorded };
      // kopia's snapshot create marks the source it snapshots manual again after the import dropped it: no change in the end.
      const manual = (t: string) => `${t} scheduling.manual`;
      for (const t of targets) if (before && t !== GLOBAL_POLICY_KEY && after[manual(t)] === undefined) delete before.fields[manual(t)];
      if (before === undefined) unknown.push(`the policies' old values: this cache has applied none yet, so every field below is shown as new`);
      const changed = differences(before?.fields ?? {}, after);
      lines.push(`policies (old: ${before?.from ?? 'not known'}): ${changed.length === 0 ? 'no field differs' : `${changed.length} field(s) differ`}`);
      for (const change of changed) lines.push(`  ${change}`);
    }
  }
  if (wanted.throttle !== undefined && !wanted.throttleUnchanged) {
    const read = reader ? ((await reader.json(['repository', 'throttle', 'get', '--json'], 'read the throttle')) as Record<string, number | undefined>) : undefined;
    const speed = (n: number | undefined) => (n ? String(n) : 'unlimited');
    const before = read
      ? { fields: { 'throttle upload': speed(read['maxUploadSpeedBytesPerSecond']), 'throttle download': speed(read['maxDownloadSpeedBytesPerSecond']) }, from: 'the repository' }
      : inputs.applied.throttle && { fields: inputs.applied.throttle.fields, from: recorded };
    const changed = differences(before?.fields ?? {}, wanted.throttle);
    lines.push(`throttle (old: ${before?.from ?? 'not known'}): ${changed.length === 0 ? 'no field differs' : changed.join('; ')}`);
  }
}

const listedSnapshots = z.array(snapshotManifestSchema.extend({ pins: z.array(z.string()).optional() }));

/** The retention in force for the path once the run's policies are imported: the path's, else the global policy's, else kopia's. */
function retentionAfter(current: Policies, imported: Policies | undefined, target: string): Required<RetentionRules> {
  const after: Policies = { ...current, ...(imported ?? {}) };
  const field = (policy: Record<string, unknown> | undefined, key: string) => {
    const value = (policy?.['retention'] as Record<string, unknown> | undefined)?.[key];
    return typeof value === 'number' ? value : undefined;
  };
  const rules = Object.fromEntries(Object.entries(KOPIA_DEFAULT_RETENTION).map(([key, fallback]) => [key, field(after[target], key) ?? field(after[GLOBAL_POLICY_KEY], key) ?? fallback]));
  return rules as Required<RetentionRules>;
}

/** Which of the path's snapshots the backup's retention would expire, once its own new snapshot is taken. */
async function retentionChanges(config: BackupConfig, plan: Plan, reader: RepositoryReader | undefined, lines: string[], unknown: string[]): Promise<void> {
  const own = { userName: config.identity.username, host: config.identity.hostname, path: config.sourcePath };
  const target = sourceName(own);
  if (reader === undefined) {
    unknown.push(`which snapshots of ${target} retention would expire: that needs the repository's list of snapshots`);
    return;
  }
  const current = (await reader.json(['policy', 'export'], 'read the policies')) as Policies;
  const rules = retentionAfter(current, planned(plan).policies, target);
  const all = listedSnapshots.parse(await reader.json(['snapshot', 'list', '--all', '--json'], 'list the snapshots'));
  const mine = all.filter((s) => s.source.userName === own.userName && s.source.host === own.host && s.source.path === own.path);
  // The backup's own snapshot is the newest when retention runs: it decides the cutoffs.
  const next = { id: '(this backup)', startTime: new Date().toISOString() };
  const expired = expiredByRetention([...mine, next], rules);
  const shown = Object.entries(rules)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  lines.push(`retention (${shown}) would expire ${expired.length} of the ${mine.length} snapshot(s) of ${target} after this backup${expired.length > 0 ? ':' : ''}`);
  for (const s of expired.slice(0, SHOWN_PATHS)) lines.push(`  ${s.id} ${shortTime(s.startTime)}`);
  if (expired.length > SHOWN_PATHS) lines.push(`  and ${expired.length - SHOWN_PATHS} more`);
}

/** Why the time rules chose a snapshot, in words. */
function chosenBecause(config: RestoreConfig): string {
  const { asOf, shallow, previous } = config.restore;
  const rules = [asOf ? `started at or before ${asOf.toISOString()}` : '', shallow ? `among the newest ${shallow}` : '', previous > 0 ? `skipping the ${previous} newest` : ''].filter(Boolean);
  return `the newest complete snapshot of its source${rules.length > 0 ? `, ${rules.join(', ')}` : ''}`;
}

function pathLine(verb: string, counted: PathCount): string {
  return `${counted.count} ${verb}${counted.first.length > 0 ? `: ${counted.first.join(', ')}${counted.count > counted.first.length ? ', ...' : ''}` : ''}`;
}

/** The snapshot the restore would choose, and what restoring it would do to DATA_DIR. */
async function restoreChanges(config: RestoreConfig, reader: RepositoryReader | undefined, lines: string[], unknown: string[]): Promise<void> {
  const own = { userName: config.identity.username, host: config.identity.hostname, path: config.sourcePath };
  const dataDir = realPath(config.dataDir);
  if (reader === undefined) {
    unknown.push(`the snapshot the restore would choose, and the files it would add, replace${config.restore.enableFileDeletion ? ' and remove' : ''} in ${dataDir}`);
    return;
  }
  const list = snapshotReader(own, config.restore.snapshotId);
  await reader.rawLines([...RESTORE_LIST_ARGS], 'list the snapshots', (line) => list.reader.line(line.toString('utf8')));
  list.reader.end();
  let chosen: SnapshotEntry | undefined;
  let because: string;
  try {
    chosen = config.restore.snapshotId === undefined ? chosenByTime(config, list.kept.mine) : namedChoice(config, list.kept, own).chosen;
    because = config.restore.snapshotId === undefined ? chosenBecause(config) : 'named by KOPIA_RESTORE_SNAPSHOT_ID';
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    lines.push(`restore: would stop before writing anything: ${error.message}`);
    return;
  }
  if (chosen === undefined) {
    lines.push(`restore: no eligible snapshot of ${sourceName(own)}; nothing would be restored`);
    return;
  }
  lines.push(`restore: snapshot ${chosen.id} of ${sourceName(chosen.source)}, started ${shortTime(chosen.startTime)}: ${because}`);
  const comparison = new RestoreComparison(chosen.id, Buffer.from(dataDir));
  await reader.rawLines(['ls', '-r', '-l', chosen.id], 'list the chosen snapshot', (line) => comparison.line(line));
  const { add, replace, extra } = await comparison.end();
  lines.push(`into ${dataDir}: ${pathLine('added', add)}`);
  lines.push(`into ${dataDir}: ${pathLine('replaced', replace)}`);
  lines.push(config.restore.enableFileDeletion ? `from ${dataDir}: ${pathLine('removed (file deletion is on)', extra)}` : `in ${dataDir}: ${extra.count} the snapshot lacks stay (file deletion is off)`);
}

