// fail2ban-client's output text (1.1 where it differs from 1.0), byte for byte, because scripts parse
// it (docker-mailserver greps `Jail list:` and `Banned IP list:`). The tree uses `|-`, `` `- `` and a tab
// before each value.
import { pyRepr } from '../config/pyvalue.js';
import type { JailBans, JailStats, JailStatus } from '../server/control-protocol.js';

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

type Section = [string, Array<[string, string | number]>];

function sections(s: JailStatus): Section[] {
  return [
    [
      'Filter',
      [
        ['Currently failed', s.currentlyFailed],
        ['Total failed', s.totalFailed],
        ['File list', s.files.join(' ')],
      ],
    ],
    [
      'Actions',
      [
        ['Currently banned', s.currentlyBanned],
        ['Total banned', s.totalBanned],
        ['Banned IP list', s.bannedIps.join(' ')],
      ],
    ],
  ];
}

/** The Filter/Actions tree of one jail, each line prefixed with `pref` (Fail2Ban's jail_stat). */
function jailTree(s: JailStatus, pref: string): string[] {
  const out: string[] = [];
  const list = sections(s);
  list.forEach(([title, rows], n) => {
    const last = n === list.length - 1;
    out.push(`${pref}${last ? '`-' : '|-'} ${title}`);
    const inner = pref + (last ? '   ' : '|  ');
    rows.forEach(([label, value], m) => {
      out.push(`${inner}${m === rows.length - 1 ? '`-' : '|-'} ${label}:\t${value}`);
    });
  });
  return out;
}

/** `fail2ban-client status JAIL`. */
export function formatJailStatus(jail: string, s: JailStatus): string {
  return [`Status for the jail: ${jail}`, ...jailTree(s, '')].join('\n');
}

/** `fail2ban-client status --all` (1.1): the server status, then every jail's tree, sorted by name. */
export function formatAllStatus(jails: ReadonlyArray<{ jail: string; status: JailStatus }>): string {
  const sorted = [...jails].sort((a, b) => (a.jail < b.jail ? -1 : a.jail > b.jail ? 1 : 0));
  const out = [
    'Status',
    `|- Number of jail:\t${sorted.length}`,
    `|- Jail list:\t${sorted.map((j) => j.jail).join(', ')}`,
    '`- Status for the jails:',
  ];
  sorted.forEach(({ jail, status }, i) => {
    const last = i === sorted.length - 1;
    out.push(`   ${last ? '`-' : '|-'} Jail: ${jail}`, ...jailTree(status, last ? '      ' : '   |  '));
  });
  return out.join('\n');
}

/** `fail2ban-client stats` (1.1): a table of every jail's backend and failure/ban counters. */
export function formatStats(rows: readonly JailStats[]): string {
  // Fail2Ban's formatter cannot lay out an empty table; its fallback prints the reprs of its message and
  // of the (empty) answer.
  if (rows.length === 0) return '{}{}';
  const cells = rows.map((r) => [r.jail, r.backend, r.currentlyFailed, r.totalFailed, r.currentlyBanned, r.totalBanned].map(String));
  const minimum = [8, 8, 3, 3, 3, 3];
  const lens = minimum.map((min, i) => Math.max(min, ...cells.map((c) => (c[i] as string).length)));
  const cell = (text: string, i: number) => (i < 2 ? text.padEnd(lens[i] as number) : text.padStart(lens[i] as number));
  const line = (c: string[]) =>
    [cell(c[0] as string, 0), cell(c[1] as string, 1), `${cell(c[2] as string, 2)} \u2502 ${cell(c[3] as string, 3)}`, `${cell(c[4] as string, 4)} \u2502 ${cell(c[5] as string, 5)}`].join(' \u2551 ');
  const tlens = [lens[0] as number, lens[1] as number, 3 + (lens[2] as number) + (lens[3] as number), 3 + (lens[4] as number) + (lens[5] as number)];
  const top = ['', '', 'Filter', 'Actions'].map((t, i) => t.padEnd(tlens[i] as number)).join(' \u2551 ');
  const head = ['Jail'.padEnd(tlens[0] as number), 'Backend'.padEnd(tlens[1] as number)].join(' \u2551 ');
  return [
    top,
    `${head} \u255F\u2500${tlens.slice(2).map((n) => '\u2500'.repeat(n)).join('\u2500\u256B\u2500')}\u2500`,
    line(['', '', 'cur', 'tot', 'cur', 'tot']),
    `${tlens.map((n) => '\u2550'.repeat(n)).join('\u2550\u256C\u2550')}\u2550`,
    ...cells.map(line),
    `${tlens.map((n) => '\u2550'.repeat(n)).join('\u2550\u2569\u2550')}\u2550`,
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

/** `get logtarget|syslogsocket|dbfile|dbpurgeage|dbmaxmatches`, as Fail2Ban 1.1's beautifier shows them. */
export function formatServerSetting(key: string, value: string | number | null): string {
  if ((key === 'dbfile' || key === 'dbpurgeage') && value === null) return 'Database currently disabled';
  switch (key) {
    case 'logtarget':
      return `Current logging target is:\n\`- ${value}`;
    case 'syslogsocket':
      return `Current syslog socket is:\n\`- ${value}`;
    case 'dbfile':
      return `Current database file is:\n\`- ${value}`;
    case 'dbpurgeage':
      return `Current database purge age is:\n\`- ${Math.trunc(Number(value))}seconds`;
    default:
      return value === null ? 'None' : String(value);
  }
}

export function formatLogLevel(level: string): string {
  return `Current logging level is ${pyRepr(level)}`;
}
