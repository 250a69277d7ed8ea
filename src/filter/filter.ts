// One filter.d definition applied to log lines: date → prefregex → failregex (→ ignoreregex), with
// Fail2Ban's multi-line buffer (`maxlines`) and connection tracking (`<F-MLFID>`, `<F-NOFAIL>`,
// `<F-MLFFORGET>`). Pure: lines and "now" come in, failures go out; no I/O, no clock.
import type { FilterDefinition, RegexOption } from '../config/model.js';
import { ConfigError } from '../errors.js';
import { normalizeIp, parseCidr } from '../net/ip.js';
import { DateDetector, type DateTemplate } from './dates.js';
import type { Failure } from './failure.js';
import { allHit, type LiteralPlan, literalPlan, mayContain } from './prefilter.js';
import { TRUNCATED_MARK } from '../sources/line-splitter.js';
import { type CompiledRegex, compileRegex, execOn, namedGroups, PLAIN_TEXT, RegexError, RegexTimeout } from './regex.js';
import { standInText } from './unicode-classes.js';
import { type TimeZone, UTC } from './timezone.js';

export interface FilterOptions {
  /** `usedns` of the jail: `no` makes `<HOST>` match addresses only. */
  useDns?: string;
  /** Zone of log times written without one (the jail's `logtimezone`, else the host's zone). */
  zone?: TimeZone;
  /** Longer lines, and lines a source cut at its cap (TRUNCATED_MARK), are skipped (default 64 KiB). */
  maxLineLength?: number;
  /**
   * Try every failregex on each line instead of stopping at the first match (fail2ban-regex and the
   * sample corpus do this to catch overlapping regexes).
   */
  checkAll?: boolean;
  /**
   * Runs the regexes that can backtrack catastrophically (CompiledRegex.catastrophic) with a bound: a
   * line on which one throws RegexTimeout is skipped (lastSkipped 'too slow').
   */
  guard?: RegexGuard;
}

type Exec = (text: string) => RegExpExecArray | null;

export interface RegexGuard {
  /** A bounded exec for `r`, or null to run it inline. */
  wrap(r: CompiledRegex): Exec | null;
}

/** A regex of the filter that can backtrack catastrophically, and where it is configured. */
export interface CatastrophicRegex {
  option: RegexOption;
  /** `file:line` of the option (or the filter name). */
  where: string;
  /** The part of the pattern that can backtrack catastrophically. */
  part: string;
}

export const DEFAULT_MAX_LINE_LENGTH = 64 * 1024;
const NONE: readonly Failure[] = Object.freeze([]);
/** Multi-line ids remembered at once, and for how long (seconds of log time), as Fail2Ban does. */
const MLFID_MAX = 100;
const MLFID_TTL = 300;
/** Bookkeeping keys of a multi-line failure, never reported as fields. */
const INTERNAL = new Set(['content', 'nofail', 'mlfforget', 'mlfgained', 'mlfpending', 'matches', 'nofailMatches']);

type Value = string | number | null | undefined;
type Groups = Record<string, Value>;
interface MlfEntry {
  time: number;
  groups: Groups;
  users: Set<string> | null;
}

/** A regex of a definition does not compile, or a failregex has no group naming who failed. */
export class FilterError extends Error {
  override name = 'FilterError';
  constructor(
    where: string,
    readonly option: RegexOption,
    readonly problem: string,
  ) {
    super(`${where}: ${problem}`);
  }
}

/** The error as the user should see it: file:line of the regex option, exit code 3. */
export function filterConfigError(def: FilterDefinition, err: FilterError): ConfigError {
  const origin = def.origins?.[err.option];
  return new ConfigError(origin?.file ?? def.file ?? def.name, origin?.line ?? null, err.problem);
}

