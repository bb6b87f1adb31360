#!/usr/bin/env bash
# Type-checks the program and bundles it into one ESM file, dist/kopia-mover.mjs, which
# bin/kopia-mover.js imports (laptops, npm, and the image's /mover-kopia/entry.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=node_modules/.bin

"$bin/tsc" -p tsconfig.json --noEmit

# Whitespace and syntax are minified: less source to parse at start. Names are kept, so stack
# traces stay readable without the source map. Bundled CommonJS libraries call require(); an
# ESM bundle has to provide it.
rm -f dist/kopia-mover.blob dist/kopia-mover.snapshot.cjs dist/kopia-mover.snapshot.cjs.map
"$bin/esbuild" src/cli.ts --bundle --platform=node --target=node20 --sourcemap \
  --minify-whitespace --minify-syntax --log-level=warning --format=esm --outfile=dist/kopia-mover.mjs \
  "--banner:js=import { createRequire as __kmRequire } from 'node:module'; const require = __kmRequire(import.meta.url);"
