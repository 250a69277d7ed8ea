// Reading a fixed list of typed options from a section, as Fail2Ban's readers do: an option the caller
// already has is skipped, a missing one takes its default (or stays absent), and a value of the wrong
// type falls back to the default while the problem is recorded so the typed loader can reject it.
import { type PyValue, pyStr } from './pyvalue.js';
import { type IniStore, NoSectionError, type Vars } from './store.js';

export type OptType = 'string' | 'int' | 'bool';
/** [name, type, default]; an `undefined` default means "absent unless written". */
export type OptionTemplate = ReadonlyArray<readonly [string, OptType, PyValue | undefined]>;

export interface OptionProblem {
  section: string;
  option: string;
  value: string;
  problem: string;
}

/** Python's int(): optional sign and blanks, digits with single underscores between them. */
export function pyInt(text: string): number | null {
  const m = /^\s*([+-]?\d+(?:_\d+)*)\s*$/u.exec(text);
  return m === null ? null : Number((m[1] as string).replaceAll('_', ''));
}

/** Fail2Ban's boolean reading: only 1, on, true and yes (any case) are true. */
export function pyBool(text: string): boolean {
  return ['1', 'on', 'true', 'yes'].includes(text.toLowerCase());
}

export function convert(type: OptType, value: string): PyValue | undefined {
  if (type === 'int') return pyInt(value) ?? undefined;
  if (type === 'bool') return pyBool(value);
  return value;
}

/** Interpolation variables from already-read options (Python str() of each, None left out). */
export function toVars(values: ReadonlyMap<string, PyValue>): Vars {
  const vars = new Map<string, string>();
  for (const [k, v] of values) if (v !== null) vars.set(k.toLowerCase(), pyStr(v));
  return vars;
}

export function readOptions(
  store: IniStore,
  section: string,
  template: OptionTemplate,
  opts: {
    given?: ReadonlyMap<string, PyValue>;
    convert?: boolean;
    shouldExist?: boolean;
    problems?: OptionProblem[];
  } = {},
): Map<string, PyValue> {
  const values = new Map<string, PyValue>();
  const given = opts.given ?? new Map<string, PyValue>();
  const vars = toVars(given);
  for (const [name, type, def] of template) {
    if (given.has(name)) continue;
    if (!store.hasSection(section)) {
      if (opts.shouldExist) throw new NoSectionError(`no section [${section}]`);
      values.set(name, def ?? null);
      continue;
    }
    const raw = store.find(section, name, vars);
    if (raw === undefined) {
      if (def !== undefined) values.set(name, def);
      continue;
    }
    if (opts.convert === false) {
      values.set(name, raw);
      continue;
    }
    const v = convert(type, raw);
    if (v === undefined) {
      opts.problems?.push({ section, option: name, value: raw, problem: `"${raw}" is not an integer` });
      values.set(name, def ?? null);
    } else values.set(name, v);
  }
  return values;
}
