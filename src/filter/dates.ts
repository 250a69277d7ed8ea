// Finding and parsing the timestamp of a log line, as Fail2Ban's date detector does: a list of date
// templates (strftime-like `%` patterns turned into regexes), tried in order with a preference for
// dates at the start of the line, the template that matched last tried first. Pure: "now" and the
// log's time zone are arguments, so year inference ("Nov 24" in January is last year) is testable.
import { translate } from './regex.js';
import { type TimeZone, UTC, zoneOffsetMinutes } from './timezone.js';

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const MONTHS_LONG = [
  'january',
  'february',
  'march',
  'april',
  'may',
  'june',
  'july',
  'august',
  'september',
  'october',
  'november',
  'december',
];
const DAYS = 'monday|tuesday|wednesday|thursday|friday|saturday|sunday';

/** Regex (Python syntax) for each `%` directive; names follow strptime's field letters. */
const DIRECTIVES: Record<string, string> = {
  a: '(?P<a>mon|tue|wed|thu|fri|sat|sun)',
  A: `(?P<A>${DAYS})`,
  b: `(?P<b>${MONTHS.join('|')})`,
  B: `(?P<B>${[...MONTHS_LONG].sort((x, y) => y.length - x.length).join('|')})`,
  d: '(?P<d>[1-2]\\d|[0 ]?[1-9]|3[0-1])',
  f: '(?P<f>[0-9]{1,6})',
  H: '(?P<H>[0-1]?\\d|2[0-3])',
  I: '(?P<I>1[0-2]|0[1-9]|[1-9])',
  j: '(?P<j>36[0-6]|3[0-5]\\d|[12]\\d\\d|0[1-9]\\d|00[1-9]|[1-9]\\d|0[1-9]|[1-9])',
  k: ' ?(?P<H>[0-2]?\\d)',
  l: ' ?(?P<I>1?\\d)',
  m: '(?P<m>0?[1-9]|1[0-2])',
  M: '(?P<M>[0-5]?\\d)',
  p: '(?P<p>am|pm)',
  S: '(?P<S>[0-5]?\\d|6[0-1])',
  U: '(?P<U>5[0-3]|[0-4]\\d|\\d)',
  w: '(?P<w>[0-6])',
  W: '(?P<W>5[0-3]|[0-4]\\d|\\d)',
  y: '(?P<y>\\d\\d)',
  Y: '(?P<Y>\\d\\d\\d\\d)',
  z: '(?P<z>Z|UTC|GMT|[+-][01]\\d(?::?\\d{2})?)',
  Z: '(?P<Z>Z|[A-Z]{3,5})',
  ExZ: '(?P<Z>[A-Z](?:[A-Z]{2,4})?)',
  Exz: '(?P<z>(?:[A-Z](?:[A-Z]{2,4})?)?[+-][01]\\d(?::?\\d{2})?|[A-Z](?:[A-Z]{2,4})?)',
  Exd: '(?P<d>[1-2]\\d|0[1-9]|3[0-1])',
  Exm: '(?P<m>0[1-9]|1[0-2])',
  ExH: '(?P<H>[0-1]\\d|2[0-3])',
  Exk: ' ?(?P<H>[0-1]?\\d|2[0-3])',
  Exl: ' ?(?P<I>1[0-2]|\\d)',
  ExM: '(?P<M>[0-5]\\d)',
  ExS: '(?P<S>[0-5]\\d|6[0-1])',
  // Years this century: a four-digit number elsewhere in a line is rarely a date.
  ExY: '(?P<Y>20\\d\\d)',
  Exy: '(?P<y>\\d{2})',
  '%': '%',
};
const DIRECTIVE_RE = /%(Ex[ZzdmHklMSYy]|[aAbBdfHIjklmMpSUwWyYzZ%])/g;

