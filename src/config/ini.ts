// One file of Fail2Ban's INI dialect, parsed the way Python's ConfigParser (as Fail2Ban configures it)
// parses it. Written by hand on purpose: no npm INI package implements this dialect (ConfigParser's
// indentation-based continuation lines with kept inner blank lines, `;` inline comments only after
// whitespace, `=` or `:` delimiters, case-folded option names, strict duplicate checks, [DEFAULT]).
import { ConfigError } from '../errors.js';

/** One option as written: its raw (uninterpolated) value and where it came from. */
export interface Entry {
  value: string;
  file: string | null;
  line: number;
}

export type Section = Map<string, Entry>;

export interface IniFile {
  file: string;
  defaults: Section;
  /** Sections in file order; [DEFAULT] is kept apart as in ConfigParser. */
  sections: Map<string, Section>;
}

export const DEFAULT_SECTION = 'DEFAULT';

/** ConfigParser's `optionxform`: option names are case-insensitive. */
export function optionKey(name: string): string {
  return name.toLowerCase();
}

/** Python's str.isspace for the characters a config file can hold. */
function isSpace(ch: string | undefined): boolean {
  return ch !== undefined && /\s/u.test(ch);
}

/** Where a `;` comment starts: at column 0 or right after whitespace (so `a;b` keeps its `;`). */
function inlineCommentStart(line: string): number {
  for (let i = line.indexOf(';'); i !== -1; i = line.indexOf(';', i + 1)) {
    if (i === 0 || isSpace(line[i - 1])) return i;
  }
  return -1;
}

interface Building {
  /** Lines of the value; blank lines inside are kept, trailing ones dropped at the end. */
  lines: string[];
  line: number;
}

export function parseIni(text: string, file: string): IniFile {
  const defaults = new Map<string, Building>();
  const sections = new Map<string, Map<string, Building>>();
  const seen = new Set<string>();
  let current: Map<string, Building> | null = null;
  let sectionName = '';
  let option: Building | null = null;
  let indentLevel = 0;

  // Python reads in universal-newline mode: \r\n and a lone \r both end a line.
  const lines = text.split(/\r\n|\r|\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  lines.forEach((raw, index) => {
    const lineNo = index + 1;
    const fullComment = raw.trim().startsWith('#') || raw.trim().startsWith(';');
    const inline = fullComment ? 0 : inlineCommentStart(raw);
    const value = (inline === -1 ? raw : raw.slice(0, inline)).trim();
    if (value === '') {
      // A blank line (not a comment) inside a value stays part of it.
      if (inline === -1 && option !== null) option.lines.push('');
      return;
    }
    const indent = raw.search(/\S/u);
    if (current !== null && option !== null && indent > indentLevel) {
      option.lines.push(value);
      return;
    }
    indentLevel = indent;
    const close = value.lastIndexOf(']');
    if (value.startsWith('[') && close > 1) {
      sectionName = value.slice(1, close);
      option = null;
      if (sectionName === DEFAULT_SECTION) {
        current = defaults;
        return;
      }
      if (seen.has(sectionName)) {
        throw new ConfigError(file, lineNo, `section [${sectionName}] appears twice in this file; merge the two`);
      }
      seen.add(sectionName);
      current = new Map();
      sections.set(sectionName, current);
      return;
    }
    if (value.startsWith('[') && close === -1) {
      throw new ConfigError(file, lineNo, `section header "${value}" has no closing "]"; write "${value}]"`);
    }
    if (current === null) {
      throw new ConfigError(file, lineNo, `"${value}" comes before any [section] header; add one above it`);
    }
    const delim = value.search(/[=:]/);
    const name = delim === -1 ? '' : value.slice(0, delim).trimEnd();
    if (name === '') {
      throw new ConfigError(
        file,
        lineNo,
        `"${value}" is not an option; write "name = value" (continuation lines must be indented)`,
      );
    }
    const key = optionKey(name);
    const seenKey = `${sectionName}\u0000${key}`;
    if (seen.has(seenKey)) {
      throw new ConfigError(file, lineNo, `option "${key}" is set twice in [${sectionName}]; keep one`);
    }
    seen.add(seenKey);
    option = { lines: [value.slice(delim + 1).trim()], line: lineNo };
    current.set(key, option);
  });

  const finish = (section: Map<string, Building>): Section =>
    new Map(
      [...section].map(([key, b]) => [key, { value: b.lines.join('\n').trimEnd(), file, line: b.line }] as const),
    );
  return {
    file,
    defaults: finish(defaults),
    sections: new Map([...sections].map(([name, s]) => [name, finish(s)] as const)),
  };
}
