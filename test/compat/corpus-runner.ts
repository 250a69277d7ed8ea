// Replays Fail2Ban's own sample logs (tests/files/logs) through our filter engine with Fail2Ban's filter
// files, honouring the annotations the way Fail2Ban's samples test does: `# failJSON:` describes the
// next line, `# filterOptions:` runs later lines once per option set, `# fileOptions:` sets file-wide
// defaults, `# addFILE:` appends another sample file, `test.*` keys are switches for the runner.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FilterDefinition } from '../../src/config/model.js';
import { Filter } from '../../src/filter/filter.js';
import type { Failure } from '../../src/filter/failure.js';
import { normalizeIp } from '../../src/net/ip.js';
import { posixZone } from '../../src/filter/timezone.js';

/** The corpus' fixed clock and zone (Fail2Ban's test setup). */
export const CORPUS_NOW = 1124013600;
export const CORPUS_TZ = 'CET-01CEST-02,M3.5.0,M10.5.0';
const zone = posixZone(CORPUS_TZ);
if (zone === null) throw new Error('corpus zone did not parse');
export const corpusZone = zone;

export type LoadFilter = (name: string, dir: string | null, args: Record<string, string>) => FilterDefinition;

export interface Disagreement {
  where: string;
  reason: string;
}

export interface CorpusResult {
  /** Annotated (failJSON) lines evaluated, and how many agreed under every option set. */
  annotated: number;
  agreed: number;
  /** Lines without annotation that must not match, and how many did not. */
  plain: number;
  plainAgreed: number;
  disagreements: Disagreement[];
  files: number;
  /** Filters that failed to load or run: each is a failure of the corpus, never left out of the ratio. */
  failed: string[];
}

interface FilterTest {
  key: string;
  filter: Filter;
  opts: Record<string, unknown>;
}

const ANNOTATION = /^#+ ?(failJSON|(?:file|filter)Options|addFILE):(.+)$/;

/** Evaluates the few Python expressions the corpus uses in `constraint` and `test.condition`. */
export function evalCondition(expr: string, name: string, opts: Record<string, unknown>): boolean {
  const m = /^\s*(name|opts\.get\('([\w.-]+)'\))\s*(==|!=)\s*'([^']*)'\s*$/.exec(expr);
  if (!m) throw new Error(`unsupported expression ${JSON.stringify(expr)}`);
  const value = m[1] === 'name' ? name : opts[m[2] as string];
  const equal = value === m[4];
  return m[3] === '==' ? equal : !equal;
}

/** Local time text of the corpus (`2005-08-14T12:00:00[.ffffff]` in CET/CEST) → epoch seconds. */
export function corpusTime(text: string): number {
  const m = /^(\d{4})-(\d\d?)-(\d\d?)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?$/.exec(text);
  if (!m) return Number.NaN;
  const wall = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) / 1000;
  const frac = m[7] ? Number(`0.${m[7]}`) : 0;
  return wall - corpusZone.offsetAtLocal(wall) + frac;
}

function sameHost(actual: string, expected: unknown): boolean {
  if (typeof expected !== 'string') return false;
  if (actual === expected) return true;
  const a = normalizeIp(actual);
  return a !== null && a === normalizeIp(expected);
}

function check(fail: Failure, data: Record<string, unknown>): string | null {
  for (const [k, v] of Object.entries(data)) {
    if (k === 'time' || k === 'match' || k === 'desc' || k === 'constraint') continue;
    let actual: unknown = fail.fields[k];
    if (v === null && actual === undefined) continue;
    if (actual === undefined) {
      if (k === 'host') {
        if (!sameHost(fail.ip, v)) return `host ${fail.ip} != ${String(v)}`;
        continue;
      }
      if (k === 'attempts') actual = fail.lines;
      if (k === 'users') actual = fail.users;
    }
    if (Array.isArray(v)) {
      const got = Array.isArray(actual) ? [...actual].sort() : actual;
      if (JSON.stringify(got) !== JSON.stringify([...v].sort())) return `${k} ${JSON.stringify(got)} != ${JSON.stringify(v)}`;
      continue;
    }
    if (actual !== v) return `${k} ${JSON.stringify(actual)} != ${JSON.stringify(v)}`;
  }
  const t = data.time;
  if (typeof t === 'string') {
    const want = corpusTime(t);
    if (!(Math.abs(fail.time - want) < 1e-6)) return `time ${fail.time} != ${want} (${t})`;
  }
  return null;
}

