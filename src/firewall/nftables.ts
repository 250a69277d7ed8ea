// The default backend: docker-mailserver's nftables objects (see nftables-script.ts), every change
// batched into one `nft -f -` transaction, bans held by the kernel with their own timeouts.
import { type Address, parseAddress } from './address.js';
import { Cover, type CoverDelta, emptyDelta, type Wanted } from './cover.js';
import {
  type BanEntry,
  checkJail,
  FailureLog,
  type Firewall,
  FirewallError,
  type FirewallFailure,
  type FirewallJail,
  type KernelEntry,
} from './firewall.js';
import { type DropCount, parseDropCounters } from './nftables-counters.js';
import { CHAIN, type ElementAdd, elementScript, setName, startScript, stopScript, TABLE } from './nftables-script.js';
import { commandRunner, firstLine, type Runner, Serial, TIMED_OUT } from './runner.js';

export interface NftablesOptions {
  /** Runs `nft`; tests pass `commandRunner(['ip', 'netns', 'exec', NS])`. */
  runner?: Runner;
  /** The nft program (default `nft`). */
  nft?: string;
  /** Clock in epoch ms (tests). */
  now?: () => number;
}

interface Listed {
  entries: KernelEntry[];
}

type Op = { kind: 'ban'; entries: readonly BanEntry[] } | { kind: 'unban'; addresses: readonly Address[] };

interface Batch {
  ops: Op[];
  waiters: Array<{ resolve: () => void; reject: (err: unknown) => void }>;
}

/** Parses one element of `nft -j list set`: a string, `{prefix}`, or `{elem: {val, expires}}`. */
function parseElement(raw: unknown): KernelEntry | null {
  let value: unknown = raw;
  let expires: number | null = null;
  if (typeof raw === 'object' && raw !== null && 'elem' in raw) {
    const elem = (raw as { elem: { val: unknown; expires?: number } }).elem;
    value = elem.val;
    expires = typeof elem.expires === 'number' ? elem.expires : null;
  }
  let text: string | null = null;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'object' && value !== null && 'prefix' in value) {
    const p = (value as { prefix: { addr: string; len: number } }).prefix;
    text = `${p.addr}/${p.len}`;
  }
  // Ranges that are not a CIDR block were not written by us; they are left alone.
  const address = text === null ? null : parseAddress(text);
  return address ? { text: address.text, expires } : null;
}

export class NftablesFirewall implements Firewall {
  readonly name = 'nftables';
  private readonly run: Runner;
  private readonly nft: string;
  private readonly now: () => number;
  private readonly serial = new Serial();
  private readonly failures = new FailureLog();
  private readonly covers = new Map<string, Cover>();
  private readonly pending = new Map<string, Batch>();

  constructor(options: NftablesOptions = {}) {
    this.run = options.runner ?? commandRunner();
    this.nft = options.nft ?? 'nft';
    this.now = options.now ?? Date.now;
  }

  get errors(): readonly FirewallFailure[] {
    return this.failures.entries;
  }

  private cover(jail: string): Cover {
    let cover = this.covers.get(jail);
    if (!cover) {
      cover = new Cover();
      this.covers.set(jail, cover);
    }
    return cover;
  }

  private async nftScript(jail: string, operation: string, script: string): Promise<void> {
    const result = await this.run([this.nft, '-f', '-'], script);
    if (result.code !== 0) throw this.failures.record(jail, operation, firstLine(result));
  }

  /** The table without set contents, with rule handles; null when the table does not exist. */
  /**
   * Our table without set elements, with handles. Taken from `list ruleset`: nft 1.0.6 fetches every
   * element of a table's interval sets for `list table` even with -t (2.6 s with 100,000 bans, every
   * check), but not for `list ruleset` (10 ms).
   */
  private async terseTable(): Promise<string | null> {
    const result = await this.run([this.nft, '-t', '-a', 'list', 'ruleset']);
    if (result.code !== 0) return null;
    const lines = result.stdout.split('\n');
    const first = lines.findIndex((l) => l.startsWith(`table inet ${TABLE} {`));
    if (first === -1) return null;
    const last = lines.indexOf('}', first);
    return `${lines.slice(first, last === -1 ? undefined : last + 1).join('\n')}\n`;
  }

