// The merged view of several files (X.conf, X.d/*.conf, X.local, includes…) with Fail2Ban's merge rules:
// later files override earlier ones option by option, `[Init?family=inet6]` folds into [Init] as
// `key?family=inet6`, and every overridden value is remembered in `KNOWN/<section>` so `%(known/x)s`
// and `<known/x>` can still reach it.
import { ConfigError } from '../errors.js';
import { DEFAULT_SECTION, type Entry, type IniFile, optionKey, type Section } from './ini.js';
import { interpolate } from './interpolate.js';

export class NoSectionError extends Error {}
export class NoOptionError extends Error {}

export const KNOWN_PREFIX = 'KNOWN/';

/** `name?cond` (a conditional section or option): the plain name and the `?cond` suffix. */
export function splitConditional(name: string): [string, string] | null {
  const q = name.indexOf('?');
  if (q <= 0 || q === name.length - 1 || !/^\w+$/u.test(name.slice(0, q))) return null;
  return [name.slice(0, q), name.slice(q)];
}

export type Vars = ReadonlyMap<string, string>;

export class IniStore {
  readonly defaults: Section = new Map();
  readonly sections = new Map<string, Section>();
  /** The files merged into this store, in order. */
  readonly files: string[] = [];

  merge(ini: IniFile): void {
    this.files.push(ini.file);
    for (const [k, e] of ini.defaults) this.defaults.set(k, e);
    for (const [rawName, section] of ini.sections) {
      let name = rawName;
      let options = section;
      const cond = splitConditional(rawName);
      if (cond !== null) {
        name = cond[0];
        options = new Map([...section].map(([k, e]) => [k + cond[1], e] as const));
      }
      const existing = this.sections.get(name);
      if (existing === undefined) {
        this.sections.set(name, new Map(options));
        continue;
      }
      const known = this.sectionFor(KNOWN_PREFIX + name);
      for (const [k, e] of existing) if (options.has(k)) known.set(k, e);
      for (const [k, e] of options) existing.set(k, e);
    }
  }

  private sectionFor(name: string): Section {
    let s = this.sections.get(name);
    if (s === undefined) {
      s = new Map();
      this.sections.set(name, s);
    }
    return s;
  }

  mergeDefaults(values: Iterable<[string, string]>): void {
    for (const [k, v] of values) this.defaults.set(k, { value: v, file: null, line: 0 });
  }

  /** Adds options to a section, each name prefixed (Fail2Ban's `known/` copy of a filter's options). */
  mergeSection(section: string, values: Iterable<[string, string]>, prefix: string): void {
    const s = this.sectionFor(section);
    for (const [k, v] of values) {
      if (prefix === '' || !k.startsWith(prefix)) s.set(prefix + k, { value: v, file: null, line: 0 });
    }
  }

  /** Section names in order, without the internal KNOWN/ ones. */
  sectionNames(): string[] {
    return [...this.sections.keys()].filter((n) => !n.startsWith(KNOWN_PREFIX));
  }

  hasSection(name: string): boolean {
    return this.sections.has(name);
  }

  /** Options written in the section itself (not inherited from [DEFAULT]). */
  ownOptions(section: string): string[] {
    const s = this.sections.get(section);
    if (s === undefined) throw new NoSectionError(section);
    return [...s.keys()];
  }

  hasOwnOption(section: string, option: string): boolean {
    return this.sections.get(section)?.has(optionKey(option)) ?? false;
  }

  /** The raw entry ConfigParser would use: vars first, then the section, then [DEFAULT]. */
  entry(section: string, option: string, vars?: Vars): Entry {
    const s = this.sectionOrDefaults(section);
    const key = optionKey(option);
    const fromVars = vars?.get(key);
    if (fromVars !== undefined) return { value: fromVars, file: s.get(key)?.file ?? null, line: s.get(key)?.line ?? 0 };
    const e = s.get(key) ?? this.defaults.get(key);
    if (e === undefined) throw new NoOptionError(`no option "${key}" in [${section}]`);
    return e;
  }

  private sectionOrDefaults(section: string): Section {
    const s = this.sections.get(section);
    if (s !== undefined) return s;
    if (section === DEFAULT_SECTION) return this.defaults;
    throw new NoSectionError(`no section [${section}]`);
  }

  /** ConfigParser's `get`: the option's value with `%(x)s` resolved in the section's context. */
  get(section: string, option: string, vars?: Vars): string {
    const e = this.entry(section, option, vars);
    const s = this.sectionOrDefaults(section);
    return interpolate(e.value, {
      section,
      option: optionKey(option),
      file: e.file,
      line: e.line,
      lookup: (name) => vars?.get(name) ?? s.get(name)?.value ?? this.defaults.get(name)?.value,
      lookupQualified: (sec, opt) => this.qualified(section, sec, opt),
    });
  }

  /** Raw value of `%(sec/opt)s` as Fail2Ban maps it (known/ falls back to [DEFAULT]). */
  private qualified(current: string, sec: string, opt: string): string | undefined {
    const lower = sec.toLowerCase();
    if (lower === 'known') {
      const v = this.sections.get(KNOWN_PREFIX + current)?.get(opt);
      if (v !== undefined) return v.value;
    } else if (lower !== 'default') {
      const s = this.sections.get(sec);
      if (s === undefined) return undefined;
      const v = s.get(opt);
      if (v !== undefined) return v.value;
    }
    return this.defaults.get(opt)?.value;
  }

  /** Like `get`, but undefined when the section or the option does not exist (cheaper than catching). */
  find(section: string, option: string, vars?: Vars): string | undefined {
    const s = this.sections.get(section) ?? (section === DEFAULT_SECTION ? this.defaults : undefined);
    if (s === undefined) return undefined;
    const key = optionKey(option);
    if (vars?.get(key) === undefined && !s.has(key) && !this.defaults.has(key)) return undefined;
    return this.get(section, option, vars);
  }

  /** Fail2Ban's `get_ex`: like `get`, but `known/x`, `default/x` and `sec/x` name other sections. */
  getEx(section: string, option: string, vars?: Vars): string | undefined {
    const m = /^([\w-]+)\/([^\s>]+)$/u.exec(option);
    if (m !== null) {
      const sec = m[1] as string;
      const opt = m[2] as string;
      const lower = sec.toLowerCase();
      const candidates =
        lower === 'known' ? [KNOWN_PREFIX + section, section] : [lower === 'default' ? DEFAULT_SECTION : sec];
      for (const c of candidates) {
        const v = this.find(c, opt);
        if (v !== undefined) return v;
      }
    }
    return this.find(section, option, vars);
  }

  /** The location of an option for error messages: `file:line` of where it was written. */
  where(section: string, option: string): { file: string; line: number | null } {
    const key = optionKey(option);
    const e = this.sections.get(section)?.get(key) ?? this.defaults.get(key);
    if (e === undefined || e.file === null) return { file: this.files.at(-1) ?? '<built-in>', line: null };
    return { file: e.file, line: e.line };
  }

  error(section: string, option: string, problem: string): ConfigError {
    const w = this.where(section, option);
    return new ConfigError(w.file, w.line, problem);
  }
}
