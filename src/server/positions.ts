// A file source's read positions, kept in the store under the jail's name (as Fail2Ban's `logs` table).
import type { CursorStore, FilePosition, PositionStore } from '../sources/source.js';
import type { DaemonStore } from './daemon-store.js';

export function storePositions(store: DaemonStore, jail: string): PositionStore {
  return {
    get: (path) => store.getFilePosition(jail, path),
    set: (path, position) => store.setFilePosition(jail, path, position),
  };
}

/**
 * Positions and journal cursors kept in memory, per jail, for a daemon without a database: they do not
 * survive a restart, but a jail rebuilt by a reload resumes where the old one stopped.
 */
export class MemoryPositions {
  private readonly files = new Map<string, Map<string, FilePosition>>();
  private readonly journal = new Map<string, string>();
  readonly cursors: CursorStore = {
    get: (key) => this.journal.get(key),
    set: (key, cursor) => {
      this.journal.set(key, cursor);
    },
  };

  positions(jail: string): PositionStore {
    let map = this.files.get(jail);
    if (map === undefined) this.files.set(jail, (map = new Map()));
    const files = map;
    return {
      get: (path) => files.get(path),
      set: (path, position) => {
        files.set(path, position);
      },
    };
  }
}