export class Filter {
  readonly name: string;
  readonly prefregex: CompiledRegex | null;
  readonly failregex: readonly CompiledRegex[];
  readonly ignoreregex: readonly CompiledRegex[];
  readonly maxlines: number;
  readonly dates: DateDetector;
  /**
   * Literal texts of which a line must contain at least one to possibly match, or null when unknown.
   * Callers that scan raw bytes can use them to skip lines before decoding.
   */
  readonly literals: readonly string[] | null;
  /** Outcome of the last processLine call, for reporting (fail2ban-regex style). */
  lastDate: DateTemplate | null = null;
  lastIgnored = false;
  /** True when the last line reached the regexes (it passed the literal pre-filter). */
  lastExamined = false;
  /**
   * Why the last line was skipped unmatched, or null: 'too long' (over the cap, or cut by the source),
   * 'too slow' (a guarded regex ran out of time on it).
   */
  lastSkipped: 'too long' | 'too slow' | null = null;
  /** Lines skipped as too long so far. */
  skippedTooLong = 0;
  /** Lines skipped as too slow to match so far. */
  skippedTooSlow = 0;
  /** Regexes that can backtrack catastrophically where V8 cannot fall back to linear time. */
  readonly catastrophic: readonly CatastrophicRegex[];

  private readonly checkAll: boolean;
  private readonly maxLen: number;
  /** Some regex has a faster variant for plain text (CompiledRegex.plain). */
  private readonly hasPlain: boolean;
  /** The text being matched is plain (PLAIN_TEXT). */
  private plainText = false;
  /** The last text given stand-ins, and its stand-in copy. */
  private standInOf = '';
  private standIn = '';
  private readonly prefExec: Exec | null;
  private readonly failExec: ReadonlyArray<Exec | null>;
  private readonly ignoreExec: ReadonlyArray<Exec | null>;
  private readonly plan: LiteralPlan | null;
  private buffer: string[] = [];
  private readonly mlf = new Map<string, MlfEntry>();
  private lastTime = Number.NaN;

  constructor(def: FilterDefinition, opts: FilterOptions = {}) {
    this.name = def.name;
    this.maxlines = Math.max(1, def.maxlines || 1);
    this.checkAll = opts.checkAll ?? false;
    this.maxLen = opts.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH;
    const multiline = this.maxlines > 1;
    const where = def.file ?? def.name;
    const compile = (option: RegexOption, what: string, src: string, ml: boolean): CompiledRegex => {
      try {
        return compileRegex(src, { useDns: opts.useDns, multiline: ml, finalNewline: multiline });
      } catch (err) {
        if (err instanceof RegexError) throw new FilterError(where, option, `${what}: ${err.message}`);
        throw err;
      }
    };
    this.prefregex = def.prefregex ? compile('prefregex', 'prefregex', def.prefregex, false) : null;
    this.failregex = def.failregex.map((r, i) => compile('failregex', `failregex ${i + 1}`, r, multiline));
    this.ignoreregex = def.ignoreregex.map((r, i) => compile('ignoreregex', `ignoreregex ${i + 1}`, r, false));
    for (const [i, r] of this.failregex.entries()) {
      if (!r.hasId && !this.prefregex?.hasId)
        throw new FilterError(
          where,
          'failregex',
          `failregex ${i + 1} captures no host: add <HOST>, <ADDR> or <F-ID> to ${JSON.stringify(def.failregex[i])}`,
        );
    }
    const origin = (option: RegexOption) => {
      const o = def.origins?.[option];
      return o ? (o.line === null ? o.file : `${o.file}:${o.line}`) : where;
    };
    const flagged: CatastrophicRegex[] = [];
    const note = (option: RegexOption, r: CompiledRegex | null) => {
      if (r?.catastrophic) flagged.push({ option, where: origin(option), part: r.catastrophic });
    };
    note('prefregex', this.prefregex);
    for (const r of this.failregex) note('failregex', r);
    for (const r of this.ignoreregex) note('ignoreregex', r);
    this.catastrophic = flagged;
    this.hasPlain = [this.prefregex, ...this.failregex, ...this.ignoreregex].some((r) => r?.hasPlain === true);
    const guard = opts.guard;
    this.prefExec = guard && this.prefregex ? guard.wrap(this.prefregex) : null;
    this.failExec = this.failregex.map((r) => guard?.wrap(r) ?? null);
    this.ignoreExec = this.ignoreregex.map((r) => guard?.wrap(r) ?? null);
    this.dates = new DateDetector({ datepattern: def.datepattern, zone: opts.zone ?? UTC });
    // An unbounded date ({UNB}) may sit inside required text; a multi-line match spans lines.
    this.plan = multiline || /\{UNB\}/i.test(def.datepattern ?? '') ? null : literalPlan(this.prefregex, this.failregex);
    this.literals = this.plan?.gate ?? null;
  }

