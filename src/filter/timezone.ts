// Converting a log's local wall-clock time to epoch seconds. Logs rarely carry a zone, so the filter is
// told one: a POSIX TZ rule (`CET-01CEST-02,M3.5.0,M10.5.0`, what TZ= holds in containers), an IANA
// name (through Intl, which ships the tz database), or a fixed offset/abbreviation as Fail2Ban's
// `logtimezone` accepts (`UTC+0200`, `CET`). Pure: no clock (resolveLogZone, at the end, reads the environment for the edges).

import { UserError } from '../errors.js';

export interface TimeZone {
  /** Seconds east of UTC in effect at the given local wall-clock time (expressed as if it were UTC). */
  offsetAtLocal(localSeconds: number): number;
}

export const UTC: TimeZone = { offsetAtLocal: () => 0 };

/** Offsets (minutes east) of the zone abbreviations log lines and `logtimezone` may carry. */
const ABBREVIATIONS: Record<string, number> = (() => {
  const table: Array<[number, string]> = [
    [-12, 'Y'],
    [-11, 'X NUT SST'],
    [-10, 'W CKT HAST HST TAHT TKT'],
    [-9, 'V AKST GAMT GIT HADT HNY'],
    [-8, 'U AKDT CIST HAY HNP PST PT'],
    [-7, 'T HAP HNR MST PDT'],
    [-6, 'S CST EAST GALT HAR HNC MDT'],
    [-5, 'R CDT COT EASST ECT EST ET HAC HNE PET'],
    [-4, 'Q AST BOT CLT COST EDT FKT GYT HAE HNA PYT'],
    [-3, 'P ADT ART BRT CLST FKST GFT HAA PMST PYST SRT UYT WGT'],
    [-2, 'O BRST FNT PMDT UYST WGST'],
    [-1, 'N AZOT CVT EGT'],
    [0, 'Z EGST GMT UTC WET WT'],
    [1, 'A CET DFT WAT WEDT WEST'],
    [2, 'B CAT CEDT CEST EET SAST WAST'],
    [3, 'C EAT EEDT EEST IDT MSK'],
    [4, 'D AMT AZT GET GST KUYT MSD MUT RET SAMT SCT'],
    [5, 'E AMST AQTT AZST HMT MAWT MVT PKT TFT TJT TMT UZT YEKT'],
    [6, 'F ALMT BIOT BTT IOT KGT NOVT OMST YEKST'],
    [7, 'G CXT DAVT HOVT ICT KRAT NOVST OMSST THA WIB'],
    [8, 'H ACT AWST BDT BNT CAST HKT IRKT KRAST MYT PHT SGT ULAT WITA WST'],
    [9, 'I AWDT IRKST JST KST PWT TLT WDT WIT YAKT'],
    [10, 'K AEST ChST PGT VLAT YAKST YAPT'],
    [11, 'L AEDT LHDT MAGT NCT PONT SBT VLAST VUT'],
    [12, 'M ANAST ANAT FJT GILT MAGST MHT NZST PETST PETT TVT WFT'],
    [13, 'FJST NZDT'],
    [11.5, 'NFT'],
    [10.5, 'ACDT LHST'],
    [9.5, 'ACST'],
    [6.5, 'CCT MMT'],
    [5.75, 'NPT'],
    [5.5, 'SLT'],
    [4.5, 'AFT IRDT'],
    [3.5, 'IRST'],
    [-2.5, 'HAT NDT'],
    [-3.5, 'HNT NST NT'],
    [-4.5, 'HLV VET'],
    [-9.5, 'MART MIT'],
  ];
  const out: Record<string, number> = {};
  for (const [hours, names] of table) for (const n of names.split(' ')) out[n] = Math.round(hours * 60);
  return out;
})();

/**
 * Minutes east of UTC for a zone written in a log line or in `logtimezone`: `Z`, `UTC`, `+0200`,
 * `-05:00`, `+02`, `CET`, `CET+0100`. Returns null for anything else.
 */
