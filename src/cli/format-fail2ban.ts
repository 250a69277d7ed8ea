// fail2ban-client 1.0's output text, byte for byte, because scripts parse it (docker-mailserver greps
// `Jail list:` and `Banned IP list:`). The tree uses `|-`, `` `- `` and a tab before each value.
import { pyRepr } from '../config/pyvalue.js';
import type { JailBans, JailStatus } from '../server/control-protocol.js';

function tree(title: string, rows: Array<[string, string | number]>): string {
  const body = rows.map(([label, value], n) => `${n === rows.length - 1 ? '`-' : '|-'} ${label}:\t${value}`);
  return [title, ...body].join('\n');
}

/** `fail2ban-client status`: the jail list is sorted, whatever the configuration order. */
export function formatStatus(jails: readonly string[]): string {
  return tree('Status', [
    ['Number of jail', jails.length],
    ['Jail list', [...jails].sort().join(', ')],
  ]);
}

/** `fail2ban-client status JAIL`. */
export function formatJailStatus(jail: string, s: JailStatus): string {
  return [
    `Status for the jail: ${jail}`,
    '|- Filter',
    `|  |- Currently failed:\t${s.currentlyFailed}`,
    `|  |- Total failed:\t${s.totalFailed}`,
    `|  \`- File list:\t${s.files.join(' ')}`,
    '`- Actions',
    `   |- Currently banned:\t${s.currentlyBanned}`,
    `   |- Total banned:\t${s.totalBanned}`,
    `   \`- Banned IP list:\t${s.bannedIps.join(' ')}`,
  ].join('\n');
}

/** A `|-` / `` `- `` list under a heading, or `empty` when there is nothing. */
function listing(heading: string, items: readonly string[], empty: string): string {
  if (items.length === 0) return empty;
  return [heading, ...items.map((item, n) => `${n === items.length - 1 ? '`-' : '|-'} ${item}`)].join('\n');
}

/** `fail2ban-client get JAIL KEY` for the keys the control protocol answers. */
export function formatJailValue(jail: string, key: string, value: number | readonly string[]): string {
  if (typeof value === 'number') return String(value);
  switch (key) {
    case 'ignoreip':
      return listing('These IP addresses/networks are ignored:', value, 'No IP address/network is ignored');
    case 'logpath':
      return listing('Current monitored log file(s):', value, 'No file is currently monitored');
    case 'actions':
      return value.length === 0
        ? `No actions for jail ${jail}`
        : `The jail ${jail} has the following actions:\n${value.join(', ')}`;
    default:
      return value.join(' ');
  }
}

/** `fail2ban-client banned`: a Python list of one-entry dicts, in jail order. */
export function formatBanned(bans: readonly JailBans[]): string {
  return pyRepr(bans.map((b) => ({ [b.jail]: b.ips })));
}

/** `fail2ban-client banned IP...`: for each address, the jails that ban it. */
export function formatBannedIn(ips: readonly string[], bans: readonly JailBans[]): string {
  return pyRepr(ips.map((ip) => bans.filter((b) => b.ips.includes(ip)).map((b) => b.jail)));
}

export function formatLogLevel(level: string): string {
  return `Current logging level is ${pyRepr(level)}`;
}
