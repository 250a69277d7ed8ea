// The expected bytes are what nft 1.0.6 sent for the same elements, captured with
// `strace -f -e trace=sendmsg -xx -s 65535 nft -f -` in a network namespace (kernel 6.18): the payload of
// NFTA_SET_ELEM_LIST_ELEMENTS. Our messages differ from nft's only by NLM_F_ACK (we want every
// message acknowledged) and by leaving out NFTA_SET_ELEM_LIST_SET_ID (only for sets made in the batch).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Address, parseAddress } from './address.js';
import { attrList, batchFailure, type Message, parseAttrs, parseMessages } from './nfnetlink.js';
import { dumpRequest, elementBatch, getRequest, NetlinkRefusal, parseDump, type SetRef } from './nftables-netlink.js';

const a = (t: string) => parseAddress(t) as Address;
const hex = (escaped: string) => Buffer.from(escaped.replace(/\\x/g, ''), 'hex');
const v4: SetRef = { table: 'f2b-table', set: 'addr-set-dovecot', family: 4, interval: true, timeouts: false };
const v6: SetRef = { ...v4, set: 'addr6-set-dovecot', family: 6 };

/** The element-list payload of each element message in a batch, with the message's header fields. */
function elementMessages(request: Buffer): Array<{ m: Message; table: string; set: string; elements: Buffer }> {
  return parseMessages(request)
    .filter((m) => m.type >> 8 === 10)
    .map((m) => {
      const attrs = parseAttrs(m.payload.subarray(4));
      return {
        m,
        table: (attrs.get(1) as Buffer).toString().replace(/\0$/, ''),
        set: (attrs.get(2) as Buffer).toString().replace(/\0$/, ''),
        elements: attrs.get(3) as Buffer,
      };
    });
}

/** The element message of a batch that adds one address to SET. */
function addOne(set: SetRef, address: string, timeout: number | null = null) {
  return elementMessages(elementBatch([{ set, remove: [], add: [{ address: a(address), timeout }] }]).request)[0];
}

test('a batch is framed by begin and end messages for the nftables subsystem', () => {
  const { request, acked } = elementBatch([{ set: v4, remove: [], add: [{ address: a('10.0.0.2'), timeout: null }] }]);
  const messages = parseMessages(request);
  assert.deepEqual(
    messages.map((m) => [m.type, m.flags, m.seq]),
    [
      [0x10, 0x1, 1],
      [0x0a0c, 0x405, 2], // NFT_MSG_NEWSETELEM, REQUEST|ACK|CREATE
      [0x11, 0x1, 3],
    ],
  );
  // nfgenmsg of begin: AF_UNSPEC, NFNETLINK_V0, res_id htons(NFNL_SUBSYS_NFTABLES); of elements: NFPROTO_INET.
  assert.deepEqual([...request.subarray(0, 20)], [20, 0, 0, 0, 0x10, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10]);
  assert.equal(messages[1]?.payload[0], 1);
  assert.deepEqual(acked, [2]);
});

test('an address in an interval set: start element and end element at the next address, as nft sends it', () => {
  const msg = addOne(v4, '10.0.0.2');
  assert.equal(msg?.table, 'f2b-table');
  assert.equal(msg?.set, 'addr-set-dovecot');
  assert.deepEqual(
    msg?.elements,
    hex('\\x10\\x00\\x01\\x80\\x0c\\x00\\x01\\x80\\x08\\x00\\x01\\x00\\x0a\\x00\\x00\\x02\\x18\\x00\\x02\\x80\\x08\\x00\\x03\\x00\\x00\\x00\\x00\\x01\\x0c\\x00\\x01\\x80\\x08\\x00\\x01\\x00\\x0a\\x00\\x00\\x03'),
  );
});

test('element timeouts go on the start element, in ms', () => {
  const timed = { ...v4, set: 'addr-set-t', timeouts: true };
  const msg = addOne(timed, '10.0.0.9', 60);
  assert.deepEqual(
    msg?.elements,
    hex(
      '\\x1c\\x00\\x01\\x80\\x0c\\x00\\x04\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\xea\\x60\\x0c\\x00\\x01\\x80\\x08\\x00\\x01\\x00\\x0a\\x00\\x00\\x09\\x18\\x00\\x02\\x80\\x08\\x00\\x03\\x00\\x00\\x00\\x00\\x01\\x0c\\x00\\x01\\x80\\x08\\x00\\x01\\x00\\x0a\\x00\\x00\\x0a',
    ),
  );
  // A set without `flags timeout` refuses them: none is sent there.
  const plain = addOne(v4, '10.0.0.9', 60);
  assert.equal(plain?.elements.length, 0x10 + 0x18);
});

