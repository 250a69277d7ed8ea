// Fail2Ban's regexes are written for Python's `re` module and carry `<HOST>`-style tags. No maintained
// library translates Python regex syntax to JavaScript (the differences that matter here are
// `(?P<n>)`, `(?P=n)`, conditionals `(?(n)a|b)`, scoped flags `(?i:...)` that Node 20 lacks, `\Z`/`\A`,
// `{,n}` and Python's `$`), so this small translator is hand-written. It is a single left-to-right pass
// over the pattern; the output is compiled once per filter, never per line.

/** Regex snippets for Fail2Ban's tags; they expand to named groups the filter reads back. */
const IP4 = String.raw`(?:::f{4,6}:)?(?P<ip4>(?:\d{1,3}\.){3}\d{1,3})`;
// Fail2Ban's IPv6 pattern, reshaped so V8 can fall back to its linear-time engine on hostile input
// (that engine refuses lookbehinds and large counted repeats): every repetition ends in ':', so the
// final ':' needs no lookbehind, and `{1,7}` became `+` (the address is validated after matching).
const IP6 = '(?P<ip6>(?:[0-9a-fA-F]{1,4}::?|::)+(?:[0-9a-fA-F]{1,4}|:))';
const DNS = String.raw`(?P<dns>[\w\-.^_]*\w)`;
const ADDR = String.raw`\[?(?:${IP4}|${IP6})\]?`;
const CIDR = String.raw`(?P<cidr>\d+)`;
const SUBNET = String.raw`\[?(?:${IP4}|${IP6})(?:/${CIDR})?\]?`;

const STATIC_TAGS: Record<string, string> = {
  IP4,
  'F-IP4/': IP4,
  IP6,
  'F-IP6/': IP6,
  ADDR,
  'F-ADDR/': ADDR,
  CIDR,
  'F-CIDR/': CIDR,
  SUBNET,
  'F-SUBNET/': SUBNET,
  DNS,
  'F-DNS/': DNS,
  'F-ID/': String.raw`(?P<fid>\S+)`,
  'F-PORT/': String.raw`(?P<fport>\w+)`,
};

/** `<F-ID>` and `<F-PORT>` capture into the groups the filter treats as failure id and port. */
const TAG_GROUP_ALIAS: Record<string, string> = { id: 'fid', port: 'fport' };

/** Groups that identify the failing party, in the order Fail2Ban consults them. */
export const FAILURE_ID_GROUPS = ['fid', 'ip4', 'ip6', 'dns'] as const;

export class RegexError extends Error {
  override name = 'RegexError';
}

export interface TagOptions {
  /** `usedns = no` makes `<HOST>` match addresses only. */
  useDns?: string;
}

/** Replaces Fail2Ban's tags (`<HOST>`, `<F-USER>...</F-USER>`, `<SKIPLINES>`…) by Python regex text. */
export function expandTags(regex: string, opts: TagOptions = {}): string {
  const open = new Set<string>();
  let skip = 0;
  return regex.replace(/<\/?[\w-]+\/?>/g, (tag) => {
    const name = tag.slice(1, -1);
    if (name === 'HOST') return opts.useDns === 'no' ? ADDR : `(?:${ADDR}|${DNS})`;
    if (name === 'SKIPLINES') return String.raw`\n(?P<skiplines${skip++}>(?:(?:.*\n)*?))`;
    const fixed = STATIC_TAGS[name];
    if (fixed !== undefined) return fixed;
    const m = /^(\/?)F-([A-Z0-9_-]+)$/.exec(name);
    if (!m) return tag;
    const field = m[2] as string;
    if (m[1]) return open.has(field) ? ')' : tag;
    open.add(field);
    const lower = field.toLowerCase();
    return `(?P<${TAG_GROUP_ALIAS[lower] ?? lower}>`;
  });
}

export interface TranslateOptions {
  /** Python's MULTILINE: `^`/`$` match at every line (used when a filter buffers several lines). */
  multiline?: boolean;
  /**
   * The text searched ends with a newline (a multi-line buffer) and `$` must also match before it, as
   * Python's does. Off for single lines, which are searched without their newline.
   */
  finalNewline?: boolean;
}

