#!/usr/bin/env node
// One bundled file: resolving and compiling hundreds of small modules would
// more than double the time from start to the first kopia process.
import { fileURLToPath } from 'node:url';
import { runAndExit } from '../dist/kopia-mover.mjs';

runAndExit(process.argv.slice(2), { env: process.env, appDir: fileURLToPath(new URL('..', import.meta.url)) });