  /**
   * Processes one line. `now` (epoch seconds) completes dates without a year and stands in for lines
   * without a date; `time`, when given (journal entries), is used instead of parsing a date.
   * Returns the failures found (usually none; the empty result is shared, do not modify it).
   */
  processLine(line: string, now: number, time?: number): readonly Failure[] {
    this.lastIgnored = false;
    this.lastDate = null;
    this.lastExamined = false;
    this.lastSkipped = null;
    // A cut line is not matched as if whole: what follows the cut could turn a victim's address placed
    // right before it into "the" host of the line.
    if (line.length > this.maxLen || line.endsWith(TRUNCATED_MARK)) {
      this.lastSkipped = 'too long';
      this.skippedTooLong++;
      return NONE;
    }
    if (this.maxlines === 1 && !this.mayMatch(line)) return NONE;
    this.lastExamined = true;
    let text = line;
    let date: number;
    if (time !== undefined) date = time;
    else {
      const m = this.dates.match(line, now);
      let t = Number.NaN;
      if (m) {
        this.lastDate = m.template;
        if (m.end > m.start) {
          text = line.slice(0, m.start) + line.slice(m.end);
          t = m.time;
        } else t = this.lastTime > now - 60 ? this.lastTime : now;
      }
      if (Number.isNaN(t)) t = this.lastTime > now - 60 ? this.lastTime : now;
      else this.lastTime = t;
      date = t;
    }
    try {
      return this.find(text, date);
    } catch (err) {
      if (!(err instanceof RegexTimeout)) throw err;
      this.lastSkipped = 'too slow';
      this.skippedTooSlow++;
      return NONE;
    }
  }

  private mayMatch(line: string): boolean {
    return this.plan === null || mayContain(this.plan, line);
  }

  private find(line: string, date: number): readonly Failure[] {
    const multi = this.maxlines > 1;
    let buf: string;
    if (multi) {
      this.buffer.push(line);
      if (this.buffer.length > this.maxlines) this.buffer.splice(0, this.buffer.length - this.maxlines);
      buf = `${this.buffer.join('\n')}\n`;
    } else buf = line;

    // One check per line buys the faster built-in classes for every regex (see CompiledRegex.plain).
    this.plainText = this.hasPlain && PLAIN_TEXT.test(buf);
    let pre: Groups | null = null;
    if (this.prefregex) {
      const m = this.exec(this.prefregex, this.prefExec, buf);
      if (!m) return NONE;
      pre = groupsOf(this.prefregex, m);
      const content = pre.content;
      delete pre.content;
      if (content) {
        buf = multi ? `${content}\n` : (content as string);
        if (multi) this.buffer = [content as string];
      }
    }

    let out: Failure[] | null = null;
    const per = multi ? null : (this.plan?.perRegex ?? null);
    for (let i = 0; i < this.failregex.length; i++) {
      // A failregex whose required texts are not all in the text cannot match it: not run.
      if (per !== null && !allHit(per[i] as string[][], buf)) continue;
      const fr = this.failregex[i] as CompiledRegex;
      const m = this.exec(fr, this.failExec[i] ?? null, buf);
      if (!m) continue;
      let lines = 1;
      let matchedText = buf;
      if (multi) {
        const split = splitMatch(buf, m, this.buffer);
        lines = split.matched.length;
        matchedText = `${split.matched.join('\n')}\n`;
        if (this.ignoredBy(matchedText)) {
          this.lastIgnored = true;
          this.buffer = split.unmatched;
          buf = `${this.buffer.join('\n')}\n`;
          if (!this.checkAll) break;
          continue;
        }
        this.buffer = split.unmatched;
        buf = `${this.buffer.join('\n')}\n`;
      } else if (this.ignoredBy(matchedText)) {
        this.lastIgnored = true;
        if (!this.checkAll) break;
        continue;
      }
      let fail = groupsOf(fr, m);
      if (pre) fail = { ...pre, ...fail };
      const mlfid = fail.mlfid;
      let entry: MlfEntry | null = null;
      if (mlfid !== null && mlfid !== undefined) {
        entry = this.merge(String(mlfid), fail, lines, date);
        fail = entry.groups;
        if (fail.nofail) {
          if (!this.checkAll) return out ?? NONE;
          continue;
        }
      } else {
        fail.matches = lines;
        // <F-NOFAIL> without a connection id: a match that is explicitly not a failure.
        if (fail.nofail) {
          if (!this.checkAll) break;
          continue;
        }
      }

      const failure = this.toFailure(fail, i, date, entry);
      if (failure === null) {
        // An id-less line of a multi-line conversation: the failure is pending until the host shows up.
        if (entry !== null) fail.mlfpending = 1;
        if (!this.checkAll) return out ?? NONE;
        continue;
      }
      if (out === null) out = [];
      out.push(failure);
      if (!this.checkAll) break;
    }
    return out ?? NONE;
  }

