// Property tests for the INI reader: config files are user input, so any text must either parse or be
// refused with a ConfigError pointing at a line of the file. FUZZ_RUNS=100000 runs longer on demand.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ConfigError } from '../errors.js';
import { parseIni } from './ini.js';

const runs = Number(process.env.FUZZ_RUNS ?? 300);
const FILE = '/etc/fail2ban/jail.local';

/** Lines that look like INI (headers, options, comments, continuations, junk), so the parser's branches are reached. */
const iniLine = fc.oneof(
  fc.string().map((s) => `[${s}]`),
  fc.string().map((s) => `[${s}`),
  fc.tuple(fc.string(), fc.constantFrom('=', ':', ' = ', ' : '), fc.string()).map(([k, d, v]) => `${k}${d}${v}`),
  fc.string().map((s) => `  ${s}`),
  fc.string().map((s) => `# ${s}`),
  fc.string().map((s) => `; ${s}`),
  fc.constantFrom('', '[DEFAULT]', '[INCLUDES]', 'before = x.conf', '\t', 'a = %(a)s', 'x ; y'),
  fc.string({ unit: 'binary' }),
);
const iniText = fc
  .tuple(fc.array(iniLine, { maxLength: 30 }), fc.constantFrom('\n', '\r\n', '\r'))
  .map(([lines, eol]) => lines.join(eol));

function lineCount(text: string): number {
  return text.split(/\r\n|\r|\n/).length;
}

test('any text parses or throws a ConfigError naming file:line inside the file (never another error)', () => {
  fc.assert(
    fc.property(fc.oneof(iniText, fc.string({ unit: 'binary' })), (text) => {
      try {
        parseIni(text, FILE);
      } catch (err) {
        assert.ok(err instanceof ConfigError, `threw ${(err as Error)?.name}: ${(err as Error)?.message}`);
        assert.equal(err.file, FILE);
        assert.ok(err.line !== null && err.line >= 1 && err.line <= lineCount(text), `line ${err.line}`);
        assert.ok(err.message.startsWith(`${FILE}:${err.line}: `), err.message);
        assert.ok(!err.message.includes('\n') || text.includes('\n'), 'one-line message');
      }
    }),
    { numRuns: runs },
  );
});

// Names and values that survive a write → read round trip unchanged: no delimiters or comment starts in
// names, values without surrounding blanks and without " ;" (an inline comment).
const name = fc.stringMatching(/^[a-z][a-z0-9_.-]{0,11}$/);
const valueLine = fc
  .stringMatching(/^[^\s;#\r\n][^\r\n]{0,30}$/)
  .map((v) => v.trim())
  .filter((v) => v !== '' && !/\s;/.test(v) && !v.startsWith('[') && !v.startsWith(';') && !v.startsWith('#'));
const value = fc.array(valueLine, { minLength: 1, maxLength: 3 });
const section = fc.tuple(
  fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,11}$/).filter((s) => s !== 'DEFAULT'),
  fc.uniqueArray(fc.tuple(name, value), { selector: ([k]) => k, maxLength: 6 }),
);
const sections = fc.uniqueArray(section, { selector: ([s]) => s, maxLength: 5 });

test('round trip: sections and (multi-line) options written out read back to the same names, values and lines', () => {
  fc.assert(
    fc.property(sections, fc.constantFrom('\n', '\r\n'), fc.constantFrom(' = ', '=', ': '), (secs, eol, delim) => {
      const out: string[] = [];
      const expected = new Map<string, Map<string, { value: string; line: number }>>();
      for (const [sec, options] of secs) {
        out.push(`[${sec}]`);
        const opts = new Map<string, { value: string; line: number }>();
        for (const [key, lines] of options) {
          opts.set(key, { value: lines.join('\n'), line: out.length + 1 });
          out.push(`${key}${delim}${lines[0]}`, ...lines.slice(1).map((l) => `    ${l}`));
        }
        out.push('');
        expected.set(sec, opts);
      }
      const parsed = parseIni(out.join(eol), FILE);
      assert.deepEqual([...parsed.sections.keys()], [...expected.keys()]);
      for (const [sec, opts] of expected) {
        const got = parsed.sections.get(sec);
        assert.ok(got);
        assert.deepEqual(
          [...got].map(([k, e]) => [k, e.value, e.line]),
          [...opts].map(([k, e]) => [k, e.value, e.line]),
        );
      }
    }),
    { numRuns: runs },
  );
});
