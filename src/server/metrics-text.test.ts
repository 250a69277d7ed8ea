import assert from 'node:assert/strict';
import { test } from 'node:test';
import { escapeHelp, escapeLabelValue, formatValue, Histogram, MetricsText } from './metrics-text.js';

test('label values escape backslash, double quote and line feed, and nothing else', () => {
  assert.equal(escapeLabelValue('C:\\logs\\"mail"\nnext'), 'C:\\\\logs\\\\\\"mail\\"\\nnext');
  assert.equal(escapeLabelValue("/var/log/mail.log {tab\t} 'q' é"), "/var/log/mail.log {tab\t} 'q' é");
});

test('HELP escapes backslash and line feed but keeps double quotes', () => {
  assert.equal(escapeHelp('a "b" \\ c\nd'), 'a "b" \\\\ c\\nd');
});

test('special values', () => {
  assert.equal(formatValue(Number.NaN), 'NaN');
  assert.equal(formatValue(Number.POSITIVE_INFINITY), '+Inf');
  assert.equal(formatValue(Number.NEGATIVE_INFINITY), '-Inf');
  assert.equal(formatValue(-1), '-1');
  assert.equal(formatValue(0.25), '0.25');
});

test('each family is HELP, TYPE, then its samples; labels in order, escaped', () => {
  const text = new MetricsText()
    .family('f2b_jail_banned_total', 'counter', 'Bans made\nsince start')
    .sample('f2b_jail_banned_total', 3, { jail: 'dovecot' })
    .sample('f2b_jail_banned_total', 0, { jail: 'we"ird\\' })
    .family('f2b_up', 'gauge', 'Up')
    .sample('f2b_up', 1)
    .toString();
  assert.equal(
    text,
    [
      '# HELP f2b_jail_banned_total Bans made\\nsince start',
      '# TYPE f2b_jail_banned_total counter',
      'f2b_jail_banned_total{jail="dovecot"} 3',
      'f2b_jail_banned_total{jail="we\\"ird\\\\"} 0',
      '# HELP f2b_up Up',
      '# TYPE f2b_up gauge',
      'f2b_up 1',
      '',
    ].join('\n'),
  );
  assert.equal(new MetricsText().toString(), '');
});

test('a histogram has cumulative buckets, +Inf equal to the count, a sum and a count', () => {
  const h = new Histogram([0.1, 1]);
  h.observe(0.05);
  h.observe(0.5, 2);
  h.observe(3);
  const text = new MetricsText().histogram('lat_seconds', h, { jail: 'j' }).toString();
  assert.equal(
    text,
    [
      'lat_seconds_bucket{jail="j",le="0.1"} 1',
      'lat_seconds_bucket{jail="j",le="1"} 3',
      'lat_seconds_bucket{jail="j",le="+Inf"} 4',
      'lat_seconds_sum{jail="j"} 4.05',
      'lat_seconds_count{jail="j"} 4',
      '',
    ].join('\n'),
  );
});
