// The fleet's settings ([Definition] of fail2ban.local): `fleet` is the Redis URL that turns sharing on,
// `fleetsecret` the shared HMAC key, `fleetname` this node's name, `fleetjail` the jail that takes bans
// of jails this node does not run. Part of the config layer: fleet/ consumes these settings, config/ never imports fleet/.
import { hostname } from 'node:os';

/** Where Redis is: TCP (optionally TLS) or a unix socket; credentials for AUTH (ACL user or password). */
export interface RedisTarget {
  host?: string;
  port?: number;
  path?: string;
  tls: boolean;
  username?: string;
  password?: string;
  db: number;
  /** The URL without its password, for logs and `status`. */
  display: string;
}

export interface FleetSettings {
  redis: RedisTarget;
  secret: string;
  node: string;
  fallbackJail: string;
  /** The stream key. */
  stream: string;
}

const MIN_SECRET = 16;

/**
 * `redis://[user[:password]@]host[:port][/db]`, `rediss://…` (TLS), or
 * `unix:///path/to/redis.sock[?user=U&password=P&db=N]`. Throws with what is wrong.
 */
export function parseRedisUrl(text: string): RedisTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`"${text}" is not a URL; write redis://[user:password@]host[:port][/db], rediss://… or unix:///path/redis.sock`);
  }
  const dec = (s: string) => (s === '' ? undefined : decodeURIComponent(s));
  if (url.protocol === 'unix:' || url.protocol === 'redis+unix:') {
    if (url.pathname === '' || url.pathname === '/') throw new Error(`${url.protocol} URL needs a socket path`);
    const q = url.searchParams;
    const db = parseDb(q.get('db') ?? '0');
    const user = q.get('user') ?? dec(url.username);
    const password = q.get('password') ?? dec(url.password);
    return { path: decodeURIComponent(url.pathname), tls: false, username: user ?? undefined, password: password ?? undefined, db, display: `unix://${url.pathname}` };
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new Error(`unsupported scheme "${url.protocol}"; use redis://, rediss:// (TLS) or unix://`);
  }
  if (url.hostname === '') throw new Error('the Redis URL needs a host');
  const port = url.port === '' ? 6379 : Number(url.port);
  const db = parseDb(url.pathname.replace(/^\//, '') || '0');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const user = dec(url.username);
  return {
    host,
    port,
    tls: url.protocol === 'rediss:',
    username: user,
    password: dec(url.password),
    db,
    display: `${url.protocol}//${user ? `${user}@` : ''}${url.host}/${db}`,
  };
}

function parseDb(s: string): number {
  if (!/^\d{1,2}$/.test(s)) throw new Error(`database "${s}" is not a number`);
  return Number(s);
}

/** The fleet settings, or null when `url` is empty (sharing off). Throws with what is wrong. */
export function fleetSettings(options: { url: string; secret: string; name: string; jail: string }): FleetSettings | null {
  if (options.url.trim() === '') return null;
  const redis = parseRedisUrl(options.url.trim());
  if (options.secret.length < MIN_SECRET) {
    throw new Error(`fleetsecret must be set, ${MIN_SECRET} characters or more, and the same on every node (e.g. openssl rand -hex 32)`);
  }
  const node = options.name.trim() || hostname();
  if (!/^[A-Za-z0-9_.:@-]{1,100}$/.test(node)) throw new Error(`fleetname "${node}" may only hold letters, digits and _.:@-`);
  const fallbackJail = options.jail.trim() || 'custom';
  return { redis, secret: options.secret, node, fallbackJail, stream: 'portcullis:fleet' };
}
