// The one line → failure → decision path of a jail, run by both the daemon (src/server/jail-runtime.ts)
// and `replay`, so the two cannot drift apart. Pure and synchronous: the clock is an argument, and the
// caller does every side effect (firewall, store, log) with what lands in a PipelineOutput.
//
// Per failure, in Fail2Ban's order: bans that are over are lifted first (its actions thread runs beside
// the filter), then the failure is counted (a date in the future counts as now), then a ticket that
// reaches maxretry is committed — or handed back undecided when the jail has an ignorecommand, which the
// caller runs (async) before committing.
import type { Failure } from '../filter/failure.js';
import type { Filter } from '../filter/filter.js';
import type { BanTicket } from './bans.js';
import type { BanCommit, Jail } from './jail.js';
import type { LostClientWatch } from './lost-client.js';

/** What one or more lines decided; the caller acts on it and then calls clear(). */
export class PipelineOutput {
  /** Bans made and bans prolonged, in order. */
  readonly commits: BanCommit[] = [];
  /** Tickets waiting for the jail's ignorecommand (only with `deferBans`). */
  readonly due: BanTicket[] = [];
  /** Bans found over (now > end), to lift in the firewall. */
  readonly lifted: BanTicket[] = [];
  /** Failures counted: address and the time they count at ("Found" in Fail2Ban's log). */
  readonly found: Array<{ ip: string; time: number }> = [];
  /** Tickets dropped because the address turned out to be the host's own (`isOwnAddress`). */
  readonly ignoredSelf: string[] = [];
  /** Tickets dropped because the address is one of the host's gateways (`isGateway`). */
  readonly ignoredGateway: string[] = [];
  /** Addresses just found to stand for many users (`lostClient`), with how many user names. */
  readonly lostClient: Array<{ ip: string; users: number }> = [];
  /** The filter's captured fields of the failure behind each ticket (`<F-USER>` in action.d). */
  readonly fields = new Map<BanTicket, Readonly<Record<string, string>>>();
  /** Lines that produced at least one failure (metrics); the caller reads and resets it. */
  matchedLines = 0;

  clear(): void {
    this.commits.length = 0;
    this.due.length = 0;
    this.lifted.length = 0;
    this.found.length = 0;
    this.ignoredSelf.length = 0;
    this.ignoredGateway.length = 0;
    this.lostClient.length = 0;
    this.fields.clear();
  }

  get empty(): boolean {
    return (
      this.commits.length === 0 &&
      this.due.length === 0 &&
      this.lifted.length === 0 &&
      this.found.length === 0 &&
      this.ignoredSelf.length === 0 &&
      this.ignoredGateway.length === 0 &&
      this.lostClient.length === 0
    );
  }
}

export interface PipelineOptions {
  /** Hand tickets back in `due` instead of committing them (the jail has an ignorecommand to run). */
  deferBans?: boolean;
  /** Record each counted failure in `found` (the daemon logs them). */
  reportFound?: boolean;
  /**
   * The host's addresses read fresh (ignoreself), asked once per ticket rather than per failure: an
   * address the host gained after the jail started is never banned.
   */
  isOwnAddress?: (ip: string) => boolean;
  /**
   * The host's gateways read fresh: never banned automatically, whatever ignoreself says (behind a
   * proxy every client arrives from the gateway, and banning it locks every user out).
   */
  isGateway?: (ip: string) => boolean;
  /** Watches for one address standing for many user names (the real client address is lost). */
  lostClient?: LostClientWatch;
}

export class JailPipeline {
  readonly #deferBans: boolean;
  readonly #reportFound: boolean;
  readonly #isOwnAddress: ((ip: string) => boolean) | undefined;
  readonly #isGateway: ((ip: string) => boolean) | undefined;
  readonly #lostClient: LostClientWatch | undefined;

  constructor(
    readonly jail: Jail,
    readonly filter: Filter,
    options: PipelineOptions = {},
  ) {
    this.#deferBans = options.deferBans ?? false;
    this.#reportFound = options.reportFound ?? false;
    this.#isOwnAddress = options.isOwnAddress;
    this.#isGateway = options.isGateway;
    this.#lostClient = options.lostClient;
  }

  /**
   * Runs one line. `now` is the clock the jail decides by; `dateNow` completes dates written without a
   * year (the wall clock; the same as `now` in the daemon); `time` is the line's time when the source
   * knows it (the journal). With `logClock`, `now` is instead the latest failure time seen so far (the
   * log's own clock, for replay), which this call advances and returns.
   */
  line(text: string, now: number, out: PipelineOutput, dateNow = now, time?: number, logClock = false): number {
    return this.failures(text, this.filter.processLine(text, dateNow, time), now, out, logClock);
  }

  /** The rest of line() for failures the filter found elsewhere (a jail matching in a thread of its own). */
  failures(text: string, failures: readonly Failure[], now: number, out: PipelineOutput, logClock = false): number {
    if (failures.length > 0) out.matchedLines++;
    const jail = this.jail;
    for (let i = 0; i < failures.length; i++) {
      const failure = failures[i]!;
      // Failures identified by a name or an id carry no address the firewall could block.
      if (failure.kind !== 'ip') continue;
      if (logClock && failure.time > now) now = failure.time;
      const lifted = jail.expire(now);
      for (let k = 0; k < lifted.length; k++) out.lifted.push(lifted[k]!);
      const ignoredBefore = jail.ignoredFailures;
      const at = Math.min(failure.time, now);
      const ticket = jail.addFailure({ ip: failure.ip, time: at, line: text }, now);
      if (this.#reportFound && jail.ignoredFailures === ignoredBefore && at >= now - jail.config.findtime) {
        out.found.push({ ip: failure.ip, time: at });
      }
      const user = failure.fields['user'];
      if (this.#lostClient !== undefined && user !== undefined) {
        const users = this.#lostClient.note(failure.ip, user, at, now);
        if (users > 0) out.lostClient.push({ ip: failure.ip, users });
      }
      if (ticket === null) continue;
      if (this.#isOwnAddress?.(ticket.ip)) {
        out.ignoredSelf.push(ticket.ip);
        continue;
      }
      if (this.#isGateway?.(ticket.ip)) {
        out.ignoredGateway.push(ticket.ip);
        continue;
      }
      if (this.#reportFound) out.fields.set(ticket, failure.fields);
      if (this.#deferBans) out.due.push(ticket);
      else {
        const commit = jail.commitBan(ticket, now);
        if (commit !== null) out.commits.push(commit);
      }
    }
    return now;
  }
}
