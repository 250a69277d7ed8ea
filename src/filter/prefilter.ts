// The literal pre-filter of a filter: texts a line must contain before any regex is worth running.
// Fail2Ban's own filter files spell their failure words as alternatives (`(?:[Uu]nknown user|[Ii]nvalid
// credentials)`), so besides plain runs of required text this also takes a group whose every branch
// requires some text: a line holding none of those texts cannot match. Pure string work on the
// Python source of each failregex; no I/O.
import { isQuantifier, LITERAL_RUN, skipClass } from './regex.js';

/** Shortest literal worth testing (non-space characters): shorter ones are on almost every line. */
const MIN_LITERAL = 4;
/** Literals this long are rare enough in logs to screen lines well. */
const GATE_LITERAL = 8;

/**
 * Sets of literals, each of which every match of `python` contains at least one of (a plain run of
 * required text is a set of one). Only letters, digits, `_` and single spaces go into a literal: the
 * filter matches the line with its date cut out, and a date (bounded by word boundaries) cannot be cut
 * out of the middle of such a run, only from between two spaces. Empty when nothing is known (inline flags such as `(?i)`, `(?x)`).
 */
export function requiredLiteralSets(python: string): string[][] {
  if (/\(\?[aiLmsux]*[ix][aiLmsux]*\)/.test(python)) return [];
  const parser = new Parser(python);
  const sets = parser.alternation();
  return parser.failed || !parser.done ? [] : sets;
}

/**
 * The set to search for: fewest members (each is one more pass over the text), then the longest
 * shortest member (rarer); a set with a member shorter than GATE_LITERAL only when no other is left.
 */
export function bestSet(sets: readonly string[][], exclude?: (set: string[]) => boolean): string[] | null {
  let best: string[] | null = null;
  let bestScore = Number.NEGATIVE_INFINITY;
  for (const set of sets) {
    if (exclude?.(set)) continue;
    const shortest = Math.min(...set.map((l) => l.trim().length));
    const score = (shortest >= GATE_LITERAL ? 1e6 : 0) - set.length * 1000 + shortest;
    if (score > bestScore) {
      best = set;
      bestScore = score;
    }
  }
  return best;
}

/** How a filter screens lines before running any regex. */
export interface LiteralPlan {
  /** A line containing none of these cannot match (the byte gate of `portcullis regex`), or null. */
  gate: string[] | null;
  /** Sets the prefregex requires: each must have a member in the line. */
  prefix: string[][];
  /** Per failregex, every required set (the most selective first), or null when some regex has none. */
  perRegex: string[][][] | null;
}

interface Source {
  python: string;
  flags: string;
}

/** A case-insensitive regex matches text spelled otherwise than its literals: nothing known. */
const setsOf = (r: Source): string[][] => (r.flags.includes('i') ? [] : requiredLiteralSets(r.python));

/**
 * The plan for a filter, or null when it knows no text a line must hold. A literal every failregex
 * requires (the daemon name of a syslog prefix) is on every line of that daemon and is not used in
 * the gate.
 */
export function literalPlan(prefregex: Source | null, failregex: readonly Source[]): LiteralPlan | null {
  const prefix = prefregex ? setsOf(prefregex) : [];
  const all = failregex.map(setsOf);
  const shared = (set: string[]) =>
    all.length > 1 && set.length === 1 && all.every((sets) => sets.some((s) => s.length === 1 && s[0] === set[0]));
  let perRegex: string[][][] | null = all.length > 0 ? [] : null;
  const gate: string[] = [];
  for (const sets of all) {
    const best = bestSet(sets, shared) ?? bestSet(sets);
    if (best === null || perRegex === null) {
      perRegex = null;
      break;
    }
    gate.push(...best);
    // The gate set first: it is the most selective.
    perRegex.push([best, ...sets.filter((s) => s !== best)]);
  }
  if (perRegex === null && prefix.length === 0) return null;
  const gateSet = perRegex !== null ? withoutSupersets(gate) : bestSet(prefix);
  return { gate: gateSet, prefix, perRegex };
}

/** True when `line` may match under `plan`: every prefregex set hits and, for some failregex, each of its sets. */
export function mayContain(plan: LiteralPlan, line: string): boolean {
  const pre = plan.prefix;
  for (let s = 0; s < pre.length; s++) if (!hits(pre[s] as string[], line)) return false;
  const per = plan.perRegex;
  if (per === null) return true;
  for (let r = 0; r < per.length; r++) if (allHit(per[r] as string[][], line)) return true;
  return false;
}

/** True when `text` holds a member of every set (one failregex's sets in LiteralPlan.perRegex). */
export function allHit(sets: readonly string[][], text: string): boolean {
  for (let s = 0; s < sets.length; s++) if (!hits(sets[s] as string[], text)) return false;
  return true;
}

function hits(set: readonly string[], line: string): boolean {
  for (let i = 0; i < set.length; i++) if (line.includes(set[i] as string)) return true;
  return false;
}

/**
 * The literals a line must contain one of, minus those that contain another: a line holding
 * "proxy dest auth failed" also holds "auth failed", so scanning for both is wasted work.
 */
export function withoutSupersets(literals: readonly string[]): string[] {
  const unique = [...new Set(literals)];
  return unique.filter((l) => !unique.some((other) => other !== l && l.includes(other)));
}

