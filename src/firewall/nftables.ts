// The default backend: docker-mailserver's nftables objects (see nftables-script.ts), every change
// batched into one `nft -f -` transaction. As in DMS, sets have no element timeouts: the daemon removes
// a ban when it ends (a jail's expiry unbans through this backend, batched like bans). An admin may turn
// kernel-side timeouts on per jail (`element_timeouts`); a ban longer than nft accepts then goes in
// without one and is removed by the daemon all the same. On kernels without interval sets the sets are
// plain hash sets (`setType: 'hash'`): single addresses as usual, subnet bans refused with the reason.
import { type Address, parseAddress } from './address.js';
import { Cover, emptyDelta, type Wanted } from './cover.js';
import {
  type Adoption,
  type AuditResult,
  type BanEntry,
  checkJail,
  FailureLog,
  type Firewall,
  FirewallError,
  type FirewallFailure,
  HASH_SET_LIMIT,
  type FirewallJail,
  type KernelEntry,
} from './firewall.js';
import { chainHooked, chainRules, listedSets, parseElement, sameRule, uses } from './nftables-listing.js';
import {
  CHAIN,
  counterRuleText,
  type ElementAdd,
  elementScript,
  familyScript,
  MAX_ELEMENT_TIMEOUT,
  ruleText,
  type SetKind,
  type SetType,
  setFlags,
  setName,
  startScript,
  stopScript,
  TABLE,
} from './nftables-script.js';
import { type DropCount, parseDropCounters } from './nftables-counters.js';
import { type TableChange, type TableWatch, watchTable } from './nftables-events.js';
import { type Exchange, loadExchange, NetlinkRefusal, NetlinkSets, type SetRef } from './nftables-netlink.js';
import { type QueuedTask, TaskQueue } from './queue.js';
import { commandRunner, firstLine, type RunOptions, type Runner, type RunResult, TIMED_OUT } from './runner.js';

export interface NftablesOptions {
  /** Runs `nft`; tests pass `commandRunner(['ip', 'netns', 'exec', NS])`. */
  runner?: Runner;
  /** The nft program (default `nft`). */
  nft?: string;
  /** Clock in epoch ms (tests). */
  now?: () => number;
  /** 'hash' where the kernel refuses interval sets (the daemon's probe decides); default 'interval'. */
  setType?: SetType;
  /**
   * The network namespace (a name under /run/netns) that element writes through netlink go to. Netlink
   * is used when this is given or when `runner` is not (then the process's own namespace): a runner
   * that aims nft elsewhere must not have its elements land in ours.
   */
  netns?: string;
  /** Replaces the netlink addon (fault tests); false turns the netlink path off. */
  netlink?: Exchange | false;
  /** False: no change notifications (watchChanges() says so; the daemon then checks periodically). */
  watch?: boolean;
  /** Where the one warning about the netlink path goes (the daemon's log; stderr by default). */
  warn?: (line: string) => void;
}

type Op = { kind: 'ban'; entries: readonly BanEntry[] } | { kind: 'unban'; addresses: readonly Address[] };

/** A peek at a jail's sets: their elements, or 'more' than one dump reply holds (not read). */
type Peeked = KernelEntry[] | 'more';

interface Batch {
  ops: Op[];
  task: QueuedTask<void> | null;
  /** A manual ban is in it: no pacing wait (see paced()). */
  urgent: boolean;
}

/** What this process knows of one jail's objects. */
interface JailState {
  cover: Cover;
  kind: SetKind;
  /** The IPv6 set and rule exist (created on the first IPv6 ban, or kept from an earlier run). */
  v6: boolean;
  /** Epoch ms before which the periodic check does not read the elements again (see audit()). */
  nextElementCheck: number;
  /**
   * The sets' elements, peeked at through netlink as soon as start() made them, on a thread while the
   * daemon builds the jail's picture; the sync that always follows start() takes it. 'more' when they
   * hold more than a peek reads (see NetlinkSets.peek). Any element write (or stop) drops it, so it is
   * never older than the kernel's last change by us.
   */
  listing: Promise<Peeked> | null;
  /**
   * An adoption waiting for a slow read of the kernel's elements (see adopt()): the addresses written
   * out of the kernel since, which that read may still show and must not be adopted.
   */
  adoption: { removed: Set<string> } | null;
  /**
   * What prefill() found and is writing, for the adopt() after it: once `landed` says true, the kernel
   * holds `known` (or more than a peek reads) and `written`. Any other element write drops it.
   */
  prefilled: { known: Peeked; written: KernelEntry[]; landed: Promise<boolean> } | null;
  /** prefill()'s write while the kernel has it: every other write of the jail goes after it. */
  landing: Promise<unknown> | null;
}


/** Seconds of drift between our expiry and the kernel's before an element is rewritten. */
const DRIFT = 5;

/** Extra time an nft command gets per full 100,000 elements held (see limit()). */
const TIMEOUT_PER_100K_MS = 20_000;

/** The share of time the periodic check may spend reading set elements. */
const ELEMENT_CHECK_SHARE = 0.05;

/**
 * Netlink batches are paced: the kernel's commit of a big interval set costs time proportional to the
 * set (15 ms at 200,000 elements, more during a flood), so a batch per few bans would keep a core busy
 * committing, where nft's 0.5-3 s per run made batches big by itself. After a write that took T, the
 * next batch of the jail waits up to PACE_FACTOR × T (at most PACE_CAP_MS), gathering what arrives.
 * Only after a batch of PACE_MIN_BATCH changes or more (a flood): a lone ban is written at once.
 */
const PACE_FACTOR = 4;
const PACE_CAP_MS = 250;
const PACE_MIN_BATCH = 64;

