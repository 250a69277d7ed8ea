// The subset of Python's pickle format that Fail2Ban's socket protocol needs, written by hand on purpose.
// Unpickling is code execution in Python: GLOBAL/STACK_GLOBAL import any callable and REDUCE/BUILD/
// INST/OBJ/NEWOBJ call it. No Node package decodes pickles safely (the ones on npm either implement
// those opcodes or are unmaintained), so this decoder is a plain stack machine that knows only the
// opcodes that build data: lists, tuples, dicts, sets, str, bytes, ints, floats, None and booleans, plus
// marks, memo and framing (protocols 0–5, as Python 3's and Go's clients send them). Every other opcode
// is refused by name before anything happens; nothing is ever imported, called or evaluated.
//
// The encoder writes protocol 2, which every Python 3 and gopickle reads, including the one class Fail2Ban's
// replies need: exceptions, written as GLOBAL module/name + REDUCE, exactly as Python pickles them.

/** A decoded value. Python lists are arrays; tuples, dicts and sets are wrapped so they stay distinct. */
export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyValue[]
  | PyTuple
  | PyDict
  | PyFloat
  | PyException;

export class PyTuple {
  constructor(readonly items: readonly PyValue[]) {}
}

/** Entries in insertion order (keys are not hashed: this is only data to read or to write). */
export class PyDict {
  constructor(readonly entries: Array<[PyValue, PyValue]>) {}
}

/** A float that stays a float when encoded (`3.0`), unlike a JS number, which encodes as an int when whole. */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** An exception instance, for error replies: Python pickles it as `module.name(*args)`. */
export class PyException {
  constructor(
    readonly module: string,
    readonly name: string,
    readonly args: readonly PyValue[],
  ) {}
}

export class PickleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PickleError';
  }
}

export interface DecodeLimits {
  /** Most values on the stack plus the memo at once. */
  maxItems?: number;
  /** Most nested MARKs open at once. */
  maxMarks?: number;
}

/** Opcodes that would import or call something, named in the refusal so logs say what was attempted. */
const refusedNames = new Map<number, string>([
  [0x63, 'GLOBAL'],
  [0x93, 'STACK_GLOBAL'],
  [0x52, 'REDUCE'],
  [0x62, 'BUILD'],
  [0x69, 'INST'],
  [0x6f, 'OBJ'],
  [0x81, 'NEWOBJ'],
  [0x92, 'NEWOBJ_EX'],
  [0x50, 'PERSID'],
  [0x51, 'BINPERSID'],
  [0x82, 'EXT1'],
  [0x83, 'EXT2'],
  [0x84, 'EXT4'],
  [0x97, 'NEXT_BUFFER'],
  [0x98, 'READONLY_BUFFER'],
]);

/**
 * Decodes one pickle (up to and including STOP, which must be the last byte). Throws PickleError for
 * any opcode outside the data subset, a truncated or malformed stream, or a limit exceeded.
 */
