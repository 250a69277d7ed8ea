// filter.d definitions → FilterDefinition. Used by jails and, on its own, by `portcullis regex` and the
// sample-corpus runner (a name, `name[mode=aggressive]`, or a path to a filter file).
import { basename, dirname, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { FilterReader } from './jail-reader.js';
import type { FilterDefinition } from './model.js';
import { extractOptions } from './options.js';
import { type PyValue, pyStr } from './pyvalue.js';
import type { OptionProblem } from './read-options.js';
import { ConfigTree } from './tree.js';

const OWN_KEYS = new Set(['prefregex', 'failregex', 'ignoreregex', 'maxlines', 'datepattern', 'journalmatch']);

function lines(v: PyValue | undefined): string[] {
  if (v === undefined || v === null) return [];
  return pyStr(v)
    .split('\n')
    .filter((l) => l !== '');
}

function problemsToError(reader: FilterReader, problems: OptionProblem[]): void {
  const p = problems[0];
  if (p === undefined) return;
  const w = reader.where(p.option);
  throw new ConfigError(w.file, w.line, `${p.option}: ${p.problem}; write a whole number`);
}

/**
 * Builds the typed definition from a reader already given its jail options: `final` are the options
 * Fail2Ban would send to its filter, `all` every resolved option of the file.
 */
export function filterDefinition(
  reader: FilterReader,
  args: Record<string, string>,
  final: ReadonlyMap<string, PyValue>,
  all: ReadonlyMap<string, PyValue>,
): FilterDefinition {
  const files = reader.files;
  const main = files.find((f) => f.endsWith(`/${reader.name}.conf`)) ?? files[0] ?? null;
  const options: Record<string, string> = {};
  for (const [k, v] of [...all, ...final]) {
    if (!k.startsWith('known/') && !OWN_KEYS.has(k) && v !== null) options[k] = pyStr(v);
  }
  const maxlines = final.get('maxlines');
  const prefregex = final.get('prefregex');
  const datepattern = final.get('datepattern');
  return {
    name: reader.name,
    file: main,
    args: { ...args },
    prefregex: prefregex === undefined || prefregex === null || prefregex === '' ? null : pyStr(prefregex),
    failregex: lines(final.get('failregex')),
    ignoreregex: lines(final.get('ignoreregex')),
    maxlines: typeof maxlines === 'number' ? maxlines : 1,
    datepattern: datepattern === undefined || datepattern === null || datepattern === '' ? null : pyStr(datepattern),
    journalmatch: lines(final.get('journalmatch')),
    options,
    origins: {
      prefregex: reader.where('prefregex'),
      failregex: reader.where('failregex'),
      ignoreregex: reader.where('ignoreregex'),
    },
  };
}

/** Reads the definition from a reader and validates it (ConfigError on bad values). */
export function resolveFilter(reader: FilterReader, given: ReadonlyMap<string, PyValue>, args: Record<string, string>): FilterDefinition {
  const problems: OptionProblem[] = reader.problems;
  reader.getOptions(given, true);
  const all = reader.getCombined();
  reader.getOptions(given);
  const final = reader.getCombined();
  problemsToError(reader, problems);
  return filterDefinition(reader, args, final, all);
}

/**
 * Loads a filter by name (`sshd`), with arguments (`postfix[mode=extra]`), or from a file path. Names are
 * looked up in `<dir>/filter.d`, then in the built-in filters. `extraArgs` (e.g. `{ logtype: 'journal' }`)
 * are added to the arguments.
 */
export function loadFilterDefinition(
  spec: string,
  opts: { dir: string | null; args?: Record<string, string> },
): FilterDefinition {
  let parsed: ReturnType<typeof extractOptions>;
  try {
    parsed = extractOptions(spec.trim());
  } catch (err) {
    throw new ConfigError(opts.dir ?? '<built-in>', null, `bad filter specification: ${(err as Error).message}`);
  }
  const args = { ...parsed.options, ...opts.args };
  const isPath = parsed.name.includes('/') || parsed.name.endsWith('.conf') || parsed.name.endsWith('.local');
  let tree: ConfigTree;
  let reader: FilterReader;
  const problems: OptionProblem[] = [];
  if (isPath) {
    const path = resolve(parsed.name);
    const name = basename(path).replace(/\.(conf|local)$/, '');
    if (basename(dirname(path)) === 'filter.d') {
      tree = new ConfigTree(dirname(dirname(path)));
      reader = new FilterReader(tree, name, 'portcullis-regex', args, problems);
      if (!reader.read()) throw new ConfigError(path, null, 'filter file not found');
    } else {
      tree = new ConfigTree(dirname(path));
      reader = new FilterReader(tree, name, 'portcullis-regex', args, problems);
      if (!reader.readFile(path)) throw new ConfigError(path, null, 'filter file not found');
    }
  } else {
    tree = new ConfigTree(opts.dir);
    reader = new FilterReader(tree, parsed.name, 'portcullis-regex', args, problems);
    if (!reader.read()) {
      const where = opts.dir === null ? 'the built-in filters' : `${opts.dir}/filter.d or the built-in filters`;
      throw new ConfigError(`${tree.basedir}/filter.d/${parsed.name}.conf`, null, `unknown filter "${parsed.name}": no ${parsed.name}.conf in ${where}`);
    }
  }
  reader.applyAutoOptions('auto');
  return resolveFilter(reader, new Map(), args);
}
