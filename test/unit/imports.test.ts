import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const script = join(import.meta.dirname, '..', '..', 'scripts', 'check-imports.mjs');
const check = (dir?: string) => spawnSync(process.execPath, [script, ...(dir ? [dir] : [])], { encoding: 'utf8' });

describe('imports flow one way', () => {
  it('src/ has no import cycle, kopia/, backends/ and policy/ never import config/, and each area imports only what it may', () => {
    const result = check();
    expect(result.stdout).toMatch(/0 problem\(s\)/);
    expect(result.status).toBe(0);
  });

  it('the check finds a cycle, an upward import, and a leaf that imports the program, when there is one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'imports-'));
    mkdirSync(join(dir, 'kopia'));
    mkdirSync(join(dir, 'config'));
    writeFileSync(join(dir, 'a.ts'), "import { b } from './b.js';\nexport const a = b;\n");
    writeFileSync(join(dir, 'b.ts'), "import type {\n  a,\n} from './a.js';\nexport const b = 1;\n");
    writeFileSync(join(dir, 'config', 'types.ts'), 'export type T = 1;\n');
    writeFileSync(join(dir, 'kopia', 'x.ts'), "import type { T } from '../config/types.js';\nexport type X = T;\n");
    writeFileSync(join(dir, 'text.ts'), "import type { X } from './kopia/x.js';\nexport type Y = X;\n");
    const result = check(dir);
    expect(result.status).toBe(1);
    expect(result.stdout).toContain('import cycle: a.ts <-> b.ts');
    expect(result.stdout).toContain('kopia/x.ts imports config/types.ts');
    expect(result.stdout).toContain('text.ts imports kopia/x.ts: text may not import kopia');
  });
});
