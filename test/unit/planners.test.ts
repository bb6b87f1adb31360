// The planners turn a configuration and the facts read from disk into steps: which steps, in which
// order, under which conditions, with which kopia commands. Each situation here is a facts
// fixture (test/support/facts.ts); nothing runs.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig, type BackupConfig, type MoverConfig, type RestoreConfig } from '../../src/config/parse.js';
import type { Facts } from '../../src/facts.js';
import { planBackup } from '../../src/operations/backup.js';
import { connectSteps } from '../../src/operations/connect.js';
import { planMaintenance } from '../../src/operations/maintenance.js';
import { planRestore } from '../../src/operations/restore.js';
import { describeCondition, shownArgs, type Plan, type Step } from '../../src/plan/step.js';
import { emptyFacts } from '../support/facts.js';
import { SYSTEM } from '../support/fixtures.js';

const REPOSITORY = { KOPIA_PASSWORD: 'pw', KOPIA_REPOSITORY: 'filesystem:///r', KOPIA_CACHE_DIR: '/cache' };

function config(env: Record<string, string>): MoverConfig {
  return parseConfig({ ...REPOSITORY, ...env }, { system: SYSTEM, readMounts: false });
}

function backupConfig(env: Record<string, string> = {}): BackupConfig {
  const c = config({ DIRECTION: 'source', DATA_DIR: '/data', ...env });
  if (c.operation !== 'backup') throw new Error('expected a backup config');
  return c;
}

function restoreConfig(dataDir: string, env: Record<string, string> = {}): RestoreConfig {
  const c = config({ DIRECTION: 'destination', DATA_DIR: dataDir, ...env });
  if (c.operation !== 'restore') throw new Error('expected a restore config');
  return c;
}

/** A step as `plan` would tell it: its id, its kopia command or `internal`, and its condition in words. */
interface Told {
  id: string;
  kopia?: string;
  when?: string;
}

function told(step: Step): Told {
  const out: Told = { id: step.id };
  if (step.kind === 'kopia') out.kopia = shownArgs(step.command.args).join(' ');
  if (step.when) out.when = describeCondition(step.when);
  return out;
}

const ids = (steps: readonly Step[]) => steps.map((s) => s.id);
const stepOf = (plan: Plan | readonly Step[], id: string): Told => {
  const steps = Array.isArray(plan) ? plan : (plan as Plan).steps;
  const step = steps.find((s: Step) => s.id === id);
  if (!step) throw new Error(`the plan has no step ${id}: ${ids(steps).join(', ')}`);
  return told(step);
};

/** What the cache's kopia.config says after a connect to filesystem:///r as u@h, with the default cache settings. */
function savedConnection(changes: Partial<NonNullable<Facts['savedConnection']>> = {}): NonNullable<Facts['savedConnection']> {
  return { storage: { type: 'filesystem', config: { path: '/r' } }, username: 'u', hostname: 'h', enableActions: false, ...changes };
}

function occupiedDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'km-planners-'));
  mkdirSync(join(dir, 'app'));
  writeFileSync(join(dir, 'app', 'a.txt'), 'a\n');
  return dir;
}

