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
  /**
   * Per address: its user names and their last failure times, `[user, time, user, time, …]`. Most
   * addresses fail as one user, and a flood brings a new address with every line: a two-slot array
   * costs a fraction of a Map.
   */
  private readonly users = new Map<string, Array<string | number>>();
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
    let seen = this.users.get(ip);
    if (seen === undefined) {
      if (this.users.size >= SWEEP_AT) this.sweep(now);
      // Kept keys are copies (see own-string.ts), made once per address or user, never per failure.
      seen = [];
      this.users.set(ownString(ip), seen);
    }
    // Times are numbers, so a user name can only match at an even index.
    const at = seen.indexOf(user);
    if (at !== -1) {
      seen[at + 1] = time;
      return 0;
    }
    seen.push(ownString(user), time);
    if (seen.length / 2 < this.threshold) return 0;
    const live = fresh(seen, now - this.findtime);
    if (live.length / 2 < this.threshold) {
      this.users.set(ip, live);
      return 0;
    }
    // An ordinary address trying many names is an attacker: start counting it afresh, so the suspect
    // check runs once per `threshold` new names rather than once per failure.
    this.users.delete(ip);
    if (!this.suspect(ip)) return 0;
    this.flagged.add(ip);
    return live.length / 2;
  }

  /** Addresses tracked now (bounded by SWEEP_AT). */
  get tracked(): number {
    return this.users.size;
  }

  private sweep(now: number): void {
    const since = now - this.findtime;
    for (const [ip, seen] of this.users) {
      const live = fresh(seen, since);
      if (live.length === 0) this.users.delete(ip);
      else if (live.length !== seen.length) this.users.set(ip, live);
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

/** The `[user, time, …]` pairs whose time is `since` or later (the same array when all are). */
function fresh(seen: Array<string | number>, since: number): Array<string | number> {
  let stale = false;
  for (let i = 1; i < seen.length; i += 2) if ((seen[i] as number) < since) stale = true;
  if (!stale) return seen;
  const out: Array<string | number> = [];
  for (let i = 0; i < seen.length; i += 2) if ((seen[i + 1] as number) >= since) out.push(seen[i] as string, seen[i + 1] as number);
  return out;
}