export function decodePickle(data: Uint8Array, limits: DecodeLimits = {}): PyValue {
  const maxItems = limits.maxItems ?? 100_000;
  const maxMarks = limits.maxMarks ?? 64;
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const stack: PyValue[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PyValue>();
  let pos = 0;

  const need = (n: number): number => {
    if (pos + n > buf.length) throw new PickleError('truncated pickle');
    const at = pos;
    pos += n;
    return at;
  };
  const push = (v: PyValue): void => {
    if (stack.length + memo.size >= maxItems) throw new PickleError(`pickle holds more than ${maxItems} items`);
    stack.push(v);
  };
  const pop = (): PyValue => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= (marks.at(-1) as number))) {
      throw new PickleError('pickle pops from an empty stack');
    }
    return stack.pop() as PyValue;
  };
  const top = (): PyValue => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= (marks.at(-1) as number))) {
      throw new PickleError('pickle stack is empty');
    }
    return stack.at(-1) as PyValue;
  };
  const popMark = (): PyValue[] => {
    const at = marks.pop();
    if (at === undefined) throw new PickleError('pickle has no MARK to pop');
    return stack.splice(at);
  };
  const line = (): string => {
    const end = buf.indexOf(10, pos);
    if (end === -1) throw new PickleError('truncated pickle');
    const text = buf.toString('latin1', pos, end);
    pos = end + 1;
    return text;
  };
  const text = (n: number): string => buf.toString('utf8', need(n), pos);
  const bytes = (n: number): Uint8Array => Uint8Array.from(buf.subarray(need(n), pos));
  const size = (n: number): number => {
    if (n > buf.length) throw new PickleError('truncated pickle');
    return n;
  };
  const u64 = (): number => {
    const v = buf.readBigUInt64LE(need(8));
    return size(v > BigInt(buf.length) ? buf.length + 1 : Number(v));
  };
  const memoPut = (key: number): void => {
    if (stack.length + memo.size >= maxItems) throw new PickleError(`pickle holds more than ${maxItems} items`);
    memo.set(key, top());
  };
  const memoGet = (key: number): void => {
    if (!memo.has(key)) throw new PickleError(`pickle reads memo ${key}, which was never stored`);
    push(memo.get(key) as PyValue);
  };
  const list = (): PyValue[] => {
    const l = top();
    if (!Array.isArray(l)) throw new PickleError('APPEND to something that is not a list');
    return l;
  };
  const setItems = (target: PyValue, items: PyValue[]): void => {
    if (!(target instanceof PyDict) || items.length % 2 !== 0) throw new PickleError('SETITEMS on a non-dict');
    for (let i = 0; i < items.length; i += 2) target.entries.push([items[i] as PyValue, items[i + 1] as PyValue]);
  };
  const int = (t: string): PyValue => {
    const s = t.endsWith('L') ? t.slice(0, -1) : t;
    if (!/^[+-]?\d{1,400}$/.test(s)) throw new PickleError('malformed integer in pickle');
    const b = BigInt(s);
    return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
  };
  const longBytes = (n: number): PyValue => {
    if (n === 0) return 0;
    if (n > 512) throw new PickleError('integer in pickle is too long');
    const at = need(n);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf[at + i] as number);
    if ((buf[at + n - 1] as number) & 0x80) v -= 1n << BigInt(8 * n);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  while (true) {
    const op = buf[need(1)] as number;
    switch (op) {
      case 0x80: // PROTO
        if ((buf[need(1)] as number) > 5) throw new PickleError('pickle protocol newer than 5');
        break;
      case 0x95: // FRAME: a length hint only
        need(8);
        break;
      case 0x2e: {
        // STOP
        if (pos !== buf.length) throw new PickleError('bytes after the end of the pickle');
        if (stack.length !== 1 || marks.length !== 0) throw new PickleError('pickle ends with a malformed stack');
        return stack[0] as PyValue;
      }
      case 0x28: // MARK
        if (marks.length >= maxMarks) throw new PickleError(`pickle nests deeper than ${maxMarks} levels`);
        marks.push(stack.length);
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        push(top());
        break;
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88: // NEWTRUE
        push(true);
        break;
      case 0x89: // NEWFALSE
        push(false);
        break;
      case 0x49: {
        // INT (text); "00"/"01" are protocol 0's booleans
        const t = line();
        push(t === '00' ? false : t === '01' ? true : int(t));
        break;
      }
      case 0x4c: // LONG (text)
        push(int(line()));
        break;
      case 0x4a: // BININT
        push(buf.readInt32LE(need(4)));
        break;
      case 0x4b: // BININT1
        push(buf.readUInt8(need(1)));
        break;
      case 0x4d: // BININT2
        push(buf.readUInt16LE(need(2)));
        break;
      case 0x8a: // LONG1
        push(longBytes(buf.readUInt8(need(1))));
        break;
      case 0x8b: // LONG4
        push(longBytes(size(buf.readUInt32LE(need(4)))));
        break;
      case 0x46: {
        // FLOAT (text)
        const t = line();
        const v = Number(t);
        if (t.trim() === '' || (Number.isNaN(v) && !/^[+-]?nan$/i.test(t))) throw new PickleError('malformed float in pickle');
        push(new PyFloat(v));
        break;
      }
      case 0x47: // BINFLOAT
        push(new PyFloat(buf.readDoubleBE(need(8))));
        break;
      case 0x56: // UNICODE (protocol 0: raw-unicode-escape)
        push(
          line().replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, a: string, b: string) =>
            String.fromCodePoint(Number.parseInt(a ?? b, 16)),
          ),
        );
        break;
      case 0x58: // BINUNICODE
        push(text(size(buf.readUInt32LE(need(4)))));
        break;
      case 0x8c: // SHORT_BINUNICODE
        push(text(buf.readUInt8(need(1))));
        break;
      case 0x8d: // BINUNICODE8
        push(text(u64()));
        break;
      case 0x54: // BINSTRING (Python 2 str: Python 3 decodes it as ASCII text)
        push(buf.toString('latin1', need(size(buf.readUInt32LE(need(4)))), pos));
        break;
      case 0x55: // SHORT_BINSTRING
        push(buf.toString('latin1', need(buf.readUInt8(need(1))), pos));
        break;
      case 0x42: // BINBYTES
        push(bytes(size(buf.readUInt32LE(need(4)))));
        break;
      case 0x43: // SHORT_BINBYTES
        push(bytes(buf.readUInt8(need(1))));
        break;
      case 0x8e: // BINBYTES8
        push(bytes(u64()));
        break;
      case 0x5d: // EMPTY_LIST
        push([]);
        break;
      case 0x6c: // LIST
        push(popMark());
        break;
      case 0x61: {
        // APPEND
        const v = pop();
        list().push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        list().push(...items);
        break;
      }
      case 0x29: // EMPTY_TUPLE
        push(new PyTuple([]));
        break;
      case 0x74: // TUPLE
        push(new PyTuple(popMark()));
        break;
      case 0x85: // TUPLE1
        push(new PyTuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        push(new PyTuple([pop(), b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        push(new PyTuple([pop(), b, c]));
        break;
      }
      case 0x7d: // EMPTY_DICT
        push(new PyDict([]));
        break;
      case 0x64: {
        // DICT
        const d = new PyDict([]);
        setItems(d, popMark());
        push(d);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x8f: // EMPTY_SET: read as a list (order is irrelevant to every command that could carry one)
        push([]);
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        list().push(...items);
        break;
      }
      case 0x70: // PUT
        memoPut(Number(int(line())));
        break;
      case 0x71: // BINPUT
        memoPut(buf.readUInt8(need(1)));
        break;
      case 0x72: // LONG_BINPUT
        memoPut(buf.readUInt32LE(need(4)));
        break;
      case 0x94: // MEMOIZE
        memoPut(memo.size);
        break;
      case 0x67: // GET
        memoGet(Number(int(line())));
        break;
      case 0x68: // BINGET
        memoGet(buf.readUInt8(need(1)));
        break;
      case 0x6a: // LONG_BINGET
        memoGet(buf.readUInt32LE(need(4)));
        break;
      default: {
        const name = refusedNames.get(op);
        throw new PickleError(
          name !== undefined
            ? `pickle opcode ${name} is refused: it would import or call code`
            : `pickle opcode 0x${op.toString(16).padStart(2, '0')} is not accepted`,
        );
      }
    }
  }
}

