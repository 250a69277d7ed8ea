// An in-memory ControlHandler for tests of the control server and the CLI: jails hold ban lists and
// counters, nothing touches a firewall or a database.
import {
  ControlError,
  type BanTime,
  type ControlHandler,
  type JailBans,
  type JailCount,
  type JailKey,
  type JailStatus,
  type ServerKey,
} from '../../src/server/control-protocol.js';

export interface FakeJail {
  name: string;
  files: string[];
  bans: string[];
  totalBanned: number;
  currentlyFailed: number;
  totalFailed: number;
  bantime: number;
  findtime: number;
  maxretry: number;
  ignoreip: string[];
  actions: string[];
  /** Lines `status` reports under Problems (failed firewall commands, database trouble). */
  problems?: string[];
}

export function fakeJail(name: string, over: Partial<FakeJail> = {}): FakeJail {
  return {
    name,
    files: ['/var/log/mail.log'],
    bans: [],
    totalBanned: 0,
    currentlyFailed: 0,
    totalFailed: 0,
    bantime: 10800,
    findtime: 600,
    maxretry: 3,
    ignoreip: ['127.0.0.0/8', '::1'],
    actions: ['nftables-multiport'],
    ...over,
  };
}

const levels = ['CRITICAL', 'ERROR', 'WARNING', 'NOTICE', 'INFO', 'DEBUG'];

export class FakeControlHandler implements ControlHandler {
  readonly jails: FakeJail[];
  level = 'INFO';
  logFile = '/var/log/fail2ban.log';
  stops = 0;
  reloads: Array<string | undefined> = [];

  constructor(jails: FakeJail[]) {
    this.jails = jails;
  }

  private jail(name: string): FakeJail {
    const jail = this.jails.find((j) => j.name === name);
    if (jail === undefined) throw new ControlError('unknown-jail', `Sorry but the jail '${name}' does not exist`, { jail: name });
    return jail;
  }

  version(): string {
    return '0.1.0';
  }
  jailNames(): string[] {
    return this.jails.map((j) => j.name);
  }
  jailStatus(name: string): JailStatus {
    const j = this.jail(name);
    return {
      currentlyFailed: j.currentlyFailed,
      totalFailed: j.totalFailed,
      files: [...j.files],
      currentlyBanned: j.bans.length,
      totalBanned: j.totalBanned,
      bannedIps: [...j.bans],
      ...(j.problems ? { problems: [...j.problems] } : {}),
    };
  }
  ban(name: string, ips: readonly string[]): number {
    const j = this.jail(name);
    let added = 0;
    for (const ip of ips) {
      if (j.bans.includes(ip)) continue;
      j.bans.push(ip);
      j.totalBanned++;
      added++;
    }
    return added;
  }
  unban(ips: readonly string[] | 'all', name: string | undefined): JailCount[] {
    const targets = name === undefined ? this.jails : [this.jail(name)];
    return targets.map((j) => {
      const before = j.bans.length;
      j.bans = ips === 'all' ? [] : j.bans.filter((ip) => !ips.includes(ip));
      return { jail: j.name, count: before - j.bans.length };
    });
  }
  banned(): JailBans[] {
    return this.jails.map((j) => ({ jail: j.name, ips: [...j.bans] }));
  }
  reload(name: string | undefined): void {
    if (name !== undefined) this.jail(name);
    this.reloads.push(name);
  }
  stop(): void {
    this.stops++;
  }
  get(name: string, key: JailKey): number | string[] {
    const j = this.jail(name);
    switch (key) {
      case 'bantime':
        return j.bantime;
      case 'findtime':
        return j.findtime;
      case 'maxretry':
        return j.maxretry;
      case 'maxmatches':
        return 5;
      case 'ignoreip':
        return [...j.ignoreip];
      case 'logpath':
        return [...j.files];
      case 'actions':
        return [...j.actions];
    }
  }
  getLogLevel(): string {
    return this.level;
  }
  setLogLevel(level: string): string {
    const upper = level.toUpperCase();
    if (!levels.includes(upper)) {
      throw new ControlError('invalid-argument', `unknown log level '${level}'`, { value: level });
    }
    this.level = upper;
    return upper;
  }
  flushes = 0;
  /** Epoch seconds every fake ban counts from. */
  banTime = 1_700_000_000;
  serverSetting(key: ServerKey): string | number | null {
    const settings = { logtarget: this.logFile, syslogsocket: 'auto', dbfile: null, dbpurgeage: null, dbmaxmatches: null };
    return settings[key];
  }
  banTimes(name: string): BanTime[] {
    const j = this.jail(name);
    return j.bans.map((ip) => ({ ip, time: this.banTime, bantime: j.bantime }));
  }
  jailBackend(name: string): string {
    this.jail(name);
    return 'polling';
  }
  flushLogs(): 'rolled over' {
    this.flushes++;
    return 'rolled over';
  }
}
