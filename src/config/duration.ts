// Fail2Ban's duration syntax (its `str2seconds`): a bare number of seconds, or numbers with units that
// add up: `10m`, `3h`, `1w`, `1d12h`, `1h 30m`, `1year-6mo`, `-1` (permanent). Fail2Ban evaluates the
// text as a Python expression; we accept the sums and differences real configs use and reject the rest.
import type { Seconds } from './model.js';

const MINUTE = 60;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** Fail2Ban's year and month respect leap years on average: 365.25 days and a twelfth of that. */
const YEAR = (365 * 3 + 366) * DAY / 4;

/** Every unit spelling Fail2Ban accepts (case-insensitive). `m` is minutes; months are `mo`/`mon`. */
const UNITS: ReadonlyMap<string, number> = new Map(
  (
    [
      [['s', 'ss', 'se', 'sec', 'second', 'seconds'], 1],
      [['m', 'mm', 'mi', 'min', 'minute', 'minutes'], MINUTE],
      [['h', 'hh', 'ho', 'hou', 'hour', 'hours'], HOUR],
      [['d', 'dd', 'da', 'day', 'days'], DAY],
      [['w', 'ww', 'we', 'wee', 'week', 'weeks'], 7 * DAY],
      [['mo', 'mon', 'month', 'months'], YEAR / 12],
      [['y', 'yy', 'ye', 'yea', 'year', 'years'], YEAR],
    ] as const
  ).flatMap(([names, factor]) => names.map((n) => [n, factor] as const)),
);

const TERM = /\s*([+-]?)\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*/iy;

/** Parses a duration into seconds. Throws an Error saying what is wrong; callers add file:line. */
export function parseDuration(text: string): Seconds {
  const src = text.trim();
  if (src === '') throw new Error('empty duration; write seconds or e.g. 10m, 3h, 1d, 1w (-1 = forever)');
  let total = 0;
  let pos = 0;
  while (pos < src.length) {
    TERM.lastIndex = pos;
    const m = TERM.exec(src);
    const unit = m?.[3]?.toLowerCase() ?? '';
    const factor = unit === '' ? 1 : UNITS.get(unit);
    if (m === null || m[0] === '' || factor === undefined) {
      throw new Error(
        `invalid duration "${text}" at "${src.slice(pos)}": use seconds or a number with a unit (s, m, h, d, w, mo, y), e.g. 10m, 1d12h, -1`,
      );
    }
    total += (m[1] === '-' ? -1 : 1) * Number(m[2]) * factor;
    pos = TERM.lastIndex;
  }
  return total;
}
