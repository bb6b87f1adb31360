// The executor runs a plan's steps in order, each only when its condition holds, against one typed
// plan state. Kopia steps run the real kopia where a real repository gives the outcome on demand
// (a connect to a repository that does not exist); the executor's own logic (retries, readers,
// placeholders, tolerated and own failures) is driven by a scripted stand-in runner, named so.
import { mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/parse.js';
import { MoverError, OperationError } from '../../src/errors.js';
import type { KopiaCommand } from '../../src/kopia/command.js';
import { kopiaPaths } from '../../src/kopia/global-flags.js';
import { KopiaRunner, type KopiaResult, type RunOptions } from '../../src/kopia/runner.js';
import type { RunContext } from '../../src/plan/context.js';
import { execute } from '../../src/plan/executor.js';
import type { Condition, Plan, Step } from '../../src/plan/step.js';
import { Output } from '../../src/report/output.js';
import { realKopia, SYSTEM } from '../support/fixtures.js';

const PASSWORD = 'a password for the executor';

interface Context {
  ctx: RunContext;
  dir: string;
  /** The log records the run wrote so far. */
  records: () => { level: number; msg: string }[];
}

/** A run context in a folder of its own: the output goes to a file there, kopia's config and logs too. */
function context(runnerFor: (dir: string, output: Output) => RunContext['runner'], stop?: AbortSignal): Context {
  const dir = mkdtempSync(join(tmpdir(), 'km-executor-'));
  const config = parseConfig(
    { DIRECTION: 'maintenance', KOPIA_PASSWORD: PASSWORD, KOPIA_REPOSITORY: `filesystem://${join(dir, 'repository')}`, KOPIA_CACHE_DIR: join(dir, 'cache') },
    { system: SYSTEM, readMounts: false },
  );
  const logFile = join(dir, 'log.jsonl');
  const fd = openSync(logFile, 'w');
  const output = new Output('json', [PASSWORD], fd);
  const summary = { operation: 'maintenance' as const, result: 'FAILURE' as const, exitCode: 1, warnings: [], notes: [], durationSeconds: 0, kopiaProcesses: 0 };
  const ctx: RunContext = { config, runner: runnerFor(dir, output), output, summary, parentEnv: {}, paths: kopiaPaths(config, dir), stop };
  const records = () => {
    const text = readFileSync(logFile, 'utf8').trim();
    return text === '' ? [] : text.split('\n').map((l) => JSON.parse(l) as { level: number; msg: string });
  };
  return { ctx, dir, records };
}

/** The real kopia, as a run starts it. */
function realRunner(dir: string, output: Output): KopiaRunner {
  return new KopiaRunner({
    binary: realKopia,
    globalFlags: [`--config-file=${join(dir, 'kopia.config')}`, `--log-dir=${join(dir, 'logs')}`],
    env: { PATH: process.env['PATH'] ?? '', HOME: dir, KOPIA_PASSWORD: PASSWORD, KOPIA_CHECK_FOR_UPDATES: 'false' },
    output,
    progressIntervalMs: 0,
    tempDir: dir,
  });
}

interface Answer {
  exitCode: number;
  stdout?: string[];
  tail?: string[];
}

/**
 * A stand-in for kopia, for the executor's own logic only: answers each command in turn from a
 * script (stdout lines fed to the step's reader as kopia's would be) and records the arguments.
 */
function scriptedKopia(answers: Answer[]) {
  const calls: string[][] = [];
  const runner = {
    run: async (command: KopiaCommand, options: RunOptions = {}): Promise<KopiaResult> => {
      calls.push(command.args);
      const answer = answers.shift();
      if (answer === undefined) throw new Error(`the script has no answer for kopia ${command.args.join(' ')}`);
      for (const line of answer.stdout ?? []) {
        options.onStdoutLine?.(line);
        options.onStdoutRawLine?.(Buffer.from(line));
      }
      return { exitCode: answer.exitCode, stdout: (answer.stdout ?? []).join('\n'), tail: answer.tail ?? [], rawTail: answer.tail ?? [] };
    },
  };
  return { runner, calls };
}

/** Internal steps that write down that they ran. */
function noting(ran: string[], steps: Omit<Extract<Step, { kind: 'internal' }>, 'kind' | 'describe' | 'run'>[]): Step[] {
  return steps.map((s) => ({ ...s, kind: 'internal', describe: s.id, run: () => void ran.push(s.id) }));
}

const CLAIM: Condition = { on: 'flag', flag: 'claim', describe: 'a claim is needed' };
const CREATED: Condition = { on: 'flag', flag: 'created', describe: 'the repository was created' };

describe('execute, internal steps and conditions', () => {
  it('runs the steps in order, each only when its condition holds on what earlier steps found', async () => {
    const ran: string[] = [];
    const plan: Plan = {
      title: 'conditions',
      steps: [
        { id: 'owner', kind: 'internal', describe: 'finds a claim needed', run: (state) => void (state.found.claim = true) },
        ...noting(ran, [
          { id: 'claim', when: CLAIM },
          { id: 'create', when: CREATED },
          { id: 'quick', when: { on: 'all', of: [CLAIM, { on: 'any', of: [CREATED, CLAIM] }] } },
          { id: 'full', when: { on: 'all', of: [CLAIM, CREATED] } },
          { id: 'restored' },
        ]),
      ],
    };
    const { ctx } = context(() => scriptedKopia([]).runner);
    const state = await execute(plan, ctx);
    expect(ran).toEqual(['claim', 'quick', 'restored']);
    expect(state.found).toEqual({ claim: true });
  });

  it('a flag set to false does not hold; a value found does', async () => {
    const ran: string[] = [];
    const plan: Plan = {
      title: 'flags',
      steps: [
        {
          id: 'owner',
          kind: 'internal',
          describe: 'finds no claim needed, and the previous owner',
          run: (state) => {
            state.found.claim = false;
            state.found.previousOwner = 'someone@else';
          },
        },
        ...noting(ran, [{ id: 'claim', when: CLAIM }, { id: 'quick', when: { on: 'flag', flag: 'previousOwner', describe: 'an owner was read' } }]),
      ],
    };
    const { ctx } = context(() => scriptedKopia([]).runner);
    await execute(plan, ctx);
    expect(ran).toEqual(['quick']);
  });

  it('a step that ends the run early ends it successfully: no later step runs', async () => {
    const ran: string[] = [];
    const plan: Plan = {
      title: 'stopping',
      steps: [
        { id: 'source-empty', kind: 'internal', describe: 'nothing to do', run: (state) => void (state.stopped = 'source empty') },
        ...noting(ran, [{ id: 'snapshot' }]),
      ],
    };
    const { ctx } = context(() => scriptedKopia([]).runner);
    const state = await execute(plan, ctx);
    expect(state.stopped).toBe('source empty');
    expect(ran).toEqual([]);
  });

  it('a stop requested during a step: the run ends with its reason before the next step starts', async () => {
    const ran: string[] = [];
    const stop = new AbortController();
    const plan: Plan = {
      title: 'stop',
      steps: [
        { id: 'confine', kind: 'internal', describe: 'asks to stop', run: () => stop.abort(new Error('stop requested (SIGTERM)')) },
        ...noting(ran, [{ id: 'restore' }]),
      ],
    };
    const { ctx } = context(() => scriptedKopia([]).runner, stop.signal);
    await expect(execute(plan, ctx)).rejects.toThrow('stop requested (SIGTERM)');
    expect(ran).toEqual([]);
  });

  it('every run starts from a plan state of its own', async () => {
    const plan: Plan = {
      title: 'twice',
      steps: [
        { id: 'claim', kind: 'internal', describe: 'claims once', when: { on: 'flag', flag: 'previousOwner', describe: 'an owner was read' }, run: (state) => void (state.found.claim = true) },
        { id: 'owner', kind: 'internal', describe: 'reads the owner', run: (state) => void (state.found.previousOwner = 'nobody') },
      ],
    };
    const { ctx } = context(() => scriptedKopia([]).runner);
    // Were the state kept from the first run, the second would find an owner before reading one, and claim.
    expect((await execute(plan, ctx)).found).toEqual({ previousOwner: 'nobody' });
    expect((await execute(plan, ctx)).found).toEqual({ previousOwner: 'nobody' });
  });
});

describe('execute, kopia steps with the real kopia', () => {
  const connect = (dir: string): KopiaCommand => ({
    args: ['repository', 'connect', 'filesystem', `--path=${join(dir, 'no-repository')}`, '--no-persist-credentials'],
    purpose: 'connect to a repository that does not exist',
  });

  it('a connect that finds no repository: a step that continues on it lets the steps conditioned on that outcome run', async () => {
    const ran: string[] = [];
    const { ctx, dir, records } = context(realRunner);
    const plan: Plan = {
      title: 'no repository',
      steps: [
        { id: 'connect', kind: 'kopia', command: connect(dir), continueOn: ['not-initialized'], expected: { 'not-initialized': 'no repository yet' } },
        ...noting(ran, [
          { id: 'creation-lock', when: { on: 'outcome', step: 'connect', is: ['not-initialized'] } },
          { id: 'connected', when: { on: 'outcome', step: 'connect', is: ['ok'] } },
        ]),
      ],
    };
    const state = await execute(plan, ctx);
    expect(state.outcomes.get('connect')).toBe('not-initialized');
    expect(state.results.get('connect')?.exitCode).toBe(1);
    expect(ran).toEqual(['creation-lock']);
    // The outcome the step expected is the info line it gave, in place of kopia's exit-code warning.
    expect(records().filter((r) => r.level === 40)).toEqual([]);
    expect(records().map((r) => r.msg)).toContain('no repository yet');
  });

  it('a connect that finds no repository, with nothing to continue on: the run fails and no later step runs', async () => {
    const ran: string[] = [];
    const { ctx, dir } = context(realRunner);
    const plan: Plan = { title: 'no repository', steps: [{ id: 'connect', kind: 'kopia', command: connect(dir) }, ...noting(ran, [{ id: 'connected' }])] };
    const run = execute(plan, ctx);
    await expect(run).rejects.toBeInstanceOf(MoverError);
    await expect(run).rejects.toThrow('connect to a repository that does not exist failed');
    expect(ran).toEqual([]);
  });
});

describe('execute, its own logic with a scripted stand-in for kopia', () => {
  it('gives kopia the value an earlier step found in place of a placeholder', async () => {
    const kopia = scriptedKopia([{ exitCode: 0 }]);
    const { ctx } = context(() => kopia.runner);
    const plan: Plan = {
      title: 'placeholder',
      steps: [
        { id: 'list', kind: 'internal', describe: 'selects a snapshot', run: (state) => void (state.found.selectedSnapshot = 'k0123456789abcdef') },
        { id: 'listing', kind: 'kopia', command: { args: ['ls', '-r', '-l', { ref: 'selectedSnapshot', shown: '<selected snapshot>' }], purpose: 'list it' } },
      ],
    };
    await execute(plan, ctx);
    expect(kopia.calls).toEqual([['ls', '-r', '-l', 'k0123456789abcdef']]);
  });

  it('a placeholder nothing found: the step fails before kopia starts', async () => {
    const kopia = scriptedKopia([{ exitCode: 0 }]);
    const { ctx } = context(() => kopia.runner);
    const plan: Plan = {
      title: 'placeholder',
      steps: [{ id: 'listing', kind: 'kopia', command: { args: ['ls', '-r', '-l', { ref: 'selectedSnapshot', shown: '<selected snapshot>' }], purpose: 'list it' } }],
    };
    await expect(execute(plan, ctx)).rejects.toThrow('no value for <selected snapshot> when the step ran');
    expect(kopia.calls).toEqual([]);
  });

  it('a retried step reads each process with a reader of its own: the one that succeeded is the one finished', async () => {
    const kopia = scriptedKopia([
      { exitCode: 1, stdout: ['from the failed try'], tail: ['ERROR the first try failed'] },
      { exitCode: 0, stdout: ['first line', 'second line'] },
    ]);
    const { ctx } = context(() => kopia.runner);
    const finished: string[][] = [];
    const after: string[] = [];
    const plan: Plan = {
      title: 'retry',
      steps: [
        {
          id: 'claim',
          kind: 'kopia',
          command: { args: ['maintenance', 'set'], purpose: 'claim' },
          retry: { while: ['failed'], forMs: 5_000, firstPauseMs: 2 },
          stream: () => {
            const lines: string[] = [];
            return { options: { onStdoutLine: (line) => lines.push(line) }, finish: () => void finished.push(lines) };
          },
          after: (result) => void after.push(`exit ${result.exitCode}`),
        },
      ],
    };
    const state = await execute(plan, ctx);
    expect(kopia.calls).toHaveLength(2);
    expect(finished).toEqual([['first line', 'second line']]);
    expect(after).toEqual(['exit 0']);
    expect(state.outcomes.get('claim')).toBe('ok');
  });

  it('the reader finishes before the step\'s after, and what it found is in the state the after reads', async () => {
    const kopia = scriptedKopia([{ exitCode: 0, stdout: ['k1', 'k2'] }]);
    const { ctx } = context(() => kopia.runner);
    let seen: string | undefined;
    const plan: Plan = {
      title: 'reader',
      steps: [
        {
          id: 'list',
          kind: 'kopia',
          command: { args: ['snapshot', 'list'], purpose: 'list' },
          stream: () => {
            const ids: string[] = [];
            return { options: { onStdoutLine: (line) => ids.push(line) }, finish: (_result, state) => void (state.found.selectedSnapshot = ids.at(-1)) };
          },
          after: (_result, state) => void (seen = state.found.selectedSnapshot),
        },
      ],
    };
    const state = await execute(plan, ctx);
    expect(seen).toBe('k2');
    expect(state.found.selectedSnapshot).toBe('k2');
  });

  it('a failure the step tolerates counts as success: its after runs and the run goes on', async () => {
    const kopia = scriptedKopia([{ exitCode: 1, tail: ['ERROR a harmless failure'] }]);
    const { ctx } = context(() => kopia.runner);
    const ran: string[] = [];
    const plan: Plan = {
      title: 'tolerated',
      steps: [
        {
          id: 'restore',
          kind: 'kopia',
          command: { args: ['snapshot', 'restore'], purpose: 'restore' },
          tolerate: (result) => (result.tail.some((l) => l.includes('harmless')) ? 'harmless, every entry was restored' : undefined),
          after: () => void ran.push('after'),
        },
        ...noting(ran, [{ id: 'restored' }]),
      ],
    };
    const state = await execute(plan, ctx);
    expect(state.outcomes.get('restore')).toBe('ok');
    expect(ran).toEqual(['after', 'restored']);
  });

  it('a failure the step continues on: later steps see the outcome and kopia\'s result', async () => {
    const kopia = scriptedKopia([{ exitCode: 1, tail: ['ERROR quick maintenance failed'] }, { exitCode: 0 }]);
    const { ctx } = context(() => kopia.runner);
    const said: string[] = [];
    const plan: Plan = {
      title: 'continued',
      steps: [
        { id: 'quick', kind: 'kopia', command: { args: ['maintenance', 'run'], purpose: 'quick' }, continueOn: ['failed'] },
        {
          id: 'quick-result',
          kind: 'internal',
          describe: 'warns',
          when: { on: 'outcome', step: 'quick', is: ['failed'] },
          run: (state) => void said.push(`quick ended with ${state.results.get('quick')?.exitCode}`),
        },
        { id: 'full', kind: 'kopia', command: { args: ['maintenance', 'run', '--full'], purpose: 'full' } },
      ],
    };
    await execute(plan, ctx);
    expect(said).toEqual(['quick ended with 1']);
    expect(kopia.calls).toEqual([['maintenance', 'run'], ['maintenance', 'run', '--full']]);
  });

  it('a failure with the step\'s own error ends the run with that error, and no later step runs', async () => {
    const kopia = scriptedKopia([{ exitCode: 1, tail: ['ERROR full maintenance failed'] }]);
    const { ctx } = context(() => kopia.runner);
    const ran: string[] = [];
    const plan: Plan = {
      title: 'own failure',
      steps: [
        {
          id: 'full',
          kind: 'kopia',
          command: { args: ['maintenance', 'run', '--full'], purpose: 'full' },
          fail: (result) => new OperationError(`full maintenance failed with exit ${result.exitCode}`),
        },
        ...noting(ran, [{ id: 'restored' }]),
      ],
    };
    await expect(execute(plan, ctx)).rejects.toThrow('full maintenance failed with exit 1');
    expect(ran).toEqual([]);
  });
});