  /** Runs one regex of the filter on `text` (a part of the current line: plainText holds for it too). */
  private exec(r: CompiledRegex, guarded: Exec | null, text: string): RegExpExecArray | null {
    if (guarded !== null) return guarded(text);
    if (this.plainText) return r.plain.exec(text);
    if (r.standIn === null) return r.re.exec(text);
    return execOn(r, text, false, () => {
      if (this.standInOf !== text) {
        this.standInOf = text;
        this.standIn = standInText(text);
      }
      return this.standIn;
    });
  }

  private ignoredBy(text: string): boolean {
    for (let i = 0; i < this.ignoreregex.length; i++) {
      if (this.exec(this.ignoreregex[i] as CompiledRegex, this.ignoreExec[i] ?? null, text)) return true;
    }
    return false;
  }

  /** Fail2Ban's multi-line merge: one conversation (mlfid) accumulates users, lines and no-fail marks. */
  private merge(mlfid: string, fail: Groups, lines: number, date: number): MlfEntry {
    this.expireMlf(date);
    const cached = this.mlf.get(mlfid);
    let flags = 0; // 1 nofail, 2 forget, 4 cached nofail/gained, 8 gained
    if (fail.mlfgained) {
      flags |= 9;
      if (!fail.nofail) fail.nofail = fail.mlfgained;
    } else if (fail.nofail) flags |= 1;
    if (fail.mlfforget) flags |= 2;
    delete fail.mlfforget;
    let users: Set<string> | null = null;
    let entry: MlfEntry;
    const user = fail.user;
    if (cached) {
      const g = cached.groups;
      if (user) (cached.users ??= new Set()).add(String(user));
      users = cached.users;
      if (g.nofail !== undefined) {
        if (g.nofail) flags |= 4;
        delete g.nofail;
      }
      if (g.mlfgained !== undefined) {
        if (g.mlfgained) flags |= 4;
        delete g.mlfgained;
      }
      if (flags & 8) delete g.mlfpending;
      if ((flags & 4) === 0 && !g.mlfpending) delete g.matches;
      for (const k of Object.keys(fail)) if (fail[k] !== null && fail[k] !== undefined) g[k] = fail[k];
      entry = cached;
      if (flags & 2) this.mlf.delete(mlfid);
    } else {
      entry = { time: date, groups: fail, users: null };
      if (!(flags & 2)) {
        if (user) entry.users = new Set([String(user)]);
        users = entry.users;
        if (this.mlf.size >= MLFID_MAX) this.mlf.delete(this.mlf.keys().next().value as string);
        this.mlf.set(mlfid, entry);
      }
    }
    const g = entry.groups;
    const pending = g.mlfpending;
    delete g.mlfpending;
    if (pending || (users !== null && users.size > 1)) {
      delete g.nofail;
      delete g.mlfgained;
      flags &= ~9;
    }
    if ((flags & 1) === 0) {
      let n = Number(g.nofailMatches ?? 0) + Number(g.matches ?? 0);
      delete g.nofailMatches;
      if ((flags & 8) === 0) n += lines;
      g.matches = n;
    } else if ((flags & 3) === 1) g.nofailMatches = Number(g.nofailMatches ?? 0) + lines;
    return entry;
  }

