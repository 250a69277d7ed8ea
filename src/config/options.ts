// Jail arguments for filters and actions: `name[key=value, key2="quoted, value"][key3='x']`.
// Values are double-quoted, single-quoted (no escapes inside) or bare (up to `,` or `]`); groups may
// follow each other as `][`. A scanner rather than one big regex keeps errors precise.

export interface NameWithOptions {
  name: string;
  options: Record<string, string>;
}

const KEY_CHAR = /[\w.-]/u;

/** Parses `key=value` items from `from` (just after a `[`); returns the index after the closing `]`. */
function scanGroups(text: string, from: number, out: Record<string, string> | null): number {
  let i = from;
  for (;;) {
    while (/\s/u.test(text[i] ?? '')) i++;
    if (text[i] === ']') {
      // `][` opens another group; a bare `,]` or `]` ends it.
      let j = i + 1;
      while (/\s/u.test(text[j] ?? '')) j++;
      if (text[j] === '[') {
        i = j + 1;
        continue;
      }
      return i + 1;
    }
    const keyStart = i;
    while (KEY_CHAR.test(text[i] ?? '')) i++;
    if (i === keyStart || text[i] !== '=') {
      throw new Error(`expected key=value at "${text.slice(keyStart, keyStart + 25)}"`);
    }
    const key = text.slice(keyStart, i);
    i++;
    let value: string;
    const quote = text[i];
    if (quote === '"' || quote === "'") {
      const end = text.indexOf(quote, i + 1);
      if (end === -1) throw new Error(`unterminated ${quote} in the value of "${key}"`);
      value = text.slice(i + 1, end);
      i = end + 1;
      if (text[i] !== ',' && text[i] !== ']') {
        throw new Error(`unexpected "${text.slice(i, i + 25)}" after the value of "${key}"; separate options with ","`);
      }
    } else {
      const start = i;
      while (i < text.length && text[i] !== ',' && text[i] !== ']') i++;
      value = text.slice(start, i);
    }
    if (i >= text.length) throw new Error(`missing "]" after the value of "${key}"`);
    if (out !== null) out[key] = value.trim();
    if (text[i] === ',') i++;
  }
}

/** Splits `name[options]` into the name and its options. Throws a plain Error describing bad syntax. */
export function extractOptions(spec: string): NameWithOptions {
  const open = spec.indexOf('[');
  const name = open === -1 ? spec : spec.slice(0, open);
  if (name === '') throw new Error(`"${spec}" has no name before its options`);
  const options: Record<string, string> = {};
  if (open === -1) return { name, options };
  const close = spec.lastIndexOf(']');
  if (close < open || spec.slice(close + 1).trim() !== '') {
    throw new Error(`"${spec}": options must be written as name[key=value, ...]`);
  }
  const end = scanGroups(`${spec.slice(open + 1, close)}]`, 0, options);
  if (end !== close - open) throw new Error(`"${spec}": unexpected text after the options`);
  return { name, options };
}

/**
 * Splits a list of filters or actions (one per line or separated by blanks) into items, keeping each
 * name together with its bracketed options even when those contain blanks or newlines.
 */
export function splitWithOptions(value: string): string[] {
  const items: string[] = [];
  let i = 0;
  while (i < value.length) {
    while (/\s/u.test(value[i] ?? '')) i++;
    if (i >= value.length) break;
    const start = i;
    while (i < value.length && value[i] !== '[' && !/\s/u.test(value[i] as string)) i++;
    let end = i;
    let j = i;
    while (/\s/u.test(value[j] ?? '')) j++;
    if (end > start && value[j] === '[') {
      try {
        end = scanGroups(value, j + 1, null);
      } catch {
        end = i;
      }
    }
    if (end < value.length && !/\s/u.test(value[end] as string)) {
      // Not a well-formed `name[...]`: the item is simply the next run of non-blank characters.
      end = start;
      while (end < value.length && !/\s/u.test(value[end] as string)) end++;
    }
    items.push(value.slice(start, end));
    i = end;
  }
  return items;
}
