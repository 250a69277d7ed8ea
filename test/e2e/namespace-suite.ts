// The common frame of suites that run daemons in a server namespace: a server/attacker pair with a
// listener on the IMAP port (what a ban must cut off), the daemons a test starts (killed after each test,
// so a failed one does not leave its daemon listening into the next) and their config trees (removed at
// the end). Call it inside describe(); read `pair` from a hook or a test.
import { after, afterEach, before } from 'node:test';
import { type DaemonDirs, removeDirs, type RunningDaemon } from './daemon-process.js';
import { createPair, type Listener, listen, type Pair } from './netns.js';

export const IMAP = 143;

export interface NamespaceSuite {
  /** Set by the suite's `before` hook. */
  readonly pair: Pair;
  readonly running: RunningDaemon[];
  readonly trees: DaemonDirs[];
}

export function namespaceSuite(name: string): NamespaceSuite {
  let pair: Pair | undefined;
  let imap: Listener | undefined;
  const running: RunningDaemon[] = [];
  const trees: DaemonDirs[] = [];
  before(async () => {
    pair = createPair(name);
    imap = await listen(pair.server, [IMAP]);
  });
  afterEach(async () => {
    for (const d of running.splice(0)) await d.kill();
  });
  after(async () => {
    for (const t of trees) removeDirs(t);
    await imap?.close();
    pair?.destroy();
  });
  return {
    get pair(): Pair {
      if (pair === undefined) throw new Error('namespaceSuite: the pair is made in the before hook');
      return pair;
    },
    running,
    trees,
  };
}
