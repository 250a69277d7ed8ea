import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DateDetector, makeTemplate } from './dates.js';
import { ianaZone, parseTimeZone, posixZone, UTC } from './timezone.js';

const NOW = 1124013600; // 2005-08-14 10:00:00 UTC
const CET = posixZone('CET-01CEST-02,M3.5.0,M10.5.0');
const iso = (t: number) => new Date(t * 1000).toISOString();

test('syslog dates take the year from now, never more than a day ahead', () => {
  const d = new DateDetector({ zone: UTC });
  assert.equal(iso(d.match('Aug 14 11:00:00 host x', NOW)?.time ?? 0), '2005-08-14T11:00:00.000Z');
  assert.equal(iso(d.match('Aug 15 09:00:00 host x', NOW)?.time ?? 0), '2005-08-15T09:00:00.000Z');
  assert.equal(iso(d.match('Nov 24 10:00:00 host x', NOW)?.time ?? 0), '2004-11-24T10:00:00.000Z');
  assert.equal(iso(d.match('Jan  5 01:31:41 www sshd[1]: x', NOW)?.time ?? 0), '2005-01-05T01:31:41.000Z');
});

test('local times follow the zone, including daylight saving time', () => {
  assert.ok(CET);
  const d = new DateDetector({ zone: CET });
  assert.equal(iso(d.match('Aug 14 12:00:00 host x', NOW)?.time ?? 0), '2005-08-14T10:00:00.000Z');
  assert.equal(iso(d.match('Jan 14 12:00:00 host x', NOW)?.time ?? 0), '2005-01-14T11:00:00.000Z');
  const paris = ianaZone('Europe/Paris');
  assert.ok(paris);
  const p = new DateDetector({ zone: paris });
  assert.equal(iso(p.match('2024-07-01 12:00:00 x', NOW)?.time ?? 0), '2024-07-01T10:00:00.000Z');
  assert.equal(parseTimeZone('UTC+0200')?.offsetAtLocal(0), 7200);
  assert.equal(parseTimeZone('CET')?.offsetAtLocal(0), 3600);
});

test('RFC 3339 / ISO 8601 with zone and fraction', () => {
  const d = new DateDetector({ zone: CET ?? UTC });
  const m = d.match('2024-11-24T10:00:00.123456+01:00 mail postfix/smtpd[123]: x', NOW);
  assert.equal(iso(m?.time ?? 0), '2024-11-24T09:00:00.000Z');
  assert.equal(m?.start, 0);
  assert.equal(m?.end, 32);
  assert.equal(iso(d.match('2024-11-24T10:00:00Z x', NOW)?.time ?? 0), '2024-11-24T10:00:00.000Z');
  assert.equal(iso(d.match('2024-11-24 10:00:00 x', NOW)?.time ?? 0), '2024-11-24T09:00:00.000Z');
});

test('epoch, TAI64N, apache and bracketed forms', () => {
  const d = new DateDetector();
  assert.equal(d.match('1124013500.123 x', NOW)?.time, 1124013500.123);
  assert.equal(d.match('[1124013500] x', NOW)?.time, 1124013500);
  assert.equal(d.match('@4000000044e9e5b81e2c1ea4 x', NOW)?.time, 0x44e9e5b8);
  assert.equal(iso(d.match('1.2.3.4 - - [31/Oct/2006:09:22:55 -0000] "GET', NOW)?.time ?? 0), '2006-10-31T09:22:55.000Z');
});

test('datepattern: {^LN-BEG}, %-patterns, EPOCH and {NONE}', () => {
  const ln = new DateDetector({ datepattern: '{^LN-BEG}' });
  assert.equal(ln.match('x Aug 14 11:00:00', NOW), null);
  const custom = new DateDetector({ datepattern: '^%%Y/%%m/%%d %%H:%%M:%%S'.replace(/%%/g, '%') });
  assert.equal(iso(custom.match('2005/08/14 10:00:01 x', NOW)?.time ?? 0), '2005-08-14T10:00:01.000Z');
  assert.equal(new DateDetector({ datepattern: 'EPOCH' }).match('1124013500 x', NOW)?.time, 1124013500);
  const none = new DateDetector({ datepattern: '{NONE}' }).match('Aug 14 11:00:00 x', NOW);
  assert.equal(none?.end, 0);
  assert.equal(makeTemplate('{^LN-BEG}%H:%M:%S').anchored, true);
});

test('the last template is tried first and still re-searched when the format changes', () => {
  const d = new DateDetector();
  const a = d.match('2005-08-14 10:00:00 x', NOW);
  const b = d.match('Aug 14 10:00:00 x', NOW);
  assert.notEqual(a?.template.name, b?.template.name);
  assert.equal(d.match('no date here', NOW), null);
});

test('a day the month does not have is no date (leap years counted); the span of a date after a prefix is exact', () => {
  const d = new DateDetector({ zone: UTC });
  assert.ok(Number.isNaN(d.match('2005-02-29 10:00:00 x', NOW)?.time));
  assert.ok(Number.isNaN(d.match('2005-04-31 10:00:00 x', NOW)?.time));
  assert.equal(iso(d.match('2004-02-29 10:00:00 x', NOW)?.time ?? 0), '2004-02-29T10:00:00.000Z');
  assert.equal(iso(d.match('2000-02-29 10:00:00 x', NOW)?.time ?? 0), '2000-02-29T10:00:00.000Z');
  // Syslog without a year: Feb 29 of 2005 (the year `now` gives) does not exist.
  assert.ok(Number.isNaN(d.match('Feb 29 10:00:00 host x', NOW)?.time));
  const m = d.match('[] Aug 14 11:00:00 host x', NOW);
  assert.deepEqual([m?.start, m?.end], [3, 18]);
});
