// Readers for filter.d and action.d files: options in [Definition], defaults in [Init] that the jail's
// arguments (`name[key=value]`) override, `known/x` copies of [Init] values, and `<tag>` resolution of
// the combined options. Mirrors the observable behaviour of Fail2Ban's definition readers.

import type { PyValue } from './pyvalue.js';
import { convert, type OptionProblem, type OptionTemplate, readOptions, toVars } from './read-options.js';
import { type IniStore, splitConditional, type Vars } from './store.js';
import { substituteRecursiveTags, TagLoopError } from './tags.js';
import type { ConfigTree } from './tree.js';

export const FILTER_OPTIONS: OptionTemplate = [
  ['usedns', 'string', undefined],
  ['prefregex', 'string', undefined],
  ['ignoreregex', 'string', undefined],
  ['failregex', 'string', undefined],
  ['maxlines', 'int', undefined],
  ['datepattern', 'string', undefined],
  ['journalmatch', 'string', undefined],
];

export const ACTION_OPTIONS: OptionTemplate = [
  ['actionstart', 'string', undefined],
  ['actionstart_on_demand', 'bool', undefined],
  ['actionstop', 'string', undefined],
  ['actionflush', 'string', undefined],
  ['actionreload', 'string', undefined],
  ['actioncheck', 'string', undefined],
  ['actionrepair', 'string', undefined],
  ['actionrepair_on_unban', 'bool', undefined],
  ['actionban', 'string', undefined],
  ['actionprolong', 'string', undefined],
  ['actionreban', 'string', undefined],
  ['actionunban', 'string', undefined],
  ['norestored', 'bool', undefined],
];

/** Tags filled in per ban from log text; never resolved from the configuration. */
export const ESCAPED_TAGS: ReadonlySet<string> = new Set(['matches', 'ipmatches', 'ipjailmatches']);

const DEFINITION = 'Definition';
const INIT = 'Init';

export class DefinitionReader {
  store: IniStore | null = null;
  /** The jail's arguments, then [Init] values and their `known/` copies. */
  readonly initOpts: Map<string, string>;
  private pOpts: Map<string, PyValue> = new Map();
  private vars: Vars | null = null;
  private opts: Map<string, PyValue> = new Map();
  private readonly combCache = new Map<string, string | null>();

  constructor(
    readonly tree: ConfigTree,
    readonly kind: 'filter.d' | 'action.d',
    readonly name: string,
    readonly jailName: string,
    readonly args: Record<string, string>,
    readonly template: OptionTemplate,
    readonly problems: OptionProblem[],
  ) {
    this.initOpts = new Map(Object.entries(args));
  }

  /** Reads the layered files; false when none exists. */
  read(): boolean {
    this.store = this.tree.read(`${this.kind}/${this.name}`);
    return this.store !== null;
  }

  /** Reads an explicit file path (a filter given as a path outside any filter.d). */
  readFile(path: string): boolean {
    this.store = this.tree.readExplicit(path);
    return this.store !== null;
  }

  private get cfg(): IniStore {
    if (this.store === null) throw new Error(`${this.kind}/${this.name} was not read`);
    return this.store;
  }

  /** The files the definition was merged from, in order. */
  get files(): string[] {
    return this.store?.files ?? [];
  }

  hasOwnDefinitionOption(option: string): boolean {
    return this.cfg.hasOwnOption(DEFINITION, option);
  }

  /** Reads [Definition] with `given` (jail options and arguments) as variables; `all` adds every other option. */
  getOptions(given: ReadonlyMap<string, PyValue>, all = false): void {
    const cfg = this.cfg;
    let pOpts = new Map(given);
    if (this.initOpts.size > 0) pOpts = new Map([...given, ...this.initOpts]);
    this.opts = readOptions(cfg, DEFINITION, this.template, { given: pOpts, convert: false });
    this.pOpts = pOpts;
    this.vars = null;
    this.combCache.clear();
    if (cfg.hasSection(INIT)) {
      for (const opt of cfg.ownOptions(INIT)) {
        let v: string | null = null;
        if (!opt.startsWith('known/')) {
          v = cfg.get(INIT, opt);
          this.initOpts.set(`known/${opt}`, v);
        }
        if (!this.initOpts.has(opt)) this.initOpts.set(opt, v ?? cfg.get(INIT, opt));
      }
    }
    if (all && cfg.hasSection(DEFINITION)) {
      for (const opt of cfg.ownOptions(DEFINITION)) {
        if (!this.opts.has(opt)) this.opts.set(opt, cfg.get(DEFINITION, opt));
      }
    }
  }

  /** A [Definition] option by name (also `known/x`, `default/x`), for tags not among the combined ones. */
  private combinedOption(name: string): string | null {
    const cached = this.combCache.get(name);
    if (cached !== undefined) return cached;
    this.vars ??= toVars(this.pOpts);
    const v = this.cfg.hasSection(DEFINITION) ? (this.cfg.getEx(DEFINITION, name, this.vars) ?? null) : null;
    this.combCache.set(name, v);
    return v;
  }

  /**
   * Options and arguments with their `<tag>`s resolved against each other. Tags that have a conditional
   * variant (`x?family=inet6`) stay unresolved: which variant applies is decided per ban.
   */
  getCombined(ignore: Iterable<string> = []): Map<string, PyValue> {
    const combined = new Map<string, PyValue>([...this.opts, ...this.initOpts]);
    if (combined.size === 0) return combined;
    const skip = new Set(ignore);
    for (const k of combined.keys()) {
      const cond = splitConditional(k);
      if (cond !== null) skip.add(cond[0]);
    }
    const strings = new Map<string, string>();
    for (const [k, v] of combined) if (typeof v === 'string') strings.set(k, v);
    let resolved: Map<string, string>;
    try {
      resolved = substituteRecursiveTags(strings, { ignore: skip, fallback: (t) => this.combinedOption(t) });
    } catch (err) {
      if (err instanceof TagLoopError) {
        throw this.cfg.error(DEFINITION, '', `${this.kind}/${this.name} (jail ${this.jailName}): ${err.message}`);
      }
      throw err;
    }
    const out = new Map<string, PyValue>();
    for (const [k, v] of combined) out.set(k, resolved.get(k) ?? v);
    for (const [name, type] of this.template) {
      const v = out.get(name);
      if (type === 'string' || typeof v !== 'string') continue;
      const c = convert(type, v);
      if (c === undefined) {
        this.problems.push({ section: DEFINITION, option: name, value: v, problem: `"${v}" is not an integer` });
        out.set(name, null);
      } else out.set(name, c);
    }
    return out;
  }

  /** Where an option of this definition was written, for error messages. */
  where(option: string): { file: string; line: number | null } {
    return this.cfg.where(DEFINITION, option);
  }
}
