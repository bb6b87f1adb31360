import type { MoverConfig } from '../config/parse.js';
import { MaintenanceOwnershipError, MaintenanceRunError } from '../errors.js';
import type { Facts } from '../facts.js';
import { parseMaintenanceInfo } from '../kopia/models/maintenance-info.js';
import type { Condition, Plan } from '../plan/step.js';
import { connectSteps } from './connect.js';
import { verifySteps } from './verify.js';

function owner(config: MoverConfig): string {
  return `${config.maintenanceIdentity.username}@${config.maintenanceIdentity.hostname}`;
}

const CLAIM: Condition = {
  on: 'flag',
  flag: 'claim',
  describe: 'another client owns maintenance, nobody does, or quick maintenance is off',
};

/** How long another pod claiming at the same moment gets before the claim is given up. */
const CLAIM_WAIT_MS = 7_000;

/**
 * Maintenance as steps: connect (never create) as the maintenance identity, read the owner, claim
 * ownership (and the quick cycle) in one `maintenance set` only when needed, with retries since
 * another pod may be claiming at the same moment, then quick maintenance (a failure is a warning)
 * and full maintenance (a failure fails the run), and with KOPIA_MAINTENANCE_VERIFY_PERCENT the
 * verify of every snapshot.
 */
export function planMaintenance(config: MoverConfig, facts: Facts): Plan {
  const me = owner(config);
  return {
    title: `maintenance as ${me}`,
    steps: [
      ...connectSteps(config, facts, config.maintenanceIdentity, 'connect-only'),
      {
        id: 'owner',
        kind: 'kopia',
        command: { args: ['maintenance', 'info', '--json'], purpose: 'read maintenance owner', captureStdout: true },
        after: (result, state) => {
          const info = parseMaintenanceInfo(result.stdout, result.tail.join('\n'));
          state.found.previousOwner = info.owner || 'nobody';
          state.ctx.output.log.info({ owner: info.owner || '(none)', me }, 'maintenance owner');
          state.found.claim = info.owner !== me || !info.quick.enabled;
        },
      },
      {
        id: 'claim',
        kind: 'kopia',
        command: { args: ['maintenance', 'set', `--owner=${me}`, '--enable-quick=true'], purpose: `claim maintenance ownership as ${me}` },
        when: CLAIM,
        retry: { while: ['failed'], forMs: CLAIM_WAIT_MS, firstPauseMs: 1000 },
        after: (_result, state) => {
          state.ctx.output.log.info({ previousOwner: state.found.previousOwner, owner: me }, 'maintenance ownership claimed');
        },
        fail: (result, state) => {
          const current = state.found.previousOwner ?? 'nobody';
          return new MaintenanceOwnershipError(`could not claim maintenance ownership as ${me}; current owner is ${current}`, current, result.tail.join('\n'));
        },
      },
      {
        id: 'quick',
        kind: 'kopia',
        command: { args: ['maintenance', 'run'], purpose: 'run quick maintenance' },
        continueOn: ['failed'],
        after: (_result, state) => {
          state.ctx.summary.maintenance = { status: 'FAILURE', owner: me };
        },
      },
      {
        id: 'quick-result',
        kind: 'internal',
        describe: 'a failed quick maintenance is a warning',
        when: { on: 'outcome', step: 'quick', is: ['failed'] },
        run: (state) => {
          state.ctx.summary.maintenance = { status: 'FAILURE', owner: me };
          state.ctx.summary.warnings.push(`quick maintenance failed (kopia exit code ${state.results.get('quick')?.exitCode})`);
        },
      },
      {
        id: 'full',
        kind: 'kopia',
        command: { args: ['maintenance', 'run', '--full'], purpose: 'run full maintenance' },
        after: (_result, state) => {
          state.ctx.summary.maintenance = { status: 'SUCCESS', owner: me };
        },
        fail: (result) => new MaintenanceRunError('run full maintenance failed (kopia exit code ' + result.exitCode + ')', result.tail.join('\n')),
      },
      ...verifySteps(config.cacheDir, 'repository', config.operation === 'maintenance' ? config.maintenance.verifyPercent : 0),
    ],
  };
}
