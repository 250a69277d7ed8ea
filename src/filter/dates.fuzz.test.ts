// Property tests for the date detector: log lines are hostile input, so no line may make it throw, and
// a timestamp written in any supported format must parse back to the instant it was made from.
// FUZZ_RUNS=100000 runs longer on demand.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { DateDetector } from './dates.js';
import { UTC } from './timezone.js';

const runs = Number(process.env.FUZZ_RUNS ?? 300);
const NOW = 1_764_000_000; // 2025-11-24T16:00:00Z

const MON = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const p2 = (n: number) => String(n).padStart(2, '0');

/** Formats the supported templates read, each with the precision it keeps (seconds). */
const formats: Record<string, (t: number) => string> = {
  'RFC 3339 with offset': (t) => {
    const off = ((t % 27) - 13) * 60; // a fixed but varied zone, -13h..+13h in whole hours
    const d = new Date((t + off * 60) * 1000);
    const sign = off < 0 ? '-' : '+';
    const a = Math.abs(off);
    return `${d.toISOString().slice(0, 19)}${sign}${p2(Math.floor(a / 60))}:${p2(a % 60)}`;
  },
  'RFC 3339 UTC with fraction': (t) => `${new Date(t * 1000).toISOString().slice(0, 19)}.123456Z`,
  'ISO 8601 with a space': (t) => new Date(t * 1000).toISOString().slice(0, 19).replace('T', ' '),
  'syslog (no year)': (t) => {
    const d = new Date(t * 1000);
    return `${MON[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}`;
  },
  'syslog with year': (t) => {
    const d = new Date(t * 1000);
    return `${MON[d.getUTCMonth()]} ${p2(d.getUTCDate())} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
  },
  'apache common log': (t) => {
    const d = new Date(t * 1000);
    return `[${p2(d.getUTCDate())}/${MON[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} +0000]`;
  },
  epoch: (t) => String(t),
  TAI64N: (t) => `@40000000${t.toString(16).padStart(8, '0')}00000000`,
};

// Syslog stamps carry no year: only instants from ~11 months back to a few hours ahead read back the same.
const instant = fc.integer({ min: NOW - 330 * 86400, max: NOW + 3600 });
const tail = fc.oneof(
  fc.constant(''),
  fc.constantFrom(' mail dovecot: auth: passwd-file(a,1.2.3.4): unknown user', ' host sshd[1]: x'),
  fc.string({ maxLength: 40 }).map((s) => ` ${s.replace(/\d/g, 'x')}`),
);

for (const [name, format] of Object.entries(formats)) {
  test(`${name}: generated timestamps parse back to the same epoch second`, () => {
    fc.assert(
      fc.property(instant, tail, (t, rest) => {
        const line = `${format(t)}${rest}`;
        const m = new DateDetector({ zone: UTC }).match(line, NOW);
        assert.ok(m, `no date found in ${JSON.stringify(line)}`);
        assert.equal(Math.floor(m.time), t, `${JSON.stringify(line)} → ${new Date(m.time * 1000).toISOString()}`);
      }),
      { numRuns: runs },
    );
  });
}

test('one detector fed formats in random order (its last-template cache) still reads each correctly', () => {
  const names = Object.keys(formats);
  const detector = new DateDetector({ zone: UTC });
  fc.assert(
    fc.property(fc.constantFrom(...names), instant, (name, t) => {
      const line = `${formats[name]!(t)} mail x: y`;
      const m = detector.match(line, NOW);
      assert.ok(m, `no date found in ${JSON.stringify(line)}`);
      assert.equal(Math.floor(m.time), t, `${name}: ${JSON.stringify(line)}`);
    }),
    { numRuns: runs * 2 },
  );
});

test('arbitrary lines never make the detector throw; a match lies inside the line with a number or NaN', () => {
  const detector = new DateDetector({ zone: UTC });
  const digits = fc.stringMatching(/^[0-9 :\-/.TZ+@a-fA-F]{0,40}$/);
  const line = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.string({ unit: 'binary', maxLength: 200 }),
    digits,
    fc.tuple(fc.constantFrom(...Object.values(formats)), instant, fc.string({ maxLength: 20 })).map(([f, t, s]) =>
      `${s}${f(t)}${s}`.slice(0, 60),
    ),
  );
  fc.assert(
    fc.property(line, (text) => {
      const m = detector.match(text, NOW);
      if (m !== null) {
        assert.ok(m.start >= 0 && m.end <= text.length && m.start <= m.end, `span ${m.start}-${m.end}`);
        assert.equal(typeof m.time, 'number');
      }
    }),
    { numRuns: runs * 3 },
  );
});