/** Fail2Ban's default date patterns, most common first. */
const DEFAULT_PATTERNS = [
  '%ExY(?P<_sep>[-/.])%m(?P=_sep)%d(?:T|  ?)%H:%M:%S(?:[.,]%f)?(?:\\s*%z)?',
  '(?:%a )?%b %d %k:%M:%S(?:\\.%f)?(?: %ExY)?',
  '(?:%a )?%b %d %ExY %k:%M:%S(?:\\.%f)?',
  '%d(?P<_sep>[-/])%m(?P=_sep)(?:%ExY|%Exy) %k:%M:%S',
  '%d(?P<_sep>[-/])%b(?P=_sep)%ExY[ :]?%H:%M:%S(?:\\.%f)?(?: %z)?',
  '%m/%d/%ExY:%H:%M:%S',
  '%m-%d-%ExY %k:%M:%S(?:\\.%f)?',
  'EPOCH',
  '{^LN-BEG}%H:%M:%S',
  '^<%m/%d/%Exy@%H:%M:%S>',
  '%Exy%Exm%Exd  ?%H:%M:%S',
  '%b %d, %ExY %I:%M:%S %p',
  '^%b-%d-%Exy %k:%M:%S',
  '%ExY%Exm%Exd(?:T|  ?)%ExH%ExM%ExS(?:[.,]%f)?(?:\\s*%z)?',
  '(?:%Z )?(?:%a )?%b %d %k:%M:%S(?:\\.%f)?(?: %ExY)?',
  '(?:%z )?(?:%a )?%b %d %k:%M:%S(?:\\.%f)?(?: %ExY)?',
  'TAI64N',
];

type Kind = 'pattern' | 'epoch' | 'lepoch' | 'tai64n' | 'none';

export interface DateTemplate {
  readonly name: string;
  readonly kind: Kind;
  readonly re: RegExp;
  /** Anchored at the start (or end) of the line: a match there needs no further search. */
  readonly anchored: boolean;
  /** Index of the capture holding the date text (1 for most). */
  readonly group: number;
  /**
   * The date capture ends where the match ends (only zero-width assertions follow it): its span is read
   * off the match, and the regex runs without the `d` flag, whose indices for every named group made
   * date matching the costliest step per line in profiles of `portcullis regex`.
   */
  readonly endsMatch: boolean;
}

/** Where the date text starts in the line. */
function dateStart(t: DateTemplate, m: RegExpExecArray): number {
  if (t.endsMatch) return m.index + m[0].length - (m[t.group]?.length ?? 0);
  return m.indices?.[t.group]?.[0] ?? m.index;
}

export interface DateMatch {
  /** Epoch seconds; NaN when the template matched but the text is not a valid date. */
  time: number;
  /** Start and end of the date text in the line: the filter removes it before matching. */
  start: number;
  end: number;
  template: DateTemplate;
}

const EPOCH_RE = '\\d{10,11}\\b(?:\\.\\d{3,6})?';
const LEPOCH_RE = '\\d{10,11}(?:\\d{3}(?:\\.\\d{1,6}|\\d{3})?)?';

function compile(regex: string, ci: boolean, indices: boolean): RegExp {
  const t = translate(regex, { ascii: true, plainInput: true });
  let flags = indices ? `${t.flags}d` : t.flags;
  if (ci && !flags.includes('i')) flags += 'i';
  return new RegExp(t.source, flags);
}

/**
 * Builds one template from a `datepattern` line (or a default pattern), following Fail2Ban's rules.
 * `lazy` defers compiling the regex to its first use: for the default list, of which a log uses one or
 * two templates (profiling `portcullis regex` showed compiling all 30 taking 13 ms of its start-up, and
 * their code stays resident in a daemon). A filter's own patterns compile at once, so that an invalid
 * one is a configuration error at load, not at the first log line.
 */
export function makeTemplate(pattern: string, lazy = false): DateTemplate {
  const key = pattern.includes('%') ? pattern : pattern.toUpperCase();
  let lineBegin = false;
  let p = pattern;
  let bounded = true;
  if (/^\{UNB\}/.test(p)) {
    p = p.slice(5);
    bounded = false;
  }
  if (bounded && /^\{\^LN-BEG\}/.test(p)) {
    p = p.slice(9);
    lineBegin = true;
  }
  if (key === '{NONE}') return { name: '{NONE}', kind: 'none', re: /^/, anchored: true, group: 0, endsMatch: true };
  const bare = key.replace(/^\{\^LN-BEG\}|^\^/, '');
  if (bare === 'TAI64N' && !/\{L?EPOCH\}/i.test(p)) {
    const begin = key !== 'TAI64N';
    return build(pattern, '@[0-9a-f]{24}', 'tai64n', begin ? 'start' : 'word', true, 1, false, lazy);
  }
  if (/\{L?EPOCH\}/i.test(p)) {
    const long = /\{LEPOCH\}/i.test(p);
    const src = `(${p.replace(/\{L?EPOCH\}/gi, `(${long ? LEPOCH_RE : EPOCH_RE})`)})`;
    return build(pattern, src, long ? 'lepoch' : 'epoch', 'word', true, 2, false, lazy);
  }
  if (bare === 'EPOCH' || bare === 'LEPOCH') {
    const long = bare === 'LEPOCH';
    const num = long ? LEPOCH_RE : EPOCH_RE;
    const kind = long ? 'lepoch' : 'epoch';
    if (key === bare) {
      // At the line start, inside `[...]` at the line start, or in an SELinux `audit(...)` stamp.
      const src = `((?:^${num}|(?<=^\\[)${num}(?=\\])|(?<=\\baudit\\()${num}(?=:\\d+\\))))`;
      return build(long ? 'LongEpoch' : 'Epoch', src, kind, 'none', true, 1, false, lazy);
    }
    return build(`{^LN-BEG}${long ? 'LongEpoch' : 'Epoch'}`, `(${num})`, kind, 'start', true, 1, false, lazy);
  }
  const ci = /(?<!%)%[aAbBpc]/.test(p);
  const regex = p.replace(DIRECTIVE_RE, (_m, d: string) => DIRECTIVES[d] ?? _m);
  return build(pattern, regex, 'pattern', lineBegin ? 'start' : bounded ? 'word' : 'none', bounded, 1, ci, lazy);
}