/** nft runs a failed batch may spend finding the elements the kernel refuses, before giving up on the rest. */
const SPLIT_BUDGET = 24;

export class NftablesFirewall implements Firewall {
  readonly name = 'nftables';
  private readonly run: Runner;
  private readonly nft: string;
  private readonly now: () => number;
  private readonly queue = new TaskQueue();
  private readonly failures = new FailureLog();
  private readonly jails = new Map<string, JailState>();
  private readonly pending = new Map<string, Batch>();
  private readonly setType: SetType;
  /** Element writes and reads straight to the kernel; null once unavailable (then `nft -f -`). */
  private netlink: NetlinkSets | null = null;
  /** Why netlink is not used, said once as a warning on first use; null when it is. */
  private netlinkDown: string | null = null;
  private readonly warn: (line: string) => void;
  /** Per jail, the performance.now() before which its next batch waits (see PACE_FACTOR). */
  private readonly paceUntil = new Map<string, number>();
  /** Where change notifications can be read (the namespace of the netlink path), null when netlink is off. */
  private readonly watchAt: { netns?: string } | null;
  private watch: TableWatch | null = null;
  private onChange: (why: TableChange) => void = () => {};

  constructor(options: NftablesOptions = {}) {
    const run = options.runner ?? commandRunner();
    // nft's commits are ours: the change notifications must not call them someone else's.
    this.run = (argv, stdin, o) => run(argv, stdin, this.watch ? { ...o, onSpawn: (pid) => this.watch?.own(pid) } : o);
    this.nft = options.nft ?? 'nft';
    this.now = options.now ?? Date.now;
    this.setType = options.setType ?? 'interval';
    this.warn = options.warn ?? ((line) => process.stderr.write(`WARNING ${line}\n`));
    const exchange =
      options.netlink === false || (options.runner !== undefined && options.netns === undefined && options.netlink === undefined)
        ? false
        : (options.netlink ?? loadExchange(options.netns === undefined ? undefined : `/run/netns/${options.netns}`));
    if (typeof exchange === 'function') this.netlink = new NetlinkSets(exchange);
    else if (typeof exchange === 'string') this.netlinkDown = exchange;
    this.watchAt = exchange === false || options.watch === false ? null : options.netns === undefined ? {} : { netns: `/run/netns/${options.netns}` };
  }

  /**
   * Calls `onChange` when someone else changes our table in a way that can weaken it (see
   * nftables-events.ts), so the check can run then instead of periodically. False when notifications
   * cannot be had (netlink off, the addon missing, the subscription refused): the caller keeps polling.
   */
  watchChanges(onChange: (why: TableChange) => void): boolean {
    this.onChange = onChange;
    if (this.watch) return true;
    if (this.watchAt === null) return false;
    const watch = watchTable(TABLE, (why) => this.onChange(why), this.watchAt.netns);
    if (typeof watch === 'string') {
      // A missing addon was said already (netlinkDown); a refused subscription is news.
      if (this.netlink) this.warn(`nftables: ${watch}; the firewall is checked periodically instead`);
      return false;
    }
    this.watch = watch;
    return true;
  }

  /** The type of a started jail's sets: 'hash' holds single addresses only (no CIDRs); null before start. */
  setKind(jail: string): SetType | null {
    return this.jails.get(jail)?.kind.type ?? null;
  }

  /** How set elements reach the kernel right now: `netlink`, or `nft` (the fallback). */
  get elementPath(): 'netlink' | 'nft' {
    return this.netlink ? 'netlink' : 'nft';
  }

  /** Says once why elements go through nft, and how to get the fast path back. */
  private netlinkUnavailable(why: string): void {
    this.netlink = null;
    this.warn(
      `nftables: ${why}; bans go through \`nft -f -\`, which takes about 0.5 s per change once 100,000 bans are held. ` +
        'Fix: build the addon (`npm rebuild portcullis`, needs python3, make and g++) and run the daemon as root (CAP_NET_ADMIN)',
    );
  }

  /** The warning for an addon that was never loaded, once, at the first start or element write. */
  private sayNetlinkDown(): void {
    if (this.netlinkDown === null) return;
    this.netlinkUnavailable(this.netlinkDown);
    this.netlinkDown = null;
  }

  private setRef(jail: string, state: JailState, family: 4 | 6): SetRef {
    return { table: TABLE, set: setName(jail, family), family, interval: state.kind.type !== 'hash', timeouts: state.kind.timeouts };
  }

  /**
   * Writes element changes (and the IPv6 set's objects on its first ban) as one transaction, through
   * netlink when it is up, else `nft -f -`. A netlink failure of the socket itself (EPERM, no addon
   * support in the kernel) turns netlink off for good; a batch the kernel refuses through netlink is
   * tried through nft too, and when nft takes it netlink is turned off (it must not cost a ban).
   */
  private async writeElements(jail: FirewallJail, state: JailState, remove: readonly Address[], add: readonly ElementAdd[]): Promise<RunResult> {
    // Two batches in flight at once may be committed in either order.
    if (state.landing) await state.landing;
    state.listing = null;
    state.prefilled = null;
    if (state.adoption) for (const a of remove) state.adoption.removed.add(a.text);
    const create = this.v6Lines(jail, state, add);
    const viaNft = () => this.run([this.nft, '-f', '-'], create + elementScript(jail.name, remove, add), this.limit());
    this.sayNetlinkDown();
    const netlink = this.netlink;
    if (!netlink) return viaNft();
    if (create !== '') {
      const made = await this.run([this.nft, '-f', '-'], create, this.limit());
      if (made.code !== 0) return made;
      state.v6 = true;
    }
    const changes = ([4, 6] as const).map((family) => ({
      set: this.setRef(jail.name, state, family),
      remove: remove.filter((a) => a.family === family),
      add: add.filter((e) => e.address.family === family),
    }));
    let refused: string | null;
    const began = performance.now();
    try {
      refused = await netlink.write(changes.filter((c) => c.remove.length + c.add.length > 0));
      const took = performance.now() - began;
      if (remove.length + add.length < PACE_MIN_BATCH) this.paceUntil.delete(jail.name);
      else this.paceUntil.set(jail.name, performance.now() + Math.min(PACE_CAP_MS, took * PACE_FACTOR));
    } catch (err) {
      this.netlinkUnavailable(`netlink failed (${(err as Error).message})`);
      return viaNft();
    }
    if (refused === null) return { code: 0, stdout: '', stderr: '' };
    const nft = await viaNft();
    if (nft.code === 0) this.netlinkUnavailable(`the kernel refused through netlink what nft then wrote (${refused})`);
    return nft;
  }

