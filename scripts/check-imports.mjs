#!/usr/bin/env node
// Checks that src/ imports flow one way: no module is imported in a cycle (type-only imports
// included: a cycle of types is a cycle of concepts), the lower layers (kopia/, backends/,
// policy/) never reach up into config/, and each area imports only the areas AREAS allows it (the
// README's "Code layout" says why). Prints each problem; exit 1 when there is any.
// Usage: node scripts/check-imports.mjs [src dir]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const src = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..', 'src'));

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

const graph = new Map();
for (const file of files(src)) {
  const text = readFileSync(file, 'utf8');
  const targets = [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+'(\.[^']+)'/gm)].map((m) =>
    resolve(dirname(file), m[1].replace(/\.js$/, '.ts')),
  );
  graph.set(file, targets);
}

// The leaf modules at src/: they import nothing of the program.
const LEAVES = ['env', 'files', 'findings', 'memory', 'processes', 'secret', 'text', 'values'];
// What each area (a folder of src/, kopia/models, or a module at src/) may import besides itself.
const AREAS = {
  ...Object.fromEntries(LEAVES.map((leaf) => [leaf, []])),
  errors: ['kopia'],
  'kopia/models': ['errors', 'kopia'],
  kopia: [...LEAVES, 'errors', 'kopia/models', 'policy', 'report'],
  backends: [...LEAVES, 'errors', 'kopia', 'policy'],
  policy: [...LEAVES, 'errors', 'kopia', 'backends'],
  config: [...LEAVES, 'errors', 'kopia', 'backends', 'policy'],
  report: [...LEAVES, 'errors', 'kopia', 'config'],
  plan: [...LEAVES, 'errors', 'kopia', 'kopia/models', 'policy', 'config', 'report', 'operations'],
  'secret-checks': [...LEAVES, 'errors', 'config', 'report'],
  signals: [...LEAVES, 'errors', 'kopia', 'report', 'operations'],
  facts: [...LEAVES, 'errors', 'kopia', 'kopia/models', 'backends', 'policy', 'config', 'operations'],
  operations: [...LEAVES, 'errors', 'kopia', 'kopia/models', 'backends', 'policy', 'config', 'report', 'plan', 'facts', 'secret-checks', 'signals', 'run'],
  run: [...LEAVES, 'errors', 'kopia', 'config', 'report', 'plan', 'operations', 'facts', 'secret-checks', 'signals'],
  cli: [...LEAVES, 'errors', 'kopia', 'kopia/models', 'config', 'report', 'operations', 'secret-checks', 'run'],
};

function areaOf(file) {
  const parts = relative(src, file).replace(/\.ts$/, '').split('/');
  return parts[0] === 'kopia' && parts[1] === 'models' ? 'kopia/models' : parts[0];
}

const problems = [];
for (const [file, targets] of graph) {
  const allowed = AREAS[areaOf(file)];
  if (allowed === undefined) continue;
  for (const t of targets) {
    const area = areaOf(t);
    if (area !== areaOf(file) && !allowed.includes(area)) problems.push(`${relative(src, file)} imports ${relative(src, t)}: ${areaOf(file)} may not import ${area}`);
  }
}
const lower = ['kopia', 'backends', 'policy'].map((d) => join(src, d));
for (const [file, targets] of graph) {
  if (!lower.some((d) => file.startsWith(`${d}/`))) continue;
  for (const t of targets) if (t.startsWith(`${join(src, 'config')}/`)) problems.push(`${relative(src, file)} imports ${relative(src, t)}: config/ is above it`);
}

// Tarjan's strongly connected components: any component of more than one module is a cycle.
let index = 0;
const stack = [];
const meta = new Map();
function connect(v) {
  meta.set(v, { index, low: index, onStack: true });
  index++;
  stack.push(v);
  for (const w of graph.get(v) ?? []) {
    if (!graph.has(w)) continue;
    if (!meta.has(w)) {
      connect(w);
      meta.get(v).low = Math.min(meta.get(v).low, meta.get(w).low);
    } else if (meta.get(w).onStack) meta.get(v).low = Math.min(meta.get(v).low, meta.get(w).index);
  }
  if (meta.get(v).low === meta.get(v).index) {
    const component = [];
    let w;
    do {
      w = stack.pop();
      meta.get(w).onStack = false;
      component.push(relative(src, w));
    } while (w !== v);
    if (component.length > 1) problems.push(`import cycle: ${component.sort().join(' <-> ')}`);
  }
}
for (const v of graph.keys()) if (!meta.has(v)) connect(v);

for (const p of problems) console.log(p);
console.log(`check-imports: ${graph.size} modules, ${problems.length} problem(s)`);
process.exit(problems.length > 0 ? 1 : 0);
