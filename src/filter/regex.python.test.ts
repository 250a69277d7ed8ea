// Differential test of the regex translator against Python's own `re` (python3 is a test dependency):
// every prefregex/failregex/ignoreregex of Fail2Ban's stock filters (as our loader expands them) and of
// our built-in filters, on corpus lines, their tails, hostile variants (Unicode, \r, NUL, injected
// text) and random strings. Match or not, the span and every named group must be the same. All cases
// go to one python3 process as JSON, so the run takes seconds. FUZZ_SEED picks another random set.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { rng } from '../../test/e2e/mail-log.js';
import { loadFilterDefinition } from '../config/filter-def.js';
import { ConfigError } from '../errors.js';
import { Filter, FilterError, filterConfigError } from './filter.js';
import { compileRegex, execOn, expandTags, namedGroups, PLAIN_TEXT, RegexError } from './regex.js';
import { standInText } from './unicode-classes.js';

const STOCK = '/etc/fail2ban';
const LOGS = '/usr/lib/python3/dist-packages/fail2ban/tests/files/logs';
const BUILTIN = new URL('../config/defaults/', import.meta.url).pathname;

/** Per-filter modes worth covering besides the defaults. */
const MODES: Record<string, string[]> = {
  sshd: ['normal', 'ddos', 'extra', 'aggressive'],
  postfix: ['more', 'auth', 'rbl', 'errors', 'ddos', 'aggressive'],
  dovecot: ['normal', 'aggressive'],
};

interface Pattern {
  where: string;
  python: string;
  multiline: boolean;
}

