// Finds and reads the files of a Fail2Ban-style tree the way Fail2Ban does: `X.conf`, `X.d/*.conf`,
// `X.local`, `X.d/*.local` (each sorted), every file followed by its own `.local`, and [INCLUDES]
// before/after resolved relative to the including file. Files missing from the user's tree come from
// our built-in defaults.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { builtinDefaultsDir } from './defaults-dir.js';
import { type IniFile, parseIni } from './ini.js';
import { IniStore } from './store.js';

const INCLUDES = 'INCLUDES';

function isFile(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isFile() ?? false;
}

function sortedGlob(dir: string, ext: string): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => n.endsWith(ext) && !n.startsWith('.'))
      .sort()
      .map((n) => join(dir, n))
      .filter(isFile);
  } catch {
    return [];
  }
}

function withoutExt(path: string): string {
  const slash = path.lastIndexOf('/');
  const dot = path.lastIndexOf('.');
  return dot > slash + 1 ? path.slice(0, dot) : path;
}

export class ConfigTree {
  /** The directory Fail2Ban would call its basedir (`fail2ban_confpath`). */
  readonly basedir: string;
  readonly builtin: string;
  /** Non-fatal findings (missing includes…), one line each. */
  readonly warnings: string[] = [];
  private readonly parsed = new Map<string, IniFile | null>();
  private readonly stores = new Map<string, IniStore | null>();

  constructor(readonly dir: string | null) {
    this.builtin = builtinDefaultsDir();
    this.basedir = (dir === null ? this.builtin : resolve(dir)).replace(/\/+$/, '') || '/';
  }

  /** The files making up `name` (`jail`, `filter.d/sshd`…), in read order. */
  configFiles(name: string): string[] {
    const builtin = join(this.builtin, name);
    if (this.dir === null) return this.layered(builtin, builtin);
    const user = join(this.basedir, name);
    if (isFile(`${user}.conf`)) return this.layered(user, user);
    // Only overrides (or nothing) in the user's tree: the built-in definition underneath.
    const files = isFile(`${builtin}.conf`) ? [`${builtin}.conf`, ...sortedGlob(`${builtin}.d`, '.conf')] : [];
    return [...files, ...this.layered(user, user).filter((f) => !f.endsWith(`${user}.conf`))];
  }

  private layered(confBase: string, localBase: string): string[] {
    return [
      `${confBase}.conf`,
      ...sortedGlob(`${confBase}.d`, '.conf'),
      `${localBase}.local`,
      ...sortedGlob(`${localBase}.d`, '.local'),
    ].filter(isFile);
  }

  /** Reads `name` with all its layers and includes; null when no file exists. Shared per name. */
  read(name: string): IniStore | null {
    let store = this.stores.get(name);
    if (store === undefined) {
      const files = this.configFiles(name);
      store = files.length === 0 ? null : this.mergeAll(this.withIncludes(files, []));
      this.stores.set(name, store);
    }
    return store;
  }

  /** Reads one explicit file (and what it includes), as `fail2ban-regex` does for a foreign filter path. */
  readExplicit(file: string): IniStore | null {
    if (!isFile(file)) return null;
    return this.mergeAll(this.withIncludes([resolve(file)], []));
  }

  private mergeAll(files: string[]): IniStore {
    const store = new IniStore();
    for (const f of files) {
      const ini = this.parse(f);
      if (ini !== null) store.merge(ini);
    }
    return store;
  }

  parse(file: string): IniFile | null {
    let ini = this.parsed.get(file);
    if (ini === undefined) {
      ini = null;
      if (isFile(file)) {
        let text: string;
        try {
          text = new TextDecoder('utf-8', { fatal: true }).decode(readFileSync(file));
        } catch (err) {
          const why = err instanceof TypeError ? 'is not valid UTF-8' : `cannot be read (${String(err)})`;
          throw new ConfigError(file, null, `${why}; save it as UTF-8 text`);
        }
        ini = parseIni(text.startsWith('\uFEFF') ? text.slice(1) : text, file);
      }
      this.parsed.set(file, ini);
    }
    return ini;
  }

  /** Each file preceded by its `before` includes and followed by its `.local` and `after` includes. */
  private withIncludes(files: string[], seen: string[]): string[] {
    const expanded: string[] = [];
    for (const f of files) {
      expanded.push(f);
      const local = `${withoutExt(f)}.local`;
      if (!files.includes(local) && isFile(local)) expanded.push(local);
    }
    return expanded.flatMap((f) => this.includesOf(f, seen));
  }

  private includesOf(file: string, seen: string[]): string[] {
    const ini = this.parse(file);
    if (ini === null) return [];
    const section = ini.sections.get(INCLUDES);
    if (section === undefined) return [file];
    const single = new IniStore();
    single.merge(ini);
    const list = (option: string): string[] => {
      if (!section.has(option)) return [];
      const out: string[] = [];
      for (const item of single.get(INCLUDES, option).split('\n')) {
        if (item.trim() === '') continue;
        const target = this.includeTarget(file, item);
        if (seen.includes(target)) continue;
        if (!isFile(target)) {
          // `.local` includes are optional overrides by convention; a missing `.conf` is worth a word.
          const warning = `${file}: included file ${item} does not exist; ignored`;
          if (!target.endsWith('.local') && !this.warnings.includes(warning)) this.warnings.push(warning);
          continue;
        }
        out.push(...this.withIncludes([target], [...seen, file]));
      }
      return out;
    };
    return [...list('before'), file, ...list('after')];
  }

  /** An include path, relative to the including file; a file missing from the user's tree comes from ours. */
  private includeTarget(from: string, item: string): string {
    // A built-in file's include (nftables.conf's nftables-common.local) is first looked for in the user's
    // tree, where Fail2Ban would find it beside the including file.
    const inBuiltin = relative(this.builtin, dirname(from));
    if (this.dir !== null && !isAbsolute(item) && !inBuiltin.startsWith('..') && !isAbsolute(inBuiltin)) {
      const user = join(this.basedir, inBuiltin, item);
      // A `.local` file is the admin's: with a tree given, ours (the built-in tree's own site settings,
      // such as docker-mailserver's default blocktype) never stands in for one the tree lacks.
      if (isFile(user) || item.endsWith('.local')) return user;
    }
    const target = isAbsolute(item) ? item : join(dirname(from), item);
    if (this.dir === null || existsSync(target) || target.endsWith('.local')) return target;
    const rel = relative(this.basedir, target);
    if (rel.startsWith('..') || isAbsolute(rel)) return target;
    const fallback = join(this.builtin, rel);
    return isFile(fallback) ? fallback : target;
  }
}