describe('planBackup', () => {
  it('into a filesystem repository that may not exist yet: connect, create under the creation lock, hand maintenance over, snapshot', () => {
    const plan = planBackup(backupConfig(), emptyFacts());
    expect(ids(plan.steps)).toEqual([
      'connect',
      'creation-lock',
      'create',
      'creation-unlock',
      'connect-created',
      'connect-fresh',
      'connected',
      'maintenance-owner',
      'maintenance-owner-result',
      'policy-inputs',
      'snapshot',
    ]);
    expect(stepOf(plan, 'connect')).toEqual({
      id: 'connect',
      kopia: 'repository connect filesystem --path=/r --override-username=u --override-hostname=h --cache-directory=/cache --no-persist-credentials --no-enable-actions',
    });
    expect(stepOf(plan, 'creation-lock').when).toBe('connect found no repository');
    expect(stepOf(plan, 'create')).toMatchObject({ kopia: expect.stringMatching(/^repository create filesystem --path=\/r .* --create-only$/), when: 'this mover holds the creation lock' });
    expect(stepOf(plan, 'creation-unlock').when).toBe('this mover holds the creation lock');
    expect(stepOf(plan, 'connect-created').when).toBe('another mover holds the creation lock, or create found another mover had created it');
    expect(stepOf(plan, 'connect-fresh').when).toBe('this mover holds the creation lock, and the repository was created in this run');
    expect(stepOf(plan, 'connected').when).toBeUndefined();
    expect(stepOf(plan, 'maintenance-owner')).toEqual({ id: 'maintenance-owner', kopia: 'maintenance set --owner=maintenance@volsync', when: 'the repository was created in this run' });
    expect(stepOf(plan, 'maintenance-owner-result').when).toBe('maintenance-owner failed');
    expect(stepOf(plan, 'snapshot')).toEqual({ id: 'snapshot', kopia: 'snapshot create /data --json --json-verbose' });
  });

  it('with a saved connection to the same repository and identity: reuses it, runs no connect', () => {
    const plan = planBackup(backupConfig(), emptyFacts({ savedConnection: savedConnection() }));
    expect(ids(plan.steps)).toEqual(['connected', 'policy-inputs', 'snapshot']);
    expect(plan.steps.filter((s) => s.kind === 'kopia').map((s) => told(s).kopia)).toEqual(['snapshot create /data --json --json-verbose']);
  });

  it('with a saved connection under another identity: sets the client identity first, creates nothing', () => {
    const plan = planBackup(backupConfig({ KOPIA_OVERRIDE_HOSTNAME: 'ns2' }), emptyFacts({ savedConnection: savedConnection() }));
    expect(ids(plan.steps)).toEqual(['set-client', 'connected', 'policy-inputs', 'snapshot']);
    expect(stepOf(plan, 'set-client')).toEqual({ id: 'set-client', kopia: 'repository set-client --username=u --hostname=ns2' });
  });

  it('with a saved connection to another repository: connects afresh', () => {
    const plan = planBackup(backupConfig(), emptyFacts({ savedConnection: savedConnection({ storage: { type: 'filesystem', config: { path: '/other' } } }) }));
    expect(ids(plan.steps).slice(0, 2)).toEqual(['connect', 'creation-lock']);
  });

  it('into object storage: every mover that found no repository pauses, looks again, creates, settles and connects afresh', () => {
    const plan = planBackup(backupConfig({ KOPIA_REPOSITORY: 's3://bucket/prefix', AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret-key' }), emptyFacts());
    expect(ids(plan.steps).slice(0, 8)).toEqual(['connect', 'creation-pause', 'connect-again', 'create', 'connect-created', 'creation-settle', 'connect-fresh', 'connected']);
    expect(stepOf(plan, 'creation-pause').when).toBe('connect found no repository');
    expect(stepOf(plan, 'connect-again').when).toBe('connect found no repository');
    expect(stepOf(plan, 'create').when).toBe('connect-again found no repository');
    expect(stepOf(plan, 'connect-created').when).toBe('connect-again found a creation in progress, or create found another mover had created it');
    expect(stepOf(plan, 'connect-fresh').when).toBe('connect found no repository');
    // The secret key reaches kopia through its environment, never its arguments.
    expect(plan.steps.flatMap((s) => (s.kind === 'kopia' ? shownArgs(s.command.args) : [])).join(' ')).not.toContain('secret-key');
  });

  it('of an empty source: one step that ends the run, and no kopia command', () => {
    const plan = planBackup(backupConfig(), emptyFacts({ sourceEmpty: true }));
    expect(plan.steps.map(told)).toEqual([{ id: 'source-empty' }]);
  });

  it('after a snapshot this cache took: a diff with it, only once the new snapshot\'s counts cannot tell new from changed', () => {
    const record = { digest: 'k5efc67007e4ba582ee7ddf27aa77970d', targets: [], fields: { files: '20' } };
    const plan = planBackup(backupConfig(), emptyFacts({ savedConnection: savedConnection(), applied: { snapshot: record } }));
    expect(ids(plan.steps)).toEqual(['connected', 'policy-inputs', 'snapshot', 'compare']);
    expect(stepOf(plan, 'compare')).toEqual({
      id: 'compare',
      kopia: 'diff k5efc67007e4ba582ee7ddf27aa77970d <new snapshot root>',
      when: 'kopia read files again and their count cannot tell new from changed',
    });
  });

  it("where kopia may run policy actions, the snapshot's stall limit is the longest action's timeout plus a minute, never less than the run's", () => {
    const stallOf = (env: Record<string, string>, settings: Partial<Facts['settings']>): number | undefined => {
      const base = emptyFacts({ savedConnection: savedConnection() });
      const plan = planBackup(backupConfig(env), { ...base, settings: { ...base.settings, ...settings } });
      const step = plan.steps.find((s) => s.id === 'snapshot');
      if (step?.kind !== 'kopia') throw new Error('no snapshot step');
      return step.command.stallMs;
    };
    const enabled = { source: 'repository.config', enableActions: true };
    const actions = (timeout?: number) => ({ actions: { beforeSnapshotRoot: { script: 'true', ...(timeout === undefined ? {} : { timeout }) } } });
    // No actions possible: the run's limit, no override.
    expect(stallOf({ KOPIA_MOVER_STALL_SECONDS: '30' }, {})).toBeUndefined();
    expect(stallOf({ KOPIA_MOVER_STALL_SECONDS: '30' }, { globalPolicy: actions(900) })).toBeUndefined();
    // Actions enabled: kopia's default action timeout (180 s) bounds one the run cannot see.
    expect(stallOf({ KOPIA_MOVER_STALL_SECONDS: '30' }, { repository: enabled })).toBe(240_000);
    expect(stallOf({ KOPIA_MOVER_STALL_SECONDS: '30' }, { repository: enabled, globalPolicy: actions(900) })).toBe(960_000);
    expect(stallOf({ KOPIA_MOVER_STALL_SECONDS: '30' }, { repository: { ...enabled, actionTimeoutMs: 1_800_000 } })).toBe(1_860_000);
    // A run limit already longer stays; 0 (never) stays 0.
    expect(stallOf({ KOPIA_MOVER_STALL_SECONDS: '3600' }, { repository: enabled, globalPolicy: actions(900) })).toBeUndefined();
    expect(stallOf({ KOPIA_MOVER_STALL_SECONDS: '0' }, { repository: enabled, globalPolicy: actions(900) })).toBeUndefined();
  });

  it('with hooks: the before-action ahead of the snapshot, the after-action behind it', () => {
    const plan = planBackup(backupConfig({ KOPIA_BEFORE_SNAPSHOT: 'sync', KOPIA_AFTER_SNAPSHOT: 'true' }), emptyFacts({ savedConnection: savedConnection() }));
    expect(ids(plan.steps)).toEqual(['connected', 'policy-inputs', 'before-snapshot', 'snapshot', 'after-snapshot']);
  });
});

describe('planRestore', () => {
  it('restores 32 files at once unless KOPIA_PARALLELISM or KOPIA_ADDITIONAL_ARGS says otherwise, and only the given value reaches kopia', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'km-planners-'));
    const parallelFlags = (env: Record<string, string>) =>
      (stepOf(planRestore(restoreConfig(dataDir, env), emptyFacts()), 'restore').kopia ?? '').split(' ').filter((a) => a.startsWith('--parallel'));
    expect(parallelFlags({})).toEqual(['--parallel=32']);
    expect(parallelFlags({ KOPIA_PARALLELISM: '4' })).toEqual(['--parallel=4']);
    expect(parallelFlags({ KOPIA_ADDITIONAL_ARGS: '--parallel=2' })).toEqual(['--parallel=2']);
    // The default gives way without a word: only a value someone set is said to be overridden.
    const told = JSON.stringify(planRestore(restoreConfig(dataDir, { KOPIA_ADDITIONAL_ARGS: '--parallel=2' }), emptyFacts()).steps.map((s) => (s.kind === 'internal' ? s.describe : '')));
    expect(told).not.toContain('instead of the mover');
    const overridden = JSON.stringify(planRestore(restoreConfig(dataDir, { KOPIA_ADDITIONAL_ARGS: '--parallel=2', KOPIA_PARALLELISM: '4' }), emptyFacts()).steps.map((s) => (s.kind === 'internal' ? s.describe : '')));
    expect(overridden).toContain('--parallel=2 used for kopia snapshot restore instead of the mover');
  });

  it('into an empty DATA_DIR: connect (never create), list, restore the selected snapshot, report', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'km-planners-'));
    const plan = planRestore(restoreConfig(dataDir), emptyFacts());
    expect(ids(plan.steps)).toEqual(['connect', 'connected', 'policy-inputs', 'list', 'restore', 'restored']);
    expect(stepOf(plan, 'list').kopia).toBe('snapshot list --all --incomplete --json');
    expect(stepOf(plan, 'restore').kopia).toBe(`snapshot restore <selected snapshot> ${dataDir} --write-files-atomically --ignore-permission-errors --flush-files --parallel=32`);
    expect(plan.steps.some((s) => s.kind === 'kopia' && s.command.args.includes('create'))).toBe(false);
  });

  it('with deletion into an occupied DATA_DIR: the selected snapshot\'s listing, confinement before kopia writes, deletion after', () => {
    const dataDir = occupiedDir();
    const plan = planRestore(restoreConfig(dataDir, { KOPIA_ENABLE_FILE_DELETION: 'true' }), emptyFacts({ savedConnection: savedConnection() }));
    expect(ids(plan.steps)).toEqual(['connected', 'policy-inputs', 'list', 'listing', 'confine', 'restore', 'delete-extras', 'restored']);
    expect(stepOf(plan, 'listing').kopia).toBe('ls -r -l <selected snapshot>');
    expect(plan.steps.filter((s) => s.when !== undefined)).toEqual([]);
  });

  it('without deletion into an occupied DATA_DIR: confinement still, deletion not', () => {
    const plan = planRestore(restoreConfig(occupiedDir()), emptyFacts({ savedConnection: savedConnection() }));
    expect(ids(plan.steps)).toEqual(['connected', 'policy-inputs', 'list', 'listing', 'confine', 'restore', 'restored']);
  });

  it('with deletion into an empty DATA_DIR: nothing to list or delete', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'km-planners-'));
    const plan = planRestore(restoreConfig(dataDir, { KOPIA_ENABLE_FILE_DELETION: 'true' }), emptyFacts({ savedConnection: savedConnection() }));
    expect(ids(plan.steps)).toEqual(['connected', 'policy-inputs', 'list', 'restore', 'restored']);
  });

  it('after a run that set a throttle no longer asked for: the throttle goes back to unlimited before the listing', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'km-planners-'));
    const throttle = { digest: 'an earlier throttle', targets: ['throttle'], fields: { 'throttle upload': 'unlimited', 'throttle download': '1000' } };
    const plan = planRestore(restoreConfig(dataDir), emptyFacts({ savedConnection: savedConnection(), applied: { throttle } }));
    expect(ids(plan.steps)).toEqual(['connected', 'policy-inputs', 'policy-header', 'throttle', 'policy-summary', 'list', 'restore', 'restored']);
    expect(stepOf(plan, 'throttle')).toEqual({ id: 'throttle', kopia: 'repository throttle set --upload-bytes-per-second=unlimited --download-bytes-per-second=unlimited' });
  });
});

