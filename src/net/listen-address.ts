// `HOST:PORT` for a listener (the metrics endpoint). Loopback unless an address is written out: a port
// alone means 127.0.0.1, and Go's `:PORT` (every address) is refused rather than guessed, so exposing
// the endpoint beyond the host always takes an explicit `0.0.0.0:PORT` or `[::]:PORT`.
import { parseIp } from './ip.js';

export interface ListenAddress {
  /** A canonical IP literal. */
  host: string;
  port: number;
}

const OFF = new Set(['', 'off', 'no', 'false', 'none', '0']);

/** Parses `PORT`, `IPv4:PORT`, `[IPv6]:PORT` or `localhost:PORT`; null for off. Throws Error with the reason. */
export function parseListenAddress(input: string): ListenAddress | null {
  const text = input.trim();
  if (OFF.has(text.toLowerCase())) return null;
  if (/^\d+$/.test(text)) return { host: '127.0.0.1', port: parsePort(text, input) };
  const m = /^(?:\[([^\]]*)\]|([^:]*)):(\d+)$/.exec(text);
  if (m === null) throw new Error(`'${input}' is not HOST:PORT (e.g. 127.0.0.1:9191, [::1]:9191, or a port alone)`);
  const hostText = m[1] ?? m[2] ?? '';
  if (hostText === '') {
    throw new Error(`'${input}' has no address; write 127.0.0.1:${m[3]} for this host only, or 0.0.0.0:${m[3]} for every address`);
  }
  const host = hostText.toLowerCase() === 'localhost' ? '127.0.0.1' : parseIp(hostText)?.text;
  if (host === undefined) throw new Error(`'${hostText}' in '${input}' is not an IP address`);
  return { host, port: parsePort(m[3]!, input) };
}

function parsePort(text: string, input: string): number {
  const port = Number(text);
  if (port < 1 || port > 65535) throw new Error(`port ${text} in '${input}' is out of range 1-65535`);
  return port;
}

/** `host:port` with brackets around IPv6, as a URL authority. */
export function formatListenAddress(a: ListenAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
