// The one typed model that every stage reads. Only src/config/ knows the Fail2Ban INI dialect; it
// translates a tree into these types once (Caddy's "adapter" idea) and the rest of the code never sees INI.
import type { FleetSettings } from './fleet-settings.js';
import type { ListenAddress } from '../net/listen-address.js';

/** A duration in seconds. -1 means permanent (Fail2Ban's `bantime = -1`). */
export type Seconds = number;

/** Settings of fail2ban.conf / fail2ban.local, section [Definition]. */
export interface ServerSettings {
  /** CRITICAL | ERROR | WARNING | NOTICE | INFO | DEBUG (upper case). */
  loglevel: string;
  /** A file path, or one of STDOUT, STDERR, SYSLOG, SYSTEMD-JOURNAL. */
  logtarget: string;
  socket: string;
  pidfile: string;
  /** A path, `:memory:`, or `None` (no persistence). */
  dbfile: string;
  dbpurgeage: Seconds;
  dbmaxmatches: number;
  /** `metrics = [HOST:]PORT`: where /metrics listens (portcullis only); null = no listener (default). */
  metrics: ListenAddress | null;
  /** The policy servers Postfix and Dovecot ask about banned clients (portcullis only). */
  policy: PolicySettings;
  /** `fleet = redis://…` and its companions: ban sharing over Redis (portcullis only); null = off. */
  fleet?: FleetSettings | null;
}

/** Where a policy server listens: a unix socket path, or HOST:PORT. */
export type PolicyListen = { path: string } | ListenAddress;

/** `postfixpolicy`, `postfixpolicyaction`, `dovecotpolicy`, `dovecotpolicymessage` of [Definition]. */
export interface PolicySettings {
  /** Postfix's check_policy_service; null = off (default). */
  postfix: PolicyListen | null;
  /** What a banned client gets, without `action=`. */
  postfixAction: string;
  /** Dovecot's auth_policy_server_url (HTTP); null = off (default). */
  dovecot: ListenAddress | null;
  /** The `msg` of a refusal. */
  dovecotMessage: string;
}

/**
 * A filter.d definition after [INCLUDES], [Init], jail arguments (`name[mode=extra]`) and `%(x)s`
 * interpolation. Regexes stay in Fail2Ban's Python flavour with their `<HOST>`-style tags: turning them
 * into JS RegExps is src/filter/'s job.
 */
export interface FilterDefinition {
  /** The name the jail asked for, without arguments: `postfix`. */
  name: string;
  /** The file it was read from (`.conf`), or null for a definition built in code. */
  file: string | null;
  /** Arguments given by the jail, e.g. `{ mode: 'extra' }`. */
  args: Record<string, string>;
  prefregex: string | null;
  failregex: string[];
  ignoreregex: string[];
  maxlines: number;
  /** `datepattern` as written (may be `{^LN-BEG}`, a strftime-like pattern, or several lines). */
  datepattern: string | null;
  /** One journalmatch expression per line, for `backend = systemd`. */
  journalmatch: string[];
  /** Every other resolved key of [Definition] and [Init] (e.g. `logtype`, `maxlines`, `mode`). */
  options: Record<string, string>;
  /** Where each regex option was written, so a regex that does not compile is reported as file:line. */
  origins?: Partial<Record<RegexOption, { file: string; line: number | null }>>;
}

export type RegexOption = 'prefregex' | 'failregex' | 'ignoreregex';

/** The commands of an action.d file. `<tag>`s that only the ban knows (`<ip>`, `<failures>`…) stay. */
export interface ActionCommands {
  actionstart: string;
  actionstop: string;
  actioncheck: string;
  actionban: string;
  actionunban: string;
  actionflush: string;
  actionreban: string;
  actionprolong: string;
}

export interface ActionDefinition {
  /** The name the jail asked for: `nftables-allports`. */
  name: string;
  file: string | null;
  args: Record<string, string>;
  commands: ActionCommands;
  /** Every resolved property (from [Init], [Definition], and the jail's arguments) used for `<tag>`s. */
  properties: Record<string, string>;
}

export interface LogPath {
  /** A path or a glob. */
  pattern: string;
  /** `logpath = X tail` starts at the end; the default is `head`. */
  start: 'head' | 'tail';
}

export interface BantimeIncrement {
  enabled: boolean;
  factor: number;
  /** A Fail2Ban formula expression, or null for the default `ban.Time * (1<<(ban.Count if ban.Count<20 else 20)) * banFactor`. */
  formula: string | null;
  /** When non-empty, replaces the formula: index = earlier ban count, the last value repeats. */
  multipliers: number[];
  maxtime: Seconds;
  rndtime: Seconds;
  overalljails: boolean;
}

export interface JailConfig {
  name: string;
  enabled: boolean;
  /** auto | polling | pyinotify | systemd … */
  backend: string;
  /** null when the jail names a filter that has no definition (a warning is recorded). */
  filter: FilterDefinition | null;
  actions: ActionDefinition[];
  logpaths: LogPath[];
  logencoding: string;
  bantime: Seconds;
  findtime: Seconds;
  maxretry: number;
  maxmatches: number;
  /** Addresses, CIDRs and DNS names as written. */
  ignoreip: string[];
  ignoreself: boolean;
  ignorecommand: string;
  /** yes | warn | no | raw */
  usedns: string;
  increment: BantimeIncrement;
  /**
   * Prefix lengths failures are counted and banned by (`ipv4_subnet`, `ipv6_subnet`); absent means
   * 32 and 128, one address at a time.
   */
  subnets?: { v4: number; v6: number };
  /** Every resolved key of the jail section (port, protocol, banaction, chain, blocktype, interface…). */
  options: Record<string, string>;
}

export interface Config {
  /** The tree it was read from, or null for the built-in defaults alone. */
  dir: string | null;
  server: ServerSettings;
  /** Enabled jails, in the order Fail2Ban would start them. */
  jails: JailConfig[];
  /** Non-fatal findings, one clear line each (e.g. a jail naming a filter with no definition). */
  warnings: string[];
}