  get errors(): readonly FirewallFailure[] {
    return this.failures.entries;
  }

  private state(jail: FirewallJail): JailState {
    let state = this.jails.get(jail.name);
    if (!state) {
      state = { cover: new Cover(), kind: this.kindFor(jail), v6: false, nextElementCheck: 0, listing: null, adoption: null, prefilled: null, landing: null };
      this.jails.set(jail.name, state);
    }
    return state;
  }

  private kindFor(jail: FirewallJail): SetKind {
    return { type: this.setType, timeouts: jail.elementTimeouts === true };
  }

  /**
   * The subnet bans among `addresses` that the jail's sets cannot hold (plain hash sets), noted for
   * `status` with the reason; null when there are none.
   */
  private unfit(jail: string, operation: string, state: JailState, addresses: readonly Address[]): FirewallError | null {
    const texts = addresses.filter((a) => !fits(state.kind, a)).map((a) => a.text);
    if (texts.length === 0) return null;
    const shown = texts.length > 5 ? `${texts.slice(0, 5).join(', ')} and ${texts.length - 5} more` : texts.join(', ');
    const err = this.failures.record(
      jail,
      operation,
      `cannot enforce the subnet ban(s) ${shown}: this kernel lacks nftables interval sets, and ${HASH_SET_LIMIT} (banaction = iptables-ipset can enforce subnets)`,
    );
    err.addresses = texts;
    return err;
  }

  /**
   * nft reads every interval set's elements before each change: with many bans a transaction is slow
   * without being hung (18 s at 330,000 elements on a busy 2-core machine). The runner's timeout grows
   * with what the kernel holds, so a big flood's batch is not killed and retried forever.
   */
  private limit(): RunOptions {
    let held = 0;
    for (const state of this.jails.values()) held += state.cover.size;
    return { extraTimeoutMs: Math.floor(held / 100_000) * TIMEOUT_PER_100K_MS };
  }

  private async nftScript(jail: string, operation: string, script: string): Promise<void> {
    const result = await this.run([this.nft, '-f', '-'], script, this.limit());
    if (result.code !== 0) throw this.failures.record(jail, operation, firstLine(result));
  }

  /**
   * Our table without set elements, with handles; null when it does not exist. Taken from `list
   * ruleset`: nft 1.0.6 fetches every element of a table's interval sets for `list table` even with -t
   * (2.6 s with 100,000 bans, every check), but not for `list ruleset` (10 ms).
   */
  private async terseTable(jail: string, operation: string): Promise<string | null> {
    const result = await this.run([this.nft, '-t', '-a', 'list', 'ruleset']);
    if (result.code === TIMED_OUT) throw this.failures.record(jail, operation, firstLine(result));
    if (result.code !== 0) return null;
    const lines = result.stdout.split('\n');
    const first = lines.findIndex((l) => l.startsWith(`table inet ${TABLE} {`));
    if (first === -1) return null;
    const last = lines.indexOf('}', first);
    return `${lines.slice(first, last === -1 ? undefined : last + 1).join('\n')}\n`;
  }

  start(jail: FirewallJail): Promise<void> {
    checkJail(jail);
    this.sayNetlinkDown();
    return this.queue.run(jail.name, async () => {
      const state = this.state(jail);
      state.kind = this.kindFor(jail);
      state.listing = null;
      state.adoption = null;
      state.prefilled = null;
      // Sets that stay as they are (no flags changed) keep their elements through the start script, so
      // the peek at them can begin now, beside nft's runs.
      const ahead = this.readAhead(jail.name, state);
      const table = (await this.terseTable(jail.name, 'start')) ?? '';
      const own = chainRules(table).filter((r) => uses(r.text, jail.name));
      const sets = new Map(listedSets(table).map((s) => [s.name, s.flags]));
      const flags = setFlags(state.kind).replace(/\s/g, '');
      // A set made with other flags (element timeouts turned on or off since, an interval set where the
      // kernel now needs a hash set or back) is made anew, its elements carried over without their
      // timeouts; the store's bans then refresh them. A hash set cannot carry subnets.
      const recreate = [setName(jail.name, 4), setName(jail.name, 6)].filter((s) => sets.has(s) && sets.get(s) !== flags);
      const carried = recreate.length > 0 ? await this.listKernel(jail.name, 'start', sets.has(setName(jail.name, 6))) : [];
      state.v6 = sets.has(setName(jail.name, 6)) || carried.some((k) => k.text.includes(':'));
      const families: Array<4 | 6> = state.v6 ? [4, 6] : [4];
      const adds: ElementAdd[] = carried
        .flatMap((k) => parseAddress(k.text) ?? [])
        .filter((address) => fits(state.kind, address))
        .map((address) => ({ address, timeout: null }));
      // Objects already as this start would make them (a restart) need no nft run: with 100,000
      // elements held, nft reads them all before any change to the table (~0.4 s here).
      const rules = families.flatMap((f) => [counterRuleText(jail, f), ruleText(jail, f)]);
      const inPlace =
        recreate.length === 0 &&
        chainHooked(table) &&
        families.every((f) => sets.has(setName(jail.name, f))) &&
        own.length === rules.length &&
        own.every((r, i) => sameRule(r.text, rules[i] as string));
      if (!inPlace) {
        const staleHandles = own.map((r) => r.handle);
        const script = startScript(jail, state.kind, { families, staleHandles, recreate }) + elementScript(jail.name, [], adds);
        await this.nftScript(jail.name, 'start', script);
      }
      const netlink = this.netlink;
      if (netlink) {
        const fresh = () => this.peekNetlink(netlink, jail.name, 'reconcile', state, state.v6);
        const listing = recreate.length === 0 && ahead !== null ? ahead.then((read) => read ?? fresh()) : fresh();
        listing.catch(() => {}); // the sync that takes it sees the failure
        state.listing = listing;
      }
    });
  }

