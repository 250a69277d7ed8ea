// Runs any Fail2Ban action.d definition: actionstart/stop/check/ban/unban/flush with `<tag>`s filled in.
// The commands are the admin's shell, so they run with `/bin/sh -c`; the values we put into them must
// never become shell. Values we validated (addresses, numbers, names from the config) are pasted in
// only after a strict character check; free text from logs (`<matches>`, `<F-USER>`) is never pasted:
// it is passed as a positional parameter and the tag becomes a quoted `${N}` that fits where it stands
// (bare, inside "…", or inside '…'), so the script sees exactly the text, one word, never code.
import type { ActionDefinition } from '../config/model.js';
import { substituteTags } from '../config/tags.js';
import type { Address } from './address.js';
import {
  type BanEntry,
  checkJailName,
  FailureLog,
  type Firewall,
  type FirewallFailure,
  type FirewallJail,
  type KernelEntry,
} from './firewall.js';
import { reconcileByDiff } from './reconcile.js';
import { commandRunner, firstLine, type Runner, Serial } from './runner.js';
import { builtin } from '../builtin.js';

/** Characters a pasted value may contain: no quotes, blanks, `$`, backquotes, `;`, `|`, `&`, `<>`… */
const SAFE_VALUE = /^[A-Za-z0-9_.:/,@+=-]*$/;

export class UnsafeTagError extends Error {}

/** A pasted value; throws if it could be anything but one plain shell word. */
function safe(tag: string, value: string): string {
  if (!SAFE_VALUE.test(value)) throw new UnsafeTagError(`refusing to put <${tag}> = ${JSON.stringify(value)} into a command`);
  return value;
}

export interface Command {
  /** The shell text, tags replaced. */
  script: string;
  /** Positional parameters `$1…` for free-text tags. */
  params: string[];
}

/**
 * Builds one command. `config` are the definition's properties and jail values (admin-written, pasted as
 * they are); `values` are validated run-time values (checked again here); `text` is free text.
 */
export function buildCommand(
  template: string,
  config: Record<string, string>,
  values: Record<string, string>,
  text: Record<string, string> = {},
  conditional = '',
): Command {
  const params: string[] = [];
  const tags: Record<string, string> = { ...config };
  for (const [tag, value] of Object.entries(values)) tags[tag] = safe(tag, value);
  for (const [tag, value] of Object.entries(text)) {
    params.push(value);
    tags[tag] = `${PLACEHOLDER}${params.length}${PLACEHOLDER}`;
  }
  const script = substituteTags(template, tags, conditional);
  return { script: params.length === 0 ? script : quoteParams(script), params };
}

/** Marks where a parameter goes until the quoting around it is known (NUL cannot occur in config text). */
const PLACEHOLDER = '\u0000';

/** Replaces placeholders with `${N}` quoted for the shell state at that point (POSIX sh quoting rules). */
function quoteParams(script: string): string {
  let out = '';
  let state: 'plain' | 'single' | 'double' = 'plain';
  for (let i = 0; i < script.length; i++) {
    const ch = script[i] as string;
    if (ch === PLACEHOLDER) {
      const end = script.indexOf(PLACEHOLDER, i + 1);
      const ref = `\${${script.slice(i + 1, end)}}`;
      out += state === 'double' ? ref : state === 'single' ? `'"${ref}"'` : `"${ref}"`;
      i = end;
      continue;
    }
    out += ch;
    if (state === 'single') {
      if (ch === "'") state = 'plain';
    } else if (ch === '\\') {
      out += script[++i] ?? '';
    } else if (ch === '"') {
      state = state === 'double' ? 'plain' : 'double';
    } else if (ch === "'" && state === 'plain') {
      state = 'single';
    }
  }
  return out;
}

export interface ScriptOptions {
  runner?: Runner;
  /** The shell (default /bin/sh). */
  shell?: string;
}

type Operation = 'actionstart' | 'actionstop' | 'actioncheck' | 'actionban' | 'actionunban' | 'actionflush';

