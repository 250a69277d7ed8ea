import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { PickleError, PyDict, PyException, PyFloat, PyTuple, type PyValue, decodePickle, encodePickle } from './pickle.js';

/** Runs Python and returns its stdout as bytes (pickles written with sys.stdout.buffer). */
function python(code: string, input?: Buffer): Buffer {
  const run = spawnSync('python3', ['-c', code], { input: input ?? Buffer.alloc(0) });
  assert.equal(run.status, 0, run.stderr.toString());
  return run.stdout;
}

const command = ['set', 'custom', 'banip', '192.0.2.1', 'ünï', ''];

describe('decodePickle', () => {
  it('reads a command list as every protocol (0-5) writes it', () => {
    for (let proto = 0; proto <= 5; proto++) {
      const data = python(`import pickle,sys; sys.stdout.buffer.write(pickle.dumps(${JSON.stringify(command)}, ${proto}))`);
      assert.deepEqual(decodePickle(data), command, `protocol ${proto}`);
    }
  });

  it('reads the data types Fail2Ban commands carry, with shared references through the memo', () => {
    const data = python(
      "import pickle,sys; s=['x']; sys.stdout.buffer.write(pickle.dumps(['reload', s, s, (1, -2, 2**70, 1.5, None, True, False), {'k': b'v'}, set()], 5))",
    );
    const value = decodePickle(data) as PyValue[];
    assert.equal(value[0], 'reload');
    assert.deepEqual(value[1], ['x']);
    assert.equal(value[1], value[2], 'memo GET yields the same list');
    const tuple = value[3] as PyTuple;
    assert.deepEqual(tuple.items.slice(0, 2), [1, -2]);
    assert.equal(tuple.items[2], 2n ** 70n);
    assert.deepEqual(tuple.items.slice(3), [new PyFloat(1.5), null, true, false]);
    assert.deepEqual((value[4] as PyDict).entries, [['k', Uint8Array.from([0x76])]]);
    assert.deepEqual(value[5], []);
  });

  it('refuses every opcode that imports or calls, by name, without running anything', () => {
    const hostile = python(
      "import pickle,sys,os\nclass P:\n  def __reduce__(self): return (os.system, ('touch /tmp/pc-pwned',))\nsys.stdout.buffer.write(pickle.dumps([P()], 2))",
    );
    assert.throws(() => decodePickle(hostile), (e: unknown) => e instanceof PickleError && /GLOBAL/.test(e.message));
    const stackGlobal = python(
      "import pickle,sys,os\nclass P:\n  def __reduce__(self): return (os.system, ('true',))\nsys.stdout.buffer.write(pickle.dumps(P(), 4))",
    );
    assert.throws(() => decodePickle(stackGlobal), /STACK_GLOBAL/);
    for (const [bytes, name] of [
      [[0x80, 2, 0x4e, 0x85, 0x52, 0x2e], 'REDUCE'],
      [[0x80, 2, 0x7d, 0x7d, 0x62, 0x2e], 'BUILD'],
      [[0x80, 2, 0x28, 0x69, 0x6f, 0x73, 0x0a, 0x73, 0x0a, 0x2e], 'INST'],
      [[0x80, 2, 0x28, 0x6f, 0x2e], 'OBJ'],
      [[0x80, 2, 0x4e, 0x29, 0x81, 0x2e], 'NEWOBJ'],
      [[0x80, 2, 0x4e, 0x51, 0x2e], 'BINPERSID'],
    ] as const) {
      assert.throws(() => decodePickle(Buffer.from(bytes)), new RegExp(name), name);
    }
  });

  it('refuses truncated and malformed streams, and unknown opcodes', () => {
    const good = python(`import pickle,sys; sys.stdout.buffer.write(pickle.dumps(${JSON.stringify(command)}, 5))`);
    for (let cut = 0; cut < good.length; cut++) {
      assert.throws(() => decodePickle(good.subarray(0, cut)), PickleError, `cut at ${cut}`);
    }
    assert.throws(() => decodePickle(Buffer.concat([good, Buffer.from('N')])), /after the end/);
    assert.throws(() => decodePickle(Buffer.from([0x80, 2, 0x61, 0x2e])), PickleError);
    assert.throws(() => decodePickle(Buffer.from([0x80, 2, 0xff])), /0xff/);
    assert.throws(() => decodePickle(Buffer.from([0x80, 9, 0x4e, 0x2e])), /protocol/);
  });

  it('refuses deep nesting and too many items', () => {
    const deep = Buffer.concat([Buffer.from([0x80, 2]), Buffer.alloc(1000, 0x28), Buffer.from([0x4e])]);
    assert.throws(() => decodePickle(deep), /deeper/);
    const many = Buffer.concat([Buffer.from([0x80, 2]), Buffer.alloc(200_000, 0x4e)]);
    assert.throws(() => decodePickle(many), /more than/);
  });

  it('never throws anything but PickleError on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decodePickle(Buffer.concat([Buffer.from([0x80, 2]), bytes]));
        } catch (err) {
          assert.ok(err instanceof PickleError, String(err));
        }
      }),
      { numRuns: 5000 },
    );
  });
});

describe('encodePickle', () => {
  it('writes what Python reads back as the same objects, exceptions included', () => {
    const reply = new PyTuple([
      0,
      [
        new PyTuple(['Currently banned', 2]),
        new PyTuple(['Banned IP list', ['192.0.2.1', '2001:db8::1']]),
        new PyDict([['custom', ['polling', new PyTuple([0, 70000]), new PyTuple([-1, 2 ** 40])]]]),
        new PyTuple([null, true, false, new PyFloat(3), 1.25, 'ü', new PyTuple([1, 2, 3, 4])]),
      ],
    ]);
    const repr = python('import pickle,sys; print(repr(pickle.loads(sys.stdin.buffer.read())))', encodePickle(reply));
    assert.equal(
      repr.toString().trim(),
      "(0, [('Currently banned', 2), ('Banned IP list', ['192.0.2.1', '2001:db8::1']), " +
        "{'custom': ['polling', (0, 70000), (-1, 1099511627776)]}, (None, True, False, 3.0, 1.25, 'ü', (1, 2, 3, 4))])",
    );
    const error = encodePickle(new PyTuple([1, new PyException('builtins', 'ValueError', ["not banned: ['x']"])]));
    const shown = python('import pickle,sys; r=pickle.loads(sys.stdin.buffer.read()); print(type(r[1]).__name__, r[1].args)', error);
    assert.equal(shown.toString().trim(), `ValueError ("not banned: ['x']",)`);
  });

  it('round-trips through the decoder', () => {
    const leaf = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null));
    const value = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('node'), { maxLength: 4 })),
    })).node as fc.Arbitrary<PyValue>;
    fc.assert(
      fc.property(value, (v) => {
        assert.deepEqual(decodePickle(encodePickle(v)), v);
      }),
    );
  });
});
