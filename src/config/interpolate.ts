// ConfigParser's "basic" interpolation (`%(name)s`, `%%`) with Fail2Ban's additions: `%(__name__)s` is the
// section's name and `%(section/option)s`, `%(known/option)s`, `%(default/option)s` reach other sections.
import { ConfigError } from '../errors.js';
import { optionKey } from './ini.js';

/** ConfigParser's limit; deeper nesting is almost always a loop (`a = %(b)s`, `b = %(a)s`). */
const MAX_DEPTH = 10;

export interface InterpolationContext {
  section: string;
  option: string;
  /** Where the value being resolved was written, for error messages. */
  file: string | null;
  line: number;
  /** Looks a plain name up (vars, then the section, then [DEFAULT]). */
  lookup(name: string): string | undefined;
  /** Resolves a `sec/opt` reference the way Fail2Ban maps it, or undefined. */
  lookupQualified(section: string, option: string): string | undefined;
}

function fail(ctx: InterpolationContext, problem: string): never {
  throw new ConfigError(ctx.file ?? '<built-in>', ctx.file === null ? null : ctx.line, problem);
}

export function interpolate(value: string, ctx: InterpolationContext): string {
  const out: string[] = [];
  expand(value, ctx, new Map(), 1, out, []);
  return out.join('');
}

function expand(
  rest: string,
  ctx: InterpolationContext,
  extra: Map<string, string>,
  depth: number,
  out: string[],
  chain: string[],
): void {
  if (depth > MAX_DEPTH) {
    fail(
      ctx,
      `[${ctx.section}] ${ctx.option}: interpolation nests deeper than ${MAX_DEPTH} levels (${chain.join(' -> ')}); is there a loop?`,
    );
  }
  // Each level can map new `sec/opt` references (a value pulled in may itself use them).
  const level = new Map(extra);
  for (const m of rest.matchAll(/%\(([\w-]+)\/([^)]+)\)s/g)) {
    const whole = `${m[1]}/${m[2]}`;
    if (level.has(whole) || ctx.lookup(optionKey(whole)) !== undefined) continue;
    const v = ctx.lookupQualified(m[1] as string, m[2] as string);
    if (v !== undefined) level.set(whole, v);
  }
  let i = 0;
  while (i < rest.length) {
    const p = rest.indexOf('%', i);
    if (p === -1) {
      out.push(rest.slice(i));
      return;
    }
    out.push(rest.slice(i, p));
    const next = rest[p + 1];
    if (next === '%') {
      out.push('%');
      i = p + 2;
      continue;
    }
    const close = next === '(' ? rest.indexOf(')s', p + 2) : -1;
    if (close === -1 || close === p + 2 || rest.slice(p + 2, close).includes(')')) {
      fail(
        ctx,
        `[${ctx.section}] ${ctx.option}: bad "%" at "${rest.slice(p, p + 20)}"; write %(name)s for a reference or %% for a literal %`,
      );
    }
    const name = rest.slice(p + 2, close);
    const key = optionKey(name);
    const v = key === '__name__' ? ctx.section : (level.get(key) ?? ctx.lookup(key));
    if (v === undefined) {
      fail(ctx, `[${ctx.section}] ${ctx.option}: %(${name})s refers to an option that is not defined`);
    }
    if (v.includes('%')) expand(v, ctx, level, depth + 1, out, [...chain, name]);
    else out.push(v);
    i = close + 2;
  }
}
