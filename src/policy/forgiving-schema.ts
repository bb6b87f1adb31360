import { isPlainObject } from '../values.js';
import * as z from 'zod';

/**
 * A policy shape declared once as data (`section`s of `field`s), from which two zod schemas are
 * derived: the strict one of kopia's JSON, and a forgiving one that reads a document written in
 * other spellings, normalises it, and never fails for a part of it. Where the forgiving schema
 * finds something to say, it leaves a `Remark` in its output, and `settle` turns the output into
 * kopia's JSON plus one warning per remark, at the JSON path where the document says it.
 */

/** What the mapping says about one place in a document, and what still applies there, if anything. */
export class Remark {
  constructor(
    readonly messages: readonly string[],
    readonly value?: unknown,
  ) {}
}

/** A remark for something that does not reach kopia. */
export function notApplied(...messages: string[]): Remark {
  return new Remark(messages.map((m) => `${m}, not applied`));
}

/**
 * A value: `kopia` is how kopia's JSON holds it; `input` what a document may give there, read and
 * normalised to `kopia` (kopia's own spelling unless said otherwise). The input schema is made when
 * first asked for, so a run that maps no document does not pay for it.
 */
export class Field<K extends z.ZodType = z.ZodType> {
  #input: z.ZodType | undefined;

  constructor(
    readonly kopia: K,
    private readonly makeInput?: () => z.ZodType,
  ) {}

  get input(): z.ZodType {
    this.#input ??= this.makeInput?.() ?? this.kopia;
    return this.#input;
  }
}

export interface Fields {
  readonly [key: string]: Field | Section;
}

type KopiaShape<F extends Fields> = { -readonly [Key in keyof F]: z.ZodOptional<F[Key]['kopia']> };

/**
 * A section as the forgiving schema parsed it: each field holds a value, a nested section or a
 * remark, `aside` holds what the document gave that is not a field here (unknown or unsupported
 * keys), and `order` the document's keys as it wrote them, so that warnings follow the document.
 */
export class Parsed {
  constructor(
    readonly fields: Record<string, unknown>,
    readonly aside: ReadonlyMap<string, Remark> = new Map(),
    readonly order: readonly string[] = [],
  ) {}
}

/** A rule across a section's fields: returns the section, changed where the rule is broken, or a remark in its place. */
export type SectionCheck = (section: Parsed, path: string) => Parsed | Remark;

/** An object of fields; kopia refuses fields it does not know, so its JSON object is strict. */
export class Section<F extends Fields = Fields> {
  readonly kopia: z.ZodObject<KopiaShape<F>, z.core.$strict>;

  constructor(
    readonly fields: F,
    readonly check?: SectionCheck,
  ) {
    this.kopia = z.strictObject(kopiaShape(fields));
  }
}

function kopiaShape<F extends Fields>(fields: F): KopiaShape<F> {
  const shape: Record<string, z.ZodOptional> = {};
  for (const [key, node] of Object.entries(fields)) shape[key] = node.kopia.optional();
  // Built key by key from `fields`, so it has exactly F's keys; TypeScript cannot follow a loop.
  return shape as KopiaShape<F>;
}

export function field<K extends z.ZodType>(kopia: K, makeInput?: () => z.ZodType): Field<K> {
  return new Field(kopia, makeInput);
}

export function section<F extends Fields>(fields: F, check?: SectionCheck): Section<F> {
  return new Section(fields, check);
}

/** The other names a document may use, each keyed by its dot path. */
export interface Spellings {
  /** A name the docs use for a kopia field, and the kopia path it stands for. The kopia name wins. */
  readonly aliases: Readonly<Record<string, string>>;
  /** A name the docs use that kopia has no field for, and why. */
  readonly unsupported: Readonly<Record<string, string>>;
}

/** One kopia field and its other names, renamed by the section that holds all of them. */
interface Rename {
  target: Spelled;
  aliases: Spelled[];
}

interface Spelled {
  /** Dot path from the document's root, for messages. */
  name: string;
  /** Keys from the renaming section down. */
  parts: string[];
}

/**
 * The forgiving schema of `root`: takes a JSON object in kopia's spelling or the docs', and gives
 * a `Parsed` tree in kopia's spelling with remarks in it. It fails only for a document that is
 * not an object (with `notAnObject`'s words); everything inside becomes a remark.
 */
