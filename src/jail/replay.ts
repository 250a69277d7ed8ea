// "What would have been banned?": the enabled jails run over a historical log with the log's own
// timestamps as the clock. Pure: lines in, bans out; no firewall, no store, no wall clock.
import type { JailConfig } from '../config/model.js';
import { Filter } from '../filter/filter.js';
import { resolveLogZone } from '../filter/timezone.js';
import { Jail } from './jail.js';

export interface ReplayBan {
  jail: string;
  ip: string;
  /** Epoch seconds of the failure that completed maxretry. */
  time: number;
  /** Seconds the ban would last (-1 permanent). */
  bantime: number;
  failures: number;
}

interface ReplayJail {
  jail: Jail;
  filter: Filter;
}

export class Replay {
  private readonly jails: ReplayJail[] = [];
  readonly bans: ReplayBan[] = [];
  /** The log's clock: the latest time seen so far (0 before any dated line). */
  private clock = 0;

  /**
   * `referenceNow` (epoch seconds, the caller's wall clock) only completes dates written without a year.
   * Jails without failregex (such as `custom`, for manual bans) cannot ban anything and are skipped.
   */
  constructor(
    configs: readonly JailConfig[],
    private readonly referenceNow: number,
  ) {
    for (const config of configs) {
      const def = config.filter;
      if (def === null || def.failregex.length === 0) continue;
      this.jails.push({ jail: new Jail(config, { random: () => 0 }), filter: new Filter(def, { useDns: config.usedns, zone: resolveLogZone(config.options['logtimezone']) }) });
    }
  }

  get jailNames(): string[] {
    return this.jails.map((j) => j.jail.name);
  }

  /** Feeds one line to every jail. */
  line(text: string): void {
    for (const { jail, filter } of this.jails) {
      const failures = filter.processLine(text, this.referenceNow);
      for (const failure of failures) {
        if (failure.kind !== 'ip') continue;
        if (failure.time > this.clock) this.clock = failure.time;
        jail.expire(this.clock);
        const ticket = jail.addFailure({ ip: failure.ip, time: failure.time, line: text }, this.clock);
        if (ticket && jail.commitBan(ticket)) {
          this.bans.push({
            jail: ticket.jail,
            ip: ticket.ip,
            time: ticket.time,
            bantime: ticket.bantime,
            failures: ticket.failures,
          });
        }
      }
    }
  }
}