describe('planMaintenance', () => {
  it('connects as the maintenance identity, reads the owner, claims only when needed, then quick and full maintenance', () => {
    const plan = planMaintenance(config({ DIRECTION: 'maintenance' }), emptyFacts());
    expect(plan.title).toBe('maintenance as maintenance@volsync');
    expect(plan.steps.map(told)).toEqual([
      { id: 'connect', kopia: 'repository connect filesystem --path=/r --override-username=maintenance --override-hostname=volsync --cache-directory=/cache --no-persist-credentials' },
      { id: 'connected' },
      { id: 'owner', kopia: 'maintenance info --json' },
      { id: 'claim', kopia: 'maintenance set --owner=maintenance@volsync --enable-quick=true', when: 'another client owns maintenance, nobody does, or quick maintenance is off' },
      { id: 'quick', kopia: 'maintenance run' },
      { id: 'quick-result', when: 'quick failed' },
      { id: 'full', kopia: 'maintenance run --full' },
    ]);
  });

  it('with a saved connection of the maintenance identity: no connect', () => {
    const facts = emptyFacts({ savedConnection: savedConnection({ username: 'maintenance', hostname: 'volsync' }) });
    expect(ids(planMaintenance(config({ DIRECTION: 'maintenance' }), facts).steps)).toEqual(['connected', 'owner', 'claim', 'quick', 'quick-result', 'full']);
  });
});