test('a range reaching the top has no end element and is marked open in the user data', () => {
  const msg4 = addOne(v4, '255.255.255.0/24');
  assert.deepEqual(msg4?.elements, hex('\\x1c\\x00\\x01\\x80\\x0c\\x00\\x01\\x80\\x08\\x00\\x01\\x00\\xff\\xff\\xff\\x00\\x0a\\x00\\x06\\x00\\x01\\x04\\x01\\x00\\x00\\x00\\x00\\x00'));
  const msg6 = addOne(v6, 'ffff::/16');
  assert.deepEqual(
    msg6?.elements,
    hex(
      '\\x28\\x00\\x01\\x80\\x18\\x00\\x01\\x80\\x14\\x00\\x01\\x00\\xff\\xff\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x0a\\x00\\x06\\x00\\x01\\x04\\x01\\x00\\x00\\x00\\x00\\x00',
    ),
  );
});

test('an IPv6 /64', () => {
  const msg = addOne(v6, '2001:db8:5::/64');
  assert.deepEqual(
    msg?.elements,
    hex(
      '\\x1c\\x00\\x01\\x80\\x18\\x00\\x01\\x80\\x14\\x00\\x01\\x00\\x20\\x01\\x0d\\xb8\\x00\\x05\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x24\\x00\\x02\\x80\\x08\\x00\\x03\\x00\\x00\\x00\\x00\\x01\\x18\\x00\\x01\\x80\\x14\\x00\\x01\\x00\\x20\\x01\\x0d\\xb8\\x00\\x05\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00',
    ),
  );
});

test('a plain hash set gets the key alone, no end element', () => {
  const hash = { ...v4, set: 'addr-set-h', interval: false };
  const msg = addOne(hash, '10.0.0.2');
  assert.deepEqual(msg?.elements, hex('\\x10\\x00\\x01\\x80\\x0c\\x00\\x01\\x80\\x08\\x00\\x01\\x00\\x0a\\x00\\x00\\x02'));
});

test('a removal is add then delete of the same elements, before the additions', () => {
  const { request, acked } = elementBatch([{ set: v4, remove: [a('10.0.0.2')], add: [{ address: a('10.0.0.0/24'), timeout: null }] }]);
  const msgs = elementMessages(request);
  assert.deepEqual(
    msgs.map((x) => [x.m.type, x.m.flags]),
    [
      [0x0a0c, 0x405],
      [0x0a0e, 0x5], // NFT_MSG_DELSETELEM, REQUEST|ACK, as nft's delete (which sends no CREATE)
      [0x0a0c, 0x405],
    ],
  );
  assert.deepEqual(msgs[0]?.elements, msgs[1]?.elements);
  assert.equal(acked.length, 3);
});

test('many elements are split into messages whose element list stays under 64 KiB', () => {
  const add = Array.from({ length: 1200 }, (_, i) => ({ address: a(`2001:db8::${(i + 1).toString(16)}`), timeout: 100 }));
  const msgs = elementMessages(elementBatch([{ set: { ...v6, timeouts: true }, remove: [], add }]).request);
  assert.equal(msgs.length, 3);
  assert.equal(msgs.map((m) => attrList(m.elements).length).reduce((x, y) => x + y), 2400);
  for (const m of msgs) assert.ok(m.elements.length < 65_535);
});

test('acknowledgements: all zero is success, an error names the errno, a missing ack is a failure', () => {
  const ack = (seq: number, errno: number) => {
    const b = Buffer.alloc(36);
    b.writeUInt32LE(36, 0);
    b.writeUInt16LE(2, 4);
    b.writeUInt32LE(seq, 8);
    b.writeInt32LE(-errno, 16);
    return b;
  };
  assert.equal(batchFailure(Buffer.concat([ack(2, 0), ack(3, 0)]), [2, 3]), null);
  assert.equal(batchFailure(Buffer.concat([ack(2, 0), ack(3, 17)]), [2, 3]), 'Could not process rule: File exists');
  assert.match(batchFailure(ack(2, 0), [2, 3]) ?? '', /1 message\(s\) of the batch were not acknowledged/);
});