export interface Translated {
  source: string;
  flags: string;
  /** Python group names in the pattern (after tag expansion), in order of appearance. */
  groups: string[];
}

const FLAG_GROUP = /^\(\?([aiLmsux]+)(?:-([imsx]+))?([:)])/;

/**
 * Translates Python `re` syntax to a JS RegExp source. Python's global `(?i)` at the start becomes the
 * `i` flag; a scoped `(?i:...)` is spelled out as case-folded character classes.
 */
export function translate(pattern: string, opts: TranslateOptions = {}): Translated {
  // Python < 3.11 behaviour Fail2Ban relies on: `((?i)x)` and `(?:(?i)x)` mean a locally flagged group.
  let src = pattern.replace(/(?<!\\)\((?:\?:)?(\(\?[a-z]+)\)/g, '$1:');
  let flags = '';
  // Remaining inline flags apply to the whole pattern (Python 3.6–3.10 semantics).
  src = src.replace(/(?<!\\)\(\?([aiLmsux]+)\)/g, (_m, f: string) => {
    if (f.includes('i') && !flags.includes('i')) flags += 'i';
    if (f.includes('s') && !flags.includes('s')) flags += 's';
    if (f.includes('m')) opts = { ...opts, multiline: true };
    return '';
  });
  if (opts.multiline) flags += 'm';
  const dotAll = flags.includes('s');
  const conditioned = new Set<string>();
  for (const m of src.matchAll(/\(\?\((\w+)\)/g)) conditioned.add(m[1] as string);
  const groups: string[] = [];
  let pos = 0;
  let atomic = 0;

  const fail = (why: string): never => {
    throw new RegexError(`${why} at offset ${pos} in ${JSON.stringify(pattern)}`);
  };

  const foldChar = (c: string): string => {
    const lo = c.toLowerCase();
    const up = c.toUpperCase();
    return lo === up || lo.length !== 1 || up.length !== 1 ? c : `[${lo}${up}]`;
  };

  const charClass = (ci: boolean): string => {
    // pos is at '['
    let out = '[';
    pos++;
    if (src[pos] === '^') {
      out += '^';
      pos++;
    }
    let extra = '';
    let first = true;
    while (pos < src.length) {
      const c = src[pos] as string;
      if (c === ']' && !first) break;
      first = false;
      if (c === '\\') {
        out += src.slice(pos, pos + 2);
        pos += 2;
        continue;
      }
      if (c === ']') out += '\\]';
      else if (c === '[') out += '\\[';
      else {
        out += c;
        if (ci && src[pos + 1] === '-' && src[pos + 2] !== undefined && src[pos + 2] !== ']') {
          const to = src[pos + 2] as string;
          if (/[a-zA-Z]/.test(c) && /[a-zA-Z]/.test(to)) {
            const swap = (x: string) => (x === x.toLowerCase() ? x.toUpperCase() : x.toLowerCase());
            extra += `${swap(c)}-${swap(to)}`;
          }
        } else if (ci && /[a-zA-Z]/.test(c) && src[pos - 1] !== '-') {
          extra += c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase();
        }
      }
      pos++;
    }
    if (src[pos] !== ']') fail('unterminated character class');
    pos++;
    return `${out}${extra}]`;
  };

  const groupName = (): string => {
    const m = /^<(\w+)>/.exec(src.slice(pos));
    if (!m) fail('bad group name');
    pos += (m as RegExpExecArray)[0].length;
    return (m as RegExpExecArray)[1] as string;
  };

  /** Translates a sequence until ')' (not consumed) or, if stopAtBar, a top-level '|'. */
  const seq = (ci: boolean, stopAtBar: boolean): string => {
    let out = '';
    while (pos < src.length) {
      const c = src[pos] as string;
      if (c === ')') return out;
      if (c === '|' && stopAtBar) return out;
      if (c === '\\') {
        const n = src[pos + 1];
        if (n === undefined) fail('trailing backslash');
        if (n === 'Z') out += '(?![\\s\\S])';
        else if (n === 'A') out += '(?<![\\s\\S])';
        else if (ci && /[a-zA-Z]/.test(n as string) && !/[dDwWsSbBntrfvx0-9uck]/.test(n as string))
          out += foldChar(n as string);
        else out += `\\${n}`;
        pos += 2;
        continue;
      }
      if (c === '[') {
        out += charClass(ci);
        continue;
      }
      if (c === '$') {
        out += opts.multiline || !opts.finalNewline ? '$' : '(?=\\n?$)';
        pos++;
        continue;
      }
      if (c === '{') {
        const m = /^\{(\d*),(\d*)\}/.exec(src.slice(pos));
        if (m && m[1] === '' && m[2] !== '') {
          out += `{0,${m[2]}}`;
          pos += m[0].length;
          continue;
        }
        out += c;
        pos++;
        continue;
      }
      if (c === '*' || c === '+' || c === '?') {
        out += c;
        pos++;
        if (src[pos] === '+') fail('possessive quantifiers are not supported');
        continue;
      }
      if (c === '(') {
        out += group(ci);
        continue;
      }
      if (c === '.') {
        // Python's `.` excludes only \n; JS's also excludes \r, \u2028 and \u2029.
        out += dotAll ? '.' : '[^\\n]';
        pos++;
        continue;
      }
      out += ci ? foldChar(c) : c;
      pos++;
    }
    return out;
  };

  const closeGroup = (): void => {
    if (src[pos] !== ')') fail('missing )');
    pos++;
  };

  const group = (ci: boolean): string => {
    // pos at '('
    const rest = src.slice(pos, pos + 4);
    if (rest.startsWith('(?P<')) {
      pos += 3;
      const name = groupName();
      groups.push(name);
      const sentinel = conditioned.has(name) ? `(?=(?<__pc_${name}>[\\s\\S]*))` : '';
      const body = seq(ci, false);
      closeGroup();
      return `(?<${name}>${sentinel}${body})`;
    }
    if (rest.startsWith('(?P=')) {
      const m = /^\(\?P=(\w+)\)/.exec(src.slice(pos));
      if (!m) fail('bad backreference');
      pos += (m as RegExpExecArray)[0].length;
      return `\\k<${(m as RegExpExecArray)[1]}>`;
    }
    if (rest.startsWith('(?#')) {
      const end = src.indexOf(')', pos);
      if (end < 0) fail('unterminated comment');
      pos = end + 1;
      return '';
    }
    if (rest.startsWith('(?(')) {
      const m = /^\(\?\((\w+)\)/.exec(src.slice(pos));
      if (!m || /^\d+$/.test((m as RegExpExecArray)[1] as string)) fail('only named conditionals are supported');
      const name = (m as RegExpExecArray)[1] as string;
      pos += (m as RegExpExecArray)[0].length;
      const yes = seq(ci, true);
      let no = '';
      if (src[pos] === '|') {
        pos++;
        no = seq(ci, false);
      }
      closeGroup();
      // JS has no conditionals. The group's sentinel captured the rest of the input where the group
      // began, which is longer than what is left here: a backreference to it fails exactly when the
      // group took part in the match, and (as JS backreferences to unset groups do) succeeds otherwise.
      const ref = `\\k<__pc_${name}>`;
      return `(?:(?!${ref})(?:${yes})|(?=${ref})(?:${no}))`;
    }
    if (rest.startsWith('(?>')) {
      pos += 3;
      const body = seq(ci, false);
      closeGroup();
      const name = `__pa${atomic++}`;
      return `(?=(?<${name}>${body}))\\k<${name}>`;
    }
    const fm = FLAG_GROUP.exec(src.slice(pos));
    if (fm) {
      if (fm[3] === ')') fail('inline flags must be at the start of the pattern');
      pos += fm[0].length;
      const on = fm[1] as string;
      const off = fm[2] ?? '';
      const innerCi = (ci || on.includes('i')) && !off.includes('i');
      const body = seq(innerCi, false);
      closeGroup();
      return `(?:${body})`;
    }
    const lookaround = /^\(\?(?::|=|!|<=|<!)/.exec(src.slice(pos));
    const head = lookaround ? lookaround[0] : '(';
    pos += head.length;
    const body = seq(ci, false);
    closeGroup();
    return `${head}${body})`;
  };

  let source = '';
  while (pos < src.length) {
    source += seq(false, false);
    if (pos < src.length) fail('unbalanced )');
  }
  return { source, flags, groups };
}

/** A compiled Fail2Ban regex and what the filter needs to read its groups. */
export interface CompiledRegex {
  /** Python source after tag expansion, as Fail2Ban would log it. */
  python: string;
  re: RegExp;
  groups: string[];
  /** `alt_user_1` → `user`: alternative captures merged into a field when it is empty. */
  alt: Array<[string, string]>;
  /** True when the pattern itself captures a failure id or host. */
  hasId: boolean;
  /** Literal text every match must contain (empty when none is known); a cheap pre-filter. */
  literal: string;
  /** Every literal a match must contain, longest first. */
  literals: string[];
}

/** Expands tags, translates and compiles one regex. Throws RegexError with the offending pattern. */
export function compileRegex(pattern: string, opts: TagOptions & TranslateOptions = {}): CompiledRegex {
  const python = expandTags(pattern, opts);
  if (python.trim() === '') throw new RegexError('empty regex');
  const t = translate(python, opts);
  let re: RegExp;
  try {
    re = new RegExp(t.source, t.flags);
  } catch (err) {
    throw new RegexError(`cannot compile ${JSON.stringify(pattern)}: ${(err as Error).message}`);
  }
  const alt: Array<[string, string]> = [];
  for (const g of t.groups) {
    const m = /^alt_(.*?)(?:_\d+)?$/.exec(g);
    if (m) alt.push([g, TAG_GROUP_ALIAS[m[1] as string] ?? (m[1] as string)]);
  }
  alt.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const hasId = t.groups.some((g) => g === 'mlfid' || (FAILURE_ID_GROUPS as readonly string[]).includes(g));
  const literals = t.flags.includes('i') ? [] : requiredLiterals(python);
  return { python, re, groups: t.groups, alt, hasId, literal: literals[0] ?? '', literals };
}

/**
 * Runs of letters, digits, `_` and spaces (at least 4 non-space characters) in the pattern's top-level
 * sequence, longest first. Every match contains each of them, so a line lacking one can be skipped
 * without running the regex. Only word characters and spaces are used because the filter matches the
 * line with its date cut out, and a date (bounded by word boundaries) cannot be cut out of the middle
 * of such a run. Empty when the top level has an alternation.
 */
export function requiredLiterals(python: string): string[] {
  const runs: string[] = [];
  let run = '';
  let depth = 0;
  const flush = () => {
    if (run.trim().length >= 4) runs.push(run);
    run = '';
  };
  for (let i = 0; i < python.length; i++) {
    const c = python[i] as string;
    if (c === '\\') {
      i++;
      flush();
      continue;
    }
    if (c === '[') {
      flush();
      i = skipClass(python, i);
      continue;
    }
    if (c === '(') {
      flush();
      depth++;
      continue;
    }
    if (c === ')') {
      depth--;
      continue;
    }
    if (depth > 0) continue;
    if (c === '|') return [];
    if (c === '{') {
      if (run.length > 0) run = run.slice(0, -1);
      flush();
      const close = python.indexOf('}', i);
      if (close > 0) i = close;
      continue;
    }
    if (!/[\w ]/.test(c)) {
      if (isQuantifier(c) && run.length > 0) run = run.slice(0, -1);
      flush();
      continue;
    }
    if (isQuantifier(python[i + 1])) {
      flush();
      continue;
    }
    run += c;
  }
  flush();
  return runs.sort((x, y) => y.trim().length - x.trim().length);
}

/** The longest required literal, or '' when none is known. */
export function requiredLiteral(python: string): string {
  return requiredLiterals(python)[0] ?? '';
}

function isQuantifier(c: string | undefined): boolean {
  return c === '*' || c === '+' || c === '?' || c === '{';
}

function skipClass(s: string, i: number): number {
  let j = i + 1;
  if (s[j] === '^') j++;
  if (s[j] === ']') j++;
  for (; j < s.length; j++) {
    if (s[j] === '\\') j++;
    else if (s[j] === ']') return j;
  }
  return j;
}
