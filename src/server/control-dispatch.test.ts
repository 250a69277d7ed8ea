import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { banListText } from './control-dispatch.js';
import { formatLocalTime } from './daemon-log.js';

describe('banListText (get JAIL banip)', () => {
  const t = 1_700_000_000;
  const bans = [
    { ip: '192.0.2.1', time: t, bantime: 600.75 },
    { ip: '192.0.2.2', time: t, bantime: -1 },
    { ip: '192.0.2.3', time: t - 100, bantime: 600 },
    { ip: '192.0.2.4', time: t - 100, bantime: 600 },
  ];

  it('orders by end of ban, ties in ban order, permanent bans last', () => {
    assert.deepEqual(banListText(bans, false), ['192.0.2.3', '192.0.2.4', '192.0.2.1', '192.0.2.2']);
  });

  it('--with-time: start + whole seconds = end, a permanent ban ending at the end of year 9999', () => {
    const at = (s: number) => formatLocalTime(s * 1000);
    assert.deepEqual(banListText(bans, true), [
      `192.0.2.3 \t${at(t - 100)} + 600 = ${at(t + 500)}`,
      `192.0.2.4 \t${at(t - 100)} + 600 = ${at(t + 500)}`,
      `192.0.2.1 \t${at(t)} + 600 = ${at(t + 600.75)}`,
      `192.0.2.2 \t${at(t)} + -1 = 9999-12-31 23:59:59`,
    ]);
  });
});
