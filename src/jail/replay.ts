// "What would have been banned?": the enabled jails run over a historical log with the log's own
// timestamps as the clock. Pure: lines in, bans out; no firewall, no store, no wall clock. Each jail runs
// the same JailPipeline as the daemon; all jails share one in-memory ban history, so bantime.increment
// and bantime.overalljails behave as with the daemon's database. ignorecommand is not run.
import type { JailConfig } from '../config/model.js';
import { Filter } from '../filter/filter.js';
import { resolveLogZone } from '../filter/timezone.js';
import { MemoryBanHistory } from './bans.js';
import { Jail } from './jail.js';
import { JailPipeline, PipelineOutput } from './pipeline.js';

export interface ReplayBan {
  jail: string;
  ip: string;
  /** Epoch seconds of the failure that completed maxretry. */
  time: number;
  /** Seconds the ban lasts from `time` (-1 permanent), including any prolonging by later failures. */
  bantime: number;
  /** Failures seen from the address when it was banned. */
  failures: number;
  /** 1 for a first ban, earlier bans + 1 with bantime.increment. */
  banCount: number;
}

export class Replay {
  private readonly pipelines: JailPipeline[] = [];
  readonly bans: ReplayBan[] = [];
  /** The ban in force per jail and address, to apply prolonging to. */
  private readonly current = new Map<string, ReplayBan>();
  private readonly out = new PipelineOutput();
  /** The log's clock: the latest failure time seen so far (0 before any). */
  private clock = 0;

  /**
   * `referenceNow` (epoch seconds, the caller's wall clock) only completes dates written without a year.
   * Jails without failregex (such as `custom`, for manual bans) cannot ban anything and are skipped.
   */
  constructor(
    configs: readonly JailConfig[],
    private readonly referenceNow: number,
  ) {
    const history = new MemoryBanHistory();
    for (const config of configs) {
      const def = config.filter;
      if (def === null || def.failregex.length === 0) continue;
      const jail = new Jail(config, { history, random: () => 0 });
      const filter = new Filter(def, { useDns: config.usedns, zone: resolveLogZone(config.options['logtimezone']) });
      this.pipelines.push(new JailPipeline(jail, filter));
    }
  }

  get jailNames(): string[] {
    return this.pipelines.map((p) => p.jail.name);
  }

  /** Feeds one line to every jail. */
  line(text: string): void {
    const out = this.out;
    for (const pipeline of this.pipelines) {
      this.clock = pipeline.line(text, this.clock, out, this.referenceNow, undefined, true);
      for (const { kind, ticket } of out.commits) {
        const key = `${ticket.jail}\0${ticket.ip}`;
        const known = this.current.get(key);
        if (kind === 'prolong' && known !== undefined) {
          known.bantime = ticket.bantime;
          continue;
        }
        const ban = { jail: ticket.jail, ip: ticket.ip, time: ticket.time, bantime: ticket.bantime, failures: ticket.failures, banCount: ticket.banCount };
        this.bans.push(ban);
        this.current.set(key, ban);
      }
      out.clear();
    }
  }
}
