// Values as Fail2Ban's readers hold them (str, int, bool, None, lists, dicts), and the two Python
// spellings we need: str() for interpolation variables and repr() for `fail2ban-client -d` output.

export type PyValue = string | number | boolean | null | PyValue[] | { [key: string]: PyValue };

/** Python's str(): what an int or bool becomes when ConfigParser uses it as an interpolation variable. */
export function pyStr(v: PyValue): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (v === null) return 'None';
  return pyRepr(v);
}

// Python's str.isprintable: everything but control, format, surrogate, private-use, unassigned
// characters and separators other than the plain space.
const NON_PRINTABLE = /[\p{C}\p{Z}]/u;

function reprString(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch !== ' ' && NON_PRINTABLE.test(ch)) {
      const cp = ch.codePointAt(0) as number;
      if (cp < 0x100) out += `\\x${cp.toString(16).padStart(2, '0')}`;
      else if (cp < 0x10000) out += `\\u${cp.toString(16).padStart(4, '0')}`;
      else out += `\\U${cp.toString(16).padStart(8, '0')}`;
    } else out += ch;
  }
  return out + quote;
}

/** Python's repr() of a value: `['set', 'sshd', 'maxretry', 5]`. */
export function pyRepr(v: PyValue): string {
  if (typeof v === 'string') return reprString(v);
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (v === null) return 'None';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : floatRepr(v);
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  return `{${Object.entries(v)
    .map(([k, x]) => `${reprString(k)}: ${pyRepr(x)}`)
    .join(', ')}}`;
}

function floatRepr(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  return String(v);
}

/** Python's json.dumps() of a flat string map (default separators, ASCII only). */
export function pyJsonDumps(obj: Record<string, string>): string {
  const str = (s: string): string =>
    JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return `{${Object.entries(obj)
    .map(([k, v]) => `${str(k)}: ${str(v)}`)
    .join(', ')}}`;
}