export class ScriptFirewall implements Firewall {
  readonly name: string;
  readonly usesTicketDetails = true;
  private readonly run: Runner;
  private readonly shell: string;
  private readonly serial = new Serial();
  private readonly failures = new FailureLog();
  /** What this process banned per jail: scripts cannot be asked what the kernel holds. */
  private readonly held = new Map<string, Map<string, Address>>();

  constructor(
    private readonly action: ActionDefinition,
    options: ScriptOptions = {},
  ) {
    this.name = action.name;
    this.run = options.runner ?? commandRunner();
    this.shell = options.shell ?? '/bin/sh';
  }

  get errors(): readonly FirewallFailure[] {
    return this.failures.entries;
  }

  /** Tags every command of this jail knows: jail values first, the definition's own properties win. */
  private config(jail: FirewallJail): Record<string, string> {
    return {
      name: checkJailName(jail.name),
      port: jail.ports === null ? '0:65535' : jail.ports.join(','),
      protocol: jail.protocol,
      blocktype: jail.blocktype,
      ...this.action.properties,
    };
  }

  /** Runs one command, retrying once; a second failure is recorded and thrown. Empty commands are no-ops. */
  private async exec(jail: FirewallJail, op: Operation, values: Record<string, string>, entry?: BanEntry): Promise<boolean> {
    const template = this.action.commands[op];
    if (template.trim() === '') return true;
    const conditional = entry?.address.family === 6 ? 'family=inet6' : '';
    const text = entry ? await ticketText(template, entry) : {};
    const cmd = buildCommand(template, this.config(jail), { ...values, ...ticketValues(entry) }, text, conditional);
    const argv = [this.shell, '-c', cmd.script, this.shell, ...cmd.params];
    let result = await this.run(argv);
    if (result.code !== 0 && op !== 'actioncheck') result = await this.run(argv);
    if (result.code === 0) return true;
    if (op === 'actioncheck') return false;
    throw this.failures.record(jail.name, `${this.name} ${op}`, firstLine(result));
  }

  private values(entry: BanEntry | Address): Record<string, string> {
    const address = 'address' in entry ? entry.address : entry;
    const ticket = 'address' in entry ? entry.ticket : undefined;
    const now = Math.floor(Date.now() / 1000);
    return {
      ip: address.text,
      family: address.family === 6 ? 'inet6' : 'inet4',
      failures: String(Math.trunc(ticket?.failures ?? 0)),
      // Without a database to merge earlier bans, Fail2Ban's ip*failures fall back to the ticket's own.
      ipfailures: String(Math.trunc(ticket?.failures ?? 0)),
      ipjailfailures: String(Math.trunc(ticket?.failures ?? 0)),
      time: String(Math.trunc(ticket?.time ?? now)),
      bantime: String(Math.trunc(ticket?.bantime ?? ('timeout' in entry && entry.timeout !== null ? entry.timeout : -1))),
    };
  }

  private jailSet(jail: string): Map<string, Address> {
    let set = this.held.get(jail);
    if (!set) {
      set = new Map();
      this.held.set(jail, set);
    }
    return set;
  }

  start(jail: FirewallJail): Promise<void> {
    return this.serial.run(async () => {
      await this.exec(jail, 'actionstart', {});
      this.jailSet(jail.name);
    });
  }

  stop(jail: FirewallJail, options: { keepRules?: boolean } = {}): Promise<void> {
    return this.serial.run(async () => {
      const held = this.jailSet(jail.name);
      this.held.delete(jail.name);
      if (options.keepRules) return;
      if (this.action.commands.actionflush.trim() !== '') await this.exec(jail, 'actionflush', {});
      else for (const address of held.values()) await this.exec(jail, 'actionunban', this.values(address));
      await this.exec(jail, 'actionstop', {});
    });
  }