export function forgivingSchema(root: Section, spellings: Spellings, notAnObject: (input: unknown) => string): z.ZodType {
  const split = (path: string) => path.split('.');
  const parent = (path: string) => split(path).slice(0, -1);
  const lookup = (parts: readonly string[]): Field | Section | undefined => {
    let node: Field | Section | undefined = root;
    for (const key of parts) node = node instanceof Section && Object.hasOwn(node.fields, key) ? node.fields[key] : undefined;
    return node;
  };
  const fits = (name: string) => lookup(parent(name)) instanceof Section && lookup(split(name)) === undefined;
  for (const name of Object.keys(spellings.unsupported)) {
    if (!fits(name)) throw new Error(`unsupported policy field ${name} does not fit the policy shape`);
  }
  for (const [alias, target] of Object.entries(spellings.aliases)) {
    if (!fits(alias) || !(lookup(split(target)) instanceof Field)) throw new Error(`policy alias ${alias} does not fit the policy shape`);
  }

  const renamesAt = renamesBySection(spellings.aliases);
  const asideSchema = z.map(z.string(), z.instanceof(Remark));
  const orderSchema = z.array(z.string());
  // Fields that read their value alike share one schema: fewer schemas to make on each run.
  const droppables = new Map<z.ZodType, z.ZodType>();
  const droppableInput = (input: z.ZodType) => {
    const made = droppables.get(input) ?? droppable(input);
    droppables.set(input, made);
    return made;
  };
  const build = (node: Section, path: string[], notObject: (input: unknown) => string): z.ZodType => {
    const here = path.join('.');
    const at = (key: string) => (here ? `${here}.${key}` : key);
    const shape: Record<string, z.ZodType> = {};
    for (const [key, child] of Object.entries(node.fields)) {
      shape[key] = child instanceof Section ? droppable(build(child, [...path, key], mustBeObject)) : droppableInput(child.input);
    }
    for (const [alias, target] of Object.entries(spellings.aliases)) {
      const field = lookup(split(target));
      if (parent(alias).join('.') === here && field instanceof Field) shape[split(alias).at(-1) ?? alias] = droppableInput(field.input);
    }
    const accepted = new Set(Object.keys(shape));
    const renames = renamesAt.get(here) ?? [];

    return z
      .preprocess(
        (raw) => {
          if (!isPlainObject(raw)) return raw;
          const fields: Record<string, unknown> = {};
          const aside = new Map<string, Remark>();
          for (const [key, value] of Object.entries(raw)) {
            // null is how kopia's own JSON says "not set": there is nothing to apply.
            if (value === null) continue;
            const reason = Object.hasOwn(spellings.unsupported, at(key)) ? spellings.unsupported[at(key)] : undefined;
            if (accepted.has(key)) fields[key] = value;
            else aside.set(key, notApplied(reason ?? 'unknown field'));
          }
          return { fields, aside, order: Object.keys(raw) };
        },
        z.object(
          { fields: z.object(shape), aside: asideSchema, order: orderSchema },
          { error: (issue) => (issue.code === 'invalid_type' ? notObject(issue.input) : undefined) },
        ),
      )
      .transform(({ fields, aside, order }) => {
        const parsed = new Parsed(fields, aside, order);
        for (const rename of renames) applyRename(parsed, rename);
        return node.check ? node.check(parsed, here) : parsed;
      });
  };
  return build(root, [], notAnObject);
}

/**
 * Each alias is parsed where it is written, as its kopia field would be; the rename happens in
 * the nearest section that holds every spelling of the field, so that one place sees them all.
 * The renames by the dot path of that section.
 */
function renamesBySection(aliases: Spellings['aliases']): Map<string, Rename[]> {
  const parent = (path: string) => path.split('.').slice(0, -1);
  const renamesAt = new Map<string, Rename[]>();
  const targets = new Map<string, string[]>();
  for (const [alias, target] of Object.entries(aliases)) {
    targets.set(target, [...(targets.get(target) ?? []), alias]);
  }
  for (const [target, spellings] of targets) {
    const common = commonPrefix([target, ...spellings].map(parent));
    const spelled = (name: string): Spelled => ({ name, parts: name.split('.').slice(common.length) });
    const here = common.join('.');
    renamesAt.set(here, [...(renamesAt.get(here) ?? []), { target: spelled(target), aliases: spellings.map(spelled) }]);
  }
  return renamesAt;
}

const mustBeObject = (input: unknown) => `must be an object, not ${describeType(input)}`;

/**
 * A field whose every issue becomes a remark in its place, so that the rest of the document still
 * applies. The issues are reported at the field, not inside it: the field's whole value is left out.
 */