describe('connectSteps', () => {
  const structured = JSON.stringify({ storage: { type: 'filesystem', config: { path: '/structured' } } });

  it('tries each source in the contract\'s order, the next only when the one before did not connect', () => {
    const c = config({ DIRECTION: 'destination', DATA_DIR: '/data', KOPIA_STRUCTURED_REPOSITORY_CONFIG: structured });
    const steps = connectSteps(c, emptyFacts(), c.identity, 'connect-only');
    expect(ids(steps)).toEqual(['connect', 'connect-2', 'connected']);
    // The structured config reaches kopia as a file (secrets in it stay off the argv).
    expect(stepOf(steps, 'connect').kopia).toMatch(/^repository connect from-config /);
    expect(stepOf(steps, 'connect-2')).toMatchObject({
      kopia: expect.stringMatching(/^repository connect filesystem --path=\/r /),
      when: 'connect found no repository or found a creation in progress or found another mover had created it or failed',
    });
  });

  it('creates only in the last source', () => {
    const c = config({ DIRECTION: 'source', DATA_DIR: '/data', KOPIA_STRUCTURED_REPOSITORY_CONFIG: structured });
    const steps = connectSteps(c, emptyFacts(), c.identity, 'connect-or-create');
    expect(ids(steps).slice(0, 4)).toEqual(['connect', 'connect-2', 'creation-lock', 'create']);
    expect(stepOf(steps, 'creation-lock')).toEqual({ id: 'creation-lock', when: 'connect-2 found no repository' });
    expect(stepOf(steps, 'create').kopia).toMatch(/^repository create filesystem --path=\/r /);
  });

  it('with connect-only, never a create step nor a maintenance hand-over', () => {
    const c = config({ DIRECTION: 'destination', DATA_DIR: '/data' });
    expect(ids(connectSteps(c, emptyFacts(), c.identity, 'connect-only'))).toEqual(['connect', 'connected']);
  });

  it('with KOPIA_FORCE_CACHE_REBUILD: clears the cache before anything connects', () => {
    const c = config({ DIRECTION: 'destination', DATA_DIR: '/data', KOPIA_FORCE_CACHE_REBUILD: 'true' });
    expect(ids(connectSteps(c, emptyFacts({ savedConnection: savedConnection() }), c.identity, 'connect-only'))).toEqual(['force-cache-rebuild', 'connected']);
  });

  it('with a saved connection whose cache limits differ from the configured ones: sets them, no connect', () => {
    const c = config({ DIRECTION: 'destination', DATA_DIR: '/data', KOPIA_CONTENT_CACHE_SIZE_LIMIT_MB: '500' });
    const steps = connectSteps(c, emptyFacts({ savedConnection: savedConnection() }), c.identity, 'connect-only');
    expect(ids(steps)).toEqual(['cache-set', 'connected']);
    expect(stepOf(steps, 'cache-set').kopia).toBe('cache set --content-cache-size-limit-mb=500');
  });
});