function argsOf(opts: Record<string, unknown>): Record<string, string> {
  const args: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts)) if (!k.startsWith('test.')) args[k] = String(v);
  return args;
}

function specOf(name: string, opts: Record<string, unknown>): string {
  const args = Object.entries(argsOf(opts)).map(([k, v]) => `${k}=${v}`);
  return args.length ? `${name}[${args.join(', ')}]` : name;
}

/** Runs one filter's sample file(s). */
function runFilter(name: string, logsDir: string, dir: string, load: LoadFilter, out: CorpusResult): void {
  const cache = new Map<string, Filter>();
  const filterFor = (opts: Record<string, unknown>): Filter => {
    const spec = specOf(name, opts);
    let f = cache.get(spec);
    if (!f) {
      f = new Filter(load(name, dir, argsOf(opts)), { checkAll: true, zone: corpusZone, useDns: 'yes' });
      cache.set(spec, f);
    }
    return f;
  };
  const files = [name];
  let common: Record<string, unknown> = {};
  let tests: FilterTest[] | null = null;
  for (let fi = 0; fi < files.length; fi++) {
    const file = files[fi] as string;
    out.files++;
    // Python reads the samples with universal newlines: \r\n ends a line like \n.
    const lines = readFileSync(join(logsDir, file), 'utf8').split(/\r?\n/);
    if (lines[lines.length - 1] === '') lines.pop();
    let ignoreBlock = false;
    for (let i = 0; i < lines.length; i++) {
      let line = lines[i] as string;
      let lnnum = i + 1;
      let data: Record<string, unknown> = {};
      let annotated = false;
      const a = ANNOTATION.exec(line);
      if (a) {
        const parsed = JSON.parse(a[2] as string) as unknown;
        if (a[1] === 'fileOptions') {
          common = parsed as Record<string, unknown>;
          continue;
        }
        if (a[1] === 'filterOptions') {
          tests = [];
          ignoreBlock = false;
          for (const o of Array.isArray(parsed) ? parsed : [parsed]) {
            const opts = { ...common, ...(o as Record<string, unknown>) };
            const cond = opts['test.condition'];
            if (typeof cond === 'string') ignoreBlock = !evalCondition(cond, name, opts);
            if (!ignoreBlock) tests.push({ key: specOf(name, opts), filter: filterFor(opts), opts });
          }
          continue;
        }
        if (a[1] === 'addFILE') {
          files.push(parsed as string);
          continue;
        }
        data = parsed as Record<string, unknown>;
        annotated = true;
        i++;
        lnnum = i + 1;
        line = lines[i] ?? '';
      } else if (ignoreBlock || line.startsWith('#') || line.trim() === '') continue;
      if (ignoreBlock) continue;
      if (tests === null) tests = [{ key: name, filter: filterFor({}), opts: {} }];
      line = line.replace(/\r$/, '');
      let problem: string | null = null;
      let evaluated = false;
      for (const t of tests) {
        const constraint = data.constraint;
        if (typeof constraint === 'string' && !evalCondition(constraint, name, t.opts)) continue;
        evaluated = true;
        let ln = line;
        let found: readonly Failure[];
        if (t.opts.logtype !== 'journal') found = t.filter.processLine(ln, CORPUS_NOW);
        else {
          const prefix = t.opts['test.prefix-line'];
          if (typeof prefix === 'string') ln = prefix + ln;
          found = t.filter.processLine(ln, CORPUS_NOW, CORPUS_NOW);
        }
        const want = data.match === true;
        let why: string | null = null;
        if (found.length === 0) {
          if (want) why = 'not matched';
        } else if (!want) why = `matched (regex ${found.map((f) => f.regex + 1).join(',')}, host ${found[0]?.ip})`;
        else if (found.length > 1) why = `several regexes matched: ${found.map((f) => f.regex + 1).join(',')}`;
        else why = check(found[0] as Failure, data);
        if (why && problem === null) problem = `${t.key}: ${why}`;
      }
      if (!evaluated) continue;
      if (annotated) {
        out.annotated++;
        if (problem === null) out.agreed++;
      } else {
        out.plain++;
        if (problem === null) out.plainAgreed++;
      }
      if (problem !== null) out.disagreements.push({ where: `${file}:${lnnum}`, reason: problem });
    }
  }
}

