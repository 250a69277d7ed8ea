// bantime.increment parity: the same settings through Debian's Fail2Ban (its Jail.setBanTimeExtra) and
// through bantimeCalculator must give the same ban times.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { it } from 'node:test';
import type { BantimeIncrement } from '../config/model.js';
import { bantimeCalculator } from './bans.js';

const PYTHON = '/usr/bin/python3';
const hasFail2Ban = spawnSync(PYTHON, ['-c', 'import fail2ban.server.jail']).status === 0;

const FAIL2BAN_EVAL = `
import json, sys, logging
logging.disable(logging.CRITICAL)
from fail2ban.server.jail import Jail
cases = json.loads(sys.argv[1])
results = []
for case in cases:
    jail = Jail('parity', backend='polling')
    for key, value in case['options'].items():
        jail.setBanTimeExtra(key, value)
    class Ban: pass
    row = []
    for count in case['counts']:
        ban = Ban(); ban.Time = case['bantime']; ban.Count = count
        row.append(jail.getBanTimeExtra('evformula')(ban))
    results.append(row)
print(json.dumps(results))
`;

interface Case {
  options: Record<string, string>;
  increment: BantimeIncrement;
  bantime: number;
}

const base: BantimeIncrement = { enabled: true, factor: 1, formula: null, multipliers: [], maxtime: 0, rndtime: 0, overalljails: false };
const counts = [1, 2, 3, 5, 10, 19, 20, 21, 30];
const cases: Case[] = [
  { options: { increment: 'true' }, increment: base, bantime: 600 },
  { options: { increment: 'true', factor: '3' }, increment: { ...base, factor: 3 }, bantime: 60 },
  { options: { increment: 'true', maxtime: '86400' }, increment: { ...base, maxtime: 86400 }, bantime: 600 },
  { options: { increment: 'true', multipliers: '1 5 30 60 300 720 1440 2880' }, increment: { ...base, multipliers: [1, 5, 30, 60, 300, 720, 1440, 2880] }, bantime: 60 },
  { options: { increment: 'true', multipliers: '1 2 4', factor: '2', maxtime: '2000' }, increment: { ...base, multipliers: [1, 2, 4], factor: 2, maxtime: 2000 }, bantime: 300 },
  {
    options: { increment: 'true', factor: String(2 / 2.885385), formula: 'ban.Time * math.exp(float(ban.Count+1)*banFactor)/math.exp(1*banFactor)' },
    increment: { ...base, factor: 2 / 2.885385, formula: 'ban.Time * math.exp(float(ban.Count+1)*banFactor)/math.exp(1*banFactor)' },
    bantime: 600,
  },
  {
    options: { increment: 'true', formula: 'ban.Time * (ban.Count + 1) if ban.Count < 3 else ban.Time * 10 // 3' },
    increment: { ...base, formula: 'ban.Time * (ban.Count + 1) if ban.Count < 3 else ban.Time * 10 // 3' },
    bantime: 100,
  },
];

it('gives the ban times Fail2Ban 1.0 computes for the same settings', { skip: hasFail2Ban ? false : 'Debian fail2ban not installed' }, () => {
  const input = JSON.stringify(cases.map((c) => ({ options: c.options, bantime: c.bantime, counts })));
  const expected = JSON.parse(execFileSync(PYTHON, ['-c', FAIL2BAN_EVAL, input], { encoding: 'utf8' })) as number[][];
  cases.forEach((c, i) => {
    const calc = bantimeCalculator(c.increment);
    const ours = counts.map((n) => calc(c.bantime, n, () => 0));
    ours.forEach((v, k) => {
      const want = expected[i]![k]!;
      assert.ok(Math.abs(v - want) <= 1e-9 * Math.max(1, Math.abs(want)), `case ${i} count ${counts[k]}: ours ${v}, Fail2Ban ${want}`);
    });
  });
});
