// From a jail's config to a backend and the FirewallJail it acts on. Fail2Ban names the firewall with
// `banaction`; the names we implement natively map to a backend here, anything else runs as an action.d
// script. Registering a new native backend is one entry in BACKENDS.
import type { ActionDefinition, JailConfig } from '../config/model.js';
import { ConfigError, UserError } from '../errors.js';
import { checkInterface, checkJailName, type Firewall, type FirewallJail } from './firewall.js';
import { IpsetFirewall } from './ipset.js';
import { IptablesFirewall } from './iptables.js';
import { LogFirewall } from './log.js';
import { NftablesFirewall } from './nftables.js';
import type { SetType } from './nftables-script.js';
import { resolvePorts } from './ports.js';
import type { Runner } from './runner.js';
import { ScriptFirewall } from './script.js';

export type BackendName = 'nftables' | 'iptables' | 'iptables-ipset' | 'log';

interface Native {
  backend: BackendName;
  allports: boolean;
}

/** Fail2Ban action names (and ours) served natively; `-allports` blocks every port. */
const NATIVE: Readonly<Record<string, Native>> = {
  nftables: { backend: 'nftables', allports: false },
  'nftables-multiport': { backend: 'nftables', allports: false },
  'nftables-allports': { backend: 'nftables', allports: true },
  iptables: { backend: 'iptables', allports: false },
  'iptables-multiport': { backend: 'iptables', allports: false },
  'iptables-allports': { backend: 'iptables', allports: true },
  'iptables-ipset': { backend: 'iptables-ipset', allports: false },
  'iptables-ipset-proto6': { backend: 'iptables-ipset', allports: false },
  'iptables-ipset-allports': { backend: 'iptables-ipset', allports: true },
  'iptables-ipset-proto6-allports': { backend: 'iptables-ipset', allports: true },
  log: { backend: 'log', allports: false },
};

/** The native backend for an action name (`nftables-allports`), or null when it must run as a script. */
export function nativeAction(name: string): Native | null {
  return Object.hasOwn(NATIVE, name) ? (NATIVE[name] as Native) : null;
}

export interface BackendOptions {
  runner?: Runner;
  /** For the log backend: where its lines go. */
  write?: (line: string) => void;
  /** For nftables: 'hash' where the kernel refuses interval sets (see probe.ts). */
  nftSets?: SetType;
  /** Warnings about the backend itself (nftables: bans go through nft because netlink is unavailable). */
  warn?: (line: string) => void;
}

const BACKENDS: Readonly<Record<BackendName, (o: BackendOptions) => Firewall>> = {
  // PORTCULLIS_NETLINK=off sends set elements through `nft -f -` only (see nftables-netlink.ts), and
  // PORTCULLIS_NFT_EVENTS=off checks the firewall periodically instead of on change (nftables-events.ts).
  nftables: (o) =>
    new NftablesFirewall({
      runner: o.runner,
      setType: o.nftSets,
      ...(o.warn ? { warn: o.warn } : {}),
      ...(process.env.PORTCULLIS_NETLINK === 'off' ? { netlink: false } : {}),
      ...(process.env.PORTCULLIS_NFT_EVENTS === 'off' ? { watch: false } : {}),
    }),
  iptables: (o) => new IptablesFirewall({ runner: o.runner }),
  'iptables-ipset': (o) => new IpsetFirewall({ runner: o.runner }),
  log: (o) => new LogFirewall(o.write),
};

export function createBackend(name: BackendName, options: BackendOptions = {}): Firewall {
  return BACKENDS[name](options);
}

function option(jail: JailConfig, action: ActionDefinition | undefined, key: string): string | undefined {
  return action?.args[key] ?? jail.options[key] ?? action?.properties[key];
}

/** Fail2Ban writes blocktypes as `drop`, `DROP`, `reject`, `REJECT --reject-with …`. */
function blocktype(value: string | undefined): FirewallJail['blocktype'] {
  return value !== undefined && /^\s*drop\b/i.test(value) ? 'drop' : 'reject';
}

function protocol(value: string | undefined, jail: string): FirewallJail['protocol'] {
  const p = (value ?? 'tcp').trim().toLowerCase();
  if (p === 'tcp' || p === 'udp' || p === 'all') return p;
  throw new UserError(`jail ${jail}: protocol '${value}' is not supported; use tcp, udp or all`);
}

/**
 * Describes a jail for the firewall: ports resolved to numbers (null for `-allports`), protocol,
 * blocktype, and the input interface (the jail's `interface`, else `NETWORK_INTERFACE`).
 */
export function firewallJail(
  jail: JailConfig,
  action: ActionDefinition | undefined,
  env: NodeJS.ProcessEnv = process.env,
): FirewallJail {
  const name = checkJailName(jail.name);
  const native = action ? nativeAction(action.name) : null;
  const where = action?.file ?? `jail ${name}`;
  let ports: number[] | null = null;
  if (!native?.allports) {
    try {
      ports = resolvePorts(option(jail, action, 'port') ?? '');
    } catch (err) {
      throw new ConfigError(where, null, `jail ${name}: ${(err as Error).message}`);
    }
  }
  const iface = option(jail, action, 'interface') ?? env.NETWORK_INTERFACE;
  const timeouts = option(jail, action, 'element_timeouts');
  return {
    name,
    ports,
    protocol: protocol(option(jail, action, 'protocol'), name),
    blocktype: blocktype(option(jail, action, 'blocktype')),
    interface: iface === undefined || iface.trim() === '' ? null : checkInterface(iface.trim()),
    ...(timeouts !== undefined && /^\s*(true|yes|on|1)\s*$/i.test(timeouts) ? { elementTimeouts: true } : {}),
  };
}

/** The firewall for one action of a jail: a native backend when we have one, else the action.d script. */
export function firewallFor(action: ActionDefinition, options: BackendOptions = {}): Firewall {
  const native = nativeAction(action.name);
  return native ? createBackend(native.backend, options) : new ScriptFirewall(action, { runner: options.runner });
}