  /**
   * A peek at both sets through netlink, before start() knows whether they exist; null when netlink is
   * off or the IPv4 set cannot be read (not made yet): start() then peeks once it made them. No failure
   * is recorded here, since a set that is not there yet is no fault.
   */
  private readAhead(jail: string, state: JailState): Promise<Peeked | null> | null {
    const netlink = this.netlink;
    if (!netlink) return null;
    return this.peekSets(netlink, jail, state, true).catch(() => null);
  }

  /** Peeks at the jail's sets, recording a refusal as the operation's failure. */
  private async peekNetlink(netlink: NetlinkSets, jail: string, operation: string, state: JailState, v6: boolean): Promise<Peeked> {
    try {
      return await this.peekSets(netlink, jail, state, v6);
    } catch (err) {
      if (!(err instanceof NetlinkRefusal)) throw err;
      throw this.failures.record(jail, operation, err.message);
    }
  }

  /** Peeks at the jail's sets (see Peeked); a missing IPv6 set holds nothing. */
  private async peekSets(netlink: NetlinkSets, jail: string, state: JailState, v6: boolean): Promise<Peeked> {
    let entries: KernelEntry[] = [];
    for (const family of v6 ? ([4, 6] as const) : ([4] as const)) {
      try {
        const peeked = await netlink.peek(this.setRef(jail, state, family));
        if (peeked === null) return 'more';
        entries = entries.concat(peeked);
      } catch (err) {
        if (family === 6 && err instanceof NetlinkRefusal && err.errno === 2) continue;
        throw err;
      }
    }
    return entries;
  }