/** The Python 3.11 spelling Fail2Ban itself produces: `((?i)x)` → `(?i:x)`, other inline flags to the front. */
function forPython(src: string): string {
  let s = src.replace(/(?<!\\)\((?:\?:)?(\(\?[a-z]+)\)/g, '$1:');
  let flags = '';
  s = s.replace(/(?<!\\)\(\?([aiLmsux]+)\)/g, (_m, f: string) => {
    flags += f;
    return '';
  });
  return flags ? `(?${[...new Set(flags)].join('')})${s}` : s;
}

function patterns(): Pattern[] {
  const out: Pattern[] = [];
  const add = (where: string, dir: string | null, name: string, args: Record<string, string>) => {
    let def: ReturnType<typeof loadFilterDefinition>;
    try {
      def = loadFilterDefinition(name, { dir, args });
    } catch {
      return; // a filter that only defines parts for others (common, *-common)
    }
    const multiline = def.maxlines > 1;
    const all: Array<[string, string, boolean]> = [
      ...(def.prefregex ? [['prefregex', def.prefregex, false] as [string, string, boolean]] : []),
      ...def.failregex.map((r, i): [string, string, boolean] => [`failregex ${i + 1}`, r, multiline]),
      ...def.ignoreregex.map((r, i): [string, string, boolean] => [`ignoreregex ${i + 1}`, r, false]),
    ];
    for (const [what, r, ml] of all) out.push({ where: `${where} ${what}`, python: expandTags(r, { useDns: 'yes' }), multiline: ml });
  };
  for (const [dir, label] of [
    [STOCK, 'stock'],
    [null, 'built-in'],
  ] as const) {
    const base = dir ?? BUILTIN;
    for (const f of readdirSync(join(base, 'filter.d')).filter((n) => n.endsWith('.conf')).sort()) {
      const name = f.slice(0, -5);
      add(`${label} ${name}`, dir, name, {});
      for (const mode of MODES[name] ?? []) add(`${label} ${name}[mode=${mode}]`, dir, name, { mode });
    }
  }
  const seen = new Set<string>();
  return out.filter((p) => {
    const key = `${p.multiline}${p.python}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

const HOSTILE = ['\r', '\0', 'ü', 'Ünïcødé', '\u00a0', '\u2028', '\u0085', '\x1c', '١٢٣', 'ß', 'ﬀ', '\ufeff', '\t', ' from 6.6.6.6', ' rip=6.6.6.6,', '\rfake 6.6.6.6', ': ', '[', ')', '=', ',', 'user=müller', 'İ'];

function inputs(name: string, random: () => number): string[] {
  const pick = <T>(a: readonly T[]): T => a[Math.floor(random() * a.length)] as T;
  const base = name.split(/[ [\]]/)[1] as string;
  let samples: string[] = [];
  if (existsSync(join(LOGS, base)))
    samples = readFileSync(join(LOGS, base), 'utf8')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'));
  const chosen: string[] = [];
  for (let i = 0; i < 12 && samples.length > 0; i++) chosen.push(pick(samples));
  const out: string[] = [];
  for (const line of chosen) {
    out.push(line);
    // Tails after each of the first spaces: the text a failregex sees once date and prefix are cut.
    let at = -1;
    for (let k = 0; k < 8; k++) {
      at = line.indexOf(' ', at + 1);
      if (at < 0) break;
      out.push(line.slice(at + 1));
    }
    // Hostile variants: something inserted at a random place, a letter made non-ASCII.
    for (let k = 0; k < 3; k++) {
      const p = Math.floor(random() * line.length);
      out.push(line.slice(0, p) + pick(HOSTILE) + line.slice(p));
    }
    out.push(line.replace(/[a-z]/, 'é'));
  }
  for (let k = 0; k < 10; k++) {
    let s = '';
    const n = Math.floor(random() * 30);
    for (let j = 0; j < n; j++) s += random() < 0.3 ? pick(HOSTILE) : String.fromCharCode(32 + Math.floor(random() * 95));
    out.push(s);
  }
  return out;
}

interface Outcome {
  span: [number, number] | null;
  groups?: Record<string, string | null>;
}

const PYTHON = `
import json, re, sys
req = json.load(sys.stdin)
out = []
for pat, ml, cases in req:
    try:
        rx = re.compile(pat, re.MULTILINE if ml else 0)
    except re.error as e:
        out.append({"error": str(e)})
        continue
    res = []
    for s in cases:
        m = rx.search(s)
        res.append(None if m is None else {"span": list(m.span()), "groups": m.groupdict()})
    out.append({"results": res})
json.dump(out, sys.stdout)
`;

function runPython(batch: Array<[string, boolean, string[]]>): Array<{ error?: string; results?: Array<Outcome | null> }> {
  const run = spawnSync('python3', ['-c', PYTHON], { input: JSON.stringify(batch), encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.equal(run.status, 0, `python3 failed: ${run.stderr}`);
  return JSON.parse(run.stdout);
}

test("translated stock and built-in regexes match like Python's re on corpus, hostile and random lines", () => {
  const seed = Number(process.env.FUZZ_SEED ?? 1);
  const random = rng(seed);
  const pats = patterns();
  assert.ok(pats.length > 250, `only ${pats.length} patterns found`);
  const batch: Array<[string, boolean, string[]]> = pats.map((p) => {
    const lines = inputs(p.where, random);
    return [forPython(p.python), p.multiline, p.multiline ? lines.map((l) => `${l}\n`) : lines];
  });
  const py = runPython(batch);
  const problems: string[] = [];
  let compared = 0;
  let plainCompared = 0;
  let matched = 0;
  for (const [i, p] of pats.entries()) {
    const res = py[i]!;
    let compiled: ReturnType<typeof compileRegex>;
    try {
      compiled = compileRegex(p.python, { multiline: p.multiline, finalNewline: p.multiline });
    } catch (err) {
      problems.push(`${p.where}: we refuse (${(err as Error).message}), Python ${res.error ?? 'compiles it'}`);
      continue;
    }
    if (res.error) {
      problems.push(`${p.where}: Python refuses (${res.error}), we compile it`);
      continue;
    }
    for (const [k, s] of batch[i]![2].entries()) {
      compared++;
      const want = res.results![k] ?? null;
      const m = compiled.re.exec(s);
      const got: Outcome | null =
        m === null ? null : { span: [m.index, m.index + m[0].length], groups: pick(namedGroups(compiled, m), compiled.groups) };
      if (want !== null) matched++;
      const wanted = JSON.stringify(want === null ? null : { span: want.span, groups: want.groups });
      if (JSON.stringify(got) !== wanted)
        problems.push(`${p.where} on ${JSON.stringify(s)}: Python ${JSON.stringify(want)}, we ${JSON.stringify(got)}`);
      // The filter uses the variant with JavaScript's built-in classes on plain text, and the one over
      // stand-in text on other text: they must agree too.
      if (PLAIN_TEXT.test(s) || compiled.standIn !== null) {
        const mp = execOn(compiled, s, PLAIN_TEXT.test(s), () => standInText(s));
        const plain = mp === null ? null : { span: [mp.index, mp.index + mp[0].length], groups: pick(namedGroups(compiled, mp), compiled.groups) };
        if (JSON.stringify(plain) !== wanted)
          problems.push(`${p.where} (${PLAIN_TEXT.test(s) ? 'plain' : 'stand-in'} variant) on ${JSON.stringify(s)}: Python ${wanted}, we ${JSON.stringify(plain)}`);
        plainCompared++;
      }
    }
  }
  console.log(`${pats.length} patterns, ${compared} lines compared (${plainCompared} also with the plain or stand-in variant), ${matched} matches (seed ${seed})`);
  assert.ok(matched > 500, `too few matches (${matched}) to mean anything`);
  assert.deepEqual(problems.slice(0, 20), []);
});

function pick(groups: Record<string, string | undefined>, names: readonly string[]): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const n of names) out[n] = groups[n] ?? null;
  return out;
}

test('hand-picked constructs behave as in Python: conditionals, backreferences, repeats, verbose, Unicode, \\r', () => {
  const cases: Array<[string, boolean, string[]]> = [
    ['^(?P<q>a?)(?(q)x|y)$', false, ['x', 'y', 'ax']],
    ['^(?:(?P<q>a)|b)(?(q)x|y)$', false, ['ax', 'by', 'bx', 'ay']],
    ['(?P<q>)x(?(q)y|z)', false, ['xy', 'xz']],
    ['^(?:(?P<q>a)|b)c(?P=q)$', false, ['bc', 'aca', 'bca']],
    ['(a)?(?(1)b|c)\\1?', false, ['ab', 'c', 'abab']],
    ['^x(?:, (?:user=(?P<user>[^,]*)|(?P<k>\\w+)=[^,]*))* ip=(?P<ip>\\S+)$', false, ['x, user=bob, method=PLAIN ip=1.2.3.4', 'x, a=b ip=1', 'x ip=2']],
    ['(?x) user = (?P<u> \\w+ ) \\  rip  # the address\n =(?P<ip>\\S+)', false, ['user=müller rip=1.2.3.4', 'user=x rip=5']],
    ['user=(?P<u>\\w+) rip=(?P<ip>\\d+\\.\\d+)\\b', false, ['user=müller rip=1.2', 'user=Ωμέγα rip=١.٢', 'user=a_1 rip=1.2x']],
    ['^fake (?P<h>\\S+)$', true, ['real x\rfake 6.6.6.6\n', 'a\nfake 1.2.3.4\n', 'x\u2028fake 7\n']],
    ['^a.b$', false, ['a\rb', 'a\u2028b', 'a\0b']],
    ['(?i)straße (?-i:X)', false, ['STRASSE X', 'straße X', 'STRAßE x']],
    ['\\s+(?P<w>\\S+)\\s*$', false, ['a \x1c b', 'a \ufeff b', 'a \u0085b']],
    ['(?a)\\w+ \\d', false, ['é 1', 'e ١', 'e 1']],
    ['(?s)a.b|(?m)^c$', false, ['a\nb', 'x\nc\ny']],
    ['a{,2}b\\Z', false, ['aaab', 'ab\n']],
    ['\\101\\x42\\u0043\\0', false, ['ABC\0']],
  ];
  const py = runPython(cases.map(([p, ml, lines]) => [forPython(p), ml, lines]));
  for (const [i, [pattern, ml, lines]] of cases.entries()) {
    assert.equal(py[i]!.error, undefined, `Python refuses ${pattern}`);
    const c = compileRegex(pattern, { multiline: ml, finalNewline: ml });
    for (const [k, s] of lines.entries()) {
      const want = py[i]!.results![k] ?? null;
      for (const m of [c.re.exec(s), execOn(c, s, PLAIN_TEXT.test(s), () => standInText(s))]) {
        const got = m === null ? null : { span: [m.index, m.index + m[0].length], groups: pick(namedGroups(c, m), c.groups) };
        assert.deepEqual(got, want, `${pattern} on ${JSON.stringify(s)}`);
      }
    }
  }
});

test('\\w, \\d and \\s are the classes Python uses, on every BMP character', () => {
  const run = spawnSync(
    'python3',
    ['-c', String.raw`import re,sys; print(" ".join("".join("1" if re.match(p, chr(c)) else "0" for c in range(0x10000) if not 0xd800<=c<=0xdfff) for p in (r"\w", r"\d", r"\s")))`],
    { encoding: 'utf8', maxBuffer: 1 << 20 },
  );
  assert.equal(run.status, 0, run.stderr);
  const [w, d, s] = run.stdout.trim().split(' ');
  for (const [cls, want] of [
    ['\\w', w],
    ['\\d', d],
    ['\\s', s],
  ] as const) {
    const re = compileRegex(`^${cls}$`).re;
    const diff: string[] = [];
    let k = 0;
    for (let c = 0; c <= 0xffff; c++) {
      if (c >= 0xd800 && c <= 0xdfff) continue;
      const ours = re.test(String.fromCharCode(c));
      if (ours !== (want![k++] === '1')) diff.push(c.toString(16));
    }
    // Node's ICU may be a Unicode version ahead of Python's: a handful of newly assigned characters.
    assert.ok(diff.length < 40, `${cls} differs on ${diff.length} characters: ${diff.slice(0, 20).join(' ')}`);
  }
});

test('every construct we cannot translate is refused with a clear error, and a filter reports it as file:line', () => {
  for (const [pattern, why] of [
    ['a++', /possessive/],
    ['a*+', /possessive/],
    ['\\N{DIGIT ONE}', /bad escape \\N/],
    ['\\q', /bad escape \\q/],
    ['(?L)a', /locale/],
    ['(?:(?P<u>a)|b)+(?P=u)', /repeats and may skip a repetition/],
    ['(?:(?P<u>a)|b)+(?(u)x|y)', /repeats and may skip a repetition/],
    ['(?P<a>x\\1)', /open group/],
    ['(?P<a>x(?P=a))', /open group/],
    ['\\2(a)(b)', /invalid group reference/],
    ['(?(1)a|b|c)(x)', /invalid group reference|more than two branches/],
    ['(?Px)', /unknown extension|bad/],
    ['[b-a]', /bad character range/],
    ['a**', /multiple repeat|possessive/],
    ['\\b*', /nothing to repeat/],
    ['x^+', /nothing to repeat/],
    ['(?i', /missing \)|unterminated|bad/],
  ] as const) {
    assert.throws(() => compileRegex(pattern), (err: Error) => {
      assert.ok(err instanceof RegexError, `${pattern}: ${err.name} ${err.message}`);
      assert.match(err.message, why, pattern);
      assert.ok(err.message.includes(JSON.stringify(pattern)), `${err.message} names the pattern`);
      return true;
    });
  }
  const dir = mkdtempSync(join(tmpdir(), 'pc-regex-'));
  try {
    writeFileSync(join(dir, 'bad.conf'), '[Definition]\n\nfailregex = ^ok from <HOST>$\n            ^possessive a++ from <HOST>$\n');
    const def = loadFilterDefinition(join(dir, 'bad.conf'), { dir: null });
    assert.throws(
      () => new Filter(def),
      (err: Error) => {
        assert.ok(err instanceof FilterError);
        const ce = filterConfigError(def, err);
        assert.ok(ce instanceof ConfigError);
        assert.match(ce.message, new RegExp(`^${join(dir, 'bad.conf')}:3: failregex 2: possessive`));
        return true;
      },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
