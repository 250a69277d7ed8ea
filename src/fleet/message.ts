// What one node tells the fleet: a ban it made or an unban an admin made, as JSON signed with the
// fleet's shared secret (HMAC-SHA256). Everything read back from Redis goes through verify(): a message
// that is unsigned, forged or malformed in any field is refused with the reason, never half-applied.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { parseCidr } from '../net/ip.js';

/** A ban made on `origin`; `end` is epoch seconds, -1 for a permanent ban. */
export interface FleetBan {
  kind: 'ban';
  origin: string;
  jail: string;
  /** A single address or a network, normalized. */
  ip: string;
  start: number;
  end: number;
  failures: number;
  banCount: number;
}

/** An unban made by an admin on `origin`. */
export interface FleetUnban {
  kind: 'unban';
  origin: string;
  jail: string;
  ip: string;
  at: number;
}

export type FleetMessage = FleetBan | FleetUnban;

/** The stream fields of one message: the JSON body and its signature (hex). */
export type SignedFields = { m: string; s: string };

const NAME = /^[A-Za-z0-9_.:@-]{1,100}$/;
const MAX_BODY = 1024;

export function sign(message: FleetMessage, secret: string): SignedFields {
  const m = JSON.stringify(message);
  return { m, s: mac(m, secret) };
}

function mac(body: string, secret: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

export type Verified = { ok: true; message: FleetMessage } | { ok: false; reason: string };

/** Checks the signature first (nothing unsigned is even parsed), then every field. */
export function verify(fields: Readonly<Record<string, string>>, secret: string): Verified {
  const { m, s } = fields;
  if (typeof m !== 'string' || typeof s !== 'string') return { ok: false, reason: 'missing body or signature' };
  if (m.length > MAX_BODY) return { ok: false, reason: 'body too long' };
  const expected = Buffer.from(mac(m, secret), 'hex');
  const given = /^[0-9a-f]{64}$/.test(s) ? Buffer.from(s, 'hex') : null;
  if (given === null || !timingSafeEqual(expected, given)) return { ok: false, reason: 'bad signature' };
  let raw: unknown;
  try {
    raw = JSON.parse(m);
  } catch {
    return { ok: false, reason: 'body is not JSON' };
  }
  return validate(raw);
}

function validate(raw: unknown): Verified {
  if (typeof raw !== 'object' || raw === null) return { ok: false, reason: 'body is not an object' };
  const r = raw as Record<string, unknown>;
  const bad = (field: string): Verified => ({ ok: false, reason: `invalid ${field}` });
  if (typeof r.origin !== 'string' || !NAME.test(r.origin)) return bad('origin');
  if (typeof r.jail !== 'string' || !NAME.test(r.jail)) return bad('jail');
  const cidr = typeof r.ip === 'string' ? parseCidr(r.ip) : null;
  if (cidr === null || cidr.prefix === 0) return bad('ip');
  const single = cidr.prefix === (cidr.family === 4 ? 32 : 128);
  const ip = single ? cidr.address : cidr.text;
  if (r.kind === 'unban') {
    if (!isTime(r.at)) return bad('at');
    return { ok: true, message: { kind: 'unban', origin: r.origin, jail: r.jail, ip, at: r.at } };
  }
  if (r.kind !== 'ban') return bad('kind');
  if (!isTime(r.start)) return bad('start');
  if (!(r.end === -1 || (isTime(r.end) && r.end > r.start))) return bad('end');
  if (!isCount(r.failures)) return bad('failures');
  if (!isCount(r.banCount) || r.banCount < 1) return bad('banCount');
  return {
    ok: true,
    message: { kind: 'ban', origin: r.origin, jail: r.jail, ip, start: r.start, end: r.end, failures: r.failures, banCount: r.banCount },
  };
}

/** Epoch seconds, to the millisecond. */
function isTime(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 && v < 1e11 && Math.round(v * 1000) / 1000 === v;
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 1e9;
}
