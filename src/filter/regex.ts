// Fail2Ban's regexes are written for Python's `re` module and carry `<HOST>`-style tags: this file
// expands the tags, has translate.ts turn the Python syntax into JavaScript, and compiles the result.
import { RegexError, type TranslateOptions, translate } from './translate.js';

export { RegexError, type TranslateOptions, translate } from './translate.js';

/** A guarded regex did not finish within its deadline on a line (see FilterOptions.guard). */
export class RegexTimeout extends Error {
  override name = 'RegexTimeout';
}

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

/**
 * V8 (`--enable-experimental-regexp-engine-on-excessive-backtracks`) switches a regex that backtracks too
 * much to its linear-time engine, except a regex with lookarounds or backreferences (measured: `^(a+)+$`
 * on 28 × `a` + `b` takes 1 ms; with a lookahead added, 9 s).
 */
const NO_LINEAR_FALLBACK = /\(\?<?[=!]|\\k</;

/**
 * Runs `r` on `text` the fastest faithful way: `plain` when the text is plain, `standIn` on `standIns`
 * (the text's stand-in copy, made once per line by the caller) with the groups read back from `text`.
 */
export function execOn(r: CompiledRegex, text: string, plainText: boolean, standIns: () => string): RegExpExecArray | null {
  if (plainText) return r.plain.exec(text);
  if (r.standIn === null) return r.re.exec(text);
  const m = r.standIn.exec(standIns());
  if (m === null) return null;
  const at = m.indices as RegExpIndicesArray;
  const real = at.map((span) => (span === undefined ? undefined : text.slice(span[0], span[1])));
  let groups: Record<string, string> | undefined;
  if (at.groups) {
    groups = {};
    for (const [name, span] of Object.entries(at.groups)) groups[name] = span === undefined ? (undefined as unknown as string) : text.slice(span[0], span[1]);
  }
  return Object.assign(real, { index: m.index, input: text, groups }) as unknown as RegExpExecArray;
}

/** Text on which CompiledRegex.plain may be used instead of `re`. */
export const PLAIN_TEXT = /^[\t\n\x20-\x7e]*$/;

/** A compiled Fail2Ban regex and what the filter needs to read its groups. */
export interface CompiledRegex {
  /** Python source after tag expansion, as Fail2Ban would log it. */
  python: string;
  /** Faithful on any text; built at its first use when `plain` differs (see compileRegex). */
  readonly re: RegExp;
  /** The flags of `re` and `plain`. */
  flags: string;
  /**
   * The same regex for text of printable ASCII, tab and newline only (see PLAIN_TEXT), with JavaScript's
   * faster built-in classes; `re` itself when the pattern has none.
   */
  plain: RegExp;
  /** True when `plain` is not `re`. */
  hasPlain: boolean;
  /**
   * For other text: the same regex over stand-in text (standInText), with small classes and the `d`
   * flag so that groups are read back from the real text; null when `re` runs on the text itself (the
   * pattern has no Unicode classes, or has characters beyond Latin-1 of its own).
   */
  standIn: RegExp | null;
  groups: string[];
  /** `alt_user_1` → `user`: alternative captures merged into a field when it is empty. */
  alt: Array<[string, string]>;
  /** True when the pattern itself captures a failure id or host. */
  hasId: boolean;
  /** Literal text every match must contain (empty when none is known); a cheap pre-filter. */
  literal: string;
  /** Every literal a match must contain, longest first. */
  literals: string[];
  /**
   * The part of the pattern that can backtrack catastrophically (a repeat inside a repeat) when V8 cannot
   * fall back to its linear-time engine for this regex (it has lookarounds or backreferences); else null.
   */
  catastrophic: string | null;
  /** Repeats whose inner captures JS resets per repetition (see RepeatFix): rescanned after a match. */
  repeats: Array<{ group: string; body: RegExp; names: string[] }>;
}

/**
 * Python's value of each named group: JS's, except that a capture JS reset in a later repetition of its
 * group gets back the value of the last repetition that set it (found by re-running the repeated part
 * one repetition at a time over the text the repeat matched).
 */
export function namedGroups(r: CompiledRegex, m: RegExpExecArray): Record<string, string | undefined> {
  const groups: Record<string, string | undefined> = { ...m.groups };
  for (const rep of r.repeats) {
    const text = groups[rep.group];
    if (text === undefined || rep.names.every((n) => groups[n] !== undefined)) continue;
    const last: Record<string, string> = {};
    const body = rep.body;
    for (let at = 0; at < text.length; ) {
      body.lastIndex = at;
      const it = body.exec(text);
      if (it === null || body.lastIndex === at) break;
      for (const n of rep.names) if (it.groups?.[n] !== undefined) last[n] = it.groups[n];
      at = body.lastIndex;
    }
    for (const n of rep.names) if (groups[n] === undefined && last[n] !== undefined) groups[n] = last[n];
  }
  return groups;
}

/** Expands tags, translates and compiles one regex. Throws RegexError with the offending pattern. */
export function compileRegex(pattern: string, opts: TagOptions & TranslateOptions = {}): CompiledRegex {
  const python = expandTags(pattern, opts);
  if (python.trim() === '') throw new RegexError('empty regex');
  const t = translate(python, opts);
  const tp = translate(python, { ...opts, plainInput: true });
  const flags = t.flags;
  const hasPlain = tp.source !== t.source;
  // The faithful variant spells Python's \s, \w and \d out as Unicode classes: DMS's filters' sources
  // then hold ~300 KB, and mail logs are plain text, which `plain` serves. Compiled here to report a
  // broken pattern now, it is kept only when it is `plain` too, and otherwise translated again at its
  // first use (no closure below may hold `t`, or its source would stay).
  let re: RegExp | undefined;
  let plain: RegExp;
  try {
    const full = new RegExp(t.source, flags);
    plain = hasPlain ? new RegExp(tp.source, tp.flags) : full;
    if (!hasPlain) re = full;
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
  const repeats = t.repeats.map((r) => ({ group: r.group, body: new RegExp(r.body, `${flags}y`), names: r.names }));
  const catastrophic = t.nested !== null && NO_LINEAR_FALLBACK.test(t.source) ? t.nested : null;
  // The stand-in variant serves only lines with characters beyond Latin-1 (rare in mail logs): it is
  // built at its first use (a third of the translation work at start-up). It is only a faster way to
  // run `re`, so should it not build, `re` serves instead.
  let standIn: RegExp | null | undefined;
  return {
    python,
    get re() {
      re ??= new RegExp(translate(python, opts).source, flags);
      return re;
    },
    flags,
    plain,
    hasPlain,
    get standIn() {
      if (standIn === undefined) standIn = standInOf(python, this.re.source, opts);
      return standIn;
    },
    groups: t.groups,
    alt,
    hasId,
    literal: literals[0] ?? '',
    literals,
    catastrophic,
    repeats,
  };
}

/** The stand-in variant of a regex (see CompiledRegex.standIn), or null when `re` runs on the text itself. */
function standInOf(python: string, source: string, opts: TranslateOptions): RegExp | null {
  // Stand-ins replace every character beyond Latin-1, so a pattern may not name one (nor fold a
  // Latin-1 letter whose other case lies beyond, as `ÿ`/`Ÿ` under `(?i)`).
  const ownChars = /[^\x00-\xff]|\\[uUN]/.test(python) || (/[^\x00-\x7f]/.test(python) && /\(\?[a-zA-Z-]*i/.test(python));
  if (ownChars) return null;
  try {
    const ts = translate(python, { ...opts, standIns: true });
    return ts.source === source ? null : new RegExp(ts.source, `${ts.flags}d`);
  } catch {
    return null;
  }
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
    // Runs in one step (as in the loop below, one character at a time): the work is start-up's.
    const step = depth > 0 ? GROUP_TEXT : LITERAL_RUN;
    step.lastIndex = i;
    if (step.test(python)) {
      if (depth === 0) run += python.slice(i, step.lastIndex);
      i = step.lastIndex - 1;
      continue;
    }
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

/**
 * Characters that go into a required literal one by one (up to one a quantifier follows): reading a
 * pattern, a run of them is taken in one step (a loop over each character, or a function called
 * for each, made start-up's literal search hot enough for V8 to compile it with TurboFan, whose code
 * then stays resident).
 */
export const LITERAL_RUN = /[\w ]+(?![*+?{])/y;
/** Inside a group, what requiredLiterals passes over: anything but escapes, classes and parentheses. */
const GROUP_TEXT = /[^\\[()]+/y;

/** A Python regex quantifier starts here. */
export function isQuantifier(c: string | undefined): boolean {
  return c === '*' || c === '+' || c === '?' || c === '{';
}

/** The index of the `]` closing the character class that opens at `i` (or the end of `s`). */
export function skipClass(s: string, i: number): number {
  let j = i + 1;
  if (s[j] === '^') j++;
  if (s[j] === ']') j++;
  for (; j < s.length; j++) {
    if (s[j] === '\\') j++;
    else if (s[j] === ']') return j;
  }
  return j;
}
