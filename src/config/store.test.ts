import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../errors.js';
import { parseIni } from './ini.js';
import { IniStore, NoOptionError, NoSectionError } from './store.js';

function store(...files: string[]): IniStore {
  const s = new IniStore();
  files.forEach((text, i) => {
    s.merge(parseIni(text, `f${i}.conf`));
  });
  return s;
}

describe('IniStore: merging and interpolation', () => {
  it('sections inherit [DEFAULT]; later files override option by option', () => {
    const s = store('[DEFAULT]\na = 1\nb = 2\n[J]\nc = 3\n', '[DEFAULT]\nb = 20\n[J]\nc = 30\nd = 4\n');
    assert.equal(s.get('J', 'a'), '1');
    assert.equal(s.get('J', 'b'), '20');
    assert.equal(s.get('J', 'c'), '30');
    assert.equal(s.get('J', 'd'), '4');
  });

  it('resolves %(x)s from the section, then [DEFAULT], recursively; %% is a literal %', () => {
    const s = store('[DEFAULT]\nport = 22\nlog = /var/%(name)s.log\n[J]\nname = sshd\nx = %(log)s on %(port)s at 100%%\n');
    assert.equal(s.get('J', 'x'), '/var/sshd.log on 22 at 100%');
  });

  it('interpolates [DEFAULT] values in the context of the asking section', () => {
    const s = store('[DEFAULT]\naction = ban[port=%(port)s]\nport = 0\n[a]\nport = 25\n[b]\n');
    assert.equal(s.get('a', 'action'), 'ban[port=25]');
    assert.equal(s.get('b', 'action'), 'ban[port=0]');
  });

  it('variables win over the section, and %(__name__)s is the section name', () => {
    const s = store('[J]\na = %(b)s/%(__name__)s\nb = section\n');
    assert.equal(s.get('J', 'a', new Map([['b', 'var']])), 'var/J');
  });

  it('%(known/x)s is the value an earlier file gave; falls back to [DEFAULT]', () => {
    const s = store('[DEFAULT]\nd = def\n[J]\nx = 1\n', '[J]\nx = %(known/x)s2\ny = %(known/d)s\n');
    assert.equal(s.get('J', 'x'), '12');
    assert.equal(s.get('J', 'y'), 'def');
  });

  it('%(default/x)s and %(section/x)s reach other sections (names are folded, so only lower-case sections)', () => {
    const s = store('[DEFAULT]\nx = d\n[a]\nx = a\n[A]\nx = upper\n[B]\nx = b\ny = %(default/x)s %(a/x)s %(x)s\nz = %(A/x)s\n');
    assert.equal(s.get('B', 'y'), 'd a b');
    // As in Fail2Ban: the reference is looked up folded to lower case, so an upper-case section is unreachable.
    assert.throws(() => s.get('B', 'z'), /not defined/);
  });

  it('folds [Init?family=inet6] into [Init] as conditional keys', () => {
    const s = store('[Init]\nset = v4\n[Init?family=inet6]\nset = v6\n');
    assert.deepEqual(s.ownOptions('Init'), ['set', 'set?family=inet6']);
    assert.equal(s.get('Init', 'set?family=inet6'), 'v6');
  });

  it('getEx resolves known/ and default/ names', () => {
    const s = store('[DEFAULT]\nz = dz\n[Definition]\nx = 1\n', '[Definition]\nx = 2\n');
    assert.equal(s.getEx('Definition', 'known/x'), '1');
    assert.equal(s.getEx('Definition', 'default/z'), 'dz');
    assert.equal(s.getEx('Definition', 'x'), '2');
  });

  it('reports missing sections and options as such', () => {
    const s = store('[J]\na = 1\n');
    assert.throws(() => s.get('K', 'a'), NoSectionError);
    assert.throws(() => s.get('J', 'b'), NoOptionError);
  });

  it('catches interpolation loops with a clear file:line error', () => {
    const s = store('[J]\na = %(b)s\nb = %(a)s\n');
    assert.throws(
      () => s.get('J', 'a'),
      (e: unknown) => e instanceof ConfigError && /f0\.conf:2: .*deeper than 10 levels.*loop/.test(e.message),
    );
  });

  it('rejects undefined references and a bare %', () => {
    const s = store('[J]\na = %(nope)s\nb = 50%\nc = %(x\n');
    assert.throws(() => s.get('J', 'a'), /f0\.conf:2: \[J\] a: %\(nope\)s refers to an option that is not defined/);
    assert.throws(() => s.get('J', 'b'), /f0\.conf:3: .*%% for a literal %/);
    assert.throws(() => s.get('J', 'c'), /f0\.conf:4: /);
  });
});
