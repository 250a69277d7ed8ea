// iptables-multiport / iptables-allports: a chain `f2b-<jail>` per family (iptables and ip6tables),
// jumped to from INPUT for the jail's ports, one rule per banned address. For kernels without nftables
// sets. Bans are batched through `iptables-restore --noflush`; iptables has no timeouts, so a ban lasts
// until unban (the daemon's timer) or stop.
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

export function chainName(jail: string): string {
  return `f2b-${jail}`;
}

/** The `iptables-restore --noflush` input that inserts one rule per address at the top of the chain. */
export function banRestoreScript(jail: FirewallJail, family: IpFamily, addresses: readonly Address[]): string {
  const chain = chainName(jail.name);
  const verdict = target(jail, family).join(' ');
  const lines = addresses.map((a) => `-I ${chain} 1 -s ${a.text} ${verdict}`);
  return `*filter\n${lines.join('\n')}\nCOMMIT\n`;
}

/** Parses `iptables -S f2b-<jail>`: `-A f2b-x -s 192.0.2.2/32 -j DROP` → address and the rule line. */
export function parseChainRules(listing: string, jail: string): Array<{ address: Address; rule: string }> {
  const prefix = `-A ${chainName(jail)} -s `;
  const found: Array<{ address: Address; rule: string }> = [];
  for (const line of listing.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const source = line.slice(prefix.length).split(' ')[0] as string;
    const address = parseAddress(source.replace(/\/(32|128)$/, ''));
    if (address) found.push({ address, rule: line });
  }
  return found;
}

export class IptablesFirewall extends XtablesBackend implements Firewall {
  readonly name = 'iptables';

  private jump(jail: FirewallJail): string[][] {
    return inputMatches(jail).map((m) => [...m, '-j', chainName(jail.name)]);
  }

  start(jail: FirewallJail): Promise<void> {
    checkJail(jail);
    const chain = chainName(jail.name);
    return this.serial.run(async () => {
      for (const family of FAMILIES) {
        const exists = await this.run([tool(family), '-w', '-S', chain]);
        if (exists.code !== 0) {
          await this.must(jail.name, 'start', [tool(family), '-w', '-N', chain]);
          await this.must(jail.name, 'start', [tool(family), '-w', '-A', chain, '-j', 'RETURN']);
        }
        for (const rule of this.jump(jail)) {
          const r = await ensureInputRule(this.run, family, rule);
          if (r.code !== 0) throw this.failures.record(jail.name, 'start', firstLine(r));
        }
      }
    });
  }

  stop(jail: FirewallJail, options: { keepRules?: boolean } = {}): Promise<void> {
    if (options.keepRules) return Promise.resolve();
    const chain = chainName(jail.name);
    return this.serial.run(async () => {
      for (const family of FAMILIES) {
        for (const rule of this.jump(jail)) await removeInputRule(this.run, family, rule);
        if ((await this.run([tool(family), '-w', '-S', chain])).code !== 0) continue;
        await this.must(jail.name, 'stop', [tool(family), '-w', '-F', chain]);
        await this.must(jail.name, 'stop', [tool(family), '-w', '-X', chain]);
      }
    });
  }

  private async held(jail: string, family: IpFamily, operation: string) {
    return parseChainRules(await this.must(jail, operation, [tool(family), '-w', '-S', chainName(jail)]), jail);
  }

  ban(jail: FirewallJail, entries: readonly BanEntry[]): Promise<void> {
    return this.serial.run(async () => {
      for (const family of FAMILIES) {
        const wanted = entries.filter((e) => e.address.family === family && (e.timeout === null || e.timeout > 0));
        if (wanted.length === 0) continue;
        const present = new Set((await this.held(jail.name, family, 'ban')).map((h) => h.address.text));
        const fresh = new Map<string, Address>();
        for (const e of wanted) if (!present.has(e.address.text)) fresh.set(e.address.text, e.address);
        if (fresh.size === 0) continue;
        const script = banRestoreScript(jail, family, [...fresh.values()]);
        await this.must(jail.name, 'ban', [tool(family, '-restore'), '-w', '--noflush'], script);
      }
    });
  }

  unban(jail: FirewallJail, addresses: readonly Address[]): Promise<void> {
    return this.serial.run(async () => {
      for (const family of FAMILIES) {
        const lift = new Set(addresses.filter((a) => a.family === family).map((a) => a.text));
        if (lift.size === 0) continue;
        const rules = (await this.held(jail.name, family, 'unban')).filter((h) => lift.has(h.address.text));
        if (rules.length === 0) continue;
        // Deleting by the listed rule text removes it whatever blocktype was in force when it was added.
        const script = `*filter\n${rules.map((r) => r.rule.replace(/^-A /, '-D ')).join('\n')}\nCOMMIT\n`;
        await this.must(jail.name, 'unban', [tool(family, '-restore'), '-w', '--noflush'], script);
      }
    });
  }

  reconcile(jail: FirewallJail, wanted: readonly BanEntry[]): Promise<void> {
    return reconcileByDiff(this, jail, wanted);
  }

  check(jail: FirewallJail): Promise<boolean> {
    return this.serial.run(async () => {
      for (const family of FAMILIES) {
        if ((await this.run([tool(family), '-w', '-S', chainName(jail.name)])).code !== 0) return false;
        for (const rule of this.jump(jail)) {
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
        for (const h of await this.held(jail.name, family, 'list')) entries.push({ text: h.address.text, expires: null });
      }
      return entries;
    });
  }
}
