// What the daemon needs from persistence. SqliteStore implements it; the daemon runs without one when
// `dbfile = None` (bans then live in memory only, as in Fail2Ban).
import type { BanHistory } from '../jail/bans.js';
import type { SqliteStore } from '../store/sqlite-store.js';

export type DaemonStore = BanHistory &
  Pick<
    SqliteStore,
    | 'addBans'
    | 'removeBan'
    | 'removeBans'
    | 'extendBans'
    | 'activeBanColumns'
    | 'activeAddresses'
    | 'purge'
    | 'getFilePosition'
    | 'setFilePosition'
    | 'getJournalCursor'
    | 'setJournalCursor'
    | 'flush'
    | 'close'
    | 'degraded'
    | 'pendingWrites'
    | 'recreateIfDeleted'
  >;
