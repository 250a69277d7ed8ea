// Property tests for the Python → JavaScript regex translator. Filters come from admins' files, so any
// pattern text must either compile or be refused with the translator's own RegexError (never a raw
// SyntaxError or a crash), and <HOST>/<ADDR> must hand the jail addresses only, whatever the line says.
// FUZZ_RUNS=100000 runs longer on demand.
import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { test } from 'node:test';
import fc from 'fast-check';
import { Filter } from './filter.js';
import { filterDefinition } from './test-definition.js';
import { compileRegex, RegexError } from './regex.js';

const runs = Number(process.env.FUZZ_RUNS ?? 300);

/** Pieces of Python regex syntax, valid and broken, so generated patterns reach the translator's branches. */
const piece = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(
    '(', ')', '(?:', '(?P<n>', '(?P=n)', '(?(n)a|b)', '(?i)', '(?i:', '(?s)', '(?m)', '(?x)', '(?=', '(?!', '(?<=',
    '(?<!', '(?#c)', '[', ']', '[^', '\\', '\\d', '\\Z', '\\A', '\\b', '\\1', '\\g<n>', '{', '}', '{,3}', '{2,}',
    '*', '+', '?', '*?', '|', '^', '$', '.', '<HOST>', '<ADDR>', '<F-USER>', '</F-USER>', '<F-ID>', '</F-ID>',
    '<SKIPLINES>', '<IP4>', '<IP6>', '<SUBNET>', '<F-NOFAIL>', '(?P<alt_user_1>', '\\x41', '\\u0041', '\\N',
    '\\p{L}', '[[:alpha:]]', '(?P<ip4>',
  ) },
  { weight: 2, arbitrary: fc.string({ maxLength: 4 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 3 }) },
);
const pattern = fc.array(piece, { maxLength: 12 }).map((p) => p.join(''));

test('any pattern text compiles or throws RegexError with the pattern quoted, never a raw SyntaxError', () => {
  fc.assert(
    fc.property(pattern, fc.boolean(), (src, multiline) => {
      try {
        const c = compileRegex(src, { multiline, useDns: 'no' });
        assert.ok(c.re instanceof RegExp);
      } catch (err) {
        assert.ok(err instanceof RegexError, `threw ${(err as Error)?.name}: ${(err as Error)?.message}`);
        assert.ok(!err.message.includes('\n') || src.includes('\n'), 'one-line message');
      }
    }),
    { numRuns: runs * 3 },
  );
});

function filterOf(failregex: string): Filter {
  return new Filter(filterDefinition({ name: 'fuzz', failregex: [failregex], datepattern: '{NONE}' }), { useDns: 'no' });
}

const hexish = fc.stringMatching(/^[0-9a-fA-F:.[\]]{0,40}$/);
const ipv4 = fc.ipV4();
const ipv6 = fc.ipV6();
/** Text around the address: junk, colons, brackets, things that look like addresses but are not. */
const around = fc.oneof(
  fc.string({ maxLength: 12 }),
  hexish,
  fc.constantFrom('', ' ', ':', '::', '.', '[', ']', '1.2.3', '999.1.1.1', 'dead:beef', 'fe80::1%eth0', '::ffff:'),
);
const candidate = fc.oneof(ipv4, ipv6, hexish, fc.string({ maxLength: 20 }), fc.constantFrom('256.1.1.1', '1.2.3.4.5', ':::', '1::2::3'));

for (const [tag, failregex] of [
  ['<HOST>', 'from <HOST> failed'],
  ['<ADDR>', 'from <ADDR> failed'],
  ['<HOST> in a user-controlled line', 'user=<F-USER>.*</F-USER> rip=<HOST>(?:,|$)'],
] as const) {
  test(`${tag} never hands the jail a non-address as an IP failure (usedns = no)`, () => {
    const filter = filterOf(failregex);
    const now = 1_700_000_000;
    fc.assert(
      fc.property(around, candidate, around, (pre, addr, post) => {
        const line = tag.includes('user')
          ? `user=${pre}${addr} rip=${addr}${post}`
          : `${pre}from ${addr} failed${post}`;
        for (const f of filter.processLine(line, now)) {
          // Text that only looks like an address comes out as a failure id, which the jail never bans.
          if (f.kind === 'ip') assert.ok(isIP(f.ip) !== 0, `captured ${JSON.stringify(f.ip)} from ${JSON.stringify(line)}`);
          else assert.equal(isIP(f.ip), 0, `valid address ${f.ip} reported as ${f.kind}`);
        }
      }),
      { numRuns: runs * 3 },
    );
  });
}

test('<HOST> captures a real address exactly (IPv4, IPv6 without embedded IPv4, IPv4-mapped folded to IPv4; not the unspecified ::)', () => {
  const filter = filterOf('from <HOST> failed');
  const now = 1_700_000_000;
  fc.assert(
    fc.property(fc.oneof(ipv4, ipv6.filter((a) => a !== '::' && (!a.includes('.') || /^::ffff:/i.test(a)))), fc.boolean(), (addr, bracket) => {
      const shown = bracket ? `[${addr}]` : addr;
      const found = filter.processLine(`x from ${shown} failed`, now);
      assert.equal(found.length, 1, `no match for ${shown}`);
      const ip = found[0]!.ip;
      assert.ok(isIP(ip) !== 0, ip);
      if (isIP(addr) === 4) assert.equal(ip, addr);
      else {
        const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
        if (mapped) assert.equal(ip, mapped[1]);
        else assert.equal(canonical6(ip), canonical6(addr));
      }
    }),
    { numRuns: runs },
  );
});

/** Expands an IPv6 address to eight groups for comparison across spellings. */
function canonical6(a: string): string {
  const u = new URL(`http://[${a}]/`).hostname;
  return u.toLowerCase();
}
