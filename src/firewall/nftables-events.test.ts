// How native/nfnetlink.c reads the kernel's nftables notifications (through its scan(), the same code
// the watch runs on every datagram): which transactions call JS. Messages are built as the kernel sends
// them: nlmsghdr, nfgenmsg (family), attributes; each transaction closed by NFT_MSG_NEWGEN with the pid
// of the task that committed it (NFTA_GEN_PROC_PID, big-endian).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageWriter } from './nfnetlink.js';
import { scanNotifications } from './nftables-events.js';

const INET = 1;
const IP = 2;
const NEWTABLE = 0;
const DELTABLE = 2;
const NEWRULE = 6;
const DELRULE = 8;
const NEWSET = 9;
const DELSET = 11;
const NEWSETELEM = 12;
const DELSETELEM = 14;
const NEWGEN = 15;
const OWN = process.pid;
/** init: neither this process, one of its threads, nor a child of it. */
const FOREIGN = 1;

type Change = [msg: number, table: string, family?: number];

/** One transaction's notifications: the changes, then NEWGEN naming `pid`. */
function transaction(w: MessageWriter, changes: readonly Change[], pid: number | null): void {
  for (const [msg, table, family] of changes) {
    w.begin((10 << 8) | msg, 0, family ?? INET);
    w.string(1, table); // NFTA_TABLE_NAME / NFTA_*_TABLE: attribute 1 in every object's messages
    w.end();
  }
  if (pid === null) return;
  w.begin((10 << 8) | NEWGEN, 0, 0);
  w.u32be(1, 42); // NFTA_GEN_ID
  w.u32be(2, pid); // NFTA_GEN_PROC_PID
  w.string(3, 'nft'); // NFTA_GEN_PROC_NAME
  w.end();
}

/** A pid no process has (above the kernel's pid_max limit of 2^22). */
const GONE = 5_000_000;

function scan(...transactions: Array<[readonly Change[], number | null]>): number {
  return scanOwning([], ...transactions);
}

function scanOwning(own: number[], ...transactions: Array<[readonly Change[], number | null]>): number {
  const w = new MessageWriter();
  for (const [changes, pid] of transactions) transaction(w, changes, pid);
  const found = scanNotifications(w.finish(), 'f2b-table', own);
  assert.equal(typeof found, 'number', `the netlink addon must be built for this test: ${String(found)}`);
  return found as number;
}

test('a foreign transaction that deletes anything of our table is reported once', () => {
  for (const msg of [DELTABLE, DELRULE, DELSET, DELSETELEM]) assert.equal(scan([[[msg, 'f2b-table']], FOREIGN]), 1, `message ${msg}`);
  assert.equal(scan([[[DELSETELEM, 'f2b-table'], [DELSETELEM, 'f2b-table'], [DELSET, 'f2b-table'], [DELTABLE, 'f2b-table']], FOREIGN]), 1);
});

test('a new rule in our table (it may accept before ours) and a table update (dormant) are reported', () => {
  assert.equal(scan([[[NEWRULE, 'f2b-table']], FOREIGN]), 1);
  assert.equal(scan([[[NEWTABLE, 'f2b-table']], FOREIGN]), 1);
});

test('our own transactions (this process or its threads) are not reported, however many elements', () => {
  const many: Change[] = Array.from({ length: 2000 }, (_, i) => [i % 2 ? DELSETELEM : NEWSETELEM, 'f2b-table']);
  assert.equal(scan([many, OWN]), 0);
  assert.equal(scan([[[DELTABLE, 'f2b-table']], OWN]), 0);
});

test('a process we ran (nft) is ours even once it is gone; any other gone process is not', () => {
  assert.equal(scanOwning([GONE], [[[DELRULE, 'f2b-table']], GONE]), 0);
  assert.equal(scanOwning([GONE + 1], [[[DELRULE, 'f2b-table']], GONE]), 1);
});

test('changes that cannot weaken our table are not reported', () => {
  assert.equal(scan([[[NEWSETELEM, 'f2b-table'], [NEWSET, 'f2b-table']], FOREIGN]), 0, 'additions');
  assert.equal(scan([[[DELTABLE, 'other'], [DELRULE, 'other']], FOREIGN]), 0, 'another table');
  assert.equal(scan([[[DELTABLE, 'f2b-table2'], [DELTABLE, 'f2b-tabl']], FOREIGN]), 0, 'a name that only starts alike');
  assert.equal(scan([[[DELTABLE, 'f2b-table', IP]], FOREIGN]), 0, 'a table of the same name in another family');
});

test('each transaction is judged on its own, up to its NEWGEN', () => {
  assert.equal(scan([[[DELRULE, 'f2b-table']], FOREIGN], [[[DELSET, 'f2b-table']], FOREIGN]), 2);
  assert.equal(scan([[[DELRULE, 'f2b-table']], OWN], [[[NEWSETELEM, 'f2b-table']], FOREIGN]), 0, 'our deletion does not leak into the next');
  assert.equal(scan([[[DELRULE, 'f2b-table']], null]), 0, 'not reported before its NEWGEN');
});

test('a truncated or malformed datagram is read up to where it breaks', () => {
  const w = new MessageWriter();
  transaction(w, [[DELTABLE, 'f2b-table']], FOREIGN);
  const whole = w.finish();
  assert.equal(scanNotifications(whole.subarray(0, whole.length - 3), 'f2b-table'), 0);
  const bad = Buffer.from(whole);
  bad.writeUInt32LE(5, 0); // a length shorter than the header
  assert.equal(scanNotifications(bad, 'f2b-table'), 0);
});
