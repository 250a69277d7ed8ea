// Expands `logpath` globs such as `/var/log/mail/*.log`, the one implementation for config/ (which
// prints what `fail2ban-client -d` prints) and sources/ (which follows the files). Hand-written because
// Node 20 has no glob in node:fs (`fs.glob` arrived in Node 22) and a dependency for ~60 lines is not
// worth it. Semantics follow Python's glob.glob, which Fail2Ban uses: `*`, `?` and `[...]`/`[!...]`
// within one path segment, in any segment; `*` does not match a leading dot; no `**` recursion; only
// existing paths are returned.
import { readdirSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { readdirNames, statPath } from './callback-fs.js';

const magic = /[*?[]/;

export function hasMagic(pattern: string): boolean {
  return magic.test(pattern);
}

/** A RegExp for one path segment of a glob. */
export function segmentRegExp(segment: string): RegExp {
  let out = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '[') {
      // `]` right after `[` or `[!` is a literal member, as in fnmatch.
      let j = i + 1;
      if (segment[j] === '!') j++;
      if (segment[j] === ']') j++;
      const close = segment.indexOf(']', j);
      if (close === -1) {
        out += '\\[';
        continue;
      }
      let body = segment.slice(i + 1, close);
      const negate = body.startsWith('!');
      if (negate) body = body.slice(1);
      out += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = close;
    } else out += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  const hidden = segment.startsWith('.') ? '' : '(?!\\.)';
  return new RegExp(`^${hidden}${out}$`, 's');
}

/**
 * The deepest directory of `pattern` that contains no wildcard: where new matches can appear.
 * For `/var/log/mail/*.log` that is `/var/log/mail`.
 */
export function globBaseDir(pattern: string): string {
  const parts = resolve(pattern).split(sep);
  const firstMagic = parts.findIndex((p) => hasMagic(p));
  if (firstMagic === -1) return dirname(resolve(pattern));
  return parts.slice(0, firstMagic).join(sep) || sep;
}

/**
 * Walks the segments of an absolute pattern, listing a directory only for a segment with wildcards.
 * `list` returns a directory's names, or null when it is missing or unreadable (no match there, as
 * in Python's glob). Written as a generator so that one walk serves the sync and the async caller.
 */
function* walk(absolute: string): Generator<string, string[], string[] | null> {
  const parts = absolute.split(sep).filter((p) => p !== '');
  let candidates: string[] = [sep];
  for (const part of parts) {
    if (!hasMagic(part)) {
      candidates = candidates.map((c) => join(c, part));
      continue;
    }
    const re = segmentRegExp(part);
    const next: string[] = [];
    for (const dir of candidates) {
      const names = yield dir;
      if (names !== null) for (const name of names) if (re.test(name)) next.push(join(dir, name));
    }
    candidates = next;
  }
  return candidates;
}

/**
 * Python's glob.glob, as Fail2Ban's jail reader uses it for `fail2ban-client -d`: every existing path
 * matching (directories included), sorted; a pattern without wildcards is itself when it exists.
 * Relative patterns give relative paths.
 */
export function globPaths(pattern: string): string[] {
  if (!hasMagic(pattern)) return exists(pattern) ? [pattern] : [];
  const relative = !isAbsolute(pattern);
  const base = resolve('.');
  const it = walk(resolve(pattern));
  let step = it.next();
  while (!step.done) {
    let names: string[] | null;
    try {
      names = readdirSync(step.value);
    } catch {
      names = null;
    }
    step = it.next(names);
  }
  return step.value
    .filter(exists)
    .map((p) => (relative ? p.slice(base === sep ? 1 : base.length + 1) : p))
    .sort();
}

function exists(path: string): boolean {
  try {
    return statSync(path) !== null;
  } catch {
    return false;
  }
}

/** Existing non-directory paths matching `pattern`, sorted. A pattern without wildcards is returned as is. */
export async function expandGlob(pattern: string): Promise<string[]> {
  const absolute = isAbsolute(pattern) ? pattern : resolve(pattern);
  if (!hasMagic(absolute)) return [absolute];
  const it = walk(absolute);
  let step = it.next();
  while (!step.done) {
    let names: string[] | null;
    try {
      names = await readdirNames(step.value);
    } catch {
      names = null;
    }
    step = it.next(names);
  }
  const candidates = step.value;
  const files: string[] = [];
  for (const path of candidates) {
    try {
      if (!(await statPath(path)).isDirectory()) files.push(path);
    } catch {
      // vanished or dangling link: not a match
    }
  }
  return files.sort();
}