  private static ruleHandles(table: string, jail: string): number[] {
    const handles: number[] = [];
    const sets = [`@${setName(jail, 4)}`, `@${setName(jail, 6)}`];
    for (const line of table.split('\n')) {
      const words = line.trim().split(/\s+/);
      const handle = line.match(/# handle (\d+)\s*$/);
      if (handle && words.some((w) => sets.includes(w))) handles.push(Number(handle[1]));
    }
    return handles;
  }

  start(jail: FirewallJail): Promise<void> {
    checkJail(jail);
    return this.serial.run(async () => {
      const table = await this.terseTable();
      const stale = table === null ? [] : NftablesFirewall.ruleHandles(table, jail.name);
      await this.nftScript(jail.name, 'start', startScript(jail, stale));
      this.cover(jail.name);
    });
  }

  stop(jail: FirewallJail, options: { keepRules?: boolean } = {}): Promise<void> {
    return this.serial.run(async () => {
      this.covers.delete(jail.name);
      if (options.keepRules) return;
      const table = await this.terseTable();
      if (table === null) return;
      const handles = NftablesFirewall.ruleHandles(table, jail.name);
      const ruleCount = table.split('\n').filter((l) => /# handle \d+\s*$/.test(l) && !/^\s*(table|chain|set)\b/.test(l)).length;
      const setCount = (table.match(/^\s*set \S+ \{/gm) ?? []).length;
      const ours = new Set([setName(jail.name, 4), setName(jail.name, 6)]);
      const ownSets = [...table.matchAll(/^\s*set (\S+) \{/gm)].filter((m) => ours.has(m[1] as string)).length;
      const dropTable = ruleCount === handles.length && setCount === ownSets;
      await this.nftScript(jail.name, 'stop', stopScript(jail, handles, dropTable));
    });
  }

  /** Writes a delta; if the kernel disagrees with our picture (e.g. rules kept from an earlier run, or
   *  someone else's elements), re-reads the kernel and writes the difference instead. */
  private async apply(jail: string, operation: string, delta: CoverDelta, lifted: ReadonlySet<string>): Promise<void> {
    const now = this.now();
    const adds = [...delta.add.values()].flatMap((w) => toAdd(w, now));
    const script = elementScript(jail, [...delta.remove.values()], adds);
    if (script === '') return;
    const result = await this.run([this.nft, '-f', '-'], script);
    if (result.code === 0) return;
    // A refusal is worth a re-read; a tool that hung (killed, 124) would only hang again.
    if (result.code === TIMED_OUT) throw this.failures.record(jail, operation, firstLine(result));
    const cover = this.cover(jail);
    const kernel = await this.listKernel(jail, operation);
    const scratch = emptyDelta();
    for (const k of kernel.entries) {
      const address = parseAddress(k.text) as Address;
      if (lifted.has(k.text) || cover.get(address)) continue;
      cover.add({ address, expiresAt: k.expires === null ? null : now + k.expires * 1000 }, scratch);
    }
    const diff = diffScript(jail, kernel.entries, cover.outermost(), delta, now);
    if (diff !== '') await this.nftScript(jail, operation, diff);
  }

  /**
   * Bans and unbans are queued per jail and written together: while one `nft` runs, everything that
   * arrives meanwhile becomes the next single batch. nft 1.0.6 reads every element of interval sets
   * before each change (about 2 s with 100,000 bans), so one process per ban could not keep up.
   */
  private enqueue(jail: string, op: Op): Promise<void> {
    let batch = this.pending.get(jail);
    if (!batch) {
      const fresh: Batch = { ops: [], waiters: [] };
      batch = fresh;
      this.pending.set(jail, fresh);
      this.serial
        .run(() => {
          this.pending.delete(jail);
          return this.flush(jail, fresh.ops);
        })
        .then(
          () => {
            for (const w of fresh.waiters) w.resolve();
          },
          (err: unknown) => {
            for (const w of fresh.waiters) w.reject(err);
          },
        );
    }
    batch.ops.push(op);
    const waiters = batch.waiters;
    return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
  }

  private async flush(jail: string, ops: readonly Op[]): Promise<void> {
    const now = this.now();
    const cover = this.cover(jail);
    const delta = emptyDelta();
    const lifted = new Set<string>();
    cover.expire(now, delta);
    for (const op of ops) {
      if (op.kind === 'ban') {
        for (const e of op.entries) {
          if (e.timeout !== null && e.timeout <= 0) continue;
          lifted.delete(e.address.text);
          cover.add({ address: e.address, expiresAt: e.timeout === null ? null : now + e.timeout * 1000 }, delta);
        }
      } else {
        for (const address of op.addresses) {
          lifted.add(address.text);
          // Not ours but maybe in the kernel (kept from an earlier run): remove it all the same.
          if (!cover.remove(address, delta) && !cover.coveredBy(address)) delta.remove.set(address.text, address);
        }
      }
    }
    await this.apply(jail, ops.some((o) => o.kind === 'ban') ? 'ban' : 'unban', delta, lifted);
  }

  ban(jail: FirewallJail, entries: readonly BanEntry[]): Promise<void> {
    return this.enqueue(jail.name, { kind: 'ban', entries });
  }

  unban(jail: FirewallJail, addresses: readonly Address[]): Promise<void> {
    return this.enqueue(jail.name, { kind: 'unban', addresses });
  }

  /** Makes the kernel hold exactly `wanted`: missing bans added, stale ones removed, timeouts refreshed. */
  reconcile(jail: FirewallJail, wanted: readonly BanEntry[]): Promise<void> {
    return this.serial.run(async () => {
      const now = this.now();
      const cover = this.cover(jail.name);
      cover.clear();
      const scratch = emptyDelta();
      for (const e of wanted) {
        if (e.timeout !== null && e.timeout <= 0) continue;
        cover.add({ address: e.address, expiresAt: e.timeout === null ? null : now + e.timeout * 1000 }, scratch);
      }
      const kernel = await this.listKernel(jail.name, 'reconcile');
      const diff = diffScript(jail.name, kernel.entries, cover.outermost(), emptyDelta(), now);
      if (diff !== '') await this.nftScript(jail.name, 'reconcile', diff);
    });
  }

  check(jail: FirewallJail): Promise<boolean> {
    return this.serial.run(async () => {
      const table = await this.terseTable();
      if (table === null || !table.includes(`chain ${CHAIN} {`)) return false;
      const hasSet = (f: 4 | 6) => table.includes(`set ${setName(jail.name, f)} {`);
      const rules = NftablesFirewall.ruleHandles(table, jail.name).length;
      // Per family one counting rule and one blocking rule.
      return hasSet(4) && hasSet(6) && rules >= 4;
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
    return this.serial.run(async () => (await this.listKernel(jail.name, 'list')).entries);
  }

  private async listKernel(jail: string, operation: string): Promise<Listed> {
    const entries: KernelEntry[] = [];
    for (const family of [4, 6] as const) {
      const result = await this.run([this.nft, '-j', 'list', 'set', 'inet', TABLE, setName(jail, family)]);
      if (result.code !== 0) throw this.failures.record(jail, operation, firstLine(result));
      const parsed = JSON.parse(result.stdout) as { nftables: Array<{ set?: { elem?: unknown[] } }> };
      for (const item of parsed.nftables) {
        for (const raw of item.set?.elem ?? []) {
          const entry = parseElement(raw);
          if (entry) entries.push(entry);
        }
      }
    }
    return { entries };
  }
}

function toAdd(w: Wanted, now: number): ElementAdd[] {
  if (w.expiresAt === null) return [{ address: w.address, timeout: null }];
  const timeout = Math.ceil((w.expiresAt - now) / 1000);
  return timeout > 0 ? [{ address: w.address, timeout }] : [];
}

/** Seconds of drift between our expiry and the kernel's before an element is rewritten. */
const DRIFT = 5;

/** Script turning `kernel` into `desired`; elements in `delta.add` are rewritten to refresh timeouts. */
function diffScript(jail: string, kernel: readonly KernelEntry[], desired: readonly Wanted[], delta: CoverDelta, now: number): string {
  const held = new Map(kernel.map((k) => [k.text, k]));
  const keep = new Set(desired.map((w) => w.address.text));
  const remove = kernel.filter((k) => !keep.has(k.text)).map((k) => parseAddress(k.text) as Address);
  const add: ElementAdd[] = [];
  for (const w of desired) {
    const k = held.get(w.address.text);
    const fresh = toAdd(w, now);
    const first = fresh[0];
    if (!first) continue;
    const drifted = k !== undefined && (first.timeout === null ? k.expires !== null : k.expires === null || Math.abs(k.expires - first.timeout) > DRIFT);
    if (k === undefined || drifted || delta.add.has(w.address.text)) add.push(first);
  }
  return elementScript(jail, remove, add);
}
