// Fail2Ban's own sample corpus, run through our engine: with Fail2Ban's unchanged filter files, and
// with portcullis' own built-in filters for the services it ships filters for.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { builtinDefaultsDir } from '../../src/config/defaults-dir.js';
import { loadFilterDefinition } from '../../src/config/filter-def.js';
import { builtinCorpus, type CorpusResult, debianCorpus, runCorpus } from './corpus-runner.js';

/** Agreement reached (share of annotated lines); raise it as disagreements are fixed, never lower it. */
const THRESHOLD = 1;
const BUILTIN = ['dovecot', 'postfix', 'sshd'];
const NO_FAIL2BAN = "Debian's fail2ban package is not installed (apt-get install fail2ban)";

function report(label: string, r: CorpusResult): void {
  for (const d of r.disagreements) console.log(`  ${d.where}: ${d.reason}`);
  console.log(
    `${label}: ${r.agreed}/${r.annotated} annotated lines agree (${r.plainAgreed}/${r.plain} unannotated lines unmatched, ${r.files} files)`,
  );
}

const corpus = debianCorpus();
test("Fail2Ban's filters on Fail2Ban's sample corpus", { skip: corpus === null ? NO_FAIL2BAN : false }, () => {
  const r = runCorpus(corpus!, (name, dir, args) => loadFilterDefinition(name, { dir, args }));
  report('fail2ban filters', r);
  assert.deepEqual(r.failed, [], 'every filter of the corpus must load and run');
  assert.ok(r.annotated > 1000, 'the corpus should have more than 1000 annotated lines');
  assert.ok(r.agreed / r.annotated >= THRESHOLD, `agreement ${r.agreed}/${r.annotated} below ${THRESHOLD}`);
  assert.equal(r.plainAgreed, r.plain);
});

/**
 * Where our built-in filters deliberately name another address than Fail2Ban's sample says (README,
 * "Differences from Fail2Ban"): sshd writes nothing after "ssh2" on a password failure, so in
 * "Failed password for invalid user test from 127.0.0.1 port 58946 ssh2: from 10.10.1.2 port 55555 ssh2"
 * the user is "test from 127.0.0.1 port 58946 ssh2:" and the client is 10.10.1.2.
 */
const DELIBERATE = new Set(['sshd:144', 'sshd-journal:145']);

const own = builtinCorpus(builtinDefaultsDir(), BUILTIN);
test('our built-in dovecot, postfix and sshd filters on their sample files', { skip: own === null ? NO_FAIL2BAN : false }, () => {
  const r = runCorpus(own!, (name, _dir, args) => loadFilterDefinition(name, { dir: null, args }));
  report('built-in filters', r);
  assert.deepEqual(r.failed, [], 'every built-in filter must load and run');
  assert.ok(r.annotated > 200);
  assert.deepEqual(
    r.disagreements.filter((d) => !DELIBERATE.has(d.where)),
    [],
  );
  assert.deepEqual(r.disagreements.map((d) => d.where).sort(), [...DELIBERATE].sort());
});
