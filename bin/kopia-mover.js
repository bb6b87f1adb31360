#!/usr/bin/env node
// One bundled file: resolving and compiling hundreds of small modules would
// more than double the time from start to the first kopia process.
import { main } from '../dist/kopia-mover.mjs';

// Exit as soon as the run has reported: after a stop, a paused debug wait or a
// hook's timer must not keep the pod alive. All output is written synchronously.
main(process.argv.slice(2), { env: process.env }).then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`kopia-mover: unexpected error: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
