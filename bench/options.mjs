// Command-line flags of the benchmarks: `--name=value` or `--name`, each with an environment
// variable it overrides. A flag no benchmark knows is an error, not a silent default.

/**
 * Reads `argv` against the `known` flag names; returns readers that take a flag's value, else its
 * variable's, and check it. `context` ends the unknown-flag message (e.g. " with --load").
 */
export function benchFlags(argv, env, known, context = '') {
  const flags = {};
  for (const arg of argv) {
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new Error(`unknown argument ${arg}; see docs/performance.md`);
    flags[m[1]] = m[2] ?? 'true';
  }
  for (const name of Object.keys(flags)) {
    if (!known.includes(name)) throw new Error(`unknown flag --${name}${context}; known: ${known.map((k) => `--${k}`).join(' ')}`);
  }
  const pick = (flag, variable) => flags[flag] ?? (env[variable] || undefined);
  return {
    pick,
    yes: (v) => v !== undefined && !['0', 'false', 'no', ''].includes(String(v).toLowerCase()),
    int: (v, name, fallback, min = 1) => {
      if (v === undefined) return fallback;
      const n = Number(v);
      if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be a whole number >= ${min}, got ${v}`);
      return n;
    },
  };
}
