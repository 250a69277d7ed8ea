// Turns a jail's `port` option (`smtp,465,submission`, `pop3,imaps`, `8000:8010`, `0:65535`) into port
// numbers. Mail service names are built in, so a container without /etc/services still works; any
// other name is looked up in /etc/services when present.
import { readFileSync } from 'node:fs';
import { UserError } from '../errors.js';

const BUILT_IN: Readonly<Record<string, number>> = {
  ftp: 21,
  ssh: 22,
  smtp: 25,
  http: 80,
  pop3: 110,
  imap: 143,
  imap2: 143,
  https: 443,
  smtps: 465,
  submissions: 465,
  urd: 465,
  submission: 587,
  imaps: 993,
  pop3s: 995,
  sieve: 4190,
  managesieve: 4190,
};

/** A range this wide means "every port", so the jail is treated as allports. */
const ALL_PORTS_SPAN = 65535;
/** Wider ranges than this are refused instead of expanded into thousands of set elements. */
const MAX_RANGE = 4096;

let servicesCache: Map<string, number> | null = null;

/** Parses /etc/services (`name port/proto alias...`); tcp and udp share numbers for our purposes. */
export function parseServices(text: string): Map<string, number> {
  const map = new Map<string, number>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const [name, portProto, ...aliases] = line.split(/\s+/);
    const port = Number(portProto?.split('/')[0]);
    if (!name || !Number.isInteger(port)) continue;
    for (const n of [name, ...aliases]) if (!map.has(n)) map.set(n, port);
  }
  return map;
}

function services(path: string): Map<string, number> {
  if (servicesCache === null) {
    try {
      servicesCache = parseServices(readFileSync(path, 'utf8'));
    } catch {
      servicesCache = new Map();
    }
  }
  return servicesCache;
}

function portNumber(token: string, servicesPath: string): number {
  const value = /^\d+$/.test(token) ? Number(token) : (BUILT_IN[token] ?? services(servicesPath).get(token));
  if (value === undefined) throw new UserError(`unknown port '${token}': use a number or a service name`);
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new UserError(`port '${token}' is out of range 0-65535`);
  }
  return value;
}

/**
 * Resolves a `port` option to sorted unique port numbers; null means all ports (`0:65535`, `all`, empty).
 * Throws a UserError naming the bad token.
 */
export function resolvePorts(spec: string, servicesPath = '/etc/services'): number[] | null {
  const tokens = spec
    .split(/[\s,]+/)
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t !== '');
  if (tokens.length === 0 || tokens.includes('all')) return null;
  const ports = new Set<number>();
  for (const token of tokens) {
    const range = token.split(/[:-]/);
    if (range.length === 2) {
      const from = portNumber(range[0] as string, servicesPath);
      const to = portNumber(range[1] as string, servicesPath);
      if (to < from) throw new UserError(`port range '${token}' ends before it starts`);
      if (to - from >= ALL_PORTS_SPAN) return null;
      if (to - from > MAX_RANGE) throw new UserError(`port range '${token}' is too wide; use all ports instead`);
      for (let p = from; p <= to; p++) ports.add(p);
    } else {
      ports.add(portNumber(token, servicesPath));
    }
  }
  return [...ports].sort((a, b) => a - b);
}