function build(
  name: string,
  src: string,
  kind: Kind,
  begin: 'word' | 'start' | 'none',
  end: boolean,
  group: number,
  ci: boolean,
  lazy: boolean,
): DateTemplate {
  let regex = src.trim();
  const boundBegin = begin !== 'none' && !/^\(*(?:\(\?\w+\))?(?:\^|\(*\*\*|\((?:\?:)?\^)/.test(regex);
  const boundEnd = end && !/(?<!\\)(?:\$\)?|\\b|\\s|\*\*\)*)$/.test(regex);
  // Without a capture of its own the pattern is wrapped in one (group 1): only `^`/`$`, inline flags and
  // the bounds added below (zero-width at the end) surround it, so it ends where the match ends.
  const wrapped = !/(?<!\(\?)(?<!\\)\((?!\?)/.test(regex);
  if (wrapped) {
    regex = regex.replace(/^((?:\(\?\w+\))?\^?(?:\(\?\w+\))?)(.*?)(\$?)$/s, '$1($2)$3');
  }
  let anchored = false;
  if (boundBegin) {
    if (begin === 'start') {
      regex = `^(?:\\W{0,2})?${regex}`;
      anchored = true;
      if (!name.startsWith('{^LN-BEG}')) name = `{^LN-BEG}${name}`;
    } else regex = `(?=^|\\b|\\W)${regex}`;
  }
  if (boundEnd) regex += '(?=\\b|\\W|$)';
  if (/^(?:\(\?\w+\))?(?:\^|\((?:\?:)?\^(?!\|))/.test(regex) || /(?<![\\|])(?:\$\)?)$/.test(regex)) anchored = true;
  regex = regex.replace(/^\(*(?:\(\?\w+\))?\(*\*\*|(?<!\\)\*\*\)*$/g, (m) => m.replace('**', ''));
  const endsMatch = wrapped && group === 1;
  if (!lazy) return { name, kind, re: compile(regex, ci, !endsMatch), anchored, group, endsMatch };
  let re: RegExp | null = null;
  return {
    name,
    kind,
    anchored,
    group,
    endsMatch,
    get re() {
      re ??= compile(regex, ci, !endsMatch);
      return re;
    },
  };
}

interface Slot {
  template: DateTemplate;
  hits: number;
  distance: number;
}

/** Templates that a `datepattern` value stands for (several lines allowed). */
function templatesFor(datepattern: string | null): DateTemplate[] {
  if (datepattern === null || datepattern.trim() === '') return defaultTemplates();
  const out: DateTemplate[] = [];
  const seen = new Set<string>();
  for (const line of datepattern.split(/\n+/).map((s) => s.trim()).filter(Boolean)) {
    const key = line.includes('%') ? line : line.toUpperCase();
    let add: DateTemplate[];
    if (key === '{^LN-BEG}') add = defaultTemplates().filter((t) => t.anchored);
    else if (key === '{DEFAULT}') add = defaultTemplates();
    else if (/\{DATE\}/i.test(key))
      add = DEFAULT_PATTERNS.map((p) => {
        const t = makeTemplate(p, true);
        return t.kind === 'pattern' ? makeTemplate(line.replace(/(?<!\\)\{DATE\}/gi, unbound(p))) : t;
      });
    else add = [makeTemplate(line)];
    for (const t of add) {
      if (seen.has(t.name)) continue;
      seen.add(t.name);
      out.push(t);
    }
  }
  return out;
}

function unbound(p: string): string {
  return p
    .replace(/^\{UNB\}/, '')
    .replace(/^\{\^LN-BEG\}/, '')
    .replace(/^\((?:\?:)?\^\|\\b\|\\W\)/, '')
    .replace(/\(\?=\\b\|\\W\|\$\)$/, '');
}

let defaults: DateTemplate[] | null = null;
/** The default list: line-start anchored variants first (preferred), then the free-floating ones. */
function defaultTemplates(): DateTemplate[] {
  if (defaults) return defaults;
  const first: DateTemplate[] = [];
  const rest: DateTemplate[] = [];
  for (const p of DEFAULT_PATTERNS) {
    const t = makeTemplate(p, true);
    if (!t.name.startsWith('{^LN-BEG}') && !t.name.startsWith('^')) {
      const a = makeTemplate(`{^LN-BEG}${p}`, true);
      if (a.name !== t.name) first.push(a);
    }
    rest.push(t);
  }
  defaults = [...first, ...rest];
  return defaults;
}

export interface DateDetectorOptions {
  /** `datepattern` as written in the filter (null: Fail2Ban's defaults). */
  datepattern?: string | null;
  /** Zone of times written without one (`logtimezone`, else the host's zone). */
  zone?: TimeZone;
}

/**
 * Finds the date in a line. Keeps the template that matched last and tries it first: logs are
 * uniform, so the common case costs one anchored regex test.
 */
export class DateDetector {
  private readonly slots: Slot[];
  private readonly zone: TimeZone;
  private last = -1;
  private lastDistance = 1;

  constructor(opts: DateDetectorOptions = {}) {
    this.slots = templatesFor(opts.datepattern ?? null).map((template) => ({
      template,
      hits: 0,
      distance: 0x7fffffff,
    }));
    this.zone = opts.zone ?? UTC;
  }

  get templates(): readonly DateTemplate[] {
    return this.slots.map((s) => s.template);
  }

  /** Finds and parses the date; null when no template matches. `now` is epoch seconds. */
  match(line: string, now: number): DateMatch | null {
    const slots = this.slots;
    let found: RegExpExecArray | null = null;
    let index = -1;
    let bestAlt: RegExpExecArray | null = null;
    let bestAltIndex = -1;
    const last = this.last;
    if (last >= 0) {
      const slot = slots[last] as Slot;
      const m = slot.template.re.exec(line);
      if (m) {
        const start = dateStart(slot.template, m);
        if (slot.template.anchored || slots.length === 1 || start === slot.distance) {
          found = m;
          index = last;
        } else {
          bestAlt = m;
          bestAltIndex = last;
        }
      }
    }
    if (!found) {
      for (let i = 0; i < slots.length; i++) {
        if (i === last && bestAlt === null && last >= 0 && slots[last]?.template.anchored) continue;
        if (i === bestAltIndex) continue;
        const slot = slots[i] as Slot;
        const m = slot.template.re.exec(line);
        if (!m) continue;
        const start = dateStart(slot.template, m);
        if (i + 1 >= slots.length || slot.template.anchored) {
          found = m;
          index = i;
          break;
        }
        if (start === 0 && slot.hits > 0 && (slots[i + 1] as Slot).hits === 0) {
          found = m;
          index = i;
          break;
        }
        if (start > slot.distance || start > this.lastDistance) {
          const altStart = bestAlt ? dateStart((slots[bestAltIndex] as Slot).template, bestAlt) : Infinity;
          if (start < altStart) {
            bestAlt = m;
            bestAltIndex = i;
          }
          continue;
        }
        found = m;
        index = i;
        break;
      }
      if (!found && bestAlt) {
        found = bestAlt;
        index = bestAltIndex;
      }
    }
    if (!found) return null;
    const slot = slots[index] as Slot;
    const t = slot.template;
    const start = dateStart(t, found);
    const end = t.endsMatch ? found.index + found[0].length : (found.indices?.[t.group]?.[1] ?? found.index + found[0].length);
    slot.hits++;
    slot.distance = start;
    this.lastDistance = start;
    this.last = index;
    return { time: this.parse(t, found, now), start, end, template: t };
  }

  private parse(t: DateTemplate, m: RegExpExecArray, now: number): number {
    const text = m[t.group] ?? '';
    switch (t.kind) {
      case 'none':
        return Number.NaN;
      case 'tai64n':
        return Number.parseInt(text.slice(2, 17), 16);
      case 'epoch':
        return Number(text);
      case 'lepoch': {
        let v = Number(text);
        if (text.length >= 13) v = text.length >= 16 && !text.includes('.') ? v / 1e6 : v / 1e3;
        return v;
      }
      default:
        return fieldsToTime(m.groups ?? {}, now, this.zone);
    }
  }
}

/** strptime fields → epoch seconds, inferring year or day like Fail2Ban (never more than a day ahead). */
export function fieldsToTime(g: Record<string, string | undefined>, now: number, zone: TimeZone): number {
  let year: number | null = null;
  let month: number | null = null;
  let day: number | null = null;
  let hour = 0;
  let minute = 0;
  let second = 0;
  let offsetMin: number | null = null;
  let julian: number | null = null;
  if (g.y !== undefined) {
    year = Number(g.y);
    if (year <= 2000) year += 2000;
  }
  if (g.Y !== undefined) year = Number(g.Y);
  if (g.m !== undefined) month = Number(g.m);
  if (g.B !== undefined) month = MONTHS_LONG.indexOf(g.B.toLowerCase()) + 1;
  if (g.b !== undefined) month = MONTHS.indexOf(g.b.toLowerCase()) + 1;
  if (g.d !== undefined) day = Number(g.d);
  if (g.H !== undefined) hour = Number(g.H);
  if (g.I !== undefined) {
    hour = Number(g.I);
    const pm = (g.p ?? '').toLowerCase() === 'pm';
    if (!pm && hour === 12) hour = 0;
    else if (pm && hour !== 12) hour += 12;
  }
  if (g.M !== undefined) minute = Number(g.M);
  if (g.S !== undefined) second = Number(g.S);
  if (g.j !== undefined) julian = Number(g.j);
  const z = g.z ?? g.Z;
  if (z !== undefined) {
    offsetMin = z === 'Z' || z === 'UTC' || z === 'GMT' ? 0 : zoneOffsetMinutes(z);
    if (offsetMin === null) return Number.NaN;
  }
  const nowLocal = (): Date => new Date((now + zone.offsetAtLocal(now)) * 1000);
  const assumeYear = year === null;
  if (year === null) year = currentYear(now, zone);
  if ((month === null || day === null) && julian !== null) {
    const d = new Date(Date.UTC(year, 0, julian));
    month = d.getUTCMonth() + 1;
    day = d.getUTCDate();
  }
  let assumeToday = false;
  if (month === null && day === null) {
    const n = nowLocal();
    month = n.getUTCMonth() + 1;
    day = n.getUTCDate();
    assumeToday = true;
  }
  if (month === null || day === null || second > 59 || hour > 23) {
    if (second === 60 || second === 61) second = 59;
    if (month === null || day === null || hour > 23) return Number.NaN;
  }
  let t = toEpoch(year, month, day, hour, minute, second, offsetMin, zone);
  if (assumeToday && t > now) t -= 86400;
  if (assumeYear && t > now + 86400) t = toEpoch(year - 1, month, day, hour, minute, second, offsetMin, zone);
  return t;
}

/** Epoch seconds of a wall-clock time; NaN when the day does not exist in that month. */
function toEpoch(y: number, month: number, day: number, hour: number, minute: number, second: number, offsetMin: number | null, zone: TimeZone): number {
  const wall = Date.UTC(y, month - 1, day, hour, minute, second) / 1000;
  // Date.UTC rolls a day past the month's end into the next month: such a date is invalid. Checked
  // without a Date object in the common case (this runs for every dated line).
  const valid = y >= 100 && month >= 1 && month <= 12 ? day >= 1 && day <= daysIn(y, month) : new Date(wall * 1000).getUTCDate() === day;
  if (!valid) return Number.NaN;
  return offsetMin !== null ? wall - offsetMin * 60 : wall - zone.offsetAtLocal(wall);
}

const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const daysIn = (y: number, month: number): number =>
  month === 2 && y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : (MONTH_DAYS[month - 1] as number);

/** The year at `now` in `zone`; the last answer is kept (every syslog line asks it, with the same `now`). */
let yearAt = { now: Number.NaN, zone: null as TimeZone | null, year: 0 };
function currentYear(now: number, zone: TimeZone): number {
  if (yearAt.now !== now || yearAt.zone !== zone) {
    yearAt = { now, zone, year: new Date((now + zone.offsetAtLocal(now)) * 1000).getUTCFullYear() };
  }
  return yearAt.year;
}