export interface CorpusSource {
  /** Directory of sample logs (…/fail2ban/tests/files/logs). */
  logsDir: string;
  /** Config dirs whose filter.d/*.conf are run, with an optional name filter. */
  dirs: Array<{ dir: string; accept: (name: string) => boolean }>;
  /** Temporary directories to remove after the run. */
  cleanup?: string[];
}

export function runCorpus(src: CorpusSource, load: LoadFilter): CorpusResult {
  const out: CorpusResult = { annotated: 0, agreed: 0, plain: 0, plainAgreed: 0, disagreements: [], files: 0, failed: [] };
  try {
    for (const { dir, accept } of src.dirs) runDir(src.logsDir, dir, accept, load, out);
  } finally {
    for (const d of src.cleanup ?? []) rmSync(d, { recursive: true, force: true });
  }
  return out;
}

function runDir(logsDir: string, dir: string, accept: (n: string) => boolean, load: LoadFilter, out: CorpusResult): void {
  const names = readdirSync(join(dir, 'filter.d'))
    .filter((f) => f.endsWith('.conf'))
    .map((f) => f.slice(0, -5))
    .filter((n) => accept(n) && existsSync(join(logsDir, n)))
    .sort();
  for (const name of names) {
    try {
      runFilter(name, logsDir, dir, load, out);
    } catch (err) {
      out.failed.push(name);
      out.disagreements.push({ where: name, reason: `filter failed: ${(err as Error).message}` });
    }
  }
}

/**
 * Fail2Ban's test-only filters (zzz-*.conf) include common.conf by a path that is only valid in
 * Fail2Ban's source tree; Debian installs them elsewhere. They are copied next to /etc's common.conf
 * so the include resolves as it does upstream.
 */
function testFilterDir(base: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'pc-corpus-'));
  mkdirSync(join(dir, 'filter.d'));
  copyFileSync('/etc/fail2ban/filter.d/common.conf', join(dir, 'filter.d/common.conf'));
  for (const f of readdirSync(join(base, 'config/filter.d')).filter((n) => n.startsWith('zzz-'))) {
    const text = readFileSync(join(base, 'config/filter.d', f), 'utf8');
    writeFileSync(join(dir, 'filter.d', f), text.replace(/^before = \S*common\.conf$/m, 'before = common.conf'));
  }
  return dir;
}

/** Fail2Ban's samples for the filters portcullis ships (dovecot, postfix, sshd), run with ours. */
export function builtinCorpus(builtinDir: string, names: readonly string[]): CorpusSource | null {
  const logsDir = '/usr/lib/python3/dist-packages/fail2ban/tests/files/logs';
  if (!existsSync(logsDir)) return null;
  return { logsDir, dirs: [{ dir: builtinDir, accept: (n) => names.includes(n) }] };
}

/** Where Debian's fail2ban keeps its samples, or null when it is not installed. */
export function debianCorpus(): CorpusSource | null {
  const base = '/usr/lib/python3/dist-packages/fail2ban/tests';
  if (!existsSync(join(base, 'files/logs')) || !existsSync('/etc/fail2ban/filter.d/common.conf')) return null;
  const testDir = testFilterDir(base);
  return {
    logsDir: join(base, 'files/logs'),
    dirs: [
      { dir: '/etc/fail2ban', accept: (n) => n !== 'common' },
      { dir: testDir, accept: (n) => n.startsWith('zzz-') },
    ],
    cleanup: [testDir],
  };
}
