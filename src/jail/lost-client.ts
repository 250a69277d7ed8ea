// Detects the lost client address: within findtime, failures for many different user names all come
// from one address that is a gateway or inside the host's own networks. That is not an attacker but a
// proxy in front of the server (Docker's userland proxy, IPv6 reaching an IPv4-only container), and it
// means every user shares one address. Pure: the caller gives the clock and says which addresses are
// suspect (it reads the routing table), and is asked only when an address reaches the user threshold.
import { ownString } from './own-string.js';

/** How the condition starts in `status JAIL`'s problems (doctor looks for it). */
export const LOST_CLIENT_PROBLEM = 'real client address lost';
/** Distinct user names from one address, within findtime, that make it look like a proxy. */
export const LOST_CLIENT_USERS = 5;
/** Addresses tracked before old entries are swept (bounds memory under a flood of addresses). */
const SWEEP_AT = 10_000;

export class LostClientWatch {
  /** Per address: user name → last failure time. */
  private readonly users = new Map<string, Map<string, number>>();
  private readonly flagged = new Set<string>();

  constructor(
    private readonly findtime: number,
    private readonly suspect: (ip: string) => boolean,
    private readonly threshold = LOST_CLIENT_USERS,
  ) {}

  /** Addresses found so far, in the order they were found. */
  get found(): readonly string[] {
    return [...this.flagged];
  }

  /**
   * Counts a failure of `user` from `ip` at `time`; returns the number of distinct users the first
   * time `ip` qualifies, else 0.
   */
  note(ip: string, user: string, time: number, now: number): number {
    if (this.flagged.has(ip)) return 0;
    let byUser = this.users.get(ip);
    if (byUser === undefined) {
      if (this.users.size >= SWEEP_AT) this.sweep(now);
      byUser = new Map();
      this.users.set(ownString(ip), byUser);
    }
    // Kept keys are copies (see own-string.ts); a known user keeps its key, so no copy per failure.
    byUser.set(byUser.has(user) ? user : ownString(user), time);
    if (byUser.size < this.threshold) return 0;
    const since = now - this.findtime;
    for (const [u, t] of byUser) if (t < since) byUser.delete(u);
    if (byUser.size < this.threshold) return 0;
    // An ordinary address trying many names is an attacker: start counting it afresh, so the suspect
    // check runs once per `threshold` new names rather than once per failure.
    this.users.delete(ip);
    if (!this.suspect(ip)) return 0;
    this.flagged.add(ip);
    return byUser.size;
  }

  /** Addresses tracked now (bounded by SWEEP_AT). */
  get tracked(): number {
    return this.users.size;
  }

  private sweep(now: number): void {
    const since = now - this.findtime;
    for (const [ip, byUser] of this.users) {
      for (const [u, t] of byUser) if (t < since) byUser.delete(u);
      if (byUser.size === 0) this.users.delete(ip);
    }
    // Under a flood of new addresses nothing is old enough to go, and sweeping on every new address
    // would cost O(addresses) per failure. Drop the oldest entries down to half, so the next sweep is
    // SWEEP_AT / 2 new addresses away. A proxy's address keeps failing and is counted again at once.
    let excess = this.users.size - SWEEP_AT / 2;
    for (const ip of this.users.keys()) {
      if (excess-- <= 0) break;
      this.users.delete(ip);
    }
  }
}