  stop(jail: FirewallJail, options: { keepRules?: boolean } = {}): Promise<void> {
    return this.queue.run(jail.name, async () => {
      const state = this.jails.get(jail.name);
      if (state?.landing) await state.landing;
      if (state) state.listing = null;
      this.jails.delete(jail.name);
      if (options.keepRules) return;
      const table = await this.terseTable(jail.name, 'stop');
      if (table === null) return;
      const rules = chainRules(table);
      const handles = rules.filter((r) => uses(r.text, jail.name)).map((r) => r.handle);
      const all = listedSets(table).map((s) => s.name);
      const own = all.filter((s) => s === setName(jail.name, 4) || s === setName(jail.name, 6));
      const chains = (table.match(/^\s*chain \S+ \{/gm) ?? []).length;
      const dropTable = chains <= 1 && rules.length === handles.length && all.length === own.length;
      const script = stopScript(handles, own, dropTable);
      if (script !== '') await this.nftScript(jail.name, 'stop', script);
    });
  }

  /** The lines creating the IPv6 set and rule, when `adds` holds the jail's first IPv6 ban. */
  private v6Lines(jail: FirewallJail, state: JailState, adds: readonly ElementAdd[]): string {
    if (state.v6 || !adds.some((e) => e.address.family === 6)) return '';
    return `${familyScript(jail, 6, state.kind).join('\n')}\n`;
  }

  /**
   * Writes removals and additions. When nft refuses the batch, the kernel is read and the difference
   * written instead (it may hold elements this process does not know of); when that fails too, the
   * additions are split until the refused elements are found, so one bad element never keeps the
   * others out. Throws a FirewallError naming the addresses that are still not in the kernel.
   */
  private async write(jail: FirewallJail, operation: string, remove: readonly Address[], add: readonly ElementAdd[], lifted: ReadonlySet<string>): Promise<void> {
    const state = this.state(jail);
    if (remove.length === 0 && add.length === 0) return;
    const result = await this.writeElements(jail, state, remove, add);
    if (result.code === 0) {
      if (add.some((e) => e.address.family === 6)) state.v6 = true;
      return;
    }
    // A tool that hung (killed, 124) would only hang again.
    if (result.code === TIMED_OUT) throw this.refused(jail.name, operation, result, add);
    let kernel: KernelEntry[];
    try {
      kernel = await this.listKernel(jail.name, operation, state.v6);
    } catch {
      throw this.refused(jail.name, operation, result, add); // the set itself is gone: the check rebuilds it
    }
    const now = this.now();
    for (const k of kernel) {
      const address = parseAddress(k.text) as Address;
      if (lifted.has(k.text) || state.cover.get(address)) continue;
      state.cover.add({ address, expiresAt: k.expires === null ? null : now + k.expires * 1000 });
    }
    const diff = this.diff(state, kernel, add);
    await this.writeSplit(jail, operation, diff.remove, diff.add);
  }

  /**
   * Writes removals and additions; when nft refuses them, the removals alone (they tolerate elements the
   * kernel no longer holds), then the additions in halves until each refused element is alone. The
   * budget bounds the nft runs this may take; what it cannot place is reported as refused.
   */
  private async writeSplit(jail: FirewallJail, operation: string, remove: readonly Address[], add: readonly ElementAdd[]): Promise<void> {
    const state = this.state(jail);
    const refused: ElementAdd[] = [];
    let budget = SPLIT_BUDGET;
    let failure: RunResult | null = null;
    const tryWrite = async (rm: readonly Address[], part: readonly ElementAdd[]): Promise<boolean> => {
      if (rm.length === 0 && part.length === 0) return true;
      budget--;
      const result = await this.writeElements(jail, state, rm, part);
      if (result.code !== 0) {
        failure = result;
        return false;
      }
      if (part.some((e) => e.address.family === 6)) state.v6 = true;
      return true;
    };
    const timedOut = () => (failure as RunResult | null)?.code === TIMED_OUT;
    const split = async (part: readonly ElementAdd[]): Promise<void> => {
      if (part.length <= 1 || timedOut()) {
        refused.push(...part);
        return;
      }
      const half = Math.ceil(part.length / 2);
      await bisect(part.slice(0, half));
      await bisect(part.slice(half));
    };
    const bisect = async (part: readonly ElementAdd[]): Promise<void> => {
      if (part.length === 0) return;
      if (budget <= 0 || timedOut()) {
        refused.push(...part);
        return;
      }
      if (!(await tryWrite([], part))) await split(part);
    };
    if (await tryWrite(remove, add)) return;
    // A hung nft refused nothing in particular: trying the parts would hang as long again for each.
    if (timedOut()) throw this.refused(jail.name, operation, failure as unknown as RunResult, add);
    const removed = remove.length === 0 || add.length === 0 || (await tryWrite(remove, []));
    if (add.length > 0 && (remove.length === 0 || !(await tryWrite([], add)))) await split(add);
    if (refused.length > 0 || (remove.length > 0 && (!removed || add.length === 0))) {
      throw this.refused(jail.name, operation, failure as unknown as RunResult, refused);
    }
  }

  private refused(jail: string, operation: string, result: RunResult, add: readonly ElementAdd[]): FirewallError {
    const err = this.failures.record(jail, operation, firstLine(result));
    err.addresses = add.map((e) => e.address.text);
    return err;
  }

  /** Kernel changes that make it hold the cover's outermost entries; `fresh` are rewritten to refresh timeouts. */
  private diff(state: JailState, kernel: readonly KernelEntry[], fresh: readonly ElementAdd[] = []): { remove: Address[]; add: ElementAdd[] } {
    const now = this.now();
    // Single addresses only and no timeouts (the start after a prefill, nearly always): every wanted
    // entry is outermost and is told by its text, so when the kernel holds them all there is nothing to
    // add and no need for the map below (100,000 entries at start).
    if (!state.kind.timeouts && fresh.length === 0 && !state.cover.hasSubnets()) {
      const remove: Address[] = [];
      let held = 0;
      for (const k of kernel) {
        if (state.cover.holdsHost(k.text)) held++;
        else remove.push(parseAddress(k.text) as Address);
      }
      if (held === state.cover.size) return { remove, add: [] };
    }
    // Plain loops: with 100,000 bans each intermediate array or pair is 100,000 more objects to collect.
    // What the kernel holds and no ban wants is what `held` keeps once the wanted ones are taken out.
    const held = new Map<string, KernelEntry>();
    for (const k of kernel) held.set(k.text, k);
    const rewrite = new Set(fresh.map((e) => e.address.text));
    const add: ElementAdd[] = [];
    for (const w of state.cover.outermost()) {
      const text = w.address.text;
      const k = held.get(text);
      if (k !== undefined) held.delete(text);
      const timeout = remaining(w, now);
      if (timeout !== null && timeout <= 0) continue;
      const drifted = k !== undefined && (timeout === null ? k.expires !== null : k.expires === null || Math.abs(k.expires - timeout) > DRIFT);
      if (k === undefined || drifted || (state.kind.timeouts && rewrite.has(text))) add.push({ address: w.address, timeout });
    }
    const remove: Address[] = [];
    for (const k of held.values()) remove.push(parseAddress(k.text) as Address);
    return { remove, add };
  }

  /**
   * Bans and unbans are queued per jail and written together: while one `nft` runs, everything that
   * arrives meanwhile becomes the next single batch, however many bans a flood queues. nft 1.0.6 reads
   * every element of interval sets before each change (about 2 s with 100,000 bans), so one process per
   * ban could not keep up. An urgent op moves its jail's batch ahead of other jails' work.
   */
  private enqueue(jail: FirewallJail, op: Op, urgent = false): Promise<void> {
    let batch = this.pending.get(jail.name);
    if (!batch) {
      const fresh: Batch = { ops: [], task: null, urgent: false };
      batch = fresh;
      this.pending.set(jail.name, fresh);
      fresh.task = this.queue.add(jail.name, async () => {
        await this.paced(jail.name, fresh);
        this.pending.delete(jail.name);
        return this.flush(jail, fresh.ops);
      });
    }
    batch.ops.push(op);
    if (urgent) batch.urgent = true;
    if (urgent && batch.task) this.queue.promote(batch.task);
    return (batch.task as QueuedTask<void>).done;
  }

  /** Waits out the jail's pace while its batch gathers bans; a manual ban in it ends the wait. */
  private async paced(jail: string, batch: Batch): Promise<void> {
    for (;;) {
      const left = (this.paceUntil.get(jail) ?? 0) - performance.now();
      if (left <= 0 || batch.urgent) return;
      await new Promise((resolve) => setTimeout(resolve, Math.min(left, 10)));
    }
  }

  private wanted(state: JailState, entry: BanEntry, now: number): Wanted {
    const kernelTimeout = state.kind.timeouts && entry.timeout !== null && entry.timeout <= MAX_ELEMENT_TIMEOUT;
    return { address: entry.address, expiresAt: kernelTimeout ? now + (entry.timeout as number) * 1000 : null };
  }

  private async flush(jail: FirewallJail, ops: readonly Op[]): Promise<void> {
    const now = this.now();
    const state = this.state(jail);
    const cover = state.cover;
    const delta = emptyDelta();
    const lifted = new Set<string>();
    const unfit: Address[] = [];
    cover.expire(now, delta);
    for (const op of ops) {
      if (op.kind === 'ban') {
        for (const e of op.entries) {
          if (e.timeout !== null && e.timeout <= 0) continue;
          if (!fits(state.kind, e.address)) {
            unfit.push(e.address);
            continue;
          }
          lifted.delete(e.address.text);
          cover.add(this.wanted(state, e, now), delta);
        }
      } else {
        for (const address of op.addresses) {
          if (!fits(state.kind, address)) continue; // never in a hash set
          lifted.add(address.text);
          // Not ours but maybe in the kernel (kept from an earlier run): remove it all the same.
          if (!cover.remove(address, delta) && !cover.coveredBy(address)) delta.remove.set(address.text, address);
        }
      }
    }
    const adds = [...delta.add.values()].flatMap((w) => toAdd(w, now) ?? []);
    await this.write(jail, ops.some((o) => o.kind === 'ban') ? 'ban' : 'unban', [...delta.remove.values()], adds, lifted);
    const refused = this.unfit(jail.name, 'ban', state, unfit);
    if (refused) throw refused;
  }

  ban(jail: FirewallJail, entries: readonly BanEntry[], options: { urgent?: boolean } = {}): Promise<void> {
    return this.enqueue(jail, { kind: 'ban', entries }, options.urgent === true);
  }

  unban(jail: FirewallJail, addresses: readonly Address[]): Promise<void> {
    return this.enqueue(jail, { kind: 'unban', addresses });
  }

  /**
   * At start: the kernel's elements that `wanted` lacks are kept and handed over (see Firewall.adopt).
   * When the sets hold more than start()'s peek read (a restart with many bans), every wanted ban is
   * written without reading them (the kernel keeps an element it holds), and the elements to adopt
   * come `later`, from a full read after that write: the kernel walks the set from its first element
   * for every 32 KiB reply of a dump, so reading 100,000 elements took it 1.2-1.7 s, where writing them
   * all again took 0.3 s (and both at once, contending for the set's lock, took as long as the read).
   */
  async adopt(jail: FirewallJail, wanted: readonly BanEntry[]): Promise<Adoption> {
    const step = await this.queue.run(jail.name, async (): Promise<{ found: KernelEntry[] } | { state: JailState }> => {
      const now = this.now();
      const state = this.state(jail);
      const prefilled = state.prefilled;
      state.prefilled = null;
      // Worked out while prefill()'s write is in the kernel, and used once it landed.
      let plan = this.plan(jail.name, state, wanted, prefilled ?? { known: await this.takeListing(jail.name, state), written: [] }, now);
      if (prefilled && !(await prefilled.landed)) plan = this.plan(jail.name, state, wanted, { known: await this.takeListing(jail.name, state), written: [] }, now);
      if (plan.found === null) state.adoption = { removed: new Set() };
      await this.writeSplit(jail, 'reconcile', plan.remove, plan.add);
      return plan.found === null ? { state } : { found: plan.found };
    });
    if ('found' in step) return step;
    const { state } = step;
    const pending = state.adoption;
    // Read outside the jail's queue: its bans and unbans go on meanwhile (`removed` notes the unbans).
    const later = this.listKernel(jail.name, 'reconcile', state.v6).then(
      (kernel) =>
        this.queue.run(jail.name, async () => {
          // A restart or stop of the jail since then has its own sync.
          if (pending === null || state.adoption !== pending || this.jails.get(jail.name) !== state) return [];
          state.adoption = null;
          return this.unknown(state, kernel.filter((k) => !pending.removed.has(k.text)), this.now());
        }),
      (err: unknown) => {
        if (state.adoption === pending) state.adoption = null; // it would note every unban from now on
        throw err;
      },
    );
    return { later };
  }

  /**
   * Writes the store's addresses at start (see Firewall.prefill), through netlink only: a batch the
   * kernel refuses (an address inside a subnet it holds) is left to adopt(), which reads and writes the
   * difference, rather than retried through nft, which reads every element first. Host addresses only,
   * so the batch cannot overlap itself; none with element timeouts (the store's bans would need theirs).
   * Called once per part: the parts add up until adopt() takes them.
   */
  prefill(jail: FirewallJail, entries: readonly BanEntry[]): Promise<void> {
    const task = this.queue.run(jail.name, async () => {
      const netlink = this.netlink;
      const state = this.state(jail);
      if (!netlink || state.kind.timeouts) return;
      const earlier = state.prefilled;
      const known = earlier?.known ?? (await this.takeListing(jail.name, state));
      const held = known === 'more' ? null : new Set(known.map((k) => k.text));
      const written: KernelEntry[] = earlier?.written ?? [];
      const add: ElementAdd[][] = [[], []];
      for (const e of entries) {
        const { family, prefix, text } = e.address;
        if (prefix !== (family === 4 ? 32 : 128) || held?.has(text) || (family === 6 && !state.v6)) continue;
        add[family === 4 ? 0 : 1]?.push({ address: e.address, timeout: null });
        written.push({ text, expires: null });
      }
      const changes = ([4, 6] as const).map((family, i) => ({ set: this.setRef(jail.name, state, family), remove: [], add: add[i] ?? [] }));
      // Not awaited here: the jail's queue goes on (the next part, adopt() planning its sync), and every
      // other write waits for it (writeElements).
      const part = netlink.write(changes.filter((c) => c.add.length > 0)).then(
        (refused) => refused === null,
        () => false,
      );
      const landed = earlier ? Promise.all([earlier.landed, part]).then(([a, b]) => a && b) : part;
      state.prefilled = { known, written, landed };
      state.landing = landed;
      void landed.then(() => {
        if (state.landing === landed) state.landing = null;
      });
    });
    return task.catch(() => {}); // adopt() then finds the kernel as it is
  }

  /** The listing start() peeked at, or a fresh peek; 'more' when the sets hold more than it reads. */
  private async takeListing(jail: string, state: JailState): Promise<Peeked> {
    const read = state.listing;
    state.listing = null;
    if (read !== null) return read;
    const netlink = this.netlink;
    return netlink ? this.peekNetlink(netlink, jail, 'reconcile', state, state.v6) : this.listKernel(jail, 'reconcile', state.v6);
  }

  /**
   * The start's sync against what the kernel holds: `known` (read, or 'more' than a peek reads) and
   * `written` (by prefill()). Returns the changes to write, and the kernel's elements no ban covers
   * (kept, to be adopted), or null for those when `known` was not read.
   */
  private plan(jail: string, state: JailState, wanted: readonly BanEntry[], kernel: { known: Peeked; written: KernelEntry[] }, now: number) {
    this.fill(jail, state, wanted, now);
    const { known, written } = kernel;
    if (known === 'more') return { found: null, ...this.diff(state, written) };
    // Only what the kernel held before prefill() can be adopted: the rest the store holds.
    const found = this.unknown(state, known, now);
    return { found, ...this.diff(state, written.length === 0 ? known : known.concat(written)) };
  }

  /** Sets the cover to `wanted`, as a sync starts. */
  private fill(jail: string, state: JailState, wanted: readonly BanEntry[], now: number): void {
    state.cover.clear();
    // Noted for `status`, not thrown: the rest of the bans must still reach the kernel.
    this.unfit(jail, 'reconcile', state, wanted.map((e) => e.address));
    for (const e of wanted) {
      if ((e.timeout !== null && e.timeout <= 0) || !fits(state.kind, e.address)) continue;
      state.cover.add(this.wanted(state, e, now));
    }
  }

  /** Elements of `kernel` no ban covers, now added to the cover (kept, for the jail to adopt). */
  private unknown(state: JailState, kernel: readonly KernelEntry[], now: number): KernelEntry[] {
    const found: KernelEntry[] = [];
    // An element that is one of the wanted bans, by its text, needs no parsing (nearly all of them
    // after a kill -9); only the others are looked up in the cover.
    for (const k of kernel) {
      if (state.cover.holdsHost(k.text)) continue;
      const address = parseAddress(k.text) as Address;
      if (state.cover.get(address) || state.cover.coveredBy(address)) continue;
      found.push(k);
      state.cover.add({ address, expiresAt: state.kind.timeouts && k.expires !== null ? now + k.expires * 1000 : null });
    }
    return found;
  }

  /** Makes the kernel hold exactly `wanted`: missing bans added, stale ones removed, timeouts refreshed. */
  reconcile(jail: FirewallJail, wanted: readonly BanEntry[]): Promise<void> {
    return this.queue.run(jail.name, async () => {
      const state = this.state(jail);
      this.fill(jail.name, state, wanted, this.now());
      const peeked = await this.takeListing(jail.name, state);
      const kernel = peeked === 'more' ? await this.listKernel(jail.name, 'reconcile', state.v6) : peeked;
      const diff = this.diff(state, kernel);
      await this.writeSplit(jail, 'reconcile', diff.remove, diff.add);
    });
  }

  check(jail: FirewallJail): Promise<boolean> {
    return this.queue.run(jail.name, async () => {
      const table = await this.terseTable(jail.name, 'check');
      if (table === null || !table.includes(`chain ${CHAIN} {`)) return false;
      const state = this.state(jail);
      const sets = new Set(listedSets(table).map((s) => s.name));
      const rules = chainRules(table).map((r) => r.text.split(/\s+/));
      const ready = (f: 4 | 6) => sets.has(setName(jail.name, f)) && rules.some((w) => w.includes(`@${setName(jail.name, f)}`));
      return ready(4) && (!state.v6 || ready(6));
    });
  }

  /**
   * Compares the kernel's elements with the bans and puts back what is missing (a flushed set, an
   * element deleted by hand). Elements we do not know are left alone. Rules that come before this
   * jail's rules in our chain and end evaluation without dropping (accept, return, jump, goto) let
   * banned addresses in: they are reported, not removed, since an admin may have put them there.
   * The element comparison is skipped while this jail's bans wait in the queue, and spaced out so that
   * reading big sets takes at most ELEMENT_CHECK_SHARE of the time.
   */
  audit(jail: FirewallJail, wanted: readonly BanEntry[]): Promise<AuditResult> {
    return this.queue.run(jail.name, async () => {
      const state = this.state(jail);
      const now = this.now();
      const table = (await this.terseTable(jail.name, 'check')) ?? '';
      const rules = chainRules(table);
      const firstOwn = rules.findIndex((r) => uses(r.text, jail.name));
      const bypass = rules
        .slice(0, firstOwn === -1 ? 0 : firstOwn)
        .filter((r) => /(^|\s)(accept|return|jump \S+|goto \S+)$/.test(r.text))
        .map((r) => `rule "${r.text}" (handle ${r.handle}) in ${TABLE} ${CHAIN} comes before this jail's rule and lets banned addresses in`);
      for (const line of bypass) this.failures.note(jail.name, 'check', line);
      // Reading every element costs seconds with 100,000s of them; while bans wait (a flood) that time
      // goes to them, and the next check compares.
      if (this.pending.has(jail.name) || now < state.nextElementCheck) return { restored: 0, bypass, deferred: true };
      const listed = await this.listKernel(jail.name, 'check', state.v6);
      // At most ELEMENT_CHECK_SHARE of the time goes to reading elements: every check for small sets,
      // about every 80 s when a listing takes 4 s (300,000 elements).
      state.nextElementCheck = this.now() + (this.now() - now) / ELEMENT_CHECK_SHARE;
      const kernel = new Set(listed.map((k) => k.text));
      // Bans the jail holds but this process's picture lacks (none normally) join the picture first.
      for (const e of wanted) {
        if ((e.timeout === null || e.timeout > 0) && fits(state.kind, e.address) && !state.cover.get(e.address)) {
          state.cover.add(this.wanted(state, e, now));
        }
      }
      const missing = state.cover
        .outermost()
        .filter((w) => !kernel.has(w.address.text))
        .flatMap((w) => toAdd(w, now) ?? []);
      if (missing.length > 0) {
        this.failures.note(jail.name, 'check', `${missing.length} ban(s) were missing from the kernel (set flushed or elements deleted) and were put back`);
        await this.writeSplit(jail, 'check', [], missing);
      }
      return { restored: missing.length, bypass };
    });
  }

  /**
   * Packets and bytes blocked per jail, from the counting rules. `-t list ruleset` leaves set elements
   * out: 6 ms with 100,000 bans, where `list chain` reads them all (1.1 s). Not serialised behind bans.
   */
  async dropCounters(): Promise<Map<string, DropCount>> {
    const result = await this.run([this.nft, '-j', '-t', 'list', 'ruleset']);
    if (result.code !== 0) throw new FirewallError(`nft list ruleset failed: ${firstLine(result)}`);
    return parseDropCounters(result.stdout);
  }

  list(jail: FirewallJail): Promise<KernelEntry[]> {
    return this.queue.run(jail.name, () => this.listKernel(jail.name, 'list', true));
  }

  /** The jail's elements; the IPv6 set is read when `v6` says it may exist (absent is then empty). */
  private async listKernel(jail: string, operation: string, v6: boolean): Promise<KernelEntry[]> {
    const state = this.jails.get(jail);
    if (this.netlink && state) {
      try {
        return await this.listNetlink(this.netlink, jail, operation, state, v6);
      } catch (err) {
        if (err instanceof FirewallError) throw err;
        this.netlinkUnavailable(`netlink failed (${(err as Error).message})`);
      }
    }
    const entries: KernelEntry[] = [];
    for (const family of v6 ? ([4, 6] as const) : ([4] as const)) {
      const result = await this.run([this.nft, '-j', 'list', 'set', 'inet', TABLE, setName(jail, family)], undefined, this.limit());
      if (result.code !== 0) {
        if (family === 6 && /No such file or directory/.test(result.stderr)) continue;
        throw this.failures.record(jail, operation, firstLine(result));
      }
      const parsed = JSON.parse(result.stdout) as { nftables: Array<{ set?: { elem?: unknown[] } }> };
      for (const item of parsed.nftables) {
        for (const raw of item.set?.elem ?? []) {
          const entry = parseElement(raw);
          if (entry) entries.push(entry);
        }
      }
    }
    return entries;
  }

  /** listKernel through a netlink dump: 100,000 elements in about 0.1 s, where `nft -j list set` takes 4 s. */
  private async listNetlink(netlink: NetlinkSets, jail: string, operation: string, state: JailState, v6: boolean): Promise<KernelEntry[]> {
    let entries: KernelEntry[] = [];
    for (const family of v6 ? ([4, 6] as const) : ([4] as const)) {
      try {
        // concat, not push(...): a spread of 100,000s of arguments can overflow the stack.
        entries = entries.concat(await netlink.list(this.setRef(jail, state, family)));
      } catch (err) {
        if (!(err instanceof NetlinkRefusal)) throw err;
        if (family === 6 && err.errno === 2) continue;
        throw this.failures.record(jail, operation, err.message);
      }
    }
    return entries;
  }
}

/** Whether a set of this kind can hold the address: a plain hash set takes single addresses only. */
function fits(kind: SetKind, address: Address): boolean {
  return kind.type === 'interval' || address.prefix === (address.family === 4 ? 32 : 128);
}

/** The element for a wanted entry: its remaining time as the kernel timeout, none when permanent. */
function toAdd(w: Wanted, now: number): ElementAdd | null {
  const timeout = remaining(w, now);
  return timeout === null || timeout > 0 ? { address: w.address, timeout } : null;
}

/** Whole seconds left of a wanted element's kernel timeout (0 or less: over); null when it has none. */
function remaining(w: Wanted, now: number): number | null {
  return w.expiresAt === null ? null : Math.ceil((w.expiresAt - now) / 1000);
}