// ---- encoding ----------------------------------------------------------------------------------------

/** Collects the bytes of one pickle. */
class Writer {
  private chunks: Buffer[] = [];
  op(...bytes: number[]): void {
    this.chunks.push(Buffer.from(bytes));
  }
  raw(b: Buffer): void {
    this.chunks.push(b);
  }
  done(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

function writeInt(w: Writer, v: number | bigint): void {
  if (typeof v === 'number' && v >= 0 && v < 256) w.op(0x4b, v);
  else if (typeof v === 'number' && v >= 0 && v < 65536) w.op(0x4d, v & 0xff, v >> 8);
  else if (typeof v === 'number' && v >= -0x80000000 && v <= 0x7fffffff) {
    const b = Buffer.alloc(5);
    b[0] = 0x4a;
    b.writeInt32LE(v, 1);
    w.raw(b);
  } else {
    // LONG1: little-endian two's complement, as short as the sign allows.
    let n = BigInt(v);
    const out: number[] = [];
    for (;;) {
      const byte = Number(n & 0xffn);
      out.push(byte);
      n >>= 8n;
      if ((n === 0n && (byte & 0x80) === 0) || (n === -1n && (byte & 0x80) !== 0)) break;
    }
    w.op(0x8a, out.length, ...out);
  }
}

function writeString(w: Writer, v: string): void {
  const body = Buffer.from(v, 'utf8');
  const head = Buffer.alloc(5);
  head[0] = 0x58; // BINUNICODE
  head.writeUInt32LE(body.length, 1);
  w.raw(head);
  w.raw(body);
}

/** MARK items… CLOSER, or just EMPTY for none. */
function writeItems(w: Writer, empty: number, closer: number, items: readonly PyValue[], depth: number): void {
  w.op(empty);
  if (items.length === 0) return;
  w.op(0x28);
  for (const item of items) write(w, item, depth + 1);
  w.op(closer);
}

function write(w: Writer, v: PyValue, depth: number): void {
  if (depth > 100) throw new PickleError('reply nests too deeply');
  if (v === null) w.op(0x4e);
  else if (v === true) w.op(0x88);
  else if (v === false) w.op(0x89);
  else if (typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v))) writeInt(w, v);
  else if (typeof v === 'number' || v instanceof PyFloat) {
    const b = Buffer.alloc(9);
    b[0] = 0x47; // BINFLOAT
    b.writeDoubleBE(typeof v === 'number' ? v : v.value, 1);
    w.raw(b);
  } else if (typeof v === 'string') writeString(w, v);
  else if (Array.isArray(v)) writeItems(w, 0x5d, 0x65, v, depth);
  else if (v instanceof PyDict) writeItems(w, 0x7d, 0x75, v.entries.flat(), depth);
  else if (v instanceof PyTuple) {
    const n = v.items.length;
    if (n === 0) w.op(0x29);
    else {
      if (n > 3) w.op(0x28);
      for (const item of v.items) write(w, item, depth + 1);
      w.op(n === 1 ? 0x85 : n === 2 ? 0x86 : n === 3 ? 0x87 : 0x74);
    }
  } else if (v instanceof PyException) {
    // The one place the encoder names a class: GLOBAL + REDUCE, as Python pickles `Exception(*args)`.
    if (!/^[\w.]+$/.test(v.module) || !/^\w+$/.test(v.name)) throw new PickleError('bad exception class name');
    w.raw(Buffer.from(`c${v.module}\n${v.name}\n`, 'latin1'));
    write(w, new PyTuple(v.args), depth + 1);
    w.op(0x52);
  } else throw new PickleError('bytes are never part of a reply');
}

/** Encodes `value` as a protocol-2 pickle, as `pickle.dumps(value, 2)` writes it (without memo). */
export function encodePickle(value: PyValue): Buffer {
  const w = new Writer();
  w.op(0x80, 2);
  write(w, value, 0);
  w.op(0x2e);
  return w.done();
}
