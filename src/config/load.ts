// Entry point: a Fail2Ban-style tree (or our built-in defaults alone) → the typed Config.
import { statSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { jailConfig } from './jail.js';
import { type RawJail, readJail } from './jail-reader.js';
import type { Config } from './model.js';
import { type RawServer, readServer, serverSettings } from './server-settings.js';
import type { IniStore } from './store.js';
import { ConfigTree } from './tree.js';

// In its own small module so that client commands find it without loading the whole config reader.
export { defaultConfigDir } from './defaults-dir.js';

export interface RawConfig {
  tree: ConfigTree;
  server: RawServer;
  jailStore: IniStore;
  /** Every jail section in file order (Fail2Ban keeps enabled ones and ones that failed to load). */
  jails: RawJail[];
}

const BOOLEAN_WORDS = ['1', 'on', 'true', 'yes', '0', 'off', 'false', 'no'];

/** Fail2Ban reads anything but 1/on/true/yes as false, so `enabled = ture` silently disables a jail. */
function warnOnOddBoolean(tree: ConfigTree, store: IniStore, jail: string): void {
  let value: string | undefined;
  try {
    value = store.find(jail, 'enabled');
  } catch {
    return;
  }
  if (value === undefined || BOOLEAN_WORDS.includes(value.toLowerCase())) return;
  const w = store.where(jail, 'enabled');
  tree.warnings.push(
    `${w.file}${w.line === null ? '' : `:${w.line}`}: [${jail}] enabled: "${value}" is not a yes/no value, so the jail stays disabled`,
  );
}

/** Reads the tree as Fail2Ban does, without validating types (what `config dump --format fail2ban` prints). */
export function readRawConfig(opts: { dir: string | null }): RawConfig {
  if (opts.dir !== null) {
    let isDir = false;
    try {
      isDir = statSync(opts.dir).isDirectory();
    } catch {
      isDir = false;
    }
    if (!isDir) throw new ConfigError(opts.dir, null, 'configuration directory does not exist');
  }
  const tree = new ConfigTree(opts.dir);
  const server = readServer(tree);
  const jailStore = tree.read('jail');
  if (jailStore === null) throw new ConfigError(`${tree.basedir}/jail.conf`, null, 'no jail.conf or jail.local found');
  const jails: RawJail[] = [];
  for (const name of jailStore.sectionNames()) {
    if (name === 'INCLUDES') continue;
    const jail = readJail(tree, jailStore, name);
    if (jail.enabled) jails.push(jail);
    else warnOnOddBoolean(tree, jailStore, name);
  }
  return { tree, server, jailStore, jails };
}

/** Loads and validates a tree. Throws ConfigError (`file:line: problem`) for anything invalid. */
export function loadConfig(opts: { dir: string | null }): Config {
  const raw = readRawConfig(opts);
  const warnings = [...raw.tree.warnings];
  const server = serverSettings(raw.server);
  const jails = raw.jails.map((j) => jailConfig(j, raw.jailStore, opts.dir, warnings));
  return { dir: opts.dir, server, jails, warnings };
}