  private expireMlf(now: number): void {
    for (const [k, e] of this.mlf) {
      if (e.time >= now - MLFID_TTL) break;
      this.mlf.delete(k);
    }
  }

  private toFailure(fail: Groups, regex: number, time: number, entry: MlfEntry | null): Failure | null {
    const fid = fail.fid;
    let ip: string | null = null;
    let kind: Failure['kind'] = 'ip';
    const cidr = fail.cidr;
    const host = (fail.ip4 ?? fail.ip6) as string | null | undefined;
    if (host !== null && host !== undefined) {
      const canonical = cidr ? parseCidr(`${host}/${cidr}`)?.text : normalizeIp(host);
      ip = canonical ?? (cidr ? `${host}/${cidr}` : host);
      if (!canonical) kind = 'id';
    } else if (fail.dns !== null && fail.dns !== undefined) {
      ip = String(fail.dns);
      kind = 'dns';
    } else if (fid !== null && fid !== undefined) {
      ip = String(fid);
      kind = 'id';
    }
    if (ip === null) return null;
    const fields: Record<string, string> = {};
    for (const k of Object.keys(fail)) {
      const v = fail[k];
      if (typeof v === 'string' && k[0] !== '_' && !INTERNAL.has(k)) fields[k] = v;
    }
    if (fid !== null && fid !== undefined && String(fid) !== ip) {
      // A failure id other than the address (e.g. a user name) is what Fail2Ban counts.
      fields.ip = ip;
      ip = String(fid);
      kind = normalizeIp(ip) ? 'ip' : 'id';
    }
    const failure: Failure = { ip, kind, time, fields, regex, lines: Number(fail.matches ?? 1) };
    const users = entry?.users;
    if (users && users.size > 0) failure.users = [...users].sort();
    return failure;
  }
}

function groupsOf(r: CompiledRegex, m: RegExpExecArray): Groups {
  const src = r.repeats.length > 0 ? namedGroups(r, m) : (m.groups ?? {});
  const g: Groups = {};
  for (const k of r.groups) g[k] = src[k] ?? null;
  for (const [k, n] of r.alt) if (g[k] && !g[n]) g[n] = g[k];
  return g;
}

/** Splits a multi-line buffer into the lines a match covers and the rest (Fail2Ban's bookkeeping). */
function splitMatch(buf: string, m: RegExpExecArray, lines: string[]): { matched: string[]; unmatched: string[] } {
  const start = buf.lastIndexOf('\n', m.index) + 1;
  const endNl = buf.indexOf('\n', Math.max(0, m.index + m[0].length - 1));
  const end = endNl < 0 ? buf.length : endNl + 1;
  const first = countNl(buf, start);
  const last = countNl(buf, end);
  const matched = lines.slice(first, last);
  const unmatched = lines.slice(0, first);
  const skipped: string[] = [];
  for (const [k, v] of Object.entries(m.groups ?? {}))
    if (k.startsWith('skiplines') && v) skipped.push(...v.split('\n').filter((s) => s !== ''));
  let n = 0;
  for (const s of skipped) {
    const idx = matched.indexOf(s, n);
    if (idx >= 0) {
      unmatched.push(...matched.splice(idx, 1));
      n = idx;
    }
  }
  unmatched.push(...lines.slice(last));
  return { matched, unmatched };
}

function countNl(s: string, end: number): number {
  let n = 0;
  for (let i = s.indexOf('\n'); i >= 0 && i < end; i = s.indexOf('\n', i + 1)) n++;
  return n;
}
