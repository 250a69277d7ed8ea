// A file source's read positions, kept in the store under the jail's name (as Fail2Ban's `logs` table).
import type { PositionStore } from '../sources/source.js';
import type { DaemonStore } from './daemon-store.js';

export function storePositions(store: DaemonStore, jail: string): PositionStore {
  return {
    get: (path) => store.getFilePosition(jail, path),
    set: (path, position) => store.setFilePosition(jail, path, position),
  };
}
