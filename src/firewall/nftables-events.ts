// The kernel's change notifications for our nftables table, so that the firewall check runs when
// something else changed the table instead of every 30 s: a check spawns `nft list ruleset` and lists
// the sets, and doing that periodically at idle kept V8 compiling (issue 13's idle RSS).
//
// native/nfnetlink.c subscribes to the nftables multicast group and reads it on Node's event loop. It
// reads every transaction up to its closing NFT_MSG_NEWGEN, which names the task that committed it, and
// calls JS only for a transaction of someone else's that deleted anything of our table (the table, a
// chain, a rule, a set, elements), added a rule to it (one placed before ours may accept), or updated
// the table or a chain (a table made dormant); or when notifications were lost (ENOBUFS). Our own
// writes (this process's threads, the nft it runs) cost a read in C and no JavaScript, however many
// bans a flood makes.
import { loadAddon } from '../native-addon.js';

interface WatchAddon {
  watch(table: string, onChange: (overflow: boolean) => void, netns?: string, receiveBuffer?: number): TableWatch;
  scan(notifications: Buffer, table: string, own?: number[]): number;
}

/** Why a check is due: a foreign change of the table, or notifications lost (anything may have changed). */
export type TableChange = 'change' | 'overflow';

export interface TableWatch {
  close(): void;
  /** A process we started (nft): its commits are ours, even when it is gone by the time they are read. */
  own(pid: number): void;
}

/**
 * Calls `onChange` after each foreign transaction that can weaken `table` (in the network namespace at
 * `netns`, a path such as /run/netns/NAME, or the process's own). Returns why not when the addon is
 * missing or the kernel refuses the subscription (EPERM without CAP_NET_ADMIN). `receiveBuffer`
 * (bytes, 16 MiB by default) is for tests that make the kernel drop notifications.
 */
export function watchTable(table: string, onChange: (why: TableChange) => void, netns?: string, receiveBuffer?: number): TableWatch | string {
  const addon = loadAddon<WatchAddon>('nfnetlink', 'netlink');
  if (typeof addon === 'string') return addon;
  if (typeof addon.watch !== 'function') return 'the netlink addon predates change notifications (rebuild it: npm rebuild portcullis)';
  try {
    return addon.watch(table, (overflow) => onChange(overflow ? 'overflow' : 'change'), netns, receiveBuffer);
  } catch (err) {
    return `cannot subscribe to nftables notifications (${(err as Error).message})`;
  }
}

/**
 * The addon's reading of a buffer of notifications: how many foreign transactions weakened `table`,
 * with `own` the pids a watch was told with own() (unit tests).
 */
export function scanNotifications(notifications: Buffer, table: string, own: number[] = []): number | string {
  const addon = loadAddon<WatchAddon>('nfnetlink', 'netlink');
  return typeof addon === 'string' ? addon : addon.scan(notifications, table, own);
}
