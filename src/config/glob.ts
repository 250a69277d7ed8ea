// Expands a logpath glob (`*`, `?`, `[...]`) to existing files, as Python's glob does (hidden files
// only when the pattern names them). Node 20 has no fs.glob.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const MAGIC = /[*?[]/;

function segmentRegex(segment: string): RegExp {
  let re = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i] as string;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const close = segment.indexOf(']', i + 2);
      if (close === -1) re += '\\[';
      else {
        let body = segment.slice(i + 1, close).replace(/\\/g, '\\\\');
        if (body.startsWith('!')) body = `^${body.slice(1)}`;
        re += `[${body}]`;
        i = close;
      }
    } else re += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}

/** Existing paths matching the pattern, sorted (a pattern without wildcards matches itself if it exists). */
export function globPaths(pattern: string): string[] {
  if (!MAGIC.test(pattern)) return existsSync(pattern) ? [pattern] : [];
  const parts = pattern.split('/');
  let bases = [parts[0] === '' ? '/' : parts[0] as string];
  const rest = parts[0] === '' || !MAGIC.test(parts[0] as string) ? parts.slice(1) : parts;
  if (rest === parts) bases = ['.'];
  for (const part of rest) {
    if (part === '') continue;
    const next: string[] = [];
    for (const base of bases) {
      if (!MAGIC.test(part)) {
        next.push(join(base, part));
        continue;
      }
      const re = segmentRegex(part);
      let names: string[] = [];
      try {
        names = readdirSync(base);
      } catch {
        continue;
      }
      for (const n of names) if (re.test(n) && (!n.startsWith('.') || part.startsWith('.'))) next.push(join(base, n));
    }
    bases = next;
  }
  return bases.filter((p) => existsSync(p)).sort();
}