export function zoneOffsetMinutes(text: string): number | null {
  const m = /^([A-Za-z]{1,5})?([+-])?(\d\d)?(?::?(\d\d))?$/.exec(text);
  if (!m) return null;
  const [, abbr, sign, hh, mm] = m;
  let base = 0;
  if (abbr !== undefined) {
    const known = ABBREVIATIONS[abbr] ?? ABBREVIATIONS[abbr.toUpperCase()];
    if (known === undefined) return null;
    base = known;
  }
  if (hh === undefined) return sign === undefined && mm === undefined ? base : null;
  if (sign === undefined) return null;
  const off = Number(hh) * 60 + (mm === undefined ? 0 : Number(mm));
  return base + (sign === '-' ? -off : off);
}

/** A fixed offset from UTC. */
export function fixedZone(minutesEast: number): TimeZone {
  const s = minutesEast * 60;
  return { offsetAtLocal: () => s };
}

interface Rule {
  kind: 'M' | 'J' | 'N';
  month: number;
  week: number;
  day: number;
  /** Seconds after local midnight at which the change happens. */
  time: number;
}

const POSIX_TZ = /^(<[^>]+>|[A-Za-z]{3,})([+-]?\d{1,2}(?::\d{1,2}){0,2})(?:(<[^>]+>|[A-Za-z]{3,})([+-]?\d{1,2}(?::\d{1,2}){0,2})?(?:,([^,]+),([^,]+))?)?$/;

function hms(text: string): number {
  const neg = text.startsWith('-');
  const parts = text.replace(/^[+-]/, '').split(':').map(Number);
  const s = (parts[0] ?? 0) * 3600 + (parts[1] ?? 0) * 60 + (parts[2] ?? 0);
  return neg ? -s : s;
}

function parseRule(text: string): Rule | null {
  const [date, time] = text.split('/') as [string, string | undefined];
  const t = time === undefined ? 7200 : hms(time);
  let m = /^M(\d{1,2})\.(\d)\.(\d)$/.exec(date);
  if (m) return { kind: 'M', month: Number(m[1]), week: Number(m[2]), day: Number(m[3]), time: t };
  m = /^J(\d{1,3})$/.exec(date);
  if (m) return { kind: 'J', month: 0, week: 0, day: Number(m[1]), time: t };
  m = /^(\d{1,3})$/.exec(date);
  if (m) return { kind: 'N', month: 0, week: 0, day: Number(m[1]), time: t };
  return null;
}

const DAY = 86400;

/** Local seconds (as if UTC) of the rule's change in the given year. */
function ruleLocal(rule: Rule, year: number): number {
  const jan1 = Date.UTC(year, 0, 1) / 1000;
  if (rule.kind === 'J') {
    const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
    const day = leap && rule.day >= 60 ? rule.day : rule.day - 1;
    return jan1 + day * DAY + rule.time;
  }
  if (rule.kind === 'N') return jan1 + rule.day * DAY + rule.time;
  const first = Date.UTC(year, rule.month - 1, 1) / 1000;
  const firstWeekday = new Date(first * 1000).getUTCDay();
  let mday = 1 + ((rule.day - firstWeekday + 7) % 7) + (rule.week - 1) * 7;
  const daysInMonth = new Date(Date.UTC(year, rule.month, 0)).getUTCDate();
  while (mday > daysInMonth) mday -= 7;
  return first + (mday - 1) * DAY + rule.time;
}

