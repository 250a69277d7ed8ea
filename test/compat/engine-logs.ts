// Generated docker-mailserver mail logs for the differential test against Fail2Ban's engine: attackers
// at many paces (bursts, just over findtime, paced, repeat offenders after their ban ran out), IPv6,
// addresses inside ignoreip, injection attempts, and ordinary traffic in between. Seeded: a failing seed
// can be replayed. Stamps carry the year and offset, so neither side has to guess them.
import {
  dovecotFailure,
  dovecotLoginFailure,
  NOISE_TEMPLATES,
  noiseLine,
  postfixRelayReject,
  postfixSaslFailure,
  rng,
} from '../e2e/mail-log.js';

/** Jail settings a generated log is shaped for (paces are chosen around them). */
export interface Shape {
  findtime: number;
  bantime: number;
  maxretry: number;
}

interface Event {
  t: number;
  line: string;
}

const START = Date.UTC(2025, 2, 1) / 1000;

function iso(t: number): string {
  return `${new Date(t * 1000).toISOString().slice(0, 19)}+00:00`;
}

/** `lines` log lines (with trailing newlines) for `seed`. */
export function mailLog(seed: number, lines: number, shape: Shape): string {
  const r = rng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const span = Math.max(6 * 3600, lines * 2);
  const events: Event[] = [];
  // A pool small enough that actors reuse addresses: a repeat offender may come back as another pace.
  const v4 = () => `${pick(['203.0.113', '198.51.100', '100.64.7'])}.${int(1, 40)}`;
  const v6 = () => `2001:db8:${int(1, 9).toString(16)}::${int(1, 30).toString(16)}`;
  const ignored = () => (r() < 0.5 ? `192.168.${int(0, 3)}.${int(1, 200)}` : `2001:db8:ffff::${int(1, 99).toString(16)}`);
  const failure = (ip: string, t: number): string => {
    const stamp = iso(t);
    switch (int(0, 3)) {
      case 0:
        return dovecotFailure(ip, stamp, `user${int(1, 9)}@example.com`);
      case 1:
        return dovecotLoginFailure(ip, stamp, `u${int(1, 99)}`);
      case 2:
        return postfixSaslFailure(ip, stamp);
      default:
        return postfixRelayReject(ip, `helo${int(1, 9)}.example`, `s${int(1, 9)}@example.net`, stamp);
    }
  };
  // A client-chosen field carrying another address: both engines must agree on whom it accuses.
  const injection = (ip: string, t: number): string => {
    const stamp = iso(t);
    const victim = v4();
    return r() < 0.5
      ? dovecotLoginFailure(ip, stamp, `x>, method=PLAIN, rip=${victim}, lip=1.2.3.4, TLS, session=<a`)
      : postfixRelayReject(ip, `unknown[${victim}]`, `a@unknown[${victim}]`, stamp);
  };
  const series = (ip: string, t0: number, gaps: () => number, n: number, make = failure) => {
    let t = t0;
    for (let i = 0; i < n; i++) {
      events.push({ t, line: make(ip, t) });
      t += gaps();
    }
  };
  const { findtime, bantime, maxretry } = shape;
  let failures = 0;
  while (failures < lines / 2) {
    const t0 = START + int(0, span);
    const before = events.length;
    const kind = int(0, 7);
    if (kind === 0) series(v4(), t0, () => int(0, 3), int(1, maxretry + 3)); // burst
    else if (kind === 1) {
      // Just over (or under) findtime / (maxretry - 1) apart: where rate estimation decides.
      const gap = Math.floor(findtime / Math.max(1, maxretry - 1)) + int(-3, 40);
      series(v4(), t0, () => Math.max(1, gap + int(-2, 2)), maxretry + int(0, 3));
    } else if (kind === 2) series(v4(), t0, () => int(findtime / 4, findtime * 2), int(3, 12)); // paced
    else if (kind === 3) {
      // Repeat offender: bursts again after each ban ran out (bantime.increment weighs these).
      const ip = r() < 0.8 ? v4() : v6();
      let t = t0;
      for (let round = int(2, 4); round > 0; round--) {
        series(ip, t, () => int(1, 20), int(1, maxretry));
        t += bantime * int(1, 3) + int(1, findtime);
      }
    } else if (kind === 4) series(v6(), t0, () => int(1, 60), int(1, maxretry + 2));
    else if (kind === 5) series(ignored(), t0, () => int(0, 10), int(maxretry, maxretry + 4));
    else if (kind === 6) series(v4(), t0, () => int(1, 30), int(1, maxretry + 1), injection);
    else series(v4(), t0, () => int(1, 300), int(1, 2)); // stray failures
    failures += events.length - before;
  }
  while (events.length < lines) {
    const t = START + int(0, span);
    events.push({ t, line: noiseLine(`198.18.${int(0, 9)}.${int(1, 250)}`, int(0, NOISE_TEMPLATES - 1), iso(t)) });
  }
  events.sort((a, b) => a.t - b.t);
  return events
    .slice(0, lines)
    .map((e) => e.line)
    .join('');
}
