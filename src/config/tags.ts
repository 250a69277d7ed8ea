// Fail2Ban's `<tag>` replacement in action commands and filter options: tags may refer to other tags,
// `<tag?family=inet6>`-style conditional variants win when the condition is asked for, and a tag that
// refers to itself (directly or through a chain that keeps growing) is reported instead of looping.

/** Fail2Ban stops a tag that is substituted more often than this inside one value. */
const MAX_REPLACEMENTS = 25;

/** `<name>`: anything without blanks or angle brackets. */
const TAG = /<([^ <>]+)>/g;

/** Tags every command understands (line break and space), as in Fail2Ban. */
const BUILTIN_TAGS: Readonly<Record<string, string>> = { br: '\n', sp: ' ' };

export class TagLoopError extends Error {}

export interface SubstituteOptions {
  /** e.g. `family=inet6`: `<x>` then prefers the value of `x?family=inet6`. */
  conditional?: string;
  /** Tags left exactly as written (and not expanded inside). */
  ignore?: ReadonlySet<string>;
  /** Looks up a tag missing from the map (e.g. an option of the definition file), or null. */
  fallback?: (tag: string) => string | null;
}

function searchTag(value: string, from: number): RegExpExecArray | null {
  TAG.lastIndex = from;
  return TAG.exec(value);
}

/**
 * Resolves tags inside the values of a tag map against each other and returns a new map (the input is
 * not changed). Unknown tags stay as written: they are filled in later (`<ip>`) or are shell text.
 */
export function substituteRecursiveTags(
  input: ReadonlyMap<string, string>,
  opts: SubstituteOptions = {},
): Map<string, string> {
  const ignore = opts.ignore ?? new Set<string>();
  const conditional = opts.conditional ?? '';
  const tags = new Map(input);
  const done = new Set<string>();
  const counts = new Map<string, Map<string, number>>();
  for (;;) {
    let again = false;
    for (const tag of [...tags.keys()]) {
      if (ignore.has(tag) || done.has(tag)) continue;
      const original = tags.get(tag) as string;
      let value = original;
      const seen = counts.get(tag) ?? new Map<string, number>();
      let m = searchTag(value, 0);
      while (m !== null) {
        const ref = m[1] as string;
        if (ignore.has(ref)) {
          m = searchTag(value, m.index + m[0].length);
          continue;
        }
        if (ref === tag || (seen.get(ref) ?? 1) > MAX_REPLACEMENTS) {
          throw new TagLoopError(`<${tag}> refers to itself (through <${ref}>), so it cannot be resolved: ${value}`);
        }
        let repl: string | null | undefined = conditional ? tags.get(`${ref}?${conditional}`) : undefined;
        if (repl === undefined) repl = tags.get(ref) ?? opts.fallback?.(ref) ?? null;
        if (repl === null) {
          m = searchTag(value, m.index + m[0].length);
          continue;
        }
        value = value.split(`<${ref}>`).join(repl);
        seen.set(ref, (seen.get(ref) ?? 0) + 1);
        m = searchTag(value, m.index);
      }
      if (value !== original) {
        if (searchTag(value, 0) !== null) {
          counts.set(tag, seen);
          again = true;
        }
        tags.set(tag, value);
      }
      if (!value.includes('<')) done.add(tag);
    }
    if (!again) return tags;
  }
}

/**
 * Replaces `<tag>`s in a command template with values from `tags` (whose own tags are resolved first).
 * `<br>` and `<sp>` are a line break and a space; unknown tags stay as written.
 */
export function substituteTags(template: string, tags: Record<string, string>, conditional = ''): string {
  if (!template.includes('<')) return template;
  const resolved = substituteRecursiveTags(new Map(Object.entries(tags)), { conditional });
  let query = template;
  for (let round = 0; round <= MAX_REPLACEMENTS; round++) {
    const value = query.replace(TAG, (whole, name: string) => {
      const v = (conditional ? resolved.get(`${name}?${conditional}`) : undefined) ?? resolved.get(name);
      return v ?? (Object.hasOwn(BUILTIN_TAGS, name) ? BUILTIN_TAGS[name] : undefined) ?? whole;
    });
    if (value === query || !value.includes('<')) return value;
    query = value;
  }
  throw new TagLoopError(`tags keep expanding in "${template.slice(0, 80)}"; is a tag defined through itself?`);
}
