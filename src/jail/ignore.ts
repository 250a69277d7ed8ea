// Who must never be banned: loopback (always), `ignoreip` (addresses, CIDRs, DNS names), `ignoreself`
// (the host's own addresses) and `ignorecommand`. The jail stays pure, so the two parts that need I/O
// are injected: DNS names are resolved by the caller (with its own timeout) and fed in with
// setResolved(); the command runs through a CommandRunner the caller supplies.
import { AddressSet, cidrsOverlap, isLoopback, type ParsedCidr, type ParsedIp, parseCidr, parseIp } from '../net/ip.js';

const LOOPBACK: readonly ParsedCidr[] = [parseCidr('127.0.0.0/8')!, parseCidr('::1')!];

export type IgnoreReason = 'loopback' | 'ignoreip' | 'ignoreself' | 'ignorecommand';

/** Runs `ignorecommand` for an IP (argv, not a shell); resolves true when the command exits 0 (ignore). */
export type CommandRunner = (ip: string) => Promise<boolean>;

/** Resolves a DNS name to addresses; the caller bounds it with a timeout and maps failure to []. */
export type Resolver = (name: string) => Promise<string[]>;

export interface IgnoreOptions {
  /** `ignoreip` entries as written: addresses, CIDRs, DNS names. */
  ignoreip: readonly string[];
  ignoreself: boolean;
  /** The host's own addresses (the caller reads them, e.g. from os.networkInterfaces()). */
  selfAddresses?: readonly string[];
}

export class IgnoreList {
  readonly #static = new AddressSet();
  readonly #self = new AddressSet();
  #resolved = new AddressSet();
  /** The same entries as lists, for the rare network check (banning a whole `<SUBNET>`). */
  readonly #staticList: ParsedCidr[] = [];
  readonly #selfList: ParsedCidr[] = [];
  #resolvedList: ParsedCidr[] = [];
  /** `ignoreip` entries that are not addresses: DNS names to resolve. */
  readonly names: readonly string[];

  constructor(options: IgnoreOptions) {
    const names: string[] = [];
    for (const entry of options.ignoreip) {
      const cidr = parseCidr(entry);
      if (cidr !== null) {
        this.#static.add(cidr);
        this.#staticList.push(cidr);
      } else if (isDnsName(entry)) names.push(entry.toLowerCase());
      else throw new RangeError(`ignoreip: "${entry}" is neither an address, a CIDR nor a DNS name`);
    }
    this.names = names;
    if (options.ignoreself) {
      for (const addr of options.selfAddresses ?? []) {
        const cidr = parseCidr(addr);
        if (cidr !== null) {
          this.#self.add(cidr);
          this.#selfList.push(cidr);
        }
      }
    }
  }

  /** Why a (parsed) IP must not be banned, from what is known synchronously; null when it may be. */
  check(ip: ParsedIp): IgnoreReason | null {
    if (isLoopback(ip)) return 'loopback';
    if (this.#static.has(ip) || this.#resolved.has(ip)) return 'ignoreip';
    if (this.#self.has(ip)) return 'ignoreself';
    return null;
  }

  /**
   * Why a network must not be banned: it overlaps loopback or any ignored address or network. A ban of
   * 10.0.0.0/24 would also block an ignored 10.0.0.5, so overlap, not containment, is what counts.
   */
  checkNetwork(net: ParsedCidr): IgnoreReason | null {
    const hit = (list: readonly ParsedCidr[]) => list.some((c) => cidrsOverlap(c, net));
    if (hit(LOOPBACK)) return 'loopback';
    if (hit(this.#staticList) || hit(this.#resolvedList)) return 'ignoreip';
    if (hit(this.#selfList)) return 'ignoreself';
    return null;
  }

  /** Same as check() for text; an unparsable IP is never ignored (the caller rejects it anyway). */
  checkText(ip: string): IgnoreReason | null {
    const parsed = parseIp(ip);
    return parsed === null ? null : this.check(parsed);
  }

  /** Replaces the addresses that `names` resolved to (call again on each refresh). Invalid ones are skipped. */
  setResolved(addresses: Iterable<string>): void {
    const set = new AddressSet();
    const list: ParsedCidr[] = [];
    for (const a of addresses) {
      const cidr = parseCidr(a);
      if (cidr !== null) {
        set.add(cidr);
        list.push(cidr);
      }
    }
    this.#resolved = set;
    this.#resolvedList = list;
  }

  /** Resolves every name with `resolve` and installs the result; a failing name contributes nothing. */
  async refresh(resolve: Resolver): Promise<void> {
    const results = await Promise.allSettled(this.names.map((n) => resolve(n)));
    this.setResolved(results.flatMap((r) => (r.status === 'fulfilled' ? r.value : [])));
  }
}

/** A conservative DNS name: labels of letters, digits and hyphens, no leading/trailing hyphen. */
export function isDnsName(s: string): boolean {
  return (
    s.length <= 253 &&
    /^(?=.*[A-Za-z])[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/.test(s)
  );
}
