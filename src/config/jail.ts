// A jail as Fail2Ban resolved it (RawJail) → the typed, validated JailConfig the daemon runs.
import { ConfigError } from '../errors.js';
import { isDnsName } from '../jail/ignore.js';
import { parseCidr } from '../net/ip.js';
import { actionDefinition } from './action-def.js';
import { parseDuration } from './duration.js';
import { filterDefinition } from './filter-def.js';
import { ActionReader, type RawJail } from './jail-reader.js';
import { jailWarnings } from './jail-warnings.js';
import type { ActionDefinition, BantimeIncrement, JailConfig, LogPath, Seconds } from './model.js';
import { type PyValue, pyStr } from './pyvalue.js';
import { pyInt } from './read-options.js';
import type { IniStore } from './store.js';
import { splitWords } from './stream.js';

/** Fail2Ban's own defaults for options a tree leaves out. */
const DEFAULTS = { bantime: 600, findtime: 600, maxretry: 5 } as const;
const USEDNS = ['yes', 'warn', 'no', 'raw'];

export function jailConfig(raw: RawJail, store: IniStore, dir: string | null, warnings: string[]): JailConfig {
  const jail = raw.name;
  const fail = (option: string, problem: string): never => {
    throw store.error(jail, option, `[${jail}] ${option}: ${problem}`);
  };
  for (const p of raw.problems) fail(p.option, `${p.problem}; write a whole number`);
  const where = (tree: string | null) => (tree === null ? 'the built-in defaults' : `${tree} or the built-in defaults`);
  if (raw.missingAction !== null) {
    const w = blame(store, jail, raw.missingAction);
    throw new ConfigError(
      w.file,
      w.line,
      `jail "${jail}" asks for action "${raw.missingAction}", but there is no action.d/${raw.missingAction}.conf in ${where(dir)}`,
    );
  }
  if (raw.missingFilter !== null) {
    warnings.push(
      `jail "${jail}" asks for filter "${raw.missingFilter}", but there is no filter.d/${raw.missingFilter}.conf in ${where(dir)}; the jail runs without a filter`,
    );
  } else if (raw.configError !== null) {
    const w = store.where(jail, raw.configError.includes('filter') ? 'filter' : 'action');
    throw new ConfigError(w.file, w.line, `jail "${jail}": ${raw.configError}`);
  }
  const opt = (k: string): PyValue | undefined => raw.opts.get(k) ?? undefined;
  const str = (k: string, def: string): string => {
    const v = opt(k);
    return v === undefined || v === null ? def : pyStr(v);
  };
  const duration = (k: string, def: Seconds): Seconds => {
    const v = opt(k);
    if (v === undefined || v === null) return def;
    try {
      return parseDuration(pyStr(v));
    } catch (err) {
      return fail(k, (err as Error).message);
    }
  };
  const int = (k: string, def: number): number => {
    const v = opt(k);
    return typeof v === 'number' ? v : def;
  };
  const maxretry = int('maxretry', DEFAULTS.maxretry);
  if (maxretry < 1) fail('maxretry', `${maxretry} is not a positive number of failures`);
  const filter =
    raw.filter === null ? null : filterDefinition(raw.filter, raw.filter.args, raw.filter.getCombined(), raw.filter.allCombined);
  const usedns = str('usedns', filter?.options.usedns ?? 'warn').toLowerCase();
  if (!USEDNS.includes(usedns)) fail('usedns', `"${usedns}" is not one of ${USEDNS.join(', ')}`);

  const logpaths: LogPath[] = str('logpath', '')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) => {
      const cut = line.lastIndexOf(' ');
      const word = cut === -1 ? '' : line.slice(cut + 1);
      return word === 'tail' || word === 'head'
        ? { pattern: line.slice(0, cut).trim(), start: word }
        : { pattern: line.trim(), start: 'head' };
    });
  jailWarnings(store, jail, str('backend', 'auto'), logpaths, warnings);

  const multipliers = str('bantime.multipliers', '')
    .split(/\s+/)
    .filter((m) => m !== '')
    .map((m) => pyInt(m) ?? fail('bantime.multipliers', `"${m}" is not a whole number`));
  const factor = Number(str('bantime.factor', '1'));
  if (!Number.isFinite(factor)) fail('bantime.factor', `"${str('bantime.factor', '')}" is not a number`);
  const increment: BantimeIncrement = {
    enabled: opt('bantime.increment') === true,
    factor,
    formula: str('bantime.formula', '') || null,
    multipliers,
    maxtime: duration('bantime.maxtime', 0),
    rndtime: duration('bantime.rndtime', 0),
    overalljails: opt('bantime.overalljails') === true,
  };

  // Checked here, where the file and line are known: an address typo must not start a jail that
  // then bans the very host the admin meant to protect.
  const ignoreip = splitWords(str('ignoreip', ''));
  for (const entry of ignoreip) {
    if (parseCidr(entry) === null && !isDnsName(entry)) {
      fail('ignoreip', `"${entry}" is neither an address, a CIDR network nor a host name`);
    }
  }

  const options = sectionOptions(store, jail);
  const subnets = { v4: prefixOption(options, 'ipv4_subnet', 8, 32, fail), v6: prefixOption(options, 'ipv6_subnet', 16, 128, fail) };

  const actions: ActionDefinition[] = [];
  for (const a of raw.actions) {
    if (a instanceof ActionReader) actions.push(actionDefinition(a));
    else warnings.push(`jail "${jail}": Python action ${a.file} cannot run in portcullis; it is ignored`);
  }

  return {
    name: jail,
    enabled: raw.enabled,
    backend: str('backend', 'auto'),
    filter,
    actions,
    logpaths,
    logencoding: str('logencoding', 'auto'),
    bantime: duration('bantime', DEFAULTS.bantime),
    findtime: duration('findtime', DEFAULTS.findtime),
    maxretry,
    maxmatches: int('maxmatches', maxretry),
    ignoreip,
    ignoreself: opt('ignoreself') !== false,
    ignorecommand: str('ignorecommand', ''),
    usedns,
    increment,
    ...(subnets.v4 === 32 && subnets.v6 === 128 ? {} : { subnets }),
    options,
  };
}

