// iptables-ipset: one ipset `hash:net` per jail and family (`f2b-<jail>`, `f2b-<jail>6` with family
// inet6) with per-element timeouts, matched by one INPUT rule each. Bans and unbans are one
// `ipset restore` each, however many addresses.

import { UserError } from '../errors.js';
import type { Address, IpFamily } from './address.js';
import { parseAddress } from './address.js';
import {
  type BanEntry,
  checkJail,
  type Firewall,
  type FirewallJail,
  type KernelEntry,
} from './firewall.js';
import { reconcileByDiff } from './reconcile.js';
import { firstLine } from './runner.js';
import { ensureInputRule, FAMILIES, inputMatches, removeInputRule, target, tool, XtablesBackend } from './xtables.js';

/** ipset's largest timeout; longer bans are stored without one and lifted by the daemon. */
const IPSET_MAX_TIMEOUT = 2_147_483;
/** Room for big ban lists (the default maxelem is 65536). */
const MAXELEM = 1_048_576;

/** ipset names are at most 31 characters. */
const IPSET_NAME_MAX = 31;

export function ipsetName(jail: string, family: IpFamily): string {
  const name = family === 4 ? `f2b-${jail}` : `f2b-${jail}6`;
  if (name.length > IPSET_NAME_MAX) {
    throw new UserError(`jail name '${jail}' is too long for an ipset (at most ${IPSET_NAME_MAX - 5} characters)`);
  }
  return name;
}

/** `ipset restore -exist` input; `-exist` makes re-adding refresh the timeout and deleting absent entries fine. */
export function ipsetBanScript(jail: string, entries: readonly BanEntry[]): string {
  return entries
    .map((e) => {
      const timeout = e.timeout === null || e.timeout > IPSET_MAX_TIMEOUT ? 0 : Math.ceil(e.timeout);
      return `add ${ipsetName(jail, e.address.family)} ${e.address.text} timeout ${timeout}\n`;
    })
    .join('');
}

export function ipsetUnbanScript(jail: string, addresses: readonly Address[]): string {
  return addresses.map((a) => `del ${ipsetName(jail, a.family)} ${a.text}\n`).join('');
}

/** Parses `ipset save NAME` lines `add NAME 192.0.2.0/28 timeout 99`. */
export function parseIpsetSave(text: string, name: string): KernelEntry[] {
  const entries: KernelEntry[] = [];
  for (const line of text.split('\n')) {
    const words = line.trim().split(/\s+/);
    if (words[0] !== 'add' || words[1] !== name || !words[2]) continue;
    const address = parseAddress(words[2]);
    if (!address) continue;
    const t = words.indexOf('timeout');
    const seconds = t > 0 ? Number(words[t + 1]) : 0;
    entries.push({ text: address.text, expires: seconds > 0 ? seconds : null });
  }
  return entries;
}

export class IpsetFirewall extends XtablesBackend implements Firewall {
  readonly name = 'iptables-ipset';

  private rules(jail: FirewallJail, family: IpFamily): string[][] {
    const match = ['-m', 'set', '--match-set', ipsetName(jail.name, family), 'src'];
    return inputMatches(jail).map((m) => [...m, ...match, ...target(jail, family, m.includes('-p'))]);
  }

  start(jail: FirewallJail): Promise<void> {
    checkJail(jail);
    return this.serial.run(async () => {
      for (const family of FAMILIES) {
        const create = ['ipset', '-exist', 'create', ipsetName(jail.name, family), 'hash:net', 'timeout', '0'];
        create.push('maxelem', String(MAXELEM), ...(family === 6 ? ['family', 'inet6'] : []));
        await this.must(jail.name, 'start', create);
        for (const rule of this.rules(jail, family)) {
          const r = await ensureInputRule(this.run, family, rule);
          if (r.code !== 0) throw this.failures.record(jail.name, 'start', firstLine(r));
        }
      }
    });
  }

  stop(jail: FirewallJail, options: { keepRules?: boolean } = {}): Promise<void> {
    if (options.keepRules) return Promise.resolve();
    return this.serial.run(async () => {
      for (const family of FAMILIES) {
        for (const rule of this.rules(jail, family)) await removeInputRule(this.run, family, rule);
        const name = ipsetName(jail.name, family);
        if ((await this.run(['ipset', 'list', '-n', name])).code === 0) {
          await this.must(jail.name, 'stop', ['ipset', 'destroy', name]);
        }
      }
    });
  }

  ban(jail: FirewallJail, entries: readonly BanEntry[]): Promise<void> {
    const live = entries.filter((e) => e.timeout === null || e.timeout > 0);
    if (live.length === 0) return Promise.resolve();
    return this.serial.run(async () => {
      await this.must(jail.name, 'ban', ['ipset', '-exist', 'restore'], ipsetBanScript(jail.name, live));
    });
  }

  unban(jail: FirewallJail, addresses: readonly Address[]): Promise<void> {
    if (addresses.length === 0) return Promise.resolve();
    return this.serial.run(async () => {
      await this.must(jail.name, 'unban', ['ipset', '-exist', 'restore'], ipsetUnbanScript(jail.name, addresses));
    });
  }

  reconcile(jail: FirewallJail, wanted: readonly BanEntry[]): Promise<void> {
    return reconcileByDiff(this, jail, wanted);
  }

  check(jail: FirewallJail): Promise<boolean> {
    return this.serial.run(async () => {
      for (const family of FAMILIES) {
        if ((await this.run(['ipset', 'list', '-n', ipsetName(jail.name, family)])).code !== 0) return false;
        for (const rule of this.rules(jail, family)) {
          if ((await this.run([tool(family), '-w', '-C', 'INPUT', ...rule])).code !== 0) return false;
        }
      }
      return true;
    });
  }

  list(jail: FirewallJail): Promise<KernelEntry[]> {
    return this.serial.run(async () => {
      const entries: KernelEntry[] = [];
      for (const family of FAMILIES) {
        const name = ipsetName(jail.name, family);
        entries.push(...parseIpsetSave(await this.must(jail.name, 'list', ['ipset', 'save', name]), name));
      }
      return entries;
    });
  }
}