function droppable(schema: z.ZodType): z.ZodType {
  // ctx.error holds the issues with their messages resolved; ctx.issues holds them raw.
  return schema.optional().catch((ctx: z.core.$ZodCatchCtx) => notApplied(...new Set(ctx.error.issues.map((issue) => issue.message))));
}

/** The kopia spelling wins over an alias, and an alias listed first over a later one; each loser is named. */
function applyRename(section: Parsed, { target, aliases }: Rename): void {
  const given = (s: Spelled) => valueAt(section, s.parts) !== undefined;
  const winner = given(target) ? target : aliases.find(given);
  if (winner === undefined) return;
  for (const alias of aliases) {
    if (alias === winner || !given(alias)) continue;
    const why = winner === target ? `${target.name} is also given` : `${winner.name} also sets ${target.name}`;
    place(section, alias.parts, notApplied(`ignored because ${why}`));
  }
  if (winner === target) return;
  const value = valueAt(section, winner.parts);
  if (value instanceof Remark) {
    // What is said about the value stays where the document wrote it; only the value moves.
    if (value.value === undefined) return;
    place(section, winner.parts, new Remark(value.messages));
    place(section, target.parts, value.value);
  } else {
    place(section, winner.parts, undefined);
    place(section, target.parts, value);
  }
}

function valueAt(section: Parsed, parts: readonly string[]): unknown {
  let node: unknown = section;
  for (const key of parts) {
    const inner = node instanceof Remark ? node.value : node;
    if (!(inner instanceof Parsed) || !Object.hasOwn(inner.fields, key)) return undefined;
    node = inner.fields[key];
  }
  return node;
}

/** Sets (or with undefined, removes) the value at `parts`, making sections on the way as needed. */
function place(section: Parsed, parts: readonly string[], value: unknown): void {
  let node = section;
  for (const [i, key] of parts.entries()) {
    if (i === parts.length - 1) {
      if (value === undefined) delete node.fields[key];
      else node.fields[key] = value;
      return;
    }
    const child = Object.hasOwn(node.fields, key) ? node.fields[key] : undefined;
    if (child instanceof Parsed) {
      node = child;
    } else if (child instanceof Remark && child.value instanceof Parsed) {
      node = child.value;
    } else {
      const made = new Parsed({});
      // A section that was not an object stays reported; what another section moves into it still applies.
      node.fields[key] = child instanceof Remark ? new Remark(child.messages, made) : made;
      node = made;
    }
  }
}

/** Whether something reaches kopia at this place. */
export function applies(value: unknown): boolean {
  return value instanceof Remark ? value.value !== undefined : value !== undefined;
}

/** The same tree with every value taken out and every remark kept: for a section that is dropped whole. */
export function remarksOnly(node: unknown): unknown {
  if (node instanceof Remark) return new Remark(node.messages, remarksOnly(node.value));
  if (!(node instanceof Parsed)) return undefined;
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node.fields)) {
    const kept = remarksOnly(value);
    if (kept !== undefined) fields[key] = kept;
  }
  return new Parsed(fields, node.aside, node.order);
}

/**
 * Turns the forgiving schema's output into plain JSON, with one warning per remark message as
 * `path: message`, in the document's order. Empty sections are left out; the value is undefined
 * when nothing at all applies.
 */
export function settle(node: unknown, path: readonly string[]): { value: unknown; warnings: string[] } {
  if (node instanceof Remark) {
    const inner = settle(node.value, path);
    return { value: inner.value, warnings: [...node.messages.map((message) => `${path.join('.')}: ${message}`), ...inner.warnings] };
  }
  if (!(node instanceof Parsed)) return { value: node, warnings: [] };
  const out: Record<string, unknown> = {};
  const warnings: string[] = [];
  // Keys a rename moved here come after the document's own.
  for (const key of new Set([...node.order, ...Object.keys(node.fields)])) {
    const remark = node.aside.get(key);
    if (remark) warnings.push(...settle(remark, [...path, key]).warnings);
    if (!Object.hasOwn(node.fields, key)) continue;
    const settled = settle(node.fields[key], [...path, key]);
    warnings.push(...settled.warnings);
    if (settled.value !== undefined) out[key] = settled.value;
  }
  return { value: Object.keys(out).length > 0 ? out : undefined, warnings };
}

function commonPrefix(paths: string[][]): string[] {
  const [first = [], ...rest] = paths;
  let n = 0;
  while (n < first.length && rest.every((p) => p[n] === first[n])) n++;
  return first.slice(0, n);
}

export function describeType(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v}`;
}