/** `ipv4_subnet` / `ipv6_subnet`: a prefix length from `min` to `max` (the default, one address). */
function prefixOption(options: Record<string, string>, key: string, min: number, max: number, fail: (k: string, p: string) => never): number {
  const v = options[key]?.trim();
  if (v === undefined || v === '') return max;
  const n = /^[0-9]{1,3}$/.test(v) ? Number(v) : Number.NaN;
  if (!(n >= min && n <= max)) fail(key, `"${v}" is not a prefix length from ${min} to ${max}`);
  return n;
}

/** Every option the jail section sees (own and [DEFAULT]) that resolves; broken unused ones are skipped. */
function sectionOptions(store: IniStore, jail: string): Record<string, string> {
  const keys = new Set([...store.ownOptions(jail), ...store.defaults.keys()]);
  const out: Record<string, string> = {};
  for (const k of keys) {
    if (k.startsWith('known/')) continue;
    try {
      out[k] = store.get(jail, k);
    } catch (err) {
      if (err instanceof ConfigError) continue;
      throw err;
    }
  }
  return out;
}

/**
 * Where a missing action's name was written: `action` is usually `%(action_)s` from jail.conf, and the
 * name comes from `banaction` (or another variable) set by the admin. The entry whose own text names
 * the action is the one to fix; the jail's section wins over [DEFAULT].
 */
function blame(store: IniStore, jail: string, name: string): { file: string; line: number | null } {
  const word = new RegExp(`(?:^|[\\s,=\\[])${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?:$|[\\s,\\[\\]])`);
  for (const section of [store.sections.get(jail), store.defaults]) {
    for (const [key, entry] of section ?? []) {
      if (entry.file !== null && !key.includes('/') && word.test(entry.value)) return { file: entry.file, line: entry.line };
    }
  }
  return store.where(jail, 'action');
}
