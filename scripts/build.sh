#!/usr/bin/env bash
# Type-checks the program and builds what runs it:
#   dist/kopia-mover.mjs           one ESM bundle, imported by bin/kopia-mover.js (laptops, npm)
#   dist/kopia-mover.snapshot.cjs  the same program as the entry of a V8 startup snapshot
#   dist/kopia-mover.blob          that snapshot: the program loaded and initialised, which
#                                  docker/entry.sh starts from. It is only valid for the node
#                                  binary that built it, so the image builds its own.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=node_modules/.bin

"$bin/tsc" -p tsconfig.json --noEmit

# Whitespace and syntax are minified: less source to parse at start, and a smaller snapshot heap
# to load. Names are kept, so stack traces stay readable without the source map.
common=(--bundle --platform=node --target=node20 --sourcemap --minify-whitespace --minify-syntax --log-level=warning)
# Bundled CommonJS libraries call require(); an ESM bundle has to provide it.
"$bin/esbuild" src/cli.ts "${common[@]}" --format=esm --outfile=dist/kopia-mover.mjs \
  "--banner:js=import { createRequire as __kmRequire } from 'node:module'; const require = __kmRequire(import.meta.url);"
# A snapshot is built from a script, not a module.
"$bin/esbuild" src/snapshot.ts "${common[@]}" --format=cjs --outfile=dist/kopia-mover.snapshot.cjs

rm -f dist/kopia-mover.blob
# node warns that it has not verified every built-in module in snapshots; the test suite runs
# the program from this snapshot, which is what verifies it for this program.
node --no-warnings --snapshot-blob dist/kopia-mover.blob --build-snapshot dist/kopia-mover.snapshot.cjs
