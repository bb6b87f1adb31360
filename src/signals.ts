import { constants as osConstants } from 'node:os';
import { TerminatedError } from './errors.js';
import type { KopiaRunner } from './kopia/runner.js';
import { stopHooks } from './operations/hooks.js';
import type { Output } from './report/output.js';

/**
 * SIGTERM (Kubernetes stopping the pod) and SIGINT (Ctrl-C) stop the run: a running hook and its
 * children end at once, kopia gets SIGTERM through the runner's abort signal so it can checkpoint
 * (execa kills it after the grace period), an internal step (the restore's checks of DATA_DIR, file
 * deletion) stops before its next entry, no further step starts, and the run ends with 128+n once
 * kopia is gone.
 */
export function stopOnSignals(output: Output, graceMs: number) {
  const controller = new AbortController();
  let runner: KopiaRunner | undefined;
  let reject: (error: Error) => void = () => {};
  const stopped = new Promise<never>((_, r) => {
    reject = r;
  });
  stopped.catch(() => {});
  const stopWith = (error: Error, signal: NodeJS.Signals) => {
    if (controller.signal.aborted) return;
    stopHooks(signal);
    controller.abort(error);
    void (runner?.idle() ?? Promise.resolve()).then(() => reject(error));
  };
  const handler = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) return;
    output.log.warn({ signal, graceSeconds: graceMs / 1000 }, 'stop requested: passing it to kopia; an internal step (file deletion) stops before its next entry');
    stopWith(new TerminatedError(signal, osConstants.signals[signal]), signal);
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  return {
    signal: controller.signal,
    /** Rejects with the stop once kopia has ended. */
    stopped,
    watch: (r: KopiaRunner) => {
      runner = r;
    },
    /** Stops the run for a reason of the program's own: kopia and hooks get SIGTERM as for a signal. */
    stop: (error: Error) => stopWith(error, 'SIGTERM'),
    dispose: () => {
      process.off('SIGTERM', handler);
      process.off('SIGINT', handler);
    },
  };
}
