// When each jail's firewall is checked (rules and sets in place, no ban lost, no rule bypassing ours):
// on the kernel's change notifications where every firewall of the jail can watch (nftables with the
// netlink addon), else every `intervalMs` as before. A check spawns `nft list ruleset` and reads the
// sets; run every 30 s at idle it kept V8 compiling Node's internals (issue 13, idle RSS), and a check
// run on a notification also repairs within a fraction of a second instead of up to 30 s.
import type { Firewall } from '../firewall/firewall.js';
import { Alarm } from './alarm.js';
import type { DaemonLog } from './daemon-log.js';
import type { JailRuntime } from './jail-runtime.js';

/** What the checks need of a jail's runtime. */
export type CheckedJail = Pick<JailRuntime, 'firewalls' | 'checkFirewall' | 'onFirewallSuspect' | 'firewallSuspected'>;

/** Notifications come in bursts (a script of several nft commands): one check after the burst. */
const DEBOUNCE_MS = 150;
/** A check that failed or put its element comparison off (a flood's bans queued) comes back this soon, at most. */
const RETRY_MS = 5_000;

export class FirewallChecks {
  /** Per firewall, whether its change notifications are subscribed (asked once). */
  private readonly watching = new Map<Firewall, boolean>();
  private periodic: NodeJS.Timeout | null = null;
  /** The next check of the watched jails (an earlier one already due stands). */
  private readonly soon = new Alarm(
    () => void this.run(),
    (err) => this.log.log('server', 'ERROR', err.message),
  );
  private running = false;
  private again = false;
  private stopped = false;

  constructor(
    private readonly runtimes: () => Iterable<CheckedJail>,
    private readonly intervalMs: number,
    private readonly log: Pick<DaemonLog, 'log'>,
  ) {}

  /** Arranges checks for the daemon's jails; track() adds one started later (a reload). */
  start(): void {
    for (const runtime of this.runtimes()) this.track(runtime);
  }

  track(runtime: CheckedJail): void {
    if (this.stopped) return;
    if (this.watched(runtime)) {
      runtime.onFirewallSuspect = () => this.schedule(this.retryMs);
      // The firewall failed during the jail's start: nothing else would bring a check.
      if (runtime.firewallSuspected) this.schedule(this.retryMs);
    } else this.startPeriodic();
  }

  stop(): void {
    this.stopped = true;
    if (this.periodic) clearInterval(this.periodic);
    this.soon.cancel();
  }

  private get retryMs(): number {
    return Math.min(RETRY_MS, this.intervalMs);
  }

  private watched(runtime: CheckedJail): boolean {
    return runtime.firewalls.every((firewall) => {
      let on = this.watching.get(firewall);
      if (on === undefined) {
        on = firewall.watchChanges?.((why) => this.changed(why)) ?? false;
        this.watching.set(firewall, on);
      }
      return on;
    });
  }

  /** Today's periodic check, for the jails whose firewalls cannot watch; ends when no such jail is left. */
  private startPeriodic(): void {
    if (this.periodic) return;
    let busy = false;
    this.periodic = setInterval(async () => {
      if (busy) return;
      busy = true;
      try {
        let any = false;
        for (const runtime of this.runtimes()) {
          if (this.watched(runtime)) continue;
          any = true;
          await runtime.checkFirewall();
        }
        if (!any && this.periodic) {
          clearInterval(this.periodic);
          this.periodic = null;
        }
      } catch (err) {
        this.log.log('server', 'ERROR', (err as Error).message);
      } finally {
        busy = false;
      }
    }, this.intervalMs);
    this.periodic.unref();
  }

  private changed(why: 'change' | 'overflow'): void {
    if (this.stopped) return;
    this.log.log(
      'actions',
      'INFO',
      why === 'overflow'
        ? 'nftables change notifications were lost (the kernel dropped them); checking the firewall'
        : 'our nftables table was changed by another program; checking the firewall',
    );
    this.schedule(DEBOUNCE_MS);
  }

  /** A check of the watched jails within `ms` (an earlier one already due stands). */
  private schedule(ms: number): void {
    if (!this.stopped) this.soon.in(ms);
  }

  /** Checks the watched jails, one at a time; a change told meanwhile gets a check after this one. */
  private async run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    let retry = false;
    try {
      for (const runtime of this.runtimes()) {
        if (this.watched(runtime) && !(await runtime.checkFirewall())) retry = true;
      }
    } catch (err) {
      this.log.log('server', 'ERROR', (err as Error).message);
      retry = true;
    } finally {
      this.running = false;
    }
    if (this.again) {
      this.again = false;
      this.schedule(DEBOUNCE_MS);
    } else if (retry) this.schedule(this.retryMs);
  }
}
