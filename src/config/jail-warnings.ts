// What a jail accepts without a word but almost certainly did not mean: a misspelt option (`bantim`),
// no logpath, a logpath that does not exist yet. Each is one warning naming `file:line`.
import { existsSync } from 'node:fs';
import { globPaths, hasMagic } from '../files/glob.js';
import { JAIL_OPTIONS } from './jail-reader.js';
import type { LogPath } from './model.js';
import type { IniStore } from './store.js';
import { nearest } from './suggest.js';

/** Keys a jail section commonly sets besides Fail2Ban's jail options: values its actions and filters read. */
const ACTION_KEYS = ['port', 'protocol', 'banaction', 'banaction_allports', 'chain', 'blocktype', 'usedns', 'mode', 'logtype', 'destemail', 'sender', 'sendername', 'mta', 'interface'];

function at(store: IniStore, jail: string, option: string): string {
  const w = store.where(jail, option);
  return w.line === null ? w.file : `${w.file}:${w.line}`;
}

export function jailWarnings(store: IniStore, jail: string, backend: string, logpaths: readonly LogPath[], warnings: string[]): void {
  // A key the admin wrote in the section that nothing knows, but that is one typo from a known one.
  // (Keys far from every known one are taken as the admin's own variables, as Fail2Ban does.)
  const known = new Set([...JAIL_OPTIONS.map(([name]) => name), ...ACTION_KEYS, ...store.defaults.keys()]);
  for (const key of store.ownOptions(jail)) {
    const entry = store.sections.get(jail)?.get(key);
    if (entry?.file === null || key.includes('/') || known.has(key)) continue;
    const near = nearest(key, known);
    if (near !== null) warnings.push(`${at(store, jail, key)}: [${jail}] unknown option "${key}"; did you mean "${near}"?`);
  }
  if (backend.startsWith('systemd')) return;
  if (logpaths.length === 0) {
    warnings.push(`${at(store, jail, 'enabled')}: [${jail}] has no logpath, so it watches nothing; add "logpath = /path/to/log"`);
    return;
  }
  for (const { pattern } of logpaths) {
    const found = hasMagic(pattern) ? globPaths(pattern).length > 0 : existsSync(pattern);
    if (!found) warnings.push(`${at(store, jail, 'logpath')}: [${jail}] logpath ${pattern} does not exist yet; the jail starts reading it when it appears`);
  }
}