/** A recursive-descent reading of just enough Python regex syntax to find required text. */
class Parser {
  private i = 0;
  failed = false;
  constructor(private readonly s: string) {}

  get done(): boolean {
    return this.i >= this.s.length;
  }

  /** branch ('|' branch)*: one set when every branch requires some text, else none. */
  alternation(): string[][] {
    const branches: string[][][] = [this.sequence()];
    while (this.s[this.i] === '|') {
      this.i++;
      branches.push(this.sequence());
    }
    if (branches.length === 1) return branches[0] as string[][];
    const union: string[] = [];
    for (const b of branches) {
      const best = bestSet(b);
      if (best === null) return [];
      union.push(...best);
    }
    return [withoutSupersets(union)];
  }

  /** Items up to '|' or ')': each required run or required group contributes its sets. */
  private sequence(): string[][] {
    const s = this.s;
    const sets: string[][] = [];
    let run = '';
    const flush = () => {
      // Cutting a date out of "a <date> b" leaves "a  b": text with two spaces may not be in the raw line.
      for (const piece of run.split(/ {2,}/)) if (piece.trim().length >= MIN_LITERAL) sets.push([piece]);
      run = '';
    };
    while (this.i < s.length && !this.failed) {
      const c = s[this.i] as string;
      LITERAL_RUN.lastIndex = this.i;
      if (LITERAL_RUN.test(s)) {
        run += s.slice(this.i, LITERAL_RUN.lastIndex);
        this.i = LITERAL_RUN.lastIndex;
        continue;
      }
      if (c === '|' || c === ')') break;
      if (c === '(') {
        flush();
        const inner = this.group();
        if (this.optionalFollows()) continue;
        sets.push(...inner);
        continue;
      }
      if (c === '\\') {
        flush();
        this.skipEscape();
        this.skipQuantifier();
        continue;
      }
      if (c === '[') {
        flush();
        this.i = skipClass(s, this.i) + 1;
        this.skipQuantifier();
        continue;
      }
      if (!/[\w ]/.test(c)) {
        // A quantifier makes the character before it optional or repeated: not part of the run.
        if (isQuantifier(c) && run.length > 0) run = run.slice(0, -1);
        flush();
        if (c === '{') this.skipBraces();
        else this.i++;
        continue;
      }
      if (isQuantifier(s[this.i + 1])) {
        flush();
        this.i++;
        continue;
      }
      run += c;
      this.i++;
    }
    flush();
    return sets;
  }

  /** At '(': reads the group; returns its sets (none for lookarounds, conditionals, scoped flags). */
  private group(): string[][] {
    const s = this.s;
    this.i++;
    let opaque = false;
    if (s[this.i] === '?') {
      const rest = s.slice(this.i, this.i + 4);
      if (rest.startsWith('?:')) this.i += 2;
      else if (rest.startsWith('?P<')) {
        const close = s.indexOf('>', this.i);
        if (close < 0) return this.fail();
        this.i = close + 1;
      } else if (rest.startsWith('?P=') || rest.startsWith('?#')) {
        const close = s.indexOf(')', this.i);
        if (close < 0) return this.fail();
        this.i = close + 1;
        return [];
      } else opaque = true; // lookaround, conditional, (?flags:...)
    }
    const sets = this.alternation();
    if (s[this.i] !== ')') return this.fail();
    this.i++;
    return opaque ? [] : sets;
  }

  /** After an item: skips its quantifier; true when it may match zero times. */
  private optionalFollows(): boolean {
    const c = this.s[this.i];
    if (c === '+') {
      this.i++;
      if (this.s[this.i] === '?' || this.s[this.i] === '+') this.i++;
      return false;
    }
    if (c === '?' || c === '*') {
      this.skipQuantifier();
      return true;
    }
    if (c === '{') {
      const m = /^\{(\d*)(?:,\d*)?\}/.exec(this.s.slice(this.i));
      this.skipBraces();
      return !m || Number(m[1] || 0) === 0;
    }
    return false;
  }

  /** Past one escape: \\x41, \\u0041, \\U0001f600, \\N{NAME}, \\12 (a backreference or octal) or \\c. */
  private skipEscape(): void {
    const s = this.s;
    const c = s[this.i + 1] ?? '';
    this.i += 2;
    if (c === 'x') this.i += 2;
    else if (c === 'u') this.i += 4;
    else if (c === 'U') this.i += 8;
    else if (c === 'N' && s[this.i] === '{') this.skipBraces();
    else if (/\d/.test(c)) while (/\d/.test(s[this.i] ?? '')) this.i++;
  }

  private skipQuantifier(): void {
    const c = this.s[this.i];
    if (c === '?' || c === '*' || c === '+') {
      this.i++;
      if (this.s[this.i] === '?' || this.s[this.i] === '+') this.i++;
    } else if (c === '{') this.skipBraces();
  }

  private skipBraces(): void {
    const close = this.s.indexOf('}', this.i);
    this.i = close < 0 ? this.i + 1 : close + 1;
    if (this.s[this.i] === '?' || this.s[this.i] === '+') this.i++;
  }

  private fail(): string[][] {
    this.failed = true;
    return [];
  }
}