test('dump request: GETSETELEM with NLM_F_DUMP for the table and set', () => {
  const [m] = parseMessages(dumpRequest(v4));
  assert.equal(m?.type, 0x0a0d);
  assert.equal(m?.flags, 0x301);
  const attrs = parseAttrs((m as Message).payload.subarray(4));
  assert.equal(attrs.get(1)?.toString(), 'f2b-table\0');
  assert.equal(attrs.get(2)?.toString(), 'addr-set-dovecot\0');
});

test("get request: one key, as nft's `get element` asks (REQUEST|ACK)", () => {
  const [m] = parseMessages(getRequest(v4, a('10.0.0.2')));
  assert.equal(m?.type, 0x0a0d);
  assert.equal(m?.flags, 0x5);
  assert.deepEqual(parseAttrs((m as Message).payload.subarray(4)).get(3), hex('\\x10\\x00\\x01\\x80\\x0c\\x00\\x01\\x80\\x08\\x00\\x01\\x00\\x0a\\x00\\x00\\x02'));
});

// The kernel's reply to a dump of a set that nft filled with 10.0.0.1, 10.1.0.0/16 and 255.255.255.0/24
// (elements newest-first, nft's end element at 0.0.0.0 included), then the empty last part and NLMSG_DONE.
const DUMP =
  'c4000000 0c0a0200 01000000 137c0000 01000009 0e000100 6632622d 7461626c 65000000 15000200 61646472 2d736574 2d646f76 65636f74 00000000 88000300 1c000100 0c000100 08000100 ffffff00 0a000600 01040100 00000000 18000100 0c000100 08000100 0a020000 08000300 00000001 10000100 0c000100 08000100 0a010000 18000100 0c000100 08000100 0a000002 08000300 00000001 10000100 0c000100 08000100 0a000001 18000100 0c000100 08000100 00000000 08000300 00000001 40000000 0c0a0200 01000000 137c0000 01000009 0e000100 6632622d 7461626c 65000000 15000200 61646472 2d736574 2d646f76 65636f74 00000000 04000300 14000000 03000200 01000000 137c0000 00000000';

test('a dump reads back as the addresses and CIDRs nft lists', () => {
  const entries = parseDump(Buffer.from(DUMP.replace(/ /g, ''), 'hex'), v4);
  assert.deepEqual(
    entries.map((e) => e.text),
    ['10.0.0.1', '10.1.0.0/16', '255.255.255.0/24'],
  );
});

test('adjacent ranges share a key (end of one, start of the next) and stay two entries', () => {
  const { request } = elementBatch([
    {
      set: v4,
      remove: [],
      add: [
        { address: a('10.0.0.1'), timeout: null },
        { address: a('10.0.0.2'), timeout: null },
      ],
    },
  ]);
  // Our own element messages have a dump's layout: read them back as one.
  assert.deepEqual(
    parseDump(request, v4).map((e) => e.text),
    ['10.0.0.1', '10.0.0.2'],
  );
});

test('both families read back from interval and plain sets: CIDRs, the top of the address space, timeouts', () => {
  // IPv4 keys are read as numbers and IPv6 keys as bigint: both must give the texts the bans were written with.
  const cases: Array<[SetRef, string[]]> = [
    [v4, ['0.0.0.0/8', '10.0.0.1', '10.1.0.0/16', '128.0.0.0/2', '255.255.255.255']],
    [{ ...v4, interval: false }, ['10.0.0.1', '192.168.7.9', '255.255.255.255']],
    [{ ...v4, set: 'addr6-set-dovecot', family: 6 }, ['::1', '2001:db8::/32', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff']],
    [{ ...v4, set: 'addr6-set-dovecot', family: 6, interval: false }, ['::1', '2001:db8::7']],
  ];
  for (const [set, texts] of cases) {
    for (const timeouts of [false, true]) {
      const ref = { ...set, timeouts };
      const { request } = elementBatch([{ set: ref, remove: [], add: texts.map((t) => ({ address: a(t), timeout: 600 })) }]);
      const entries = parseDump(request, ref);
      assert.deepEqual(
        entries.map((e) => e.text),
        texts,
        `family ${set.family}, interval ${set.interval}, timeouts ${timeouts}`,
      );
    }
  }
});

test('a refused dump (set missing) throws with the errno', () => {
  const b = Buffer.alloc(36);
  b.writeUInt32LE(36, 0);
  b.writeUInt16LE(2, 4);
  b.writeInt32LE(-2, 16);
  assert.throws(
    () => parseDump(b, v4),
    (e: unknown) => e instanceof NetlinkRefusal && e.errno === 2,
  );
});