  /** One process per ban (that is what an action.d script is); every failure is kept, the first thrown. */
  private async each(jail: FirewallJail, items: Array<{ values: Record<string, string>; entry?: BanEntry }>, op: Operation, after: (i: number) => void) {
    let first: unknown = null;
    for (const [i, item] of items.entries()) {
      try {
        await this.exec(jail, op, item.values, item.entry);
        after(i);
      } catch (err) {
        first ??= err;
      }
    }
    if (first !== null) throw first;
  }

  ban(jail: FirewallJail, entries: readonly BanEntry[]): Promise<void> {
    return this.serial.run(async () => {
      const set = this.jailSet(jail.name);
      const fresh = entries.filter((e) => !set.has(e.address.text) && (e.timeout === null || e.timeout > 0));
      const items = fresh.map((entry) => ({ values: this.values(entry), entry }));
      await this.each(jail, items, 'actionban', (i) => set.set(fresh[i]?.address.text as string, fresh[i]?.address as Address));
    });
  }

  unban(jail: FirewallJail, addresses: readonly Address[]): Promise<void> {
    return this.serial.run(async () => {
      const set = this.jailSet(jail.name);
      const lift = addresses.filter((a) => set.has(a.text));
      const items = lift.map((address) => ({ values: this.values(address), entry: { address, timeout: null } }));
      await this.each(jail, items, 'actionunban', (i) => set.delete(lift[i]?.text as string));
    });
  }

  reconcile(jail: FirewallJail, wanted: readonly BanEntry[]): Promise<void> {
    return reconcileByDiff(this, jail, wanted);
  }

  /** `actioncheck` decides; an action without one is assumed fine. */
  check(jail: FirewallJail): Promise<boolean> {
    return this.serial.run(() => this.exec(jail, 'actioncheck', {}));
  }

  /** What this process banned (a script cannot be asked what the kernel holds). */
  async list(jail: FirewallJail): Promise<KernelEntry[]> {
    return [...this.jailSet(jail.name).keys()].map((text) => ({ text, expires: null }));
  }
}

/** Validated tags of a ban's ticket: `<bancount>`, `<fid>` (our failure id is the address). */
function ticketValues(entry: BanEntry | undefined): Record<string, string> {
  if (!entry) return {};
  return { bancount: String(Math.trunc(entry.ticket?.banCount ?? 1)), fid: entry.address.text };
}

const HOST_TIMEOUT_MS = 3000;

/**
 * Free-text tags of a ban's ticket, as Fail2Ban's ActionInfo names them: `<matches>` and, with no
 * database of earlier bans to merge, `<ipmatches>`/`<ipjailmatches>` the same lines; every captured
 * group as `<F-NAME>`; `<raw-ticket>`; `<ip-host>` (a reverse lookup, only when the command uses it).
 */
async function ticketText(template: string, entry: BanEntry): Promise<Record<string, string>> {
  const t = entry.ticket;
  const text: Record<string, string> = { ...(t?.extra ?? {}) };
  const matches = (t?.matches ?? []).join('\n');
  text.matches ??= matches;
  text.ipmatches ??= matches;
  text.ipjailmatches ??= matches;
  for (const [name, value] of Object.entries(t?.fields ?? {})) text[`F-${name.toUpperCase()}`] ??= value;
  if (t) {
    const list = (t.matches ?? []).map((m) => `'${m.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`).join(', ');
    text['raw-ticket'] ??=
      `BanTicket: ip=${entry.address.text} time=${t.time} bantime=${t.bantime} bancount=${t.banCount ?? 1} #attempts=${t.failures} matches=[${list}]`;
  }
  if (template.includes('<ip-host>')) text['ip-host'] ??= await reverseName(entry.address.text);
  return text;
}

/** The first PTR name of an address, or '' when there is none within a few seconds. */
async function reverseName(ip: string): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(''), HOST_TIMEOUT_MS);
  });
  try {
    // dns is loaded by the first action that asks for <ip-host>, not by every daemon: once, ahead of a
    // network round trip that costs far more than loading it.
    const { reverse } = builtin('node:dns/promises');
    return await Promise.race([reverse(ip).then((names) => names[0] ?? '', () => ''), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
