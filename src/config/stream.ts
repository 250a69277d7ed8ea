// The command stream `fail2ban-client -d` prints: the same commands, in the same order, with the same
// Python values, built from what our readers resolved. `portcullis config dump --format fail2ban`
// prints it so a tree can be checked against Fail2Ban line by line.
import { ConfigError } from '../errors.js';
import { ACTION_OPTIONS } from './definition.js';
import { globPaths } from '../files/glob.js';
import { ActionReader, type FilterReader, type RawJail } from './jail-reader.js';
import { type PyValue, pyJsonDumps, pyStr } from './pyvalue.js';
import type { RawServer } from './server-settings.js';

export type Command = PyValue[];

const JAIL_IGNORED = new Set(['action', 'filter', 'enabled', 'usedns', 'prefregex', 'ignoreregex', 'failregex', 'maxlines', 'datepattern', 'journalmatch']);
const ACTION_KEYS = new Set(ACTION_OPTIONS.map(([name]) => name));

/** Python's shlex.split for journalmatch lines (quotes and backslashes, no comments). */
export function shlexSplit(text: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quote === "'") {
      if (c === "'") quote = null;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === '\\' && (text[i + 1] === '"' || text[i + 1] === '\\')) word = `${word}${text[++i]}`;
      else word += c;
    } else if (/\s/u.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else {
      word ??= '';
      if (c === "'" || c === '"') quote = c;
      else if (c === '\\' && i + 1 < text.length) word += text[++i] as string;
      else word += c;
    }
  }
  if (quote !== null) throw new Error(`unclosed quotation in journalmatch "${text}"`);
  if (word !== null) words.push(word);
  return words;
}

/** Appends filter-related commands; usedns, maxlines and prefregex go first, as Fail2Ban orders them. */
function fillFilterStream(stream: Command[], opts: ReadonlyMap<string, PyValue>, jail: string): void {
  let front = 0;
  for (const [opt, value] of opts) {
    if (value === null) continue;
    if (opt === 'failregex' || opt === 'ignoreregex') {
      const multi = pyStr(value)
        .split('\n')
        .filter((r) => r !== '');
      if (multi.length > 1) stream.push(['multi-set', jail, `add${opt}`, multi]);
      else if (multi.length === 1) stream.push(['set', jail, `add${opt}`, multi[0] as string]);
    } else if (opt === 'usedns' || opt === 'maxlines' || opt === 'prefregex') {
      stream.splice(opt === 'usedns' ? 0 : front, 0, ['set', jail, opt, value]);
      front++;
    } else if (opt === 'datepattern') {
      stream.push(['set', jail, opt, value]);
    } else if (opt === 'journalmatch') {
      for (const match of pyStr(value).split('\n')) {
        if (match === '') continue;
        try {
          stream.push(['set', jail, 'addjournalmatch', ...shlexSplit(match)]);
        } catch (err) {
          throw new ConfigError(`jail ${jail}`, null, `journalmatch: ${(err as Error).message}`);
        }
      }
    }
  }
}

function actionStream(action: ActionReader, jail: string): Command[] {
  const opts = action.combined();
  const stream: Command[] = [['set', jail, 'addaction', action.actname]];
  const multi: PyValue[][] = [];
  for (const [opt, v] of opts) if (ACTION_KEYS.has(opt) && !opt.startsWith('known/')) multi.push([opt, v]);
  for (const [opt, v] of action.initOpts) if (!ACTION_KEYS.has(opt) && !opt.startsWith('known/')) multi.push([opt, v]);
  if (multi.length > 1) stream.push(['multi-set', jail, 'action', action.actname, multi]);
  else if (multi.length === 1) stream.push(['set', jail, 'action', action.actname, ...(multi[0] as PyValue[])]);
  return stream;
}

function filterStream(filter: FilterReader, jail: string): Command[] {
  const stream: Command[] = [];
  const opts = filter.getCombined();
  if (opts.size > 0) fillFilterStream(stream, opts, jail);
  return stream;
}

export function jailStream(jail: RawJail): Command[] {
  if (jail.configError !== null) {
    return [['config-error', `Jail '${jail.name}' skipped, because of wrong configuration: ${jail.configError}`]];
  }
  const stream: Command[] = jail.filter === null ? [] : filterStream(jail.filter, jail.name);
  fillFilterStream(stream, jail.opts, jail.name);
  const logs: Command[] = [];
  let backend: PyValue = 'auto';
  for (const [opt, value] of jail.opts) {
    if (opt === 'logpath') {
      if (pyStr(jail.opts.get('backend') ?? '').startsWith('systemd')) continue;
      for (const line of pyStr(value).split('\n')) {
        const cut = line.lastIndexOf(' ');
        const [path, tail] = cut === -1 ? [line, 'head'] : [line.slice(0, cut), line.slice(cut + 1)];
        for (const p of globPaths(path)) logs.push(['set', jail.name, 'addlogpath', p, tail]);
      }
    } else if (opt === 'backend') backend = value;
    else if (opt === 'ignoreip') stream.push(['set', jail.name, 'addignoreip', ...splitWords(pyStr(value ?? ''))]);
    else if (!JAIL_IGNORED.has(opt)) stream.push(['set', jail.name, opt, value]);
  }
  stream.push(...logs);
  for (const action of jail.actions) {
    if (action instanceof ActionReader) stream.push(...actionStream(action, jail.name));
    else stream.push(['set', jail.name, 'addaction', action.actname, action.file, pyJsonDumps(action.args)]);
  }
  stream.unshift(['add', jail.name, backend]);
  return stream;
}

/** Fail2Ban's splitwords: split on blanks, commas and newlines, drop empties. */
export function splitWords(text: string): string[] {
  return text
    .split(/[ ,\n]+/)
    .map((w) => w.trim())
    .filter((w) => w !== '');
}

export function serverStream(server: RawServer): Command[] {
  const order: Array<[string, PyValue | undefined]> = [
    ['thread', server.thread],
    ['syslogsocket', server.early.get('syslogsocket')],
    ['loglevel', server.early.get('loglevel')],
    ['logtarget', server.early.get('logtarget')],
    ['allowipv6', server.opts.get('allowipv6')],
    ['dbfile', server.opts.get('dbfile')],
    ['dbmaxmatches', server.opts.get('dbmaxmatches')],
    ['dbpurgeage', server.opts.get('dbpurgeage')],
  ];
  return order.filter(([, v]) => v !== undefined).map(([k, v]) => ['set', k, v as PyValue]);
}

/** The whole stream: server settings, then each enabled jail, then a start for each jail that loaded. */
export function configStream(server: RawServer, jails: readonly RawJail[]): Command[] {
  const stream = serverStream(server);
  for (const jail of jails) stream.push(...jailStream(jail));
  for (const jail of jails) if (jail.configError === null) stream.push(['start', jail.name]);
  return stream;
}
