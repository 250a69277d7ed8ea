// Python `re` syntax → a JavaScript RegExp source with the same matches and captures, or a RegexError.
// No maintained library does this, so it is a hand-written single left-to-right pass; the output is
// compiled once per filter, never per line. What it has to bridge:
// - `\w \d \s \b` are Unicode in Python 3 (see unicode-classes.ts); `.` excludes only `\n`;
// - `^`/`$` under MULTILINE break only at `\n` (JS's `m` flag also breaks at `\r`, U+2028, U+2029,
//   which let a `\r` injected into a logged field start a fake line), so JS's `m` flag is never used;
// - a backreference to a group that did not take part fails in Python and matches empty in JS, and JS
//   has no conditionals `(?(g)yes|no)`: both use a participation test (see participation()) ;
// - scoped flags `(?i:...)`, `(?s:...)`, `(?m:...)`, `(?x:...)`, `(?a:...)` that Node 20 lacks, the global
//   verbose flag, `\A`, `\Z`, `{,n}`, octal escapes, `(?P<n>)`, `(?P=n)`, atomic groups;
// - a capture inside a repeated group that sits out the last repetition keeps its earlier value in
//   Python and is reset in JS: such repeats are wrapped in a capture and rescanned (see RepeatFix).
// Constructs with no faithful translation (possessive quantifiers, `\N{...}`, bad escapes, the bytes-
// only `L` flag) are refused with a RegexError naming the offset and the pattern.
import {
  ASCII_DIGIT,
  ASCII_SPACE,
  ASCII_WORD,
  digitRanges,
  SPACE_RANGES,
  STAND_IN_DIGIT_RANGES,
  STAND_IN_SPACE_RANGES,
  standInWordRanges,
  wordRanges,
} from './unicode-classes.js';

export class RegexError extends Error {
  override name = 'RegexError';
}

export interface TranslateOptions {
  /** Python's MULTILINE: `^`/`$` match at every line (used when a filter buffers several lines). */
  multiline?: boolean;
  /**
   * The text searched ends with a newline (a multi-line buffer) and `$` must also match before it, as
   * Python's does. Off for single lines, which are searched without their newline (and never hold one).
   */
  finalNewline?: boolean;
  /**
   * Python's re.ASCII: `\w \d \s \b` are ASCII. Date templates use it with plainInput: a date is ASCII
   * (Fail2Ban could not convert other digits either), and they run on every line.
   */
  ascii?: boolean;
  /**
   * The text searched will be printable ASCII, tab and newline only: on such text JavaScript's own
   * `\w \d \s \b` equal Python's, and V8 runs them several times faster than spelled-out Unicode
   * classes (the filter keeps both translations and picks one per line).
   */
  plainInput?: boolean;
  /** The text searched will be stand-in text (see standInText): classes need only Latin-1 and stand-ins. */
  standIns?: boolean;
}

/** A repeated group whose inner captures JS resets per repetition; the filter rescans its text. */
export interface RepeatFix {
  /** JS group capturing the whole repeat. */
  group: string;
  /** JS source of one repetition. */
  body: string;
  /** Named captures inside that may sit out a repetition. */
  names: string[];
}

export interface Translated {
  source: string;
  flags: string;
  /** Python group names in the pattern (after tag expansion), in order of appearance. */
  groups: string[];
  repeats: RepeatFix[];
  /**
   * An unbounded repeat inside another repeat (star height 2, as in `(a+)+`), where backtracking can
   * take exponential time; null when there is none.
   */
  nested: string | null;
}

interface Mode {
  i: boolean;
  s: boolean;
  m: boolean;
  x: boolean;
  a: boolean;
}

/** One translated piece: its source and the named captures in it (mandatory = set whenever it matches). */
interface Piece {
  src: string;
  caps: Array<{ name: string; mandatory: boolean }>;
  /** Atoms (JS source) under an unbounded repeat (`*`, `+`, `{n,}`) anywhere inside. */
  loops?: string[];
  /** Single-unit atoms (JS source: a character or a class) every match of the piece contains. */
  lits?: string[];
}