/** Parses a POSIX TZ string such as `CET-01CEST-02,M3.5.0,M10.5.0`; null if it is not one. */
export function posixZone(tz: string): TimeZone | null {
  const m = POSIX_TZ.exec(tz);
  if (!m) return null;
  const std = -hms(m[2] as string);
  if (m[3] === undefined) return fixedZone(std / 60);
  const dst = m[4] === undefined ? std + 3600 : -hms(m[4]);
  // Without explicit rules POSIX leaves the choice to the implementation; glibc uses the US rules.
  const start = parseRule(m[5] ?? 'M3.2.0');
  const end = parseRule(m[6] ?? 'M11.1.0');
  if (!start || !end) return null;
  const cache = new Map<number, [number, number]>();
  return {
    offsetAtLocal(local: number): number {
      const year = new Date(local * 1000).getUTCFullYear();
      let span = cache.get(year);
      if (!span) {
        // The start is written in standard time, the end in daylight time, both as local wall clock.
        span = [ruleLocal(start, year), ruleLocal(end, year)];
        cache.set(year, span);
      }
      const [s, e] = span;
      const inDst = s < e ? local >= s && local < e : local >= s || local < e;
      return inDst ? dst : std;
    },
  };
}

/** An IANA zone through Intl; offsets are cached per local hour. */
export function ianaZone(name: string): TimeZone | null {
  let fmt: Intl.DateTimeFormat;
  try {
    fmt = new Intl.DateTimeFormat('en-US', {
      timeZone: name,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  } catch {
    return null;
  }
  const offsetAtUtc = (utc: number): number => {
    const p: Record<string, number> = {};
    for (const part of fmt.formatToParts(new Date(utc * 1000))) p[part.type] = Number(part.value);
    const wall = Date.UTC(p.year ?? 1970, (p.month ?? 1) - 1, p.day ?? 1, p.hour ?? 0, p.minute ?? 0, p.second ?? 0);
    return Math.round(wall / 1000 - utc);
  };
  const cache = new Map<number, number>();
  return {
    offsetAtLocal(local: number): number {
      const hour = Math.floor(local / 3600);
      let off = cache.get(hour);
      if (off === undefined) {
        // Two rounds settle the offset except inside a DST gap, where either answer is defensible.
        off = offsetAtUtc(local);
        off = offsetAtUtc(local - off);
        if (cache.size > 10000) cache.clear();
        cache.set(hour, off);
      }
      return off;
    },
  };
}

/** Resolves `logtimezone` / TZ text: IANA name, POSIX rule, offset or abbreviation. */
export function parseTimeZone(text: string): TimeZone | null {
  const t = text.trim();
  if (t === '' || t === 'UTC' || t === 'Z' || t === 'GMT') return UTC;
  const minutes = zoneOffsetMinutes(t);
  if (minutes !== null) return fixedZone(minutes);
  if (t.includes('/')) return ianaZone(t);
  return posixZone(t) ?? ianaZone(t);
}

/**
 * The zone of log times written without one: `explicit` (a jail's `logtimezone`, `--timezone`), else TZ,
 * else the host's zone. Reads the environment, so only the edges (CLI, daemon) call it.
 */
export function resolveLogZone(explicit: string | undefined): TimeZone {
  const text = explicit ?? process.env.TZ;
  if (text !== undefined && text !== '') {
    const z = parseTimeZone(text.replace(/^:/, ''));
    if (z === null)
      throw new UserError(`unknown time zone "${text}": use an IANA name (Europe/Berlin), a POSIX TZ rule or UTC+0100`);
    return z;
  }
  return utcHost() ? UTC : (ianaZone(Intl.DateTimeFormat().resolvedOptions().timeZone) ?? UTC);
}

/**
 * True when the host's zone is UTC (or keeps a zero offset all year, which is the same for log times),
 * found without Intl: any Intl.DateTimeFormat loads ICU's locale and zone data, about 8 MB of a
 * daemon's resident memory, while Date's own offset does not.
 */
function utcHost(): boolean {
  const year = new Date().getUTCFullYear();
  return new Date(Date.UTC(year, 0, 1)).getTimezoneOffset() === 0 && new Date(Date.UTC(year, 6, 1)).getTimezoneOffset() === 0;
}
