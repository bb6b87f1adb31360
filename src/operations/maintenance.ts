import type { MoverConfig } from '../config/types.js';
import { MaintenanceOwnershipError, MaintenanceRunError, OperationError } from '../errors.js';
import type { KopiaCommand } from '../kopia/command.js';
import { connect, planConnect } from './connect.js';
import { runKopia, runStep, type RunContext } from './context.js';
import type { PlanStep } from './plan.js';

const INFO: KopiaCommand = { args: ['maintenance', 'info', '--json'], purpose: 'read maintenance owner', captureStdout: true };
const QUICK: KopiaCommand = { args: ['maintenance', 'run'], purpose: 'run quick maintenance' };
const FULL: KopiaCommand = { args: ['maintenance', 'run', '--full'], purpose: 'run full maintenance' };

function owner(config: MoverConfig): string {
  return `${config.maintenanceIdentity.username}@${config.maintenanceIdentity.hostname}`;
}

function claimCommand(config: MoverConfig, enableQuick: boolean): KopiaCommand {
  const args = ['maintenance', 'set', `--owner=${owner(config)}`];
  if (enableQuick) args.push('--enable-quick=true');
  return { args, purpose: `claim maintenance ownership as ${owner(config)}` };
}

export function planMaintenance(config: MoverConfig): PlanStep[] {
  const steps: PlanStep[] = [];
  const connection = planConnect(config, config.maintenanceIdentity, 'connect-only');
  for (const command of connection.steps) steps.push({ command });
  steps.push({ command: INFO });
  steps.push({ command: { ...claimCommand(config, true), when: 'only if another user owns maintenance or quick maintenance is off' } });
  steps.push({ command: QUICK }, { command: FULL });
  return steps;
}

interface MaintenanceInfo {
  owner?: string;
  quick?: { enabled?: boolean };
}

/** Waits between ownership claim attempts: another pod may be claiming at the same moment. */
const CLAIM_BACKOFF_MS = [1000, 2000, 4000];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runMaintenance(ctx: RunContext): Promise<void> {
  const { config, output, summary } = ctx;
  const me = owner(config);
  summary.maintenance = { status: 'FAILURE' };

  await connect(ctx, config.maintenanceIdentity, 'connect-only');

  const infoResult = await runStep(ctx, INFO);
  let info: MaintenanceInfo;
  try {
    info = JSON.parse(infoResult.stdout) as MaintenanceInfo;
  } catch {
    throw new OperationError('could not read the maintenance info kopia printed', infoResult.tail.join('\n'));
  }
  output.log.info({ owner: info.owner || '(none)', me }, 'maintenance owner');
  if (info.owner !== me || info.quick?.enabled !== true) {
    const claim = claimCommand(config, info.quick?.enabled !== true);
    let lastOutput = '';
    let claimed = false;
    for (let attempt = 0; attempt <= CLAIM_BACKOFF_MS.length && !claimed; attempt++) {
      if (attempt > 0) await sleep(CLAIM_BACKOFF_MS[attempt - 1] ?? 0);
      const result = await runKopia(ctx, claim);
      claimed = result.exitCode === 0;
      lastOutput = result.tail.join('\n');
    }
    if (!claimed) {
      const current = info.owner || 'nobody';
      throw new MaintenanceOwnershipError(`could not claim maintenance ownership as ${me}; current owner is ${current}`, current, lastOutput);
    }
    output.log.info({ previousOwner: info.owner || '(none)', owner: me }, 'maintenance ownership claimed');
  }
  summary.maintenance.owner = me;

  const quick = await runKopia(ctx, QUICK);
  if (quick.exitCode !== 0) summary.warnings.push(`quick maintenance failed (kopia exit code ${quick.exitCode})`);

  await runStep(ctx, FULL, (message, kopiaOutput) => new MaintenanceRunError(message, kopiaOutput));
  summary.maintenance.status = 'SUCCESS';
}