const ANY = '[\\s\\S]';
/** Characters that must stay escaped outside a class. */
const SYNTAX = new Set('^$\\.*+?()[]{}|/');
/**
 * Characters literal() leaves as they are, up to one followed by a quantifier (which applies to it
 * alone). Outside verbose mode and case folding, a run of them translates to itself.
 */
const PLAIN_RUN = /[A-Za-z0-9 _,;:'"=<>@!%&-]+(?![*+?{])/y;

/**
 * Zero-width test "group g has taken part in the match so far". At the group's start a sentinel captured
 * the input from one character before that point to the end (pa), or, at position 0, the whole input
 * (pb). Either is longer than what is left at any later point, so a backreference to it fails exactly
 * when it was set; a backreference to an unset group matches empty. At position 0 itself, pb set means it
 * can be matched to the very end. (Left ambiguous: a group that took part at position 0 of empty input.)
 */
function participation(g: string): string {
  return `(?:(?!\\k<__pa_${g}>)|(?!\\k<__pb_${g}>)|(?<!${ANY})(?=\\k<__pb_${g}>$))`;
}

function sentinel(g: string): string {
  return `(?:(?<=(?=(?<__pa_${g}>${ANY}*))${ANY})|(?<!${ANY})(?=(?<__pb_${g}>${ANY}*)))`;
}

const GLOBAL_FLAGS = /\(\?([aiLmsux]+)\)/g;
const FLAG_GROUP = /^\(\?([aiLmsux]*)(?:-([imsx]+))?:/;

/** Numbered groups and names that a backreference or a conditional refers to. */
function referencedGroups(src: string): Set<string> {
  const refs = new Set<string>();
  for (const m of src.matchAll(/\\\\|\\([1-9]\d?)|\(\?\((\w+)\)|\(\?P=(\w+)\)/g)) {
    const ref = m[1] ?? m[2] ?? m[3];
    if (ref !== undefined) refs.add(ref);
  }
  return refs;
}

/**
 * Translates Python `re` syntax to a JS RegExp source. Python's global `(?i)` becomes the `i` flag; a
 * scoped `(?i:...)` is spelled out as case-folded characters and classes.
 */
export function translate(pattern: string, opts: TranslateOptions = {}): Translated {
  // Python < 3.11 behaviour Fail2Ban relies on: `((?i)x)` and `(?:(?i)x)` mean a locally flagged group.
  let src = pattern.replace(/(?<!\\)\((?:\?:)?(\(\?[a-z]+)\)/g, '$1:');
  const global: Mode = { i: false, s: false, m: opts.multiline === true, x: false, a: opts.ascii === true };
  // Remaining inline flags apply to the whole pattern (Python 3.6–3.10 semantics).
  src = src.replace(GLOBAL_FLAGS, (whole, f: string, at: number) => {
    if (at > 0 && src[at - 1] === '\\') return whole;
    if (f.includes('L')) throw new RegexError(`the L (locale) flag is only valid for bytes patterns in ${JSON.stringify(pattern)}`);
    if (f.includes('i')) global.i = true;
    if (f.includes('s')) global.s = true;
    if (f.includes('m')) global.m = true;
    if (f.includes('x')) global.x = true;
    if (f.includes('a')) global.a = true;
    return '';
  });
  // JS's `i` flag cannot be turned off for a part, so a pattern with `(?-i:...)` folds by hand throughout.
  const jsI = global.i && !/\(\?[a-zA-Z]*-[a-z]*i[a-z]*:/.test(src);
  const refs = referencedGroups(src);
  const groups: string[] = [];
  const repeats: RepeatFix[] = [];
  let pyGroups = 0;
  let nested: string | null = null;
  let pos = 0;
  let helper = 0;
  /** Groups of the pattern that sit inside a repeat and may skip a repetition (JS resets them). */
  const inRepeat = new Set<string>();

  const fail = (why: string): never => {
    throw new RegexError(`${why} at offset ${pos} in ${JSON.stringify(pattern)}`);
  };

  const fold = (c: string, m: Mode): string => {
    if (!m.i || jsI) return literal(c);
    const lo = c.toLowerCase();
    const up = c.toUpperCase();
    return lo === up || lo.length !== 1 || up.length !== 1 ? literal(c) : `[${lo}${up}]`;
  };

  const plain = opts.plainInput === true;
  const stand = opts.standIns === true;
  const wordClass = (m: Mode) => (plain ? '\\w' : m.a ? ASCII_WORD : stand ? standInWordRanges() : wordRanges());
  const digitClass = (m: Mode) => (plain ? '\\d' : m.a ? ASCII_DIGIT : stand ? STAND_IN_DIGIT_RANGES : digitRanges());
  const spaceClass = (m: Mode) => (plain ? '\\s' : m.a ? ASCII_SPACE : stand ? STAND_IN_SPACE_RANGES : SPACE_RANGES);

  /** `\X` for a class escape letter, as class body text (positive) or null. */
  const classEscape = (n: string, m: Mode): { body: string; negated: boolean } | null => {
    if (n === 'd' || n === 'D') return { body: digitClass(m), negated: n === 'D' };
    if (n === 'w' || n === 'W') return { body: wordClass(m), negated: n === 'W' };
    if (n === 's' || n === 'S') return { body: spaceClass(m), negated: n === 'S' };
    return null;
  };

  /** A single-character escape (`\n`, `\x41`, `\101`, `\-`…) → the character it stands for, or null. */
  const charEscape = (inClass: boolean): string | null => {
    // pos at '\\'
    const n = src[pos + 1] as string;
    const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', f: '\f', v: '\v', a: '\x07' };
    if (inClass) simple.b = '\b';
    if (simple[n] !== undefined) {
      pos += 2;
      return simple[n];
    }
    if (n === 'x' || n === 'u' || n === 'U') {
      const len = n === 'x' ? 2 : n === 'u' ? 4 : 8;
      const hex = src.slice(pos + 2, pos + 2 + len);
      if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(hex)) fail(`bad escape \\${n}`);
      const cp = Number.parseInt(hex, 16);
      if (cp > 0x10ffff) fail(`bad escape \\${n}${hex}`);
      pos += 2 + len;
      return String.fromCodePoint(cp);
    }
    if (/[0-7]/.test(n)) {
      const oct = /^[0-7]{1,3}/.exec(src.slice(pos + 1))?.[0] as string;
      // Outside a class, \1–\99 are backreferences unless written with a leading 0 or as 3 octal digits.
      if (!inClass && n !== '0' && oct.length < 3) return null;
      const cp = Number.parseInt(oct, 8);
      if (cp > 0o377) fail('octal escape out of range');
      pos += 1 + oct.length;
      return String.fromCharCode(cp);
    }
    if (/[89]/.test(n)) return null;
    if (/[A-Za-z]/.test(n)) return null;
    pos += 2;
    return n;
  };

  const charClass = (m: Mode): string => {
    // pos at '['
    pos++;
    let negated = false;
    if (src[pos] === '^') {
      negated = true;
      pos++;
    }
    let body = '';
    let negParts: string[] = [];
    let first = true;
    const classChar = (c: string) => {
      const code = c.codePointAt(0) as number;
      return code < 0x80 && !/[0-9A-Za-z]/.test(c) ? `\\x${code.toString(16).padStart(2, '0')}` : c;
    };
    const addFolded = (from: string, to: string | null) => {
      body += to === null ? classChar(from) : `${classChar(from)}-${classChar(to)}`;
      if (!m.i || jsI) return;
      // A scoped (?i:...) class: add the other case of every letter in the item.
      const lo = from.codePointAt(0) as number;
      const hi = to === null ? lo : (to.codePointAt(0) as number);
      if (hi - lo > 0x3000) return;
      for (let cp = lo; cp <= hi; cp++) {
        const ch = String.fromCodePoint(cp);
        for (const other of [ch.toLowerCase(), ch.toUpperCase()])
          if (other !== ch && [...other].length === 1) body += classChar(other);
      }
    };
    while (pos < src.length) {
      const c = src[pos] as string;
      if (c === ']' && !first) break;
      first = false;
      let item: string | null;
      if (c === '\\') {
        const n = src[pos + 1];
        if (n === undefined) fail('trailing backslash');
        const cls = classEscape(n as string, m);
        if (cls) {
          pos += 2;
          if (cls.negated) negParts.push(cls.body);
          else body += cls.body;
          continue;
        }
        item = charEscape(true);
        if (item === null) fail(`bad escape \\${n} in a character class`);
      } else {
        item = String.fromCodePoint(src.codePointAt(pos) as number);
        pos += item.length;
      }
      // A range `a-z` (a '-' before ']' is a literal).
      if (src[pos] === '-' && src[pos + 1] !== undefined && src[pos + 1] !== ']') {
        pos++;
        let to: string | null;
        if (src[pos] === '\\') {
          if (classEscape(src[pos + 1] as string, m)) fail('bad character range');
          to = charEscape(true);
          if (to === null) fail('bad escape in a character range');
        } else {
          to = String.fromCodePoint(src.codePointAt(pos) as number);
          pos += to.length;
        }
        if ((to as string).codePointAt(0)! < (item as string).codePointAt(0)!) fail('bad character range');
        addFolded(item as string, to);
      } else addFolded(item as string, null);
    }
    if (src[pos] !== ']') fail('unterminated character set');
    pos++;
    if (negParts.length === 0) return body === '' ? (negated ? ANY : '[]') : `[${negated ? '^' : ''}${body}]`;
    // `[\W...]`: a union with the complement of a class, written as a lookahead-free alternation.
    const alts = negParts.map((p) => `[^${p}]`);
    if (body !== '') alts.unshift(`[${body}]`);
    const union = `(?:${alts.join('|')})`;
    negParts = [];
    return negated ? `(?:(?!${union})${ANY})` : union;
  };

  const groupName = (): string => {
    const m = /^<(\w+)>/u.exec(src.slice(pos));
    if (!m) fail('bad group name');
    pos += (m as RegExpExecArray)[0].length;
    return (m as RegExpExecArray)[1] as string;
  };

  /** Python group number → its JS name, for groups a backreference or conditional may name by number. */
  const numberName = new Map<string, string>();
  /** Groups still open (Python refuses a reference to them). */
  const open = new Set<string>();
  const jsRef = (ref: string): string => {
    const name = /^\d+$/.test(ref) ? numberName.get(ref) : ref;
    if (name === undefined) return fail(`invalid group reference ${ref}`);
    if (open.has(name)) fail(`cannot refer to an open group ${ref}`);
    return name;
  };

  const quantifier = (): { text: string; min: number; max: number } | null => {
    const c = src[pos];
    let text: string;
    let min: number;
    let max: number;
    if (c === '*' || c === '+' || c === '?') {
      text = c;
      min = c === '+' ? 1 : 0;
      max = c === '?' ? 1 : Number.POSITIVE_INFINITY;
      pos++;
    } else if (c === '{') {
      const m = /^\{(\d*)(,?)(\d*)\}/.exec(src.slice(pos));
      if (!m || (m[1] === '' && m[2] === '')) return null; // a literal '{' in Python
      min = m[1] === '' ? 0 : Number(m[1]);
      max = m[2] === '' ? min : m[3] === '' ? Number.POSITIVE_INFINITY : Number(m[3]);
      if (max < min) fail('min repeat greater than max repeat');
      text = `{${min}${m[2] === '' ? '' : `,${m[3]}`}}`;
      pos += m[0].length;
    } else return null;
    if (src[pos] === '?') {
      text += '?';
      pos++;
    } else if (src[pos] === '+') fail('possessive quantifiers are not supported');
    if (src[pos] === '*' || src[pos] === '+' || (src[pos] === '?' && text.endsWith('?') === false))
      fail('multiple repeat');
    return { text, min, max };
  };

  const skipVerbose = (m: Mode): void => {
    if (!m.x) return;
    while (pos < src.length) {
      const c = src[pos] as string;
      if (/\s/.test(c)) pos++;
      else if (c === '#') {
        const nl = src.indexOf('\n', pos);
        pos = nl < 0 ? src.length : nl + 1;
      } else break;
    }
  };

  /** Translates a sequence until ')' (not consumed) or the end; `|` alternation is kept. */
  const seq = (mode: Mode): Piece => {
    let out = '';
    const caps: Piece['caps'] = [];
    let alternation = false;
    const loops: string[] = [];
    let lits: string[] = [];
    while (true) {
      skipVerbose(mode);
      if (pos >= src.length) break;
      const c = src[pos] as string;
      if (c === ')') break;
      if (c === '|') {
        alternation = true;
        out += '|';
        pos++;
        continue;
      }
      const atomAt = pos;
      const atom = atomOf(mode);
      if (atom === null) continue;
      skipVerbose(mode);
      const q = quantifier();
      if (atom.loops) loops.push(...atom.loops);
      if (q === null || q.min > 0) lits.push(...(atom.lits ?? []));
      if (q === null) {
        out += atom.src;
        caps.push(...atom.caps);
        continue;
      }
      if (q.max === Number.POSITIVE_INFINITY) loops.push(atom.src);
      if (q.max > 1 && atom.loops && atom.loops.length > 0 && nested === null && !delimited(atom))
        nested = src.slice(atomAt, pos);
      if (/^(?:\\[bBAZ]|\^|\$)$/.test(src.slice(atomAt, pos).replace(/[*+?]\??$|\{\d*,?\d*\}\??$/, '')))
        fail('nothing to repeat');
      if (atom.src === '' || /^\(\?[=!]|^\(\?<[=!]|^[$^]$/.test(atom.src)) {
        // Python repeats an assertion at most once; JS refuses some of these.
        out += q.min === 0 ? '' : atom.src;
        continue;
      }
      const optional = q.min === 0;
      // No needless (?:...) around a single unit: V8 matches `[a-z]+` faster than `(?:[a-z])+`.
      let piece = `${isUnit(atom.src) ? atom.src : `(?:${atom.src})`}${q.text}`;
      const risky = atom.caps.filter((cap) => !cap.mandatory).map((cap) => cap.name);
      if (q.max > 1 && risky.length > 0) {
        // JS resets these captures at every repetition; Python keeps the last value they took.
        const group = `__rep${helper++}`;
        repeats.push({ group, body: atom.src, names: risky });
        for (const n of risky) inRepeat.add(n);
        piece = `(?<${group}>${piece})`;
      }
      out += piece;
      for (const cap of atom.caps) caps.push({ name: cap.name, mandatory: cap.mandatory && !optional });
    }
    if (alternation) {
      for (const cap of caps) cap.mandatory = false;
      lits = [];
    }
    return { src: out, caps, loops, lits };
  };

  /** One atom at pos (null when it produced nothing, e.g. a comment). */
  const atomOf = (mode: Mode): Piece | null => {
    const c = src[pos] as string;
    if (c === '(') return group(mode);
    if (c === '.') {
      pos++;
      const dot = mode.s ? ANY : '[^\\n]';
      return { src: dot, caps: [], lits: [dot] };
    }
    if (c === '^') {
      pos++;
      return { src: mode.m ? '(?<![^\\n])' : '^', caps: [] };
    }
    if (c === '$') {
      pos++;
      return { src: mode.m ? '(?![^\\n])' : opts.finalNewline ? '(?=\\n?$)' : '$', caps: [] };
    }
    if (c === '*' || c === '+' || c === '?') fail('nothing to repeat');
    if (c === '{' && /^\{\d*,?\d*\}/.test(src.slice(pos)) && !src.startsWith('{}', pos))
      fail('nothing to repeat');
    if (c === '\\') {
      const text = escaped(mode);
      return { src: text, caps: [], lits: isUnit(text) && !text.startsWith('(') ? [text] : [] };
    }
    if (c === '[') {
      const cls = charClass(mode);
      return { src: cls, caps: [], lits: isUnit(cls) ? [cls] : [] };
    }
    if ((!mode.i || jsI) && !mode.x) {
      // A run of characters that stand for themselves is one atom: the same output as one atom per
      // character, with a fraction of the work (a filter's text is mostly such runs).
      PLAIN_RUN.lastIndex = pos;
      const run = PLAIN_RUN.exec(src)?.[0];
      if (run !== undefined && run.length > 1) {
        pos += run.length;
        return { src: run, caps: [], lits: [...run] };
      }
    }
    const ch = String.fromCodePoint(src.codePointAt(pos) as number);
    pos += ch.length;
    const unit = fold(ch, mode);
    return { src: unit, caps: [], lits: [unit] };
  };

  const escaped = (mode: Mode): string => {
    const n = src[pos + 1];
    if (n === undefined) fail('trailing backslash');
    const cls = classEscape(n as string, mode);
    if (cls) {
      pos += 2;
      return plain ? `\\${n}` : `[${cls.negated ? '^' : ''}${cls.body}]`;
    }
    if (n === 'A') {
      pos += 2;
      return '^';
    }
    if (n === 'Z') {
      pos += 2;
      return '$';
    }
    if (n === 'b' || n === 'B') {
      pos += 2;
      if (plain || (mode.a && !(mode.i && !jsI))) return `\\${n}`;
      const w = `[${wordClass(mode)}]`;
      const boundary = `(?:(?<=${w})(?!${w})|(?<!${w})(?=${w}))`;
      return n === 'b' ? boundary : `(?!${boundary})`;
    }
    const start = pos;
    const ch = charEscape(false);
    if (ch !== null) return fold(ch, mode);
    pos = start;
    const num = /^\\([1-9]\d?)/.exec(src.slice(pos));
    if (num) {
      const ref = num[1] as string;
      pos += num[0].length;
      return backref(jsRef(ref));
    }
    return fail(`bad escape \\${n}`);
  };

  const backref = (name: string): string => {
    if (inRepeat.has(name)) fail(`a reference to group ${name}, which repeats and may skip a repetition, cannot be translated`);
    return `(?:(?=${participation(name)})\\k<${name}>)`;
  };

  const closeGroup = (): void => {
    if (src[pos] !== ')') fail('missing ), unterminated subpattern');
    pos++;
  };

  const capture = (name: string | null, mode: Mode): Piece => {
    const number = ++pyGroups;
    const jsName = name ?? (refs.has(String(number)) ? `__g${number}` : null);
    if (name !== null) groups.push(name);
    const referenced = jsName !== null && (refs.has(jsName) || refs.has(String(number)));
    if (jsName !== null) {
      numberName.set(String(number), jsName);
      open.add(jsName);
    }
    const body = seq(mode);
    closeGroup();
    if (jsName !== null) open.delete(jsName);
    const head = referenced ? sentinel(jsName as string) : '';
    const caps = [...body.caps];
    if (name !== null) caps.unshift({ name, mandatory: true });
    return { src: jsName === null ? `(${body.src})` : `(?<${jsName}>${head}${body.src})`, caps, loops: body.loops, lits: body.lits };
  };

  const group = (mode: Mode): Piece | null => {
    // pos at '('
    const rest = src.slice(pos, pos + 4);
    if (rest.startsWith('(?P<')) {
      pos += 3;
      return capture(groupName(), mode);
    }
    if (rest.startsWith('(?P=')) {
      const m = /^\(\?P=(\w+)\)/u.exec(src.slice(pos));
      if (!m) fail('bad backreference');
      const name = (m as RegExpExecArray)[1] as string;
      if (!groups.includes(name)) fail(`unknown group name ${name}`);
      pos += (m as RegExpExecArray)[0].length;
      return { src: backref(jsRef(name)), caps: [] };
    }
    if (rest.startsWith('(?#')) {
      const end = src.indexOf(')', pos);
      if (end < 0) fail('missing ), unterminated comment');
      pos = end + 1;
      return null;
    }
    if (rest.startsWith('(?(')) {
      const m = /^\(\?\((\w+)\)/u.exec(src.slice(pos));
      if (!m) fail('bad conditional');
      const ref = (m as RegExpExecArray)[1] as string;
      if (!/^\d+$/.test(ref) && !groups.includes(ref)) fail(`unknown group ${ref} in a conditional`);
      const name = jsRef(ref);
      if (inRepeat.has(name)) fail(`a conditional on group ${ref}, which repeats and may skip a repetition, cannot be translated`);
      pos += (m as RegExpExecArray)[0].length;
      const body = seq(mode);
      closeGroup();
      // seq keeps '|': split yes|no at the top level of the translated body.
      const [yes, no] = splitTopBar(body.src);
      if (no !== null && splitTopBar(no)[1] !== null) fail('conditional group with more than two branches');
      const test = participation(name);
      const caps = body.caps.map((cap) => ({ name: cap.name, mandatory: false }));
      return { src: `(?:(?=${test})(?:${yes})|(?!${test})(?:${no ?? ''}))`, caps, loops: body.loops };
    }
    if (rest.startsWith('(?>')) {
      pos += 3;
      const body = seq(mode);
      closeGroup();
      const name = `__at${helper++}`;
      return { src: `(?:(?=(?<${name}>${body.src}))\\k<${name}>)`, caps: body.caps, loops: body.loops, lits: body.lits };
    }
    const fm = FLAG_GROUP.exec(src.slice(pos));
    if (fm && (fm[1] !== '' || fm[2] !== undefined)) {
      pos += fm[0].length;
      const on = fm[1] as string;
      const off = fm[2] ?? '';
      if (on.includes('L')) fail('the L (locale) flag is only valid for bytes patterns');
      const inner: Mode = {
        i: (mode.i || on.includes('i')) && !off.includes('i'),
        s: (mode.s || on.includes('s')) && !off.includes('s'),
        m: (mode.m || on.includes('m')) && !off.includes('m'),
        x: (mode.x || on.includes('x')) && !off.includes('x'),
        a: mode.a || on.includes('a'),
      };
      const body = seq(inner);
      closeGroup();
      return { src: `(?:${body.src})`, caps: body.caps, loops: body.loops, lits: body.lits };
    }
    if (/^\(\?[aiLmsux-]/.test(src.slice(pos))) fail('bad inline flags (global flags must be at the start, as (?i))');
    const lookaround = /^\(\?(?::|=|!|<=|<!)/.exec(src.slice(pos));
    if (!lookaround && src[pos + 1] === '?') fail(`unknown extension ${src.slice(pos, pos + 3)}`);
    if (!lookaround) {
      pos++;
      return capture(null, mode);
    }
    const head = lookaround[0];
    pos += head.length;
    const body = seq(mode);
    closeGroup();
    // Captures in a negative lookaround are never set; in a positive one they are set when it holds.
    const caps = head.includes('!') ? [] : body.caps;
    return { src: `${head}${body.src})`, caps, loops: body.loops, lits: head === '(?:' ? body.lits : [] };
  };

  let source = '';
  while (pos < src.length) {
    source += seq(global).src;
    if (pos < src.length) fail('unbalanced parenthesis');
  }
  return { source, flags: jsI ? 'i' : '', groups, repeats, nested };
}

/**
 * A repeated group whose repetitions are delimited, so backtracking stays polynomial: every inner
 * unbounded repeat of a single unit (`[^,]*`, `\d+`) excludes some character every repetition must
 * contain (`(?:[^,]*, )*`, `(\d+\.){3}`, `(?: (?:port \d+|on \S+)){0,2}`). `(a+)+` and `(\S+\s*)+` are not.
 */
function delimited(atom: Piece): boolean {
  const lits = atom.lits ?? [];
  return (atom.loops ?? []).every((loop) => !loop.startsWith('(') && isUnit(loop) && lits.some((unit) => disjoint(loop, unit)));
}

/** Answers of BMP scans (filters share their delimiters: a scan costs ~1 ms); the quick checks are not kept. */
const scanned = new Map<string, boolean>();

/** No UTF-16 unit matches both single-unit regexes (checked over the whole BMP when nothing quicker answers). */
function disjoint(a: string, b: string): boolean {
  // A loop's own unit among its delimiters (`(?:[\w.-]+[\w.-])*`): a class with members shares them.
  if (a === b && WHOLE_CLASS.test(a) && !a.startsWith('[^') && a !== '[]') return false;
  let both: RegExp;
  try {
    both = new RegExp(`(?=${a})${b}`);
  } catch {
    return false;
  }
  // Most delimiters are one character (`,`, `\.`, `\x29`): then only that character can match both,
  // and testing it alone is the whole check (the BMP scan below cost ~12 ms a filter at start-up).
  const only = consumes(a) && consumes(b) ? (oneChar(b) ?? oneChar(a)) : null;
  if (only !== null) return !both.test(only);
  const key = `${a}\u0000${b}`;
  let known = scanned.get(key);
  if (known === undefined) {
    // Every UTF-16 unit: 128 KB that is not kept (none of docker-mailserver's filters needs it).
    const codes: number[] = [];
    for (let c = 0; c <= 0xffff; c++) codes.push(c);
    known = !both.test(String.fromCharCode(...codes));
    scanned.set(key, known);
  }
  return known;
}

/** `src` matches exactly one character wherever it matches (no assertion such as `\b`). */
const consumes = (src: string): boolean => oneChar(src) !== null || src === '.' || /^\\[dDwWsS]$/.test(src) || (src[0] === '[' && isUnit(src));

/** The one UTF-16 unit that `src` (a literal character or an escaped one) matches, or null. */
function oneChar(src: string): string | null {
  if (/^[^\\()[\]{}.|*+?^$\uD800-\uDFFF]$/.test(src)) return src;
  if (/^\\[^0-9A-Za-z]$/.test(src)) return src[1] as string;
  const hex = /^\\(?:x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4}))$/.exec(src);
  return hex === null ? null : String.fromCharCode(Number.parseInt((hex[1] ?? hex[2]) as string, 16));
}

/** True when `src` is one regex unit a quantifier applies to as a whole (one char, escape, class or group). */
function isUnit(src: string): boolean {
  if (src.length <= 6 && /^(?:\\x[0-9a-f]{2}|\\u[0-9a-f]{4}|\\.|[^\\()[\]\uD800-\uDFFF])$/.test(src)) return true;
  if (src[0] === '[') return WHOLE_CLASS.test(src);
  if (src[0] !== '(' || src[src.length - 1] !== ')') return false;
  // The first parenthesis closes last. Tokens rather than characters: classes of Unicode ranges run to
  // thousands of characters, and a loop over each would be start-up's hottest code.
  let depth = 0;
  TOKEN.lastIndex = 0;
  for (let m = TOKEN.exec(src); m !== null; m = TOKEN.exec(src)) {
    if (m[0] === '(') depth++;
    else if (m[0] === ')' && --depth === 0) return TOKEN.lastIndex === src.length;
  }
  return false;
}

/** One whole class, `[...]`, with escapes. */
const WHOLE_CLASS = /^\[(?:\\[\s\S]|[^\\\]])*\]$/;
/** A parenthesis, or a run of anything else (escapes and classes, whose parentheses do not count). */
const TOKEN = /[()]|(?:\\[\s\S]|\[(?:\\[\s\S]|[^\\\]])*\]?|[^\\[()])+|\\$/g;

function literal(c: string): string {
  if (SYNTAX.has(c)) return `\\${c}`;
  const code = c.charCodeAt(0);
  // Control characters as escapes keep the source (and error messages quoting it) on one line.
  return code < 0x20 || code === 0x7f ? `\\x${code.toString(16).padStart(2, '0')}` : c;
}

/** Splits a translated body at its first top-level '|' (outside groups and classes). */
function splitTopBar(s: string): [string, string | null] {
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') i++;
    else if (c === '[') {
      for (i++; i < s.length && s[i] !== ']'; i++) if (s[i] === '\\') i++;
    } else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) return [s.slice(0, i), s.slice(i + 1)];
  }
  return [s, null];
}
