#!/usr/bin/env node
// One bundled file: resolving and compiling hundreds of small modules would
// more than double the time from start to the first kopia process.
import { main } from '../dist/kopia-mover.mjs';

main(process.argv.slice(2), { env: process.env }).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`kopia-mover: unexpected error: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
